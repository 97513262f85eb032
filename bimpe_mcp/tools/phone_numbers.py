"""[phone_numbers] The team's phone numbers and requests for new ones."""

from __future__ import annotations

from pydantic import Field

from bimpe_mcp.console import models as m
from bimpe_mcp.tools._runtime import paged, request_body
from bimpe_mcp.tools._spec import READ, UPDATE, WRITE, Page, Paging, ToolParams, ToolSpec


class PhoneNumberRef(ToolParams):
    phone_number_id: str = Field(min_length=1, description="Phone number id (list_phone_numbers).")


class UpdatePhoneNumber(PhoneNumberRef, m.PhoneNumberUpdate):
    pass


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
    ),
    ToolSpec(
        "update_phone_number",
        "phone_numbers",
        "Update phone number",
        "Assign a number to an agent (agent_id; null unassigns) or relabel it. Real calls need one.",
        UpdatePhoneNumber,
        m.PhoneNumber,
        lambda call: call.client.phone_numbers.update(
            call.params.phone_number_id, request_body(call.params, m.PhoneNumberUpdate, keep_null=["agent_id"])
        ),
        UPDATE,
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
    ),
)
