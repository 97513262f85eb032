"""Headers every sandbox answer carries: X-Request-Id, X-RateLimit-*, and CORS (preflight -> 204)."""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._records import rate_headers
from ._store import DEFAULT_RATE_LIMIT, RATE_WINDOW_S

ALLOW_HEADERS = "Authorization, X-Api-Key, Content-Type, Idempotency-Key, X-Request-Id, Last-Event-ID"
EXPOSE_HEADERS = (
    "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, X-Request-Id, Idempotent-Replayed"
)
ALLOW_METHODS = "GET, POST, PATCH, PUT, DELETE, OPTIONS"
REQUEST_LOG_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as it arrived, before routing: what tests check to prove what was (not) sent."""

    method: str
    raw_path: str
    """The path exactly as sent (percent-encoding kept), decoded latin-1."""
    query: str
    api_key: str | None
    """The bearer token or `X-Api-Key` exactly as sent (not stripped), or None."""


def request_log(app: Any) -> deque[RecordedRequest]:
    """The bounded log of requests `app` received (`app.state.request_log`), created on first use."""
    log = getattr(app.state, "request_log", None)
    if log is None:
        log = app.state.request_log = deque(maxlen=REQUEST_LOG_SIZE)
    return log


def _record(scope: Scope, headers: Headers) -> None:
    app = scope.get("app")
    if app is None or not hasattr(app, "state"):
        return
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else scope.get("path", "")
    authorization = headers.get("authorization", "")
    api_key = authorization[7:] if authorization[:7].lower() == "bearer " else headers.get("x-api-key")
    query = scope.get("query_string", b"").decode("latin-1")
    request_log(app).append(RecordedRequest(scope["method"], path, query, api_key))


class ConsoleHeadersMiddleware:
    """Outermost layer, so even fault answers and unknown routes carry the headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        _record(scope, headers)
        request_id = headers.get("x-request-id") or str(uuid.uuid4())
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        cors = {"Access-Control-Allow-Origin": headers.get("origin") or "*", "Vary": "Origin"}
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            preflight = {
                **cors,
                "Access-Control-Allow-Methods": ALLOW_METHODS,
                "Access-Control-Allow-Headers": ALLOW_HEADERS,
                "Access-Control-Max-Age": "600",
                "X-Request-Id": request_id,
            }
            raw = [(k.lower().encode(), v.encode()) for k, v in preflight.items()]
            await send({"type": "http.response.start", "status": 204, "headers": raw})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["X-Request-Id"] = request_id
                limits = state.get("rate_headers") or rate_headers(
                    DEFAULT_RATE_LIMIT, DEFAULT_RATE_LIMIT, int(time.time()) + RATE_WINDOW_S
                )
                for key, value in limits.items():
                    out.setdefault(key, value)
                if "origin" in headers:
                    out.update({**cors, "Access-Control-Expose-Headers": EXPOSE_HEADERS})
            await send(message)

        await self.app(scope, receive, send_with_headers)
