"""Phone number rules: a team's numbers, which agent answers each, and requests for new numbers."""

from __future__ import annotations

from typing import Any

from ._errors import not_found
from ._records import Rules, iso, public
from ._validation import Fields


class PhoneNumberRules(Rules):
    """List, read and assign a team's numbers; file and list number requests."""

    def _number(self, team_id: str, number_id: str) -> dict[str, Any]:
        number = self.store.phone_numbers.get(number_id)
        if number is None or number["_team"] != team_id:
            raise not_found("Phone number")
        return number

    @staticmethod
    def _number_view(number: dict[str, Any]) -> dict[str, Any]:
        return {**public(number), "inbound_enabled": number["agent_id"] is not None}

    def list_phone_numbers(self, team_id: str) -> list[dict[str, Any]]:
        return [self._number_view(n) for n in self.store.phone_numbers.values() if n["_team"] == team_id]

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
            self.store.agent(team_id, changes["agent_id"])
        number.update(changes, updated_at=iso())
        return self._number_view(number)

    def add_phone_number(self, team_id: str, e164: str, label: str | None = None) -> str:
        now = iso()
        number_id = self.store.new_id("pn")
        self.store.phone_numbers[number_id] = {
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
        return [public(r) for r in self.store.phone_requests.values() if r["_team"] == team_id]

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
            self.store.agent(team_id, fields["submitted_by_agent_id"])
        now = iso()
        request = {"id": self.store.new_id("pnr"), "status": "pending", **fields, "created_at": now, "updated_at": now}
        self.store.phone_requests[request["id"]] = {**request, "_team": team_id}
        return request
