"""Workflow rules: a team's own workflows plus everyone's public ones; only the owner may change one."""

from __future__ import annotations

from typing import Any

from ._errors import SandboxError, not_found
from ._records import Rules, iso, public
from ._validation import Fields

WORKFLOW_LIST_FIELDS = ("rules", "flows", "tags", "integrations", "channels", "actions", "faq", "setup_steps")


class WorkflowRules(Rules):
    """List, read, create, change, clone and delete workflows; renders `is_owner` for the asking team."""

    def _workflow_view(self, wf: dict[str, Any], team_id: str) -> dict[str, Any]:
        return {**public(wf), "is_owner": wf["_team"] == team_id}

    @staticmethod
    def _accessible(wf: dict[str, Any], team_id: str) -> bool:
        return bool(wf["_team"] == team_id or wf["visibility"] == "public")

    def list_workflows(self, team_id: str, scope: str) -> list[dict[str, Any]]:
        out = []
        for wf in self.store.workflows.values():
            owned = wf["_team"] == team_id
            if (
                (scope == "owned" and owned)
                or (scope == "public" and wf["visibility"] == "public")
                or (scope == "accessible" and self._accessible(wf, team_id))
            ):
                out.append(self._workflow_view(wf, team_id))
        return out

    def find_workflow(self, team_id: str, workflow_id: str) -> dict[str, Any]:
        """The workflow if the team may see it (its own or a public one), else 404."""
        wf = self.store.workflows.get(workflow_id)
        if wf is None or not self._accessible(wf, team_id):
            raise not_found("Workflow")
        return wf

    def get_workflow(self, team_id: str, workflow_id: str) -> dict[str, Any]:
        return self._workflow_view(self.find_workflow(team_id, workflow_id), team_id)

    def _owned_workflow(self, team_id: str, workflow_id: str) -> dict[str, Any]:
        wf = self.find_workflow(team_id, workflow_id)
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
            "id": self.store.new_id("wf"),
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
        self.store.workflows[wf["id"]] = wf
        return self._workflow_view(wf, team_id)

    def update_workflow(self, team_id: str, workflow_id: str, body: dict[str, Any]) -> dict[str, Any]:
        wf = self._owned_workflow(team_id, workflow_id)
        wf.update(self._workflow_fields(body, create=False))
        wf["updated_at"] = iso()
        return self._workflow_view(wf, team_id)

    def delete_workflow(self, team_id: str, workflow_id: str) -> None:
        self._owned_workflow(team_id, workflow_id)
        users = [a for a in self.store.agents.values() if a["workflow_id"] == workflow_id]
        if users:
            raise SandboxError("conflict", f"Workflow is used by {len(users)} agent(s); detach it first.")
        del self.store.workflows[workflow_id]

    def clone_workflow(self, team_id: str, body: dict[str, Any]) -> dict[str, Any]:
        f = Fields(body)
        source_id = f.text("source_workflow_id", required=True)
        f.check()
        source = self.find_workflow(team_id, source_id)
        now = iso()
        copy = {**source, "id": self.store.new_id("wf"), "name": f"{source['name']} (copy)"}
        copy.update(visibility="private", created_at=now, updated_at=now, _team=team_id)
        self.store.workflows[copy["id"]] = copy
        return self._workflow_view(copy, team_id)


def _require_object_keys(f: Fields, path: str, value: Any, keys: tuple[str, ...]) -> None:
    if not isinstance(value, dict):
        f.errors.append((path, "must be an object"))
        return
    for key in keys:
        if not isinstance(value.get(key), str) or not value[key]:
            f.errors.append((f"{path}.{key}", "is required"))
