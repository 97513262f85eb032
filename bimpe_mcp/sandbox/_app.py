"""The sandbox ASGI app: the Console routes (`_routes`), the Butterbase ones (`_butterbase_routes`), /_sandbox
admin behind its own key, error answers."""

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

from ._butterbase import ButterbaseSandboxError
from ._butterbase_routes import ADMIN_FAULTS, BUTTERBASE_ROUTES, butterbase_error
from ._errors import SandboxError, error_envelope
from ._faults import Faults, FaultsMiddleware
from ._middleware import ConsoleHeadersMiddleware
from ._routes import CONSOLE_ROUTES
from ._store import SandboxStore
from ._validation import Fields

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
    request_id: str = request.scope.get("state", {}).get("request_id", "")
    return request_id


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
        Route("/_sandbox/butterbase", _admin_only(ADMIN_FAULTS), methods=["PUT"]),
        Route("/healthz", _healthz, methods=["GET"]),
    ]
    app = Starlette(
        routes=CONSOLE_ROUTES + BUTTERBASE_ROUTES + admin,
        middleware=[Middleware(ConsoleHeadersMiddleware), Middleware(FaultsMiddleware, faults=faults)],
        exception_handlers={
            SandboxError: _sandbox_error,
            ButterbaseSandboxError: butterbase_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.faults = faults
    return app
