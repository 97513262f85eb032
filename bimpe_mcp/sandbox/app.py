"""The sandbox ASGI app: every Console route under /api/v1/console, plus /_sandbox admin behind its own key."""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .calls import CALL_STATUSES
from .conversations import CHANNEL_FILTERS
from .endpoint import Ctx, Ok, endpoint
from .errors import SandboxError, error_envelope
from .faults import Faults, FaultsMiddleware
from .middleware import ConsoleHeadersMiddleware
from .store import SandboxStore
from .streams import stream_endpoint
from .validation import Fields, bool_param, enum_param

PREFIX = "/api/v1/console"
A = "/agents/{agent_id}"
C = A + "/conversations/{conversation_id}"
I_CUSTOM = A + "/integrations/custom_api/{integration_id}"
I_MCP = A + "/integrations/mcp_server/{integration_id}"
DELETED = "Deleted"


def _deleted(action: Any) -> Ok:
    return Ok(None, message=DELETED)


def _not_implemented(c: Ctx) -> Any:
    raise SandboxError(
        "not_implemented", "Listing calls across agents is not implemented yet. Use /agents/{agentId}/calls."
    )


def _list_workflows(c: Ctx) -> Ok:
    scope = enum_param(c.query, "scope", ("owned", "public", "accessible")) or "accessible"
    return c.page(c.store.list_workflows(c.team, scope), "name", "description", "category")


def _list_conversations(c: Ctx) -> Ok:
    filters = {
        "channel": enum_param(c.query, "channel", CHANNEL_FILTERS),
        **{k: bool_param(c.query, k) for k in ("is_test_channel", "is_ai_chat_paused", "needs_attention")},
    }
    items = c.store.list_conversations(c.team, c.agent, filters)
    return c.page(items, "channel_user_id", "channel_user_username", "last_message_preview")


def _list_calls(c: Ctx) -> Ok:
    items = c.store.list_calls(
        c.team, c.agent, bool_param(c.query, "is_test_call"), enum_param(c.query, "status", CALL_STATUSES)
    )
    return c.page(items, "destination", "source")


def _console_routes() -> list[Route]:
    s = "agents:read", "agents:write"
    w = "workflows:read", "workflows:write"
    i = "integrations:read", "integrations:write"
    cv = "conversations:read", "conversations:write"
    cl = "calls:read", "calls:write"
    pn = "phone_numbers:read", "phone_numbers:write"
    table: list[tuple[str, str, Any, str, str | None, int]] = [
        # agents
        ("GET", "/agents", lambda c: c.page(c.store.list_agents(c.team), "name", "description"), s[0], None, 200),
        ("POST", "/agents", lambda c: c.store.create_agent(c.team, c.body), s[1], "agents.create", 201),
        ("GET", A, lambda c: c.store.get_agent(c.team, c.agent), s[0], None, 200),
        ("PATCH", A, lambda c: c.store.update_agent(c.team, c.agent, c.body), s[1], "agents.update", 200),
        ("DELETE", A, lambda c: _deleted(c.store.delete_agent(c.team, c.agent)), s[1], "agents.delete", 200),
        (
            "PATCH",
            A + "/live-status",
            lambda c: c.store.set_live_status(c.team, c.agent, c.body),
            s[1],
            "agents.live_status",
            200,
        ),
        ("GET", A + "/deployment/agent-test-code", lambda c: c.store.test_code(c.team, c.agent), s[0], None, 200),
        ("GET", A + "/channels", lambda c: c.store.list_channels(c.team, c.agent), s[0], None, 200),
        ("GET", A + "/actions", lambda c: c.store.list_actions(c.team, c.agent), s[0], None, 200),
        (
            "POST",
            A + "/actions/enable",
            lambda c: c.store.set_actions_enabled(c.team, c.agent, c.body, True),
            s[1],
            "actions.enable",
            200,
        ),
        (
            "POST",
            A + "/actions/disable",
            lambda c: c.store.set_actions_enabled(c.team, c.agent, c.body, False),
            s[1],
            "actions.disable",
            200,
        ),
        # knowledge bases
        ("GET", A + "/knowledge_bases", lambda c: c.store.list_knowledge_bases(c.team, c.agent), s[0], None, 200),
        (
            "POST",
            A + "/knowledge_bases",
            lambda c: c.store.create_knowledge_base(c.team, c.agent, c.body),
            s[1],
            "knowledge_bases.create",
            201,
        ),
        (
            "PATCH",
            A + "/knowledge_bases/{kb_id}",
            lambda c: c.store.update_knowledge_base(c.team, c.agent, c.params["kb_id"], c.body),
            s[1],
            "knowledge_bases.update",
            200,
        ),
        (
            "DELETE",
            A + "/knowledge_bases/{kb_id}",
            lambda c: _deleted(c.store.delete_knowledge_base(c.team, c.agent, c.params["kb_id"])),
            s[1],
            "knowledge_bases.delete",
            200,
        ),
        # integrations
        ("GET", A + "/integrations", lambda c: c.store.agent_integrations(c.team, c.agent), i[0], None, 200),
        ("GET", A + "/integrations/bimpeai", lambda c: c.store.list_bimpeai(c.team, c.agent), i[0], None, 200),
        (
            "POST",
            A + "/integrations/bimpeai/configure",
            lambda c: c.store.configure_bimpeai(c.team, c.agent, c.body),
            i[1],
            "integrations.bimpeai.configure",
            200,
        ),
        ("GET", A + "/integrations/custom_api", lambda c: c.store.list_custom_api(c.team, c.agent), i[0], None, 200),
        (
            "POST",
            A + "/integrations/custom_api/configure",
            lambda c: c.store.configure_custom_api(c.team, c.agent, c.body),
            i[1],
            "integrations.custom_api.configure",
            200,
        ),
        (
            "GET",
            I_CUSTOM + "/tools",
            lambda c: c.store.list_custom_tools(c.team, c.agent, c.params["integration_id"]),
            i[0],
            None,
            200,
        ),
        (
            "POST",
            I_CUSTOM + "/tools",
            lambda c: c.store.add_custom_tool(c.team, c.agent, c.params["integration_id"], c.body),
            i[1],
            "integrations.custom_api.tools.add",
            201,
        ),
        (
            "DELETE",
            I_CUSTOM + "/tools/{tool_id}",
            lambda c: _deleted(
                c.store.delete_custom_tool(c.team, c.agent, c.params["integration_id"], c.params["tool_id"])
            ),
            i[1],
            "integrations.custom_api.tools.delete",
            200,
        ),
        ("GET", A + "/integrations/mcp_server", lambda c: c.store.list_mcp(c.team, c.agent), i[0], None, 200),
        (
            "POST",
            A + "/integrations/mcp_server/configure",
            lambda c: c.store.configure_mcp(c.team, c.agent, c.body),
            i[1],
            "integrations.mcp_server.configure",
            200,
        ),
        (
            "POST",
            I_MCP + "/discover",
            lambda c: c.store.discover_mcp(c.team, c.agent, c.params["integration_id"]),
            i[1],
            "integrations.mcp_server.discover",
            200,
        ),
        (
            "POST",
            I_MCP + "/test",
            lambda c: c.store.test_mcp(c.team, c.agent, c.params["integration_id"]),
            i[1],
            "integrations.mcp_server.test",
            200,
        ),
        (
            "GET",
            I_MCP + "/tools",
            lambda c: c.store.list_mcp_tools(c.team, c.agent, c.params["integration_id"]),
            i[0],
            None,
            200,
        ),
        ("GET", A + "/integrations/pipedream", lambda c: c.store.list_pipedream(c.team, c.agent), i[0], None, 200),
        (
            "POST",
            A + "/integrations/pipedream/configure",
            lambda c: c.store.configure_pipedream(c.team, c.agent, c.body),
            i[1],
            "integrations.pipedream.configure",
            200,
        ),
        (
            "DELETE",
            A + "/integrations/bimpeai/{integration_id}",
            lambda c: _deleted(c.store.disconnect(c.team, c.agent, "bimpeai", c.params["integration_id"])),
            i[1],
            "integrations.bimpeai.disconnect",
            200,
        ),
        (
            "DELETE",
            A + "/integrations/custom_api/{integration_id}",
            lambda c: _deleted(c.store.disconnect(c.team, c.agent, "custom_api", c.params["integration_id"])),
            i[1],
            "integrations.custom_api.disconnect",
            200,
        ),
        (
            "DELETE",
            A + "/integrations/mcp_server/{integration_id}",
            lambda c: _deleted(c.store.disconnect(c.team, c.agent, "mcp_server", c.params["integration_id"])),
            i[1],
            "integrations.mcp_server.disconnect",
            200,
        ),
        (
            "DELETE",
            A + "/integrations/pipedream/{integration_id}",
            lambda c: _deleted(c.store.disconnect(c.team, c.agent, "pipedream", c.params["integration_id"])),
            i[1],
            "integrations.pipedream.disconnect",
            200,
        ),
        # conversations
        ("GET", A + "/conversations", _list_conversations, cv[0], None, 200),
        (
            "POST",
            A + "/conversations/messages",
            lambda c: c.store.create_message(c.team, c.agent, c.body),
            cv[1],
            "messages.create",
            201,
        ),
        ("GET", C, lambda c: c.store.get_conversation(c.team, c.agent, c.params["conversation_id"]), cv[0], None, 200),
        (
            "PATCH",
            C + "/ai-status",
            lambda c: c.store.set_ai_status(c.team, c.agent, c.params["conversation_id"], c.body),
            cv[1],
            "conversations.ai_status",
            200,
        ),
        (
            "GET",
            C + "/messages",
            lambda c: c.page(c.store.list_messages(c.team, c.agent, c.params["conversation_id"]), "message"),
            cv[0],
            None,
            200,
        ),
        (
            "POST",
            C + "/messages",
            lambda c: c.store.send_message(c.team, c.agent, c.params["conversation_id"], c.body),
            cv[1],
            "messages.create",
            201,
        ),
        (
            "GET",
            C + "/messages/{message_id}",
            lambda c: c.store.get_message(c.team, c.agent, c.params["conversation_id"], c.params["message_id"]),
            cv[0],
            None,
            200,
        ),
        (
            "POST",
            C + "/stream-ticket",
            lambda c: c.store.issue_ticket(c.team, c.agent, c.params["conversation_id"], c.api_key),
            cv[0],
            "conversations.stream_ticket",
            200,
        ),
        # calls
        ("GET", "/calls", _not_implemented, cl[0], None, 200),
        ("GET", A + "/calls", _list_calls, cl[0], None, 200),
        ("POST", A + "/calls", lambda c: c.store.make_call(c.team, c.agent, c.body), cl[1], "calls.create", 201),
        (
            "GET",
            A + "/calls/{call_id}",
            lambda c: c.store.get_call(c.team, c.agent, c.params["call_id"]),
            cl[0],
            None,
            200,
        ),
        # workflows
        ("GET", "/workflows", _list_workflows, w[0], None, 200),
        ("POST", "/workflows", lambda c: c.store.create_workflow(c.team, c.body), w[1], "workflows.create", 201),
        ("POST", "/workflows/clone", lambda c: c.store.clone_workflow(c.team, c.body), w[1], "workflows.clone", 201),
        (
            "GET",
            "/workflows/{workflow_id}",
            lambda c: c.store.get_workflow(c.team, c.params["workflow_id"]),
            w[0],
            None,
            200,
        ),
        (
            "PATCH",
            "/workflows/{workflow_id}",
            lambda c: c.store.update_workflow(c.team, c.params["workflow_id"], c.body),
            w[1],
            "workflows.update",
            200,
        ),
        (
            "DELETE",
            "/workflows/{workflow_id}",
            lambda c: _deleted(c.store.delete_workflow(c.team, c.params["workflow_id"])),
            w[1],
            "workflows.delete",
            200,
        ),
        # phone numbers
        (
            "GET",
            "/phone-numbers",
            lambda c: c.page(c.store.list_phone_numbers(c.team), "e164", "label"),
            pn[0],
            None,
            200,
        ),
        (
            "GET",
            "/phone-numbers/request",
            lambda c: c.page(c.store.list_phone_requests(c.team), "business_name", "intended_use"),
            pn[0],
            None,
            200,
        ),
        (
            "POST",
            "/phone-numbers/request",
            lambda c: c.store.create_phone_request(c.team, c.body),
            pn[1],
            "phone_numbers.request",
            201,
        ),
        (
            "GET",
            "/phone-numbers/{phone_number_id}",
            lambda c: c.store.get_phone_number(c.team, c.params["phone_number_id"]),
            pn[0],
            None,
            200,
        ),
        (
            "PATCH",
            "/phone-numbers/{phone_number_id}",
            lambda c: c.store.update_phone_number(c.team, c.params["phone_number_id"], c.body),
            pn[1],
            "phone_numbers.update",
            200,
        ),
    ]
    routes = [
        Route(PREFIX + path, endpoint(handler, scope, count, status), methods=[method])
        for method, path, handler, scope, count, status in table
    ]
    routes.append(Route(PREFIX + C + "/stream", stream_endpoint, methods=["GET"]))
    return routes


# ---- admin (sandbox only, behind X-Sandbox-Admin-Key) ---------------------------------------------------

ADMIN_KEY_HEADER = "X-Sandbox-Admin-Key"


def _admin_only(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Answer only requests that carry the store's admin key: these routes mint keys and inject faults,
    and any local process (or a web page, through the CORS headers) can reach a loopback port."""

    async def guarded(request: Request) -> Response:
        given = request.headers.get(ADMIN_KEY_HEADER, "").encode("latin-1")
        expected = request.app.state.store.admin_key.encode()
        if not hmac.compare_digest(given, expected):
            raise SandboxError(
                "unauthorized",
                f"Sandbox admin routes need the {ADMIN_KEY_HEADER} header: the key `bimpe-mcp sandbox` "
                "prints as BIMPE_SANDBOX_ADMIN_KEY.",
            )
        return await handler(request)

    return guarded


async def _admin_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise SandboxError("bad_request", "Request body must be valid JSON.") from None
    if not isinstance(body, dict):
        raise SandboxError("bad_request", "Request body must be a JSON object.")
    return body


async def _state(request: Request) -> Response:
    return JSONResponse({"counts": dict(request.app.state.store.counts)})


async def _put_faults(request: Request) -> Response:
    body = await _admin_body(request)
    knobs = {k for k in Faults.__dataclass_fields__ if not k.startswith("_")}
    unknown = sorted(set(body) - knobs)
    if unknown:
        raise SandboxError("validation_error", "Validation failed", [(k, "is not a fault setting") for k in unknown])
    faults: Faults = request.app.state.faults
    try:
        faults.replace(**body)
    except TypeError as exc:
        raise SandboxError("bad_request", str(exc)) from None
    return JSONResponse({k: getattr(faults, k) for k in sorted(knobs)})


async def _post_team(request: Request) -> Response:
    f = Fields(await _admin_body(request))
    name = f.text("name", required=True)
    plan = f.enum("plan", ("starter", "free"), default="starter")
    f.check()
    team_id, api_key = request.app.state.store.add_team(name, plan)
    return JSONResponse({"team_id": team_id, "api_key": api_key}, 201)


async def _post_key(request: Request) -> Response:
    f = Fields(await _admin_body(request))
    team_id = f.text("team_id", required=True)
    scopes = f.array("scopes")
    expired = f.flag("expired", default=False)
    rate_limit = f.integer("rate_limit", minimum=1)
    f.check()
    key = request.app.state.store.add_key(team_id, scopes or [], expired=expired, rate_limit=rate_limit)
    return JSONResponse({"api_key": key}, 201)


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


# ---- errors ---------------------------------------------------------------------------------------------


def _request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "")


async def _sandbox_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SandboxError)
    return JSONResponse(exc.envelope(_request_id(request)), exc.status, headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = f"Cannot {request.method} {request.url.path}"
    return JSONResponse(error_envelope("not_found", message, _request_id(request)), 404)


async def _internal_error(request: Request, exc: Exception) -> Response:
    return JSONResponse(error_envelope("internal_error", "Internal server error.", _request_id(request)), 500)


def create_app(store: SandboxStore | None = None, *, faults: Faults | None = None) -> Starlette:
    """A Starlette app serving `store` (a fresh seeded one by default) with `faults` injected."""
    store = store if store is not None else SandboxStore()
    faults = faults if faults is not None else Faults()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await store.aclose()

    admin = [
        Route("/_sandbox/state", _admin_only(_state), methods=["GET"]),
        Route("/_sandbox/faults", _admin_only(_put_faults), methods=["PUT"]),
        Route("/_sandbox/teams", _admin_only(_post_team), methods=["POST"]),
        Route("/_sandbox/keys", _admin_only(_post_key), methods=["POST"]),
        Route("/healthz", _healthz, methods=["GET"]),
    ]
    app = Starlette(
        routes=_console_routes() + admin,
        middleware=[Middleware(ConsoleHeadersMiddleware), Middleware(FaultsMiddleware, faults=faults)],
        exception_handlers={SandboxError: _sandbox_error, HTTPException: _http_error, Exception: _internal_error},
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.faults = faults
    return app
