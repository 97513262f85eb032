"""Run the sandbox: `serve()` for the CLI (blocking), `start_in_thread()` for tests and the MCP server.

uvicorn is imported lazily so importing the package stays cheap; its logging is kept quiet and only
`serve()` writes to stdout (the two `BIMPE_*` lines).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import threading
import time
from typing import Any

from starlette.applications import Starlette

from .app import create_app
from .faults import ConnectionDropped, Faults
from .store import SandboxStore


class _HideDroppedConnections(logging.Filter):
    """A `drop` fault is deliberate: keep uvicorn from logging it as an application error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


def _bind(host: str, port: int) -> socket.socket:
    # proto must say TCP: asyncio sets TCP_NODELAY only on accepted sockets whose proto is IPPROTO_TCP,
    # and they inherit it from this one. With proto 0, Nagle held each response's body behind its
    # headers until the client's delayed ACK, about 40 ms per request on a kept-alive connection.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _uvicorn_server(app: Starlette) -> Any:
    import uvicorn

    logging.getLogger("uvicorn.error").addFilter(_HideDroppedConnections())
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2)
    return uvicorn.Server(config)


def _base_url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def serve(host: str = "127.0.0.1", port: int = 8765, api_key: str | None = None, empty: bool = False) -> None:
    """Serve a fresh sandbox until interrupted; prints `BIMPE_BASE_URL=…` and `BIMPE_API_KEY=…` first."""
    store = SandboxStore(seed_demo=not empty, demo_api_key=api_key)
    sock = _bind(host, port)
    sys.stdout.write(f"BIMPE_BASE_URL={_base_url(sock, host)}\nBIMPE_API_KEY={store.demo_api_key}\n")
    sys.stdout.flush()
    server = _uvicorn_server(create_app(store))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server.serve(sockets=[sock]))
    sock.close()


class RunningSandbox:
    """A sandbox served by uvicorn on a daemon thread; `stop()` (or leaving the `with`) shuts it down."""

    def __init__(self, app: Starlette, server: Any, sock: socket.socket, host: str) -> None:
        self.app = app
        self.store: SandboxStore = app.state.store
        self.faults: Faults = app.state.faults
        self.base_url = _base_url(sock, host)
        self._server = server
        self._sock = sock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="bimpe-sandbox", daemon=True)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._server.serve(sockets=[self._sock]))
        finally:
            loop.close()

    def _start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("sandbox server failed to start")
            time.sleep(0.01)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self.store.close_streams)
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(
    store: SandboxStore | None = None,
    *,
    faults: Faults | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> RunningSandbox:
    """Start a sandbox on its own thread and event loop; returns once the port accepts connections."""
    app = create_app(store, faults=faults)
    sock = _bind(host, port)
    running = RunningSandbox(app, _uvicorn_server(app), sock, host)
    running._start()
    return running
