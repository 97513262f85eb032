"""Agent rules: the plan's agent limit, the workflow an agent runs, live status, test code, channels."""

from __future__ import annotations

from typing import Any

from ._catalog import PLANS, test_code_for
from ._errors import SandboxError
from ._records import Rules, iso, of_agent, public
from ._validation import Fields

PERSONAS = ("professional", "friendly", "concise")
AGENT_FIELDS = (
    "language",
    "timezone",
    "logo",
    "business_name",
    "business_address",
    "business_email",
    "business_description",
    "escalation_email",
)


class AgentRules(Rules):
    """List, create, read, change and delete a team's agents; the detail view gathers what hangs off one."""

    def list_agents(self, team_id: str) -> list[dict[str, Any]]:
        return [public(a) for a in self.store.agents.values() if a["_team"] == team_id]

    def _agent_fields(self, team_id: str, body: dict[str, Any], *, create: bool) -> dict[str, Any]:
        f = Fields(body)
        out: dict[str, Any] = {}
        if create:
            out["workflow_id"] = f.text("workflow_id", required=True)
        elif f.has("workflow_id"):
            out["workflow_id"] = f.text("workflow_id")
        for name in ("name", "description"):
            if create or f.has(name):
                out[name] = f.text(name, required=True, max_len=255 if name == "name" else 2000)
        if f.has("persona"):
            out["persona"] = f.enum("persona", PERSONAS)
        for name in AGENT_FIELDS:
            if f.has(name):
                out[name] = f.text(name)
        f.check()
        if out.get("workflow_id") is not None:
            self.store.workflow_rules.find_workflow(team_id, out["workflow_id"])
        return out

    def create_agent(self, team_id: str, body: dict[str, Any]) -> dict[str, Any]:
        fields = self._agent_fields(team_id, body, create=True)
        limit = PLANS[self.store.teams[team_id]["plan"]]["agents"]
        if sum(1 for a in self.store.agents.values() if a["_team"] == team_id) >= limit:
            raise SandboxError(
                "agent_limit_reached", "Agent limit reached for your plan. Please upgrade to add more agents."
            )
        now = iso()
        agent: dict[str, Any] = {
            "id": self.store.new_id("agt"),
            "name": "",
            "description": "",
            "language": "en",
            "persona": "professional",
            "workflow_id": None,
            **dict.fromkeys(AGENT_FIELDS[1:]),
            "timezone": "Africa/Lagos",
            "test_channel_code": None,
            "status": "development",
            "status_reason": None,
            "created_at": now,
            "updated_at": now,
            "_team": team_id,
        }
        agent.update(fields)
        self.store.agents[agent["id"]] = agent
        return {**public(agent), "workflow": self.store.workflow_rules.get_workflow(team_id, agent["workflow_id"])}

    def get_agent(self, team_id: str, agent_id: str) -> dict[str, Any]:
        agent = self.store.agent(team_id, agent_id)
        return {
            **public(agent),
            "knowledge_bases": [
                {k: kb[k] for k in ("id", "type", "name", "description")}
                for kb in of_agent(self.store.knowledge_bases, agent_id)
            ],
            "integrations": [
                {k: item[k] for k in ("id", "type", "name", "status", "is_connected")}
                for item in self.store.integration_rules.agent_integrations(team_id, agent_id)
            ],
            "channels": self.list_channels(team_id, agent_id),
        }

    def update_agent(self, team_id: str, agent_id: str, body: dict[str, Any]) -> dict[str, Any]:
        agent = self.store.agent(team_id, agent_id)
        agent.update(self._agent_fields(team_id, body, create=False))
        agent["updated_at"] = iso()
        return public(agent)

    def delete_agent(self, team_id: str, agent_id: str) -> None:
        self.store.agent(team_id, agent_id)
        del self.store.agents[agent_id]
        for number in self.store.phone_numbers.values():
            if number["agent_id"] == agent_id:
                number["agent_id"] = None

    def set_live_status(self, team_id: str, agent_id: str, body: dict[str, Any]) -> dict[str, Any]:
        agent = self.store.agent(team_id, agent_id)
        f = Fields(body)
        status = f.enum("status", ("development", "live", "paused"), required=True)
        reason = f.text("status_reason", max_len=1000)
        f.check()
        agent.update(status=status, status_reason=reason, updated_at=iso())
        return {"status": status, "status_reason": reason}

    def test_code(self, team_id: str, agent_id: str) -> dict[str, Any]:
        agent = self.store.agent(team_id, agent_id)
        if agent["test_channel_code"] is None:
            agent["test_channel_code"] = test_code_for(agent_id)
        code = agent["test_channel_code"]
        start = f"start {code}"
        has_number = any(n["agent_id"] == agent_id for n in self.store.phone_numbers.values())
        return {
            "code": code,
            "channels": {
                "whatsapp": {
                    "is_enabled": True,
                    "start_message": start,
                    "phone_number": "+2342017009999",
                    "url": f"https://wa.me/2342017009999?text=start%20{code}",
                },
                "instagram": {
                    "is_enabled": True,
                    "start_message": start,
                    "username": "bimpe.ai",
                    "url": "https://ig.me/m/bimpe.ai",
                },
                "messenger": {
                    "is_enabled": False,
                    "start_message": start,
                    "page": "BimpeAI",
                    "url": "https://m.me/bimpeai",
                },
                "telephony": {"is_enabled": has_number},
            },
        }

    def list_channels(self, team_id: str, agent_id: str) -> list[dict[str, Any]]:
        self.store.agent(team_id, agent_id)
        return [public(c) for c in of_agent(self.store.channels, agent_id)]
