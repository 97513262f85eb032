"""[phone_numbers] The team's phone numbers and requests for new ones."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from bimpe_mcp.console import models as m
from bimpe_mcp.tools._runtime import Refused, ToolCall, paged, request_body
from bimpe_mcp.tools._spec import READ, UPDATE, WRITE, AgentId, Page, Paging, PhoneNumberId, Scope, ToolParams, ToolSpec


class PhoneNumberRef(ToolParams):
    phone_number_id: PhoneNumberId


class UpdatePhoneNumber(PhoneNumberRef, m.PhoneNumberUpdate):
    agent_id: AgentId | None = Field(None, description="Agent to route the number to; null unassigns.")


async def _update_phone_number(call: ToolCall[UpdatePhoneNumber]) -> Any:
    """Under `--agent-id`, a number routed to another agent can be neither taken nor released."""
    p, scoped = call.params, call.scope_agent_id
    if scoped is not None:
        if "agent_id" in p.model_fields_set and p.agent_id not in (None, scoped):
            raise Refused(
                f"agent_id: this server is scoped to agent {scoped}; give {scoped} or null. Nothing was sent."
            )
        routed = (await call.client.phone_numbers.get(p.phone_number_id)).data.agent_id
        if routed not in (None, scoped):
            raise Refused(
                f"phone_number_id: the number is routed to another agent, and this server is scoped to {scoped}. "
                "Nothing was changed."
            )
    body = request_body(p, m.PhoneNumberUpdate, keep_null=["agent_id"])
    return await call.client.phone_numbers.update(p.phone_number_id, body)


TOOLS = (
    ToolSpec(
        "list_phone_numbers",
        "phone_numbers",
        "List phone numbers",
        "The team's numbers (e164, label) and which agent each routes to.",
        Paging,
        Page[m.PhoneNumber],
        paged(lambda call, query: call.client.phone_numbers.list(query)),
        READ,
        scope=Scope.TEAM,
    ),
    ToolSpec(
        "get_phone_number",
        "phone_numbers",
        "Get phone number",
        "One phone number with its agent and inbound setting.",
        PhoneNumberRef,
        m.PhoneNumber,
        lambda call: call.client.phone_numbers.get(call.params.phone_number_id),
        READ,
        scope=Scope.TEAM,
    ),
    ToolSpec(
        "update_phone_number",
        "phone_numbers",
        "Update phone number",
        "Assign a number to an agent (agent_id; null unassigns) or relabel it. Real calls need one.",
        UpdatePhoneNumber,
        m.PhoneNumber,
        _update_phone_number,
        UPDATE,
        scope=Scope.ROUTED,
    ),
    ToolSpec(
        "request_phone_number",
        "phone_numbers",
        "Request phone number",
        "Ask BimpeAI to provision a new number. Returns the pending request.",
        m.PhoneNumberRequestCreate,
        m.PhoneNumberRequest,
        lambda call: call.client.phone_numbers.request(request_body(call.params, m.PhoneNumberRequestCreate)),
        WRITE,
        scope=Scope.TEAM,
    ),
    ToolSpec(
        "list_phone_number_requests",
        "phone_numbers",
        "List number requests",
        "The team's phone number requests and their status.",
        Paging,
        Page[m.PhoneNumberRequest],
        paged(lambda call, query: call.client.phone_numbers.list_requests(query)),
        READ,
        scope=Scope.TEAM,
    ),
)
