"""Run the sandbox: `serve()` for the CLI (blocking), `start_in_thread()` for tests and the MCP server.

uvicorn is imported lazily so importing the package stays cheap; its logging is kept quiet and only
`serve()` writes to stdout (the `BIMPE_*` and `BUTTERBASE_*` lines).
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

from bimpe_mcp._sockets import base_url, listen

from ._app import create_app
from ._faults import ConnectionDropped, Faults
from ._store import SandboxStore


class _HideDroppedConnections(logging.Filter):
    """A `drop` fault is deliberate: keep uvicorn from logging it as an application error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


def _uvicorn_server(app: Starlette) -> Any:
    import uvicorn

    logging.getLogger("uvicorn.error").addFilter(_HideDroppedConnections())
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2)
    return uvicorn.Server(config)


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    api_key: str | None = None,
    empty: bool = False,
    *,
    seed: int | None = None,
    admin_key: str | None = None,
) -> None:
    """Serve a fresh sandbox until interrupted; prints `BIMPE_BASE_URL=…`, `BIMPE_API_KEY=…`,
    `BIMPE_SANDBOX_ADMIN_KEY=…` and the Butterbase app's `BUTTERBASE_BASE_URL=…`, `BUTTERBASE_API_KEY=…`
    and `BUTTERBASE_APP_ID=…` first. Raises `ListenError` before printing if it cannot bind."""
    store = SandboxStore(seed_demo=not empty, demo_api_key=api_key, seed=seed, admin_key=admin_key)
    sock = listen(host, port)
    sys.stdout.write(
        f"BIMPE_BASE_URL={base_url(sock, host)}\nBIMPE_API_KEY={store.demo_api_key}\n"
        f"BIMPE_SANDBOX_ADMIN_KEY={store.admin_key}\n"
        f"BUTTERBASE_BASE_URL={base_url(sock, host)}\nBUTTERBASE_API_KEY={store.butterbase.api_key}\n"
        f"BUTTERBASE_APP_ID={store.butterbase.app_id}\n"
    )
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
        self.admin_key = self.store.admin_key
        """The `X-Sandbox-Admin-Key` the `/_sandbox/*` routes require."""
        self.base_url = base_url(sock, host)
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
    sock = listen(host, port)
    running = RunningSandbox(app, _uvicorn_server(app), sock, host)
    running._start()
    return running
