"""The Console's routes under /api/v1/console, one list per resource, declared like Starlette's routing.

Each `route()` names the scope it needs, the write counter it bumps and its success status; `endpoint`
runs the pipeline every route shares. Starlette tries routes in order, so a literal path
(`/phone-numbers/request`) comes before the parameter that would match it too.
"""

from __future__ import annotations

from typing import NoReturn

from starlette.routing import Route

from ._calls import CALL_STATUSES
from ._conversations import CHANNEL_FILTERS
from ._endpoint import Handler, Ok, RouteContext, endpoint
from ._errors import SandboxError
from ._streams import stream_endpoint
from ._validation import bool_param, enum_param

PREFIX = "/api/v1/console"
AGENT = "/agents/{agent_id}"
CONVERSATION = AGENT + "/conversations/{conversation_id}"
CUSTOM_API = AGENT + "/integrations/custom_api/{integration_id}"
MCP_SERVER = AGENT + "/integrations/mcp_server/{integration_id}"


def route(
    method: str, path: str, handler: Handler, *, scope: str, count: str | None = None, status: int = 200
) -> Route:
    """`handler` at `PREFIX + path` behind the shared pipeline. `count` is the write counter it bumps
    (`GET /_sandbox/state`); a DELETE answers "Deleted" with no data, as the Console does."""
    message = "Deleted" if method == "DELETE" else "Success"
    return Route(PREFIX + path, endpoint(handler, scope, count, status, message), methods=[method])


def _list_workflows(ctx: RouteContext) -> Ok:
    scope = enum_param(ctx.query, "scope", ("owned", "public", "accessible")) or "accessible"
    return ctx.page(ctx.store.workflow_rules.list_workflows(ctx.team, scope), "name", "description", "category")


def _list_conversations(ctx: RouteContext) -> Ok:
    filters = {
        "channel": enum_param(ctx.query, "channel", CHANNEL_FILTERS),
        **{k: bool_param(ctx.query, k) for k in ("is_test_channel", "is_ai_chat_paused", "needs_attention")},
    }
    items = ctx.store.conversation_rules.list_conversations(ctx.team, ctx.agent, filters)
    return ctx.page(items, "channel_user_id", "channel_user_username", "last_message_preview")


def _list_calls(ctx: RouteContext) -> Ok:
    is_test_call = bool_param(ctx.query, "is_test_call")
    status = enum_param(ctx.query, "status", CALL_STATUSES)
    return ctx.page(ctx.store.call_rules.list_calls(ctx.team, ctx.agent, is_test_call, status), "destination", "source")


def _list_calls_across_agents(ctx: RouteContext) -> NoReturn:
    raise SandboxError(
        "not_implemented", "Listing calls across agents is not implemented yet. Use /agents/{agentId}/calls."
    )


def _disconnect(family: str) -> Handler:
    return lambda ctx: ctx.store.integration_rules.disconnect(ctx.team, ctx.agent, family, ctx.params["integration_id"])


AGENT_ROUTES = [
    route(
        "GET",
        "/agents",
        lambda ctx: ctx.page(ctx.store.agent_rules.list_agents(ctx.team), "name", "description"),
        scope="agents:read",
    ),
    route(
        "POST",
        "/agents",
        lambda ctx: ctx.store.agent_rules.create_agent(ctx.team, ctx.body),
        scope="agents:write",
        count="agents.create",
        status=201,
    ),
    route("GET", AGENT, lambda ctx: ctx.store.agent_rules.get_agent(ctx.team, ctx.agent), scope="agents:read"),
    route(
        "PATCH",
        AGENT,
        lambda ctx: ctx.store.agent_rules.update_agent(ctx.team, ctx.agent, ctx.body),
        scope="agents:write",
        count="agents.update",
    ),
    route(
        "DELETE",
        AGENT,
        lambda ctx: ctx.store.agent_rules.delete_agent(ctx.team, ctx.agent),
        scope="agents:write",
        count="agents.delete",
    ),
    route(
        "PATCH",
        AGENT + "/live-status",
        lambda ctx: ctx.store.agent_rules.set_live_status(ctx.team, ctx.agent, ctx.body),
        scope="agents:write",
        count="agents.live_status",
    ),
    route(
        "GET",
        AGENT + "/deployment/agent-test-code",
        lambda ctx: ctx.store.agent_rules.test_code(ctx.team, ctx.agent),
        scope="agents:read",
    ),
    route(
        "GET",
        AGENT + "/channels",
        lambda ctx: ctx.store.agent_rules.list_channels(ctx.team, ctx.agent),
        scope="agents:read",
    ),
    route(
        "GET",
        AGENT + "/actions",
        lambda ctx: ctx.store.integration_rules.list_actions(ctx.team, ctx.agent),
        scope="agents:read",
    ),
    route(
        "POST",
        AGENT + "/actions/enable",
        lambda ctx: ctx.store.integration_rules.set_actions_enabled(ctx.team, ctx.agent, ctx.body, True),
        scope="agents:write",
        count="actions.enable",
    ),
    route(
        "POST",
        AGENT + "/actions/disable",
        lambda ctx: ctx.store.integration_rules.set_actions_enabled(ctx.team, ctx.agent, ctx.body, False),
        scope="agents:write",
        count="actions.disable",
    ),
]

KNOWLEDGE_BASE_ROUTES = [
    route(
        "GET",
        AGENT + "/knowledge_bases",
        lambda ctx: ctx.store.knowledge_base_rules.list_knowledge_bases(ctx.team, ctx.agent),
        scope="agents:read",
    ),
    route(
        "POST",
        AGENT + "/knowledge_bases",
        lambda ctx: ctx.store.knowledge_base_rules.create_knowledge_base(ctx.team, ctx.agent, ctx.body),
        scope="agents:write",
        count="knowledge_bases.create",
        status=201,
    ),
    route(
        "PATCH",
        AGENT + "/knowledge_bases/{kb_id}",
        lambda ctx: ctx.store.knowledge_base_rules.update_knowledge_base(
            ctx.team, ctx.agent, ctx.params["kb_id"], ctx.body
        ),
        scope="agents:write",
        count="knowledge_bases.update",
    ),
    route(
        "DELETE",
        AGENT + "/knowledge_bases/{kb_id}",
        lambda ctx: ctx.store.knowledge_base_rules.delete_knowledge_base(ctx.team, ctx.agent, ctx.params["kb_id"]),
        scope="agents:write",
        count="knowledge_bases.delete",
    ),
]

INTEGRATION_ROUTES = [
    route(
        "GET",
        AGENT + "/integrations",
        lambda ctx: ctx.store.integration_rules.agent_integrations(ctx.team, ctx.agent),
        scope="integrations:read",
    ),
    route(
        "GET",
        AGENT + "/integrations/bimpeai",
        lambda ctx: ctx.store.integration_rules.list_bimpeai(ctx.team, ctx.agent),
        scope="integrations:read",
    ),
    route(
        "POST",
        AGENT + "/integrations/bimpeai/configure",
        lambda ctx: ctx.store.integration_rules.configure_bimpeai(ctx.team, ctx.agent, ctx.body),
        scope="integrations:write",
        count="integrations.bimpeai.configure",
    ),
    route(
        "GET",
        AGENT + "/integrations/custom_api",
        lambda ctx: ctx.store.integration_rules.list_custom_api(ctx.team, ctx.agent),
        scope="integrations:read",
    ),
    route(
        "POST",
        AGENT + "/integrations/custom_api/configure",
        lambda ctx: ctx.store.integration_rules.configure_custom_api(ctx.team, ctx.agent, ctx.body),
        scope="integrations:write",
        count="integrations.custom_api.configure",
    ),
    route(
        "GET",
        CUSTOM_API + "/tools",
        lambda ctx: ctx.store.integration_rules.list_custom_tools(ctx.team, ctx.agent, ctx.params["integration_id"]),
        scope="integrations:read",
    ),
    route(
        "POST",
        CUSTOM_API + "/tools",
        lambda ctx: ctx.store.integration_rules.add_custom_tool(
            ctx.team, ctx.agent, ctx.params["integration_id"], ctx.body
        ),
        scope="integrations:write",
        count="integrations.custom_api.tools.add",
        status=201,
    ),
    route(
        "DELETE",
        CUSTOM_API + "/tools/{tool_id}",
        lambda ctx: ctx.store.integration_rules.delete_custom_tool(
            ctx.team, ctx.agent, ctx.params["integration_id"], ctx.params["tool_id"]
        ),
        scope="integrations:write",
        count="integrations.custom_api.tools.delete",
    ),
    route(
        "GET",
        AGENT + "/integrations/mcp_server",
        lambda ctx: ctx.store.integration_rules.list_mcp(ctx.team, ctx.agent),
        scope="integrations:read",
    ),
    route(
        "POST",
        AGENT + "/integrations/mcp_server/configure",
        lambda ctx: ctx.store.integration_rules.configure_mcp(ctx.team, ctx.agent, ctx.body),
        scope="integrations:write",
        count="integrations.mcp_server.configure",
    ),
    route(
        "POST",
        MCP_SERVER + "/discover",
        lambda ctx: ctx.store.integration_rules.discover_mcp(ctx.team, ctx.agent, ctx.params["integration_id"]),
        scope="integrations:write",
        count="integrations.mcp_server.discover",
    ),
    route(
        "POST",
        MCP_SERVER + "/test",
        lambda ctx: ctx.store.integration_rules.test_mcp(ctx.team, ctx.agent, ctx.params["integration_id"]),
        scope="integrations:write",
        count="integrations.mcp_server.test",
    ),
    route(
        "GET",
        MCP_SERVER + "/tools",
        lambda ctx: ctx.store.integration_rules.list_mcp_tools(ctx.team, ctx.agent, ctx.params["integration_id"]),
        scope="integrations:read",
    ),
    route(
        "GET",
        AGENT + "/integrations/pipedream",
        lambda ctx: ctx.store.integration_rules.list_pipedream(ctx.team, ctx.agent),
        scope="integrations:read",
    ),
    route(
        "POST",
        AGENT + "/integrations/pipedream/configure",
        lambda ctx: ctx.store.integration_rules.configure_pipedream(ctx.team, ctx.agent, ctx.body),
        scope="integrations:write",
        count="integrations.pipedream.configure",
    ),
    route(
        "DELETE",
        AGENT + "/integrations/bimpeai/{integration_id}",
        _disconnect("bimpeai"),
        scope="integrations:write",
        count="integrations.bimpeai.disconnect",
    ),
    route(
        "DELETE",
        AGENT + "/integrations/custom_api/{integration_id}",
        _disconnect("custom_api"),
        scope="integrations:write",
        count="integrations.custom_api.disconnect",
    ),
    route(
        "DELETE",
        AGENT + "/integrations/mcp_server/{integration_id}",
        _disconnect("mcp_server"),
        scope="integrations:write",
        count="integrations.mcp_server.disconnect",
    ),
    route(
        "DELETE",
        AGENT + "/integrations/pipedream/{integration_id}",
        _disconnect("pipedream"),
        scope="integrations:write",
        count="integrations.pipedream.disconnect",
    ),
]

CONVERSATION_ROUTES = [
    route("GET", AGENT + "/conversations", _list_conversations, scope="conversations:read"),
    route(
        "POST",
        AGENT + "/conversations/messages",
        lambda ctx: ctx.store.conversation_rules.create_message(ctx.team, ctx.agent, ctx.body),
        scope="conversations:write",
        count="messages.create",
        status=201,
    ),
    route(
        "GET",
        CONVERSATION,
        lambda ctx: ctx.store.conversation_rules.get_conversation(ctx.team, ctx.agent, ctx.params["conversation_id"]),
        scope="conversations:read",
    ),
    route(
        "PATCH",
        CONVERSATION + "/ai-status",
        lambda ctx: ctx.store.conversation_rules.set_ai_status(
            ctx.team, ctx.agent, ctx.params["conversation_id"], ctx.body
        ),
        scope="conversations:write",
        count="conversations.ai_status",
    ),
    route(
        "GET",
        CONVERSATION + "/messages",
        lambda ctx: ctx.page(
            ctx.store.conversation_rules.list_messages(ctx.team, ctx.agent, ctx.params["conversation_id"]), "message"
        ),
        scope="conversations:read",
    ),
    route(
        "POST",
        CONVERSATION + "/messages",
        lambda ctx: ctx.store.conversation_rules.send_message(
            ctx.team, ctx.agent, ctx.params["conversation_id"], ctx.body
        ),
        scope="conversations:write",
        count="messages.create",
        status=201,
    ),
    route(
        "GET",
        CONVERSATION + "/messages/{message_id}",
        lambda ctx: ctx.store.conversation_rules.get_message(
            ctx.team, ctx.agent, ctx.params["conversation_id"], ctx.params["message_id"]
        ),
        scope="conversations:read",
    ),
    route(
        "POST",
        CONVERSATION + "/stream-ticket",
        lambda ctx: ctx.store.conversation_rules.issue_ticket(
            ctx.team, ctx.agent, ctx.params["conversation_id"], ctx.api_key
        ),
        scope="conversations:read",
        count="conversations.stream_ticket",
    ),
    # Authenticated by its single-use ticket, not by a key: outside the shared pipeline.
    Route(PREFIX + CONVERSATION + "/stream", stream_endpoint, methods=["GET"]),
]

CALL_ROUTES = [
    route("GET", "/calls", _list_calls_across_agents, scope="calls:read"),
    route("GET", AGENT + "/calls", _list_calls, scope="calls:read"),
    route(
        "POST",
        AGENT + "/calls",
        lambda ctx: ctx.store.call_rules.make_call(ctx.team, ctx.agent, ctx.body),
        scope="calls:write",
        count="calls.create",
        status=201,
    ),
    route(
        "GET",
        AGENT + "/calls/{call_id}",
        lambda ctx: ctx.store.call_rules.get_call(ctx.team, ctx.agent, ctx.params["call_id"]),
        scope="calls:read",
    ),
]

WORKFLOW_ROUTES = [
    route("GET", "/workflows", _list_workflows, scope="workflows:read"),
    route(
        "POST",
        "/workflows",
        lambda ctx: ctx.store.workflow_rules.create_workflow(ctx.team, ctx.body),
        scope="workflows:write",
        count="workflows.create",
        status=201,
    ),
    route(
        "POST",
        "/workflows/clone",
        lambda ctx: ctx.store.workflow_rules.clone_workflow(ctx.team, ctx.body),
        scope="workflows:write",
        count="workflows.clone",
        status=201,
    ),
    route(
        "GET",
        "/workflows/{workflow_id}",
        lambda ctx: ctx.store.workflow_rules.get_workflow(ctx.team, ctx.params["workflow_id"]),
        scope="workflows:read",
    ),
    route(
        "PATCH",
        "/workflows/{workflow_id}",
        lambda ctx: ctx.store.workflow_rules.update_workflow(ctx.team, ctx.params["workflow_id"], ctx.body),
        scope="workflows:write",
        count="workflows.update",
    ),
    route(
        "DELETE",
        "/workflows/{workflow_id}",
        lambda ctx: ctx.store.workflow_rules.delete_workflow(ctx.team, ctx.params["workflow_id"]),
        scope="workflows:write",
        count="workflows.delete",
    ),
]

PHONE_NUMBER_ROUTES = [
    route(
        "GET",
        "/phone-numbers",
        lambda ctx: ctx.page(ctx.store.phone_number_rules.list_phone_numbers(ctx.team), "e164", "label"),
        scope="phone_numbers:read",
    ),
    route(
        "GET",
        "/phone-numbers/request",
        lambda ctx: ctx.page(
            ctx.store.phone_number_rules.list_phone_requests(ctx.team), "business_name", "intended_use"
        ),
        scope="phone_numbers:read",
    ),
    route(
        "POST",
        "/phone-numbers/request",
        lambda ctx: ctx.store.phone_number_rules.create_phone_request(ctx.team, ctx.body),
        scope="phone_numbers:write",
        count="phone_numbers.request",
        status=201,
    ),
    route(
        "GET",
        "/phone-numbers/{phone_number_id}",
        lambda ctx: ctx.store.phone_number_rules.get_phone_number(ctx.team, ctx.params["phone_number_id"]),
        scope="phone_numbers:read",
    ),
    route(
        "PATCH",
        "/phone-numbers/{phone_number_id}",
        lambda ctx: ctx.store.phone_number_rules.update_phone_number(ctx.team, ctx.params["phone_number_id"], ctx.body),
        scope="phone_numbers:write",
        count="phone_numbers.update",
    ),
]

CONSOLE_ROUTES = [
    *AGENT_ROUTES,
    *KNOWLEDGE_BASE_ROUTES,
    *INTEGRATION_ROUTES,
    *CONVERSATION_ROUTES,
    *CALL_ROUTES,
    *WORKFLOW_ROUTES,
    *PHONE_NUMBER_ROUTES,
]
