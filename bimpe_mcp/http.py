"""The streamable HTTP service: `/mcp`, `/healthz` and `/metrics`.

Many teams share one deployment: each MCP request carries its team's key in
`Authorization: Bearer sk_…` (or `X-Bimpe-Api-Key`), and tool calls use that key. A
server started with BIMPE_API_KEY (or --sandbox) uses its own key for requests without
one. Behind a load balancer, run replicas `--stateless` with a shared BIMPE_STATE_KEY so
any replica can finish a confirmation another one started.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.mcpserver import Context
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bimpe_mcp import __version__
from bimpe_mcp._frames import FrameGuard
from bimpe_mcp.server import BimpeServer
from bimpe_mcp.settings import Settings
from bimpe_mcp.tools import ApiKey

__all__ = ["create_app"]


_KEY_STATE = "bimpe_api_key"


def api_key_from_headers(headers: Mapping[str, str]) -> ApiKey | None:
    """A team key sent as `X-Bimpe-Api-Key` or `Authorization: Bearer` (lower-case header names).

    A header that is present but blank still counts, so it is reported, not replaced by the server's key.
    """
    if "x-bimpe-api-key" in headers:
        return ApiKey(headers["x-bimpe-api-key"], "the X-Bimpe-Api-Key header")
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return ApiKey(token, "the Authorization header")


def request_api_key(ctx: Context[Any, Any]) -> ApiKey | None:
    """The key `RequireApiKey` found on this call's HTTP request: the tools' key provider."""
    try:
        scope = getattr(ctx.request_context.request, "scope", None) or {}
    except ValueError:  # no request context: not a call over HTTP
        return None
    key = scope.get("state", {}).get(_KEY_STATE)
    return key if isinstance(key, ApiKey) else None


class RequireApiKey:
    """Reads the caller's key once per request (for `request_api_key`), and answers 401 to MCP
    requests that bring none when the server has no key of its own."""

    def __init__(self, app: ASGIApp, *, server_has_key: bool) -> None:
        self.app = app
        self.server_has_key = server_has_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/mcp"):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            key = api_key_from_headers(headers)
            scope.setdefault("state", {})[_KEY_STATE] = key
            if key is None and not self.server_has_key:
                body = {
                    "error": "api_key_missing",
                    "message": "Send your BimpeAI team key as 'Authorization: Bearer sk_…' or 'X-Bimpe-Api-Key'.",
                }
                response = JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(server: BimpeServer, settings: Settings) -> Starlette:
    """The ASGI app for `server`; closing it closes the Console connection pool."""
    server.backend.key_provider = request_api_key
    mcp_app = server.mcp.streamable_http_app(
        streamable_http_path="/mcp", stateless_http=settings.stateless, host=settings.host
    )
    # Answers the malformed JSON-RPC bodies the SDK drops or mislabels (see _frames.py).
    guarded_mcp_app = FrameGuard(mcp_app, path="/mcp")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__, "tools": len(server.tools.tools)})

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(server.backend.metrics.render(), media_type="text/plain; version=0.0.4")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with server.mcp.session_manager.run():
            try:
                yield
            finally:
                await server.aclose()

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            # The key is checked first, so a body is read and parsed only for a caller allowed in.
            Mount("/", app=RequireApiKey(guarded_mcp_app, server_has_key=bool(server.backend.api_key))),
        ],
        lifespan=lifespan,
    )
    app.state.server = server
    return app
