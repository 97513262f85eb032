"""[phone_numbers] The team's phone numbers and requests for new ones."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from bimpe_mcp.console import models as m
from bimpe_mcp.tools._runtime import Refused, ToolCall, paged
from bimpe_mcp.tools._spec import READ, UPDATE, WRITE, AgentId, Page, Paging, PhoneNumberId, Scope, ToolParams, ToolSpec


class PhoneNumberRef(ToolParams):
    phone_number_id: PhoneNumberId


class UpdatePhoneNumber(PhoneNumberRef, m.PhoneNumberUpdate):
    agent_id: AgentId | None = Field(None, description="Agent to route to; null unassigns.")


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
    body = call.body(m.PhoneNumberUpdate)
    return await call.client.phone_numbers.update(p.phone_number_id, body)


TOOLS = (
    ToolSpec(
        name="list_phone_numbers",
        toolset="phone_numbers",
        title="List phone numbers",
        description="The team's numbers (e164, label) and which agent each routes to.",
        params=Paging,
        output=Page[m.PhoneNumber],
        run=paged(lambda call, query: call.client.phone_numbers.list(query)),
        hints=READ,
        scope=Scope.TEAM,
    ),
    ToolSpec(
        name="get_phone_number",
        toolset="phone_numbers",
        title="Get phone number",
        description="One phone number with its agent and inbound setting.",
        params=PhoneNumberRef,
        output=m.PhoneNumber,
        run=lambda call: call.client.phone_numbers.get(call.params.phone_number_id),
        hints=READ,
        scope=Scope.TEAM,
    ),
    ToolSpec(
        name="update_phone_number",
        toolset="phone_numbers",
        title="Update phone number",
        description="Assign a number to an agent (null unassigns) or relabel it.",
        params=UpdatePhoneNumber,
        output=m.PhoneNumber,
        run=_update_phone_number,
        hints=UPDATE,
        scope=Scope.ROUTED,
        nullable=frozenset({"agent_id"}),
    ),
    ToolSpec(
        name="request_phone_number",
        toolset="phone_numbers",
        title="Request phone number",
        description="Ask BimpeAI for a new number.",
        params=m.PhoneNumberRequestCreate,
        output=m.PhoneNumberRequest,
        run=lambda call: call.client.phone_numbers.request(call.body(m.PhoneNumberRequestCreate)),
        hints=WRITE,
        scope=Scope.TEAM,
    ),
    ToolSpec(
        name="list_phone_number_requests",
        toolset="phone_numbers",
        title="List number requests",
        description="The team's phone number requests and their status.",
        params=Paging,
        output=Page[m.PhoneNumberRequest],
        run=paged(lambda call, query: call.client.phone_numbers.list_requests(query)),
        hints=READ,
        scope=Scope.TEAM,
    ),
)
