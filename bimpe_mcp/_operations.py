"""What operators need from the HTTP service: a readiness probe, the metrics, and a graceful stop.

The stop cannot wait in the app's lifespan: the moment uvicorn begins to exit, sse-starlette ends
every SSE response, including a tool call's answer still being computed. So a signal first starts
a `Drain` (no new connections, new MCP requests refused) and uvicorn's own exit begins only once
nothing is in flight, or the grace is over.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bimpe_mcp._metrics import Metrics
from bimpe_mcp._redact import Redactor
from bimpe_mcp.console import ConsoleError, ConsoleOverloadedError, ConsoleTransport

__all__ = ["ConsoleReadiness", "Drain", "DrainGate", "DrainingServer", "metrics_app", "metrics_route"]


class ConsoleReadiness:
    """Whether the Console answers, asked at most once per `ttl` seconds so probes do not hammer it."""

    def __init__(self, transport: ConsoleTransport, *, ttl: float = 5.0, timeout: float = 2.0) -> None:
        self.transport = transport
        self.ttl = ttl
        self.timeout = timeout
        self._lock = anyio.Lock()
        self._answer: tuple[int, dict[str, Any]] = (503, {})
        self._expires = 0.0

    async def check(self) -> tuple[int, dict[str, Any]]:
        """The HTTP status for `/readyz` (200 or 503) and its body."""
        async with self._lock:  # one probe at a time; the probes queued behind it read its answer
            if time.monotonic() >= self._expires:
                self._answer = await self._probe()
                self._expires = time.monotonic() + self.ttl
            return self._answer

    async def _probe(self) -> tuple[int, dict[str, Any]]:
        try:
            status = await self.transport.ping(self.timeout)
        except ConsoleOverloadedError as error:
            # Every pooled connection is busy: this replica is overloaded, the Console may well be up.
            return 503, {"status": "not_ready", "console": "unknown", "error": error.message}
        except ConsoleError as error:
            # The message names the Console's address: mask any credential written into it.
            return 503, {"status": "not_ready", "console": "unreachable", "error": Redactor().text(error.message)}
        return 200, {"status": "ready", "console": "reachable", "console_status": status}


def metrics_route(metrics: Metrics) -> Route:
    async def render(request: Request) -> Response:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    return Route("/metrics", render, methods=["GET"])


def metrics_app(metrics: Metrics, middleware: Sequence[Middleware] = ()) -> Starlette:
    """`/metrics` alone, for `--metrics-port`: scrapes stay off the port the MCP clients reach.

    `middleware`: the main app's network guard, so the Host check covers this port too.
    """
    return Starlette(routes=[metrics_route(metrics)], middleware=list(middleware))


class Drain:
    """A graceful stop: once started, it is over when no MCP request or tool call is in flight, or after `grace`."""

    def __init__(self, metrics: Metrics, grace: float) -> None:
        self.metrics = metrics
        self.grace = grace
        self.requests = 0
        """MCP requests being answered; not the GET streams, which end only when closed."""
        self._deadline: float | None = None

    @property
    def started(self) -> bool:
        return self._deadline is not None

    def start(self) -> None:
        if self._deadline is None:
            self._deadline = time.monotonic() + self.grace

    def over(self) -> bool:
        if self._deadline is None:
            return False
        idle = self.requests == 0 and self.metrics.in_flight == 0
        return idle or time.monotonic() >= self._deadline


class DrainGate:
    """Counts the MCP requests in flight for the drain, and refuses new ones (503) once it started."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/mcp"):
            await self.app(scope, receive, send)
            return
        if self.drain.started:
            body = {"error": "shutting_down", "message": "This server is shutting down; send the request again."}
            refusal = JSONResponse(body, status_code=503, headers={"Connection": "close", "Retry-After": "1"})
            await refusal(scope, receive, send)
            return
        if scope["method"] == "GET":
            await self.app(scope, receive, send)
            return
        self.drain.requests += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.drain.requests -= 1


class DrainingServer(uvicorn.Server):
    """uvicorn that drains on SIGTERM or Ctrl-C before it exits; a second signal exits at once.

    On each tick (0.1 s) it also publishes a worker's live gauges for the other workers' scrapes.
    """

    def __init__(self, config: uvicorn.Config, drain: Drain, *, parent_pid: int | None = None) -> None:
        """`parent_pid`: a worker's supervisor; should it vanish (killed outright), the worker drains and exits."""
        super().__init__(config)
        self.drain = drain
        self.parent_pid = parent_pid
        self._stop_signal: int | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain.started:
            super().handle_exit(sig, frame)
            return
        # A signal handler: only note the stop here; `on_tick`, on the event loop, carries it out.
        self._stop_signal = sig
        self.drain.start()

    async def on_tick(self, counter: int) -> bool:
        self.drain.metrics.publish_live()
        if self.parent_pid is not None and os.getppid() != self.parent_pid and not self.drain.started:
            self.handle_exit(signal.SIGTERM, None)
        if self.drain.started and not self.should_exit:
            for listener in self.servers:
                listener.close()  # no new connections; the open ones finish their requests
            if self.drain.over():
                assert self._stop_signal is not None
                super().handle_exit(self._stop_signal, None)
        return await super().on_tick(counter)
