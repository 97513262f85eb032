"""Call rules: placing calls and their lazily computed lifecycle (queued -> ringing -> answered -> ended)."""

from __future__ import annotations

import time
from typing import Any

from ._errors import SandboxError, not_found
from ._records import Rules, iso
from ._validation import Fields

CALL_STATUSES = ("queued", "ringing", "answered", "ended", "busy", "failed", "cancelled")
_LIFECYCLE = ("queued", "ringing", "answered", "ended")
_E164 = r"\+[1-9]\d{7,14}"


class CallRules(Rules):
    """Place calls and render them; status advances one step per `call_step` seconds since creation."""

    def make_call(self, team_id: str, agent_id: str, body: dict[str, Any]) -> dict[str, Any]:
        f = Fields(body)
        destination = f.text("destination", required=True, pattern=_E164, pattern_msg="must be an E.164 phone number")
        is_test = f.flag("is_test_call", required=True)
        f.check()
        agent = self.store.agent(team_id, agent_id)
        number = next((n for n in self.store.phone_numbers.values() if n["agent_id"] == agent_id), None)
        if not is_test and number is None:
            raise SandboxError(
                "channel_not_configured", "Agent has no phone number assigned. Assign one before placing calls."
            )
        busy = destination.endswith("0000")
        call = {
            "id": self.store.new_id("call"),
            "source": number["e164"] if number else None,
            "destination": destination,
            "direction": "outbound",
            "is_test_call": is_test,
            "_agent": agent["id"],
            "_created": time.time(),
            "_busy": busy,
        }
        self.store.calls[call["id"]] = call
        if busy:
            return {"status": "busy", "call_id": call["id"], "detail": "The destination is busy."}
        return {"status": "initiated", "call_id": call["id"], "detail": "Call queued."}

    def _call_view(self, call: dict[str, Any], *, detail: bool) -> dict[str, Any]:
        created, step = call["_created"], self.store.call_step
        elapsed_steps = int((time.time() - created) / step) if step > 0 else len(_LIFECYCLE)
        if call["_busy"]:
            status = "busy" if elapsed_steps >= 1 else "queued"
        else:
            status = _LIFECYCLE[min(elapsed_steps, len(_LIFECYCLE) - 1)]
        reached = _LIFECYCLE.index(status) if status in _LIFECYCLE else 0
        ended = status in ("ended", "busy")
        view = {
            "id": call["id"],
            "source": call["source"],
            "destination": call["destination"],
            "status": status,
            "direction": call["direction"],
            "created_on": iso(created),
            "duration_seconds": round(step) if status == "ended" else None,
            "is_test_call": call["is_test_call"],
            "error_reason": None,
            "end_reason": ("busy" if call["_busy"] else "completed") if ended else None,
            "ringing_at": iso(created + step) if reached >= 1 else None,
            "ended_at": iso(created + (step if call["_busy"] else 3 * step)) if ended else None,
        }
        if detail:
            view["started_at"] = iso(created)
            view["answered_at"] = iso(created + 2 * step) if reached >= 2 else None
            view["conversation_logs"] = self._transcript(call, created + 2 * step) if status == "ended" else []
        return view

    def _transcript(self, call: dict[str, Any], start: float) -> list[dict[str, Any]]:
        agent = self.store.agents.get(call["_agent"]) or {"name": "the agent"}
        lines = (
            ("assistant", f"Hello, this is {agent['name']}. How can I help you today?"),
            ("user", "Hi, I just wanted to check your opening hours."),
            ("assistant", "We are open from 9am to 6pm, Monday to Saturday. Anything else?"),
        )
        return [
            {
                "id": f"{call['id']}_log_{i}",
                "role": role,
                "message": text,
                "message_type": "text",
                "created_at": iso(start + i * 0.001),
                "attachments": [],
            }
            for i, (role, text) in enumerate(lines)
        ]

    def list_calls(
        self, team_id: str, agent_id: str, is_test_call: bool | None, status: str | None
    ) -> list[dict[str, Any]]:
        self.store.agent(team_id, agent_id)
        views = [self._call_view(c, detail=False) for c in self.store.calls.values() if c["_agent"] == agent_id]
        return [
            v
            for v in views
            if (is_test_call is None or v["is_test_call"] == is_test_call) and (status is None or v["status"] == status)
        ]

    def get_call(self, team_id: str, agent_id: str, call_id: str) -> dict[str, Any]:
        self.store.agent(team_id, agent_id)
        call = self.store.calls.get(call_id)
        if call is None or call["_agent"] != agent_id:
            raise not_found("Call")
        return self._call_view(call, detail=True)
