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
        name="list_calls",
        toolset="calls",
        title="List calls",
        description="The agent's calls, newest first by default, with status and duration.",
        params=ListCalls,
        output=Page[m.Call],
        run=paged(
            lambda call, query: call.client.calls.list(
                call.params.agent_id, query, is_test_call=call.params.is_test_call, status=call.params.status
            )
        ),
        hints=READ,
    ),
    ToolSpec(
        name="get_call",
        toolset="calls",
        title="Get call",
        description="One call with its timeline and transcript (conversation_logs).",
        params=CallRef,
        output=m.CallDetail,
        run=lambda call: call.client.calls.get(call.params.agent_id, call.params.call_id),
        hints=READ,
    ),
    ToolSpec(
        name="make_call",
        toolset="calls",
        title="Make a real call",
        description=(
            "Have the agent phone a real number from its assigned phone number. For testing use place_test_call."
        ),
        params=MakeCall,
        output=m.CallStarted,
        run=lambda call: call.client.calls.create(
            call.params.agent_id, m.CallCreate(destination=call.params.destination, is_test_call=False)
        ),
        hints=Hints(read_only=False, destructive=True, idempotent=False, open_world=True),
        confirm="destination",
        outward=True,
    ),
)
