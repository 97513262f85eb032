"""All sandbox state and the Console's business rules, with no HTTP in sight.

Records are plain dicts; keys starting with "_" are internal (owner, secrets, timing) and never rendered.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import random
import time
from typing import Any

from .calls import CallRules
from .catalog import PLANS, test_code_for
from .conversations import ConversationRules
from .errors import SandboxError, not_found
from .integrations import IntegrationRules
from .records import iso, public, rate_headers
from .validation import Fields

ALL_SCOPES = (
    "agents:read",
    "agents:write",
    "workflows:read",
    "workflows:write",
    "integrations:read",
    "integrations:write",
    "conversations:read",
    "conversations:write",
    "calls:read",
    "calls:write",
    "phone_numbers:read",
    "phone_numbers:write",
)
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
WORKFLOW_LIST_FIELDS = ("rules", "flows", "tags", "integrations", "channels", "actions", "faq", "setup_steps")
DEFAULT_RATE_LIMIT = 1000
RATE_WINDOW_S = 60
TICKET_TTL_S = 60
MAX_STREAMS_PER_KEY = 5
SEEDED_AT = "2025-01-01T00:00:00.000Z"
"""When a seeded store made its demo data, so a seeded run's records match byte for byte."""


class SandboxStore(IntegrationRules, ConversationRules, CallRules):
    """One in-memory Console: teams, keys, agents and everything under them, plus the HTTP bookkeeping
    (rate windows, idempotency records, write counts) that must survive across requests.

    With `seed`, every id and key is drawn from `random.Random(seed)` and the demo data carries fixed
    timestamps, so two stores with the same seed that receive the same requests hold the same data:
    a script can reuse an id from one `--sandbox` run in the next. Without it, ids and keys come from
    the operating system's randomness, as `secrets` does.
    """

    def __init__(
        self,
        *,
        seed_demo: bool = True,
        demo_api_key: str | None = None,
        seed: int | None = None,
        admin_key: str | None = None,
        reply_delay: float = 0.2,
        heartbeat_interval: float = 20.0,
        call_step: float = 0.5,
    ) -> None:
        self.seed = seed
        self._random = random.Random(seed) if seed is not None else random.SystemRandom()
        self.reply_delay = reply_delay
        self.heartbeat_interval = heartbeat_interval
        self.call_step = call_step
        self.teams: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, dict[str, Any]] = {}
        self.workflows: dict[str, dict[str, Any]] = {}
        self.agents: dict[str, dict[str, Any]] = {}
        self.knowledge_bases: dict[str, dict[str, Any]] = {}
        self.integrations: dict[str, dict[str, Any]] = {}
        self.tools: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.conversations: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.calls: dict[str, dict[str, Any]] = {}
        self.phone_numbers: dict[str, dict[str, Any]] = {}
        self.phone_requests: dict[str, dict[str, Any]] = {}
        self.tickets: dict[str, dict[str, Any]] = {}
        self.counts: dict[str, int] = {}
        self.idempotency: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.rate_windows: dict[str, list[float]] = {}
        self.open_streams: dict[str, int] = {}
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any] | None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._message_seq = itertools.count(1)
        self.demo_api_key: str | None = None
        self.demo_team_id: str | None = None
        self.demo_agent_id: str | None = None
        self.demo_workflow_id: str | None = None
        self.demo_phone_number_id: str | None = None
        self._seed(seed_demo, demo_api_key)
        # Drawn even when given, and after the demo data, so a given key shifts no id.
        drawn_admin_key = f"sbx_admin_{self._token()}"
        self.admin_key = admin_key or drawn_admin_key
        """What the `/_sandbox/*` routes require in `X-Sandbox-Admin-Key`."""

    # ---- ids, teams, keys -------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{self._random.getrandbits(64):016x}"

    def _token(self) -> str:
        """32 url-safe characters (192 bits) without `-` or `_`, for keys."""
        raw = base64.urlsafe_b64encode(self._random.randbytes(24)).decode()
        return raw.replace("-", "x").replace("_", "y")

    def add_team(self, name: str, plan: str = "starter") -> tuple[str, str]:
        """Create a team and a full-scope key for it."""
        if plan not in PLANS:
            raise SandboxError("validation_error", "Validation failed", [("plan", "must be one of starter, free")])
        team_id = self.new_id("team")
        self.teams[team_id] = {"id": team_id, "name": name, "plan": plan}
        return team_id, self.add_key(team_id, ALL_SCOPES)

    def add_key(
        self,
        team_id: str,
        scopes: Any,
        *,
        expired: bool = False,
        rate_limit: int | None = None,
        api_key: str | None = None,
    ) -> str:
        if team_id not in self.teams:
            raise not_found("Team")
        # Drawn even when given, so a given key shifts no id that follows.
        drawn_key = f"sk_test_{self._token()}"
        key = api_key or drawn_key
        self.keys[key] = {
            "team_id": team_id,
            "scopes": frozenset(scopes),
            "expired": expired,
            "rate_limit": rate_limit or DEFAULT_RATE_LIMIT,
        }
        return key

    def authenticate(self, api_key: str | None) -> dict[str, Any]:
        if not api_key:
            raise SandboxError("api_key_missing", "API key is missing. Send Authorization: Bearer sk_… or X-Api-Key.")
        record = self.keys.get(api_key)
        if record is None:
            raise SandboxError("api_key_invalid", "Invalid API key.")
        if record["expired"]:
            raise SandboxError("api_key_expired", "API key has expired.")
        return record

    def hit_rate(self, api_key: str, now: float | None = None) -> tuple[int, int, int]:
        """Count one request in the key's fixed window: (limit, remaining, reset); 429 when over."""
        now = time.time() if now is None else now
        limit = self.keys[api_key]["rate_limit"]
        window = self.rate_windows.get(api_key)
        if window is None or now >= window[0] + RATE_WINDOW_S:
            window = self.rate_windows[api_key] = [now, 0]
        reset = int(window[0] + RATE_WINDOW_S)
        if window[1] >= limit:
            retry = max(1, int(reset - now + 0.999))
            raise SandboxError(
                "too_many_requests",
                "Rate limit exceeded. Retry later.",
                headers={**rate_headers(limit, 0, reset), "Retry-After": str(retry)},
            )
        window[1] += 1
        return limit, limit - int(window[1]), reset

    def count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    # ---- workflows --------------------------------------------------------------------------------

    def _workflow_view(self, wf: dict[str, Any], team_id: str) -> dict[str, Any]:
        return {**public(wf), "is_owner": wf["_team"] == team_id}

    def _accessible(self, wf: dict[str, Any], team_id: str) -> bool:
        return wf["_team"] == team_id or wf["visibility"] == "public"

    def list_workflows(self, team_id: str, scope: str) -> list[dict[str, Any]]:
        out = []
        for wf in self.workflows.values():
            owned = wf["_team"] == team_id
            if (
                (scope == "owned" and owned)
                or (scope == "public" and wf["visibility"] == "public")
                or (scope == "accessible" and self._accessible(wf, team_id))
            ):
                out.append(self._workflow_view(wf, team_id))
        return out

    def _find_workflow(self, team_id: str, workflow_id: str) -> dict[str, Any]:
        wf = self.workflows.get(workflow_id)
        if wf is None or not self._accessible(wf, team_id):
            raise not_found("Workflow")
        return wf

    def get_workflow(self, team_id: str, workflow_id: str) -> dict[str, Any]:
        return self._workflow_view(self._find_workflow(team_id, workflow_id), team_id)

    def _owned_workflow(self, team_id: str, workflow_id: str) -> dict[str, Any]:
        wf = self._find_workflow(team_id, workflow_id)
        if wf["_team"] != team_id:
            raise SandboxError("forbidden", "You can only modify workflows your team owns.")
        return wf

    def _workflow_fields(self, body: dict[str, Any], *, create: bool) -> dict[str, Any]:
        f = Fields(body)
        out: dict[str, Any] = {}
        for name in ("name", "system_prompt"):
            if create or f.has(name):
                out[name] = f.text(name, required=True, max_len=255 if name == "name" else None)
        for name in ("description", "category", "video_url"):
            if f.has(name):
                out[name] = f.text(name)
        for name in WORKFLOW_LIST_FIELDS:
            if f.has(name):
                out[name] = f.array(name) or []
        for i, rule in enumerate(out.get("rules") or []):
            _require_object_keys(f, f"rules.{i}", rule, ("id",))
        for i, flow in enumerate(out.get("flows") or []):
            _require_object_keys(f, f"flows.{i}", flow, ("name",))
        for i, faq in enumerate(out.get("faq") or []):
            _require_object_keys(f, f"faq.{i}", faq, ("question", "answer"))
        if f.has("guide"):
            out["guide"] = f.mapping("guide")
        if f.has("setup_time"):
            out["setup_time"] = f.integer("setup_time", minimum=0)
        f.check()
        return out

    def create_workflow(self, team_id: str, body: dict[str, Any], *, visibility: str = "private") -> dict[str, Any]:
        fields = self._workflow_fields(body, create=True)
        now = iso()
        wf: dict[str, Any] = {
            "id": self.new_id("wf"),
            "name": fields["name"],
            "description": None,
            "category": None,
            "visibility": visibility,
            "system_prompt": fields["system_prompt"],
            **{name: [] for name in WORKFLOW_LIST_FIELDS},
            "guide": None,
            "setup_time": None,
            "video_url": None,
            "created_at": now,
            "updated_at": now,
            "_team": team_id,
        }
        wf.update(fields)
        self.workflows[wf["id"]] = wf
        return self._workflow_view(wf, team_id)

    def update_workflow(self, team_id: str, workflow_id: str, body: dict[str, Any]) -> dict[str, Any]:
        wf = self._owned_workflow(team_id, workflow_id)
        wf.update(self._workflow_fields(body, create=False))
        wf["updated_at"] = iso()
        return self._workflow_view(wf, team_id)

    def delete_workflow(self, team_id: str, workflow_id: str) -> None:
        self._owned_workflow(team_id, workflow_id)
        users = [a for a in self.agents.values() if a["workflow_id"] == workflow_id]
        if users:
            raise SandboxError("conflict", f"Workflow is used by {len(users)} agent(s); detach it first.")
        del self.workflows[workflow_id]

    def clone_workflow(self, team_id: str, body: dict[str, Any]) -> dict[str, Any]:
        f = Fields(body)
        source_id = f.text("source_workflow_id", required=True)
        f.check()
        source = self._find_workflow(team_id, source_id)
        now = iso()
        copy = {**source, "id": self.new_id("wf"), "name": f"{source['name']} (copy)"}
        copy.update(visibility="private", created_at=now, updated_at=now, _team=team_id)
        self.workflows[copy["id"]] = copy
        return self._workflow_view(copy, team_id)

    # ---- agents -----------------------------------------------------------------------------------

    def agent(self, team_id: str, agent_id: str) -> dict[str, Any]:
        agent = self.agents.get(agent_id)
        if agent is None or agent["_team"] != team_id:
            raise not_found("Agent")
        return agent

    def list_agents(self, team_id: str) -> list[dict[str, Any]]:
        return [public(a) for a in self.agents.values() if a["_team"] == team_id]

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
            self._find_workflow(team_id, out["workflow_id"])
        return out

    def create_agent(self, team_id: str, body: dict[str, Any]) -> dict[str, Any]:
        fields = self._agent_fields(team_id, body, create=True)
        limit = PLANS[self.teams[team_id]["plan"]]["agents"]
        if sum(1 for a in self.agents.values() if a["_team"] == team_id) >= limit:
            raise SandboxError(
                "agent_limit_reached", "Agent limit reached for your plan. Please upgrade to add more agents."
            )
        now = iso()
        agent: dict[str, Any] = {
            "id": self.new_id("agt"),
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
        self.agents[agent["id"]] = agent
        return {**public(agent), "workflow": self.get_workflow(team_id, agent["workflow_id"])}

    def get_agent(self, team_id: str, agent_id: str) -> dict[str, Any]:
        agent = self.agent(team_id, agent_id)
        return {
            **public(agent),
            "knowledge_bases": [
                {k: kb[k] for k in ("id", "type", "name", "description")}
                for kb in self._of_agent(self.knowledge_bases, agent_id)
            ],
            "integrations": [
                {k: item[k] for k in ("id", "type", "name", "status", "is_connected")}
                for item in self.agent_integrations(team_id, agent_id)
            ],
            "channels": self.list_channels(team_id, agent_id),
        }

    def update_agent(self, team_id: str, agent_id: str, body: dict[str, Any]) -> dict[str, Any]:
        agent = self.agent(team_id, agent_id)
        agent.update(self._agent_fields(team_id, body, create=False))
        agent["updated_at"] = iso()
        return public(agent)

    def delete_agent(self, team_id: str, agent_id: str) -> None:
        self.agent(team_id, agent_id)
        del self.agents[agent_id]
        for number in self.phone_numbers.values():
            if number["agent_id"] == agent_id:
                number["agent_id"] = None

    def set_live_status(self, team_id: str, agent_id: str, body: dict[str, Any]) -> dict[str, Any]:
        agent = self.agent(team_id, agent_id)
        f = Fields(body)
        status = f.enum("status", ("development", "live", "paused"), required=True)
        reason = f.text("status_reason", max_len=1000)
        f.check()
        agent.update(status=status, status_reason=reason, updated_at=iso())
        return {"status": status, "status_reason": reason}

    def test_code(self, team_id: str, agent_id: str) -> dict[str, Any]:
        agent = self.agent(team_id, agent_id)
        if agent["test_channel_code"] is None:
            agent["test_channel_code"] = test_code_for(agent_id)
        code = agent["test_channel_code"]
        start = f"start {code}"
        has_number = any(n["agent_id"] == agent_id for n in self.phone_numbers.values())
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
        self.agent(team_id, agent_id)
        return [public(c) for c in self._of_agent(self.channels, agent_id)]

    @staticmethod
    def _of_agent(table: dict[str, dict[str, Any]], agent_id: str) -> list[dict[str, Any]]:
        return [item for item in table.values() if item["_agent"] == agent_id]

    # ---- knowledge bases --------------------------------------------------------------------------

    def list_knowledge_bases(self, team_id: str, agent_id: str) -> list[dict[str, Any]]:
        self.agent(team_id, agent_id)
        return [public(kb) for kb in self._of_agent(self.knowledge_bases, agent_id)]

    def create_knowledge_base(self, team_id: str, agent_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self.agent(team_id, agent_id)
        f = Fields(body)
        kind = f.enum("type", ("text", "url"), required=True)
        name = f.text("name", required=True, max_len=255)
        content = f.text("content", required=kind == "text")
        url = f.text("url", required=kind == "url", pattern=r"https?://\S+", pattern_msg="must be an http(s) URL")
        description = f.text("description", max_len=1000)
        f.check()
        kb = {
            "id": self.new_id("kb"),
            "type": kind,
            "name": name,
            "description": description,
            "content": content if kind == "text" else None,
            "url": url if kind == "url" else None,
            "_agent": agent_id,
        }
        self.knowledge_bases[kb["id"]] = kb
        return public(kb)

    def _kb(self, team_id: str, agent_id: str, kb_id: str) -> dict[str, Any]:
        self.agent(team_id, agent_id)
        kb = self.knowledge_bases.get(kb_id)
        if kb is None or kb["_agent"] != agent_id:
            raise not_found("Knowledge base")
        return kb

    def update_knowledge_base(self, team_id: str, agent_id: str, kb_id: str, body: dict[str, Any]) -> dict[str, Any]:
        kb = self._kb(team_id, agent_id, kb_id)
        f = Fields(body)
        changes = {}
        if f.has("name"):
            changes["name"] = f.text("name", required=True, max_len=255)
        if f.has("description"):
            changes["description"] = f.text("description", max_len=1000)
        for name in ("content", "url"):
            if f.has(name):
                changes[name] = f.text(name)
        f.check()
        kb.update(changes)
        return public(kb)

    def delete_knowledge_base(self, team_id: str, agent_id: str, kb_id: str) -> None:
        self._kb(team_id, agent_id, kb_id)
        del self.knowledge_bases[kb_id]

    # ---- phone numbers ----------------------------------------------------------------------------

    def _number(self, team_id: str, number_id: str) -> dict[str, Any]:
        number = self.phone_numbers.get(number_id)
        if number is None or number["_team"] != team_id:
            raise not_found("Phone number")
        return number

    def list_phone_numbers(self, team_id: str) -> list[dict[str, Any]]:
        return [self._number_view(n) for n in self.phone_numbers.values() if n["_team"] == team_id]

    @staticmethod
    def _number_view(number: dict[str, Any]) -> dict[str, Any]:
        return {**public(number), "inbound_enabled": number["agent_id"] is not None}

    def get_phone_number(self, team_id: str, number_id: str) -> dict[str, Any]:
        return self._number_view(self._number(team_id, number_id))

    def update_phone_number(self, team_id: str, number_id: str, body: dict[str, Any]) -> dict[str, Any]:
        number = self._number(team_id, number_id)
        f = Fields(body)
        changes = {}
        if f.has("agent_id"):
            changes["agent_id"] = f.text("agent_id")
        if f.has("label"):
            changes["label"] = f.text("label", max_len=255)
        f.check()
        if changes.get("agent_id") is not None:
            self.agent(team_id, changes["agent_id"])
        number.update(changes, updated_at=iso())
        return self._number_view(number)

    def add_phone_number(self, team_id: str, e164: str, label: str | None = None) -> str:
        now = iso()
        number_id = self.new_id("pn")
        self.phone_numbers[number_id] = {
            "id": number_id,
            "agent_id": None,
            "label": label,
            "e164": e164,
            "created_at": now,
            "updated_at": now,
            "_team": team_id,
        }
        return number_id

    def list_phone_requests(self, team_id: str) -> list[dict[str, Any]]:
        return [public(r) for r in self.phone_requests.values() if r["_team"] == team_id]

    def create_phone_request(self, team_id: str, body: dict[str, Any]) -> dict[str, Any]:
        f = Fields(body)
        fields = {
            "business_name": f.text("business_name", required=True, max_len=255),
            "intended_use": f.text("intended_use", required=True, max_len=1000),
            "region": f.enum("region", ("us", "uk", "eu", "ng"), required=True),
            "agent_count": f.integer("agent_count", required=True, minimum=1),
            "outbound_minutes": f.integer("outbound_minutes", required=True, minimum=0),
            "submitted_by_agent_id": f.text("submitted_by_agent_id"),
        }
        f.check()
        if fields["submitted_by_agent_id"] is not None:
            self.agent(team_id, fields["submitted_by_agent_id"])
        now = iso()
        request = {"id": self.new_id("pnr"), "status": "pending", **fields, "created_at": now, "updated_at": now}
        self.phone_requests[request["id"]] = {**request, "_team": team_id}
        return request

    # ---- seeding ----------------------------------------------------------------------------------

    def _seed(self, seed_demo: bool, demo_api_key: str | None) -> None:
        team_id = self.new_id("team")
        self.teams[team_id] = {"id": team_id, "name": "Demo Team", "plan": "starter"}
        self.demo_team_id = team_id
        self.demo_api_key = self.add_key(team_id, ALL_SCOPES, api_key=demo_api_key)
        if not seed_demo:
            return
        wf = self.create_workflow(
            team_id,
            {
                "name": "Customer Support",
                "description": "Answer customer questions and escalate when needed.",
                "category": "support",
                "system_prompt": "You are a helpful, friendly customer support agent.",
                "tags": ["support"],
            },
        )
        self.demo_workflow_id = wf["id"]
        bimpe_team = self.new_id("team")
        self.teams[bimpe_team] = {"id": bimpe_team, "name": "BimpeAI Templates", "plan": "starter"}
        self.create_workflow(
            bimpe_team,
            {
                "name": "Restaurant Reservations",
                "description": "Take table bookings and answer menu questions.",
                "category": "hospitality",
                "system_prompt": "You take restaurant reservations politely and accurately.",
            },
            visibility="public",
        )
        agent = self.create_agent(
            team_id,
            {
                "workflow_id": wf["id"],
                "name": "Bimpe Demo Agent",
                "description": "A demo agent that answers customer support questions.",
                "persona": "friendly",
                "language": "en",
            },
        )
        self.demo_agent_id = agent["id"]
        for kind, name, connected in (("webchat", "Web chat", True), ("whatsapp", "WhatsApp", False)):
            channel_id = self.new_id("ch")
            self.channels[channel_id] = {
                "id": channel_id,
                "type": kind,
                "name": name,
                "status": "connected" if connected else "not_connected",
                "is_connected": connected,
                "_agent": agent["id"],
            }
        self.demo_phone_number_id = self.add_phone_number(team_id, "+2342017001234", "Lagos line")
        if self.seed is not None:
            for record in (*self.workflows.values(), *self.agents.values(), *self.phone_numbers.values()):
                record.update(created_at=SEEDED_AT, updated_at=SEEDED_AT)

    # ---- background work and streams (used by conversations) --------------------------------------

    def next_message_id(self) -> str:
        """Sortable by creation: a sequence number, then random hex so ids are not guessable."""
        return f"msg_{next(self._message_seq):012d}{self._random.getrandbits(24):06x}"

    def subscribe(self, conversation_id: str) -> asyncio.Queue[dict[str, Any] | None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._subscribers.setdefault(conversation_id, set()).add(queue)
        return queue

    def unsubscribe(self, conversation_id: str, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self._subscribers.get(conversation_id, set()).discard(queue)

    def publish(self, conversation_id: str, message: dict[str, Any]) -> None:
        for queue in list(self._subscribers.get(conversation_id, ())):
            queue.put_nowait(message)

    def spawn(self, coro: Any) -> None:
        """Run `coro` on the running loop, keeping a reference so shutdown can cancel it."""
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close_streams(self) -> None:
        """End every open stream (app shutdown)."""
        for queues in self._subscribers.values():
            for queue in queues:
                queue.put_nowait(None)

    async def aclose(self) -> None:
        self.close_streams()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _require_object_keys(f: Fields, path: str, value: Any, keys: tuple[str, ...]) -> None:
    if not isinstance(value, dict):
        f.errors.append((path, "must be an object"))
        return
    for key in keys:
        if not isinstance(value.get(key), str) or not value[key]:
            f.errors.append((f"{path}.{key}", "is required"))
