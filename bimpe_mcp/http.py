"""The streamable HTTP service: `/mcp`, `/healthz`, `/readyz` and `/metrics`.

Many teams share one deployment. Who may call `/mcp`, and with which Console key, is
`_auth.CredentialGate`'s: in pass-through mode each request carries its team's key
(`Authorization: Bearer sk_…` or `X-Bimpe-Api-Key`) and tool calls use that key; in gateway
mode callers present a gateway token or JWT and tool calls use the server's BIMPE_API_KEY.
Only on loopback does a keyless pass-through request fall back to the server's key. Behind a
load balancer, run replicas `--stateless` with a shared BIMPE_STATE_KEY so any replica can
finish a confirmation another one started.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.mcpserver import Context
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from bimpe_mcp import __version__
from bimpe_mcp._auth import CredentialGate, protected_resource_routes, request_api_key
from bimpe_mcp._frames import FrameGuard
from bimpe_mcp._narrowing import ReadNarrowing, request_narrowing
from bimpe_mcp._netsec import network_middleware, transport_security
from bimpe_mcp._operations import ConsoleReadiness, Drain, DrainGate, metrics_route
from bimpe_mcp._responses import ResponseModes, answer_per_request
from bimpe_mcp._secret_page import secret_entry_routes
from bimpe_mcp.server import BimpeServer
from bimpe_mcp.settings import Settings

__all__ = ["create_app"]


def create_app(server: BimpeServer, settings: Settings, *, drain: Drain | None = None) -> Starlette:
    """The ASGI app for `server`; closing it closes the Console connection pool.

    `drain`, started by the server on a signal, refuses new MCP requests (see `_operations.py`).
    With `settings.metrics_port` set, `/metrics` is served on that port only.
    """
    drain = drain or Drain(server.backend.metrics, settings.shutdown_grace)
    server.backend.metrics.start_counting()  # /metrics is served from here on
    server.backend.key_provider = request_api_key
    server.backend.narrowing_provider = request_narrowing
    # The secret-entry page is a route here, at the address the caller reached (checked by NetworkGuard).
    server.backend.link_base = _request_base_url
    mcp_app = server.mcp.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=settings.stateless,
        host=settings.host,
        # A second line behind network_middleware's: the SDK alone checks only on loopback binds.
        transport_security=transport_security(settings),
        max_request_body_size=settings.max_body_bytes,
        session_idle_timeout=settings.session_idle_timeout,
    )
    sessions = server.mcp.session_manager
    # One JSON body for a request that cannot stream anything, an SSE stream otherwise (see _responses.py).
    answer_per_request(sessions)
    answering = ResponseModes(mcp_app, path="/mcp", streaming_tools=server.tools.streaming)
    # Answers the malformed JSON-RPC bodies the SDK drops or mislabels (see _frames.py), and reads
    # the X-MCP-* narrowing headers before the body (see _narrowing.py).
    guarded_mcp_app = ReadNarrowing(
        FrameGuard(answering, path="/mcp", max_bytes=settings.max_body_bytes), server_agent_id=settings.agent_id
    )
    # The SDK keeps its open sessions in a private map and has no count of them to read instead;
    # tests/e2e/test_operations.py fails if that changes.
    server.backend.metrics.count_sessions_with(lambda: len(sessions._server_instances))
    readiness = ConsoleReadiness(server.backend.transport)
    gate = CredentialGate(
        guarded_mcp_app,
        settings,
        transport=server.backend.transport,
        server_has_key=bool(server.backend.api_key),
        # The same private map: which sessions are still open, so a closed one frees its credential's slot.
        live_sessions=lambda: sessions._server_instances.keys(),
    )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__, "tools": len(server.tools.tools)})

    async def readyz(request: Request) -> Response:
        if drain.started:
            return JSONResponse({"status": "shutting_down"}, status_code=503)
        status, body = await readiness.check()
        return JSONResponse(body, status_code=status)

    # With workers, whichever one answers reports the sum over them all (see _metrics.shared_by_workers).
    metrics_here = settings.metrics_port is None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with sessions.run():
            try:
                yield
            finally:
                await server.aclose()

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            *([metrics_route(server.backend.metrics)] if metrics_here else []),
            *protected_resource_routes(settings),
            # A browser brings no credential: the one-time link is the capability, sealed with the caller
            # that opened it, whose key (pass-through) or the server's (gateway) makes the Console call.
            *(secret_entry_routes(server.entries) if server.entries is not None else []),
            # The credential is checked first, so a body is read and parsed, and a session opened,
            # only for a caller allowed in.
            Mount("/", app=gate),
        ],
        # Outermost: Host, Origin and body size on every route, then CORS (see _netsec.py).
        middleware=[*network_middleware(settings), Middleware(DrainGate, drain=drain)],
        lifespan=lifespan,
    )
    app.state.server = server
    return app


async def _request_base_url(ctx: Context[Any, Any]) -> str:
    """Where the caller reached this deployment: the secret-entry page is served there too."""
    request = ctx.request_context.request
    return str(request.base_url) if isinstance(request, Request) else ""
