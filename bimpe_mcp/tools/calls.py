"""[calls] Call history and real outbound calls."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bimpe_mcp.console import models as m
from bimpe_mcp.tools._runtime import paged
from bimpe_mcp.tools._spec import READ, AgentRef, CallId, Hints, Page, Paging, ToolSpec

CallStatus = Literal["queued", "ringing", "answered", "ended", "busy", "failed", "cancelled"]


class ListCalls(AgentRef, Paging):
    is_test_call: bool | None = Field(None, description="Only test (true) or real (false) calls.")
    status: CallStatus | None = Field(None, description="Only calls in this state.")


class CallRef(AgentRef):
    call_id: CallId


class MakeCall(AgentRef):
    destination: str = Field(pattern=r"^\+[1-9]\d{7,14}$", description="Number to call, E.164 (+234…).")


TOOLS = (
    ToolSpec(
        "list_calls",
        "calls",
        "List calls",
        "The agent's calls, newest first by default, with status and duration.",
        ListCalls,
        Page[m.Call],
        paged(
            lambda call, query: call.client.calls.list(
                call.params.agent_id, query, is_test_call=call.params.is_test_call, status=call.params.status
            )
        ),
        READ,
    ),
    ToolSpec(
        "get_call",
        "calls",
        "Get call",
        "One call with its timeline and transcript (conversation_logs).",
        CallRef,
        m.CallDetail,
        lambda call: call.client.calls.get(call.params.agent_id, call.params.call_id),
        READ,
    ),
    ToolSpec(
        "make_call",
        "calls",
        "Make a real call",
        "Have the agent phone a real number from its assigned phone number. For testing use place_test_call.",
        MakeCall,
        m.CallStarted,
        lambda call: call.client.calls.create(
            call.params.agent_id, m.CallCreate(destination=call.params.destination, is_test_call=False)
        ),
        Hints(read_only=False, destructive=True, idempotent=False, open_world=True),
        confirm="destination",
    ),
)
