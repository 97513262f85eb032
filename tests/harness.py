"""Connect the SDK's MCP client to bimpe-mcp the three ways users do: in memory, stdio, HTTP.

Every end-to-end test talks to a sandbox over real HTTP. `connect()` is an async context
manager used inside the test body, so the client's task scopes open and close in one task.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import uvicorn
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult

from bimpe_mcp.cli import build_parser, main, settings_from_args
from bimpe_mcp.http import create_app
from bimpe_mcp.sandbox import RunningSandbox
from bimpe_mcp.server import build_server
from bimpe_mcp.settings import Settings

TRANSPORTS = ("stdio", "http")


@dataclass
class Connection:
    """A connected client, plus the server's captured stderr where there is one."""

    client: Client
    log_file: Path | None = None
    calls: list[str] = field(default_factory=list)

    def log(self) -> str:
        return self.log_file.read_text() if self.log_file else ""

    async def call(self, name: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> CallToolResult:
        self.calls.append(name)
        return await self.client.call_tool(name, arguments or {}, **kwargs)

    async def ok(self, name: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """Call a tool that must succeed and return its structured content."""
        result = await self.call(name, arguments, **kwargs)
        assert not result.is_error, f"{name} failed: {text_of(result)}"
        assert result.structured_content is not None
        return result.structured_content

    async def fails(self, name: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> str:
        """Call a tool that must fail and return its error text."""
        result = await self.call(name, arguments, **kwargs)
        assert result.is_error, f"{name} unexpectedly succeeded: {result.structured_content}"
        return text_of(result)

    async def refused(self, name: str, arguments: dict[str, Any] | None = None) -> str:
        """Call a tool this caller cannot see (unknown or hidden): a -32602 protocol error; its message."""
        self.calls.append(name)
        try:
            result = await self.client.call_tool(name, arguments or {})
        except MCPError as error:
            assert error.code == INVALID_PARAMS, f"{name}: {error.code} {error.message}"
            return error.message
        raise AssertionError(f"{name} was not refused: {result}")


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def server_env(sandbox: RunningSandbox | None, **extra: str) -> dict[str, str]:
    """A clean environment for a server subprocess: PATH and Python's own, plus bimpe settings
    (and the sandbox's Butterbase app, so the whole catalog is listed). Its bytecode is cached, so
    each spawned server does not compile the package again (see conftest.py)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BIMPE_", "BUTTERBASE_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    if sandbox is not None:
        env["BIMPE_BASE_URL"] = sandbox.base_url
        env["BIMPE_API_KEY"] = sandbox.store.demo_api_key
        env["BUTTERBASE_BASE_URL"] = sandbox.base_url
        env["BUTTERBASE_API_KEY"] = sandbox.store.butterbase.api_key
        env["BUTTERBASE_APP_ID"] = sandbox.store.butterbase.app_id
    env.update(extra)
    return env


def console_api(sandbox: RunningSandbox) -> httpx.Client:
    """The sandbox's Console API with the demo team's key, as a contact's side of a chat is driven."""
    return httpx.Client(
        base_url=f"{sandbox.base_url}/api/v1/console",
        headers={"Authorization": f"Bearer {sandbox.store.demo_api_key}"},
    )


def start_conversation(sandbox: RunningSandbox, message: str, channel_user_id: str) -> dict[str, Any]:
    """A WhatsApp contact writes to the demo agent: the new conversation's `data` (conversation_id …)."""
    with console_api(sandbox) as api:
        answer = api.post(
            f"/agents/{sandbox.store.demo_agent_id}/conversations/messages",
            json={"message": message, "channel_type": "whatsapp", "channel_user_id": channel_user_id},
        )
    data: dict[str, Any] = answer.json()["data"]
    return data


def spawn_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`bimpe-mcp ARGS` as a real process: for what only a process shows (exit status, pipes, start-up)."""
    return subprocess.run(
        [sys.executable, "-m", "bimpe_mcp", *args],
        env=env if env is not None else server_env(None),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`bimpe-mcp ARGS` through `cli.main` in this process, as `spawn_cli` would see it.

    A spawned server pays the SDK's ~0.9 s import again; in-process, the suite pays it once per
    worker. The environment, stdout, stderr and the root logger are restored afterwards.
    """
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env if env is not None else server_env(None))
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        os.environ.clear()
        os.environ.update(saved)
        root.handlers[:], root.level = handlers, level
    return subprocess.CompletedProcess(["bimpe-mcp", *args], code, out.getvalue(), err.getvalue())


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port, on a thread; yield its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(1000):
            if server.started:
                break
            threading.Event().wait(0.01)
        assert server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def http_server(settings: Settings) -> Iterator[str]:
    """Serve bimpe-mcp over streamable HTTP on a free loopback port; yield its base URL."""
    with serve_app(create_app(build_server(settings), settings)) as base:
        yield base


@asynccontextmanager
async def connect(
    kind: str,
    sandbox: RunningSandbox | None,
    *,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    server_key: bool = True,
    **client_options: Any,
) -> AsyncIterator[Connection]:
    """A client connected to bimpe-mcp over `kind` (memory, stdio or http), backed by `sandbox`.

    `args` are the server's CLI flags, parsed by the real parser for every transport.
    """
    args = list(args or [])
    client_options.setdefault("read_timeout_seconds", 60)
    environment = server_env(sandbox, **(env or {}))
    if not server_key:
        environment.pop("BIMPE_API_KEY", None)
    if kind == "stdio":
        with tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False) as log:
            log_path = Path(log.name)
            params = StdioServerParameters(command=sys.executable, args=["-m", "bimpe_mcp", *args], env=environment)
            async with Client(stdio_client(params, errlog=log), **client_options) as client:
                yield Connection(client, log_path)
        return
    assert sandbox is not None
    # The same parser and settings loader as a real launch, so the three transports cannot drift apart.
    settings = settings_from_args(build_parser().parse_args(["serve", *args]), environment)
    if kind == "memory":
        server = build_server(settings)
        try:
            async with Client(server.mcp, **client_options) as client:
                yield Connection(client)
        finally:
            await server.aclose()
        return
    with http_server(settings) as base:
        http_client = httpx2.AsyncClient(headers=headers or {}, timeout=httpx2.Timeout(60))
        async with (
            http_client,
            Client(streamable_http_client(f"{base}/mcp", http_client=http_client), **client_options) as client,
        ):
            yield Connection(client)


async def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.02)


@asynccontextmanager
async def write_in_flight(client: Client, sandbox: RunningSandbox, *, hold_s: float) -> AsyncIterator[dict[str, Any]]:
    """A `create_workflow` call whose write has landed and whose answer the sandbox holds back for `hold_s`:
    the block runs while the call is in flight; after it, the call's result is under "call"."""
    store = sandbox.store
    before = store.counts.get("workflows.create", 0)
    sandbox.faults.replace(latency_s=hold_s, only_paths="/workflows$")
    result: dict[str, Any] = {}

    async def create() -> None:
        result["call"] = await client.call_tool("create_workflow", {"name": "Drained", "system_prompt": "p"})

    async with anyio.create_task_group() as calls:
        calls.start_soon(create)
        await wait_until(lambda: store.counts.get("workflows.create", 0) == before + 1, timeout=20)
        yield result


async def populate_agent(conn: Connection, agent_id: str) -> dict[str, str]:
    """Give an agent one of each kind of data, through the tools; returns their ids by parameter name."""
    kb = await conn.ok("add_knowledge_base", {"agent_id": agent_id, "type": "text", "name": "KB", "content": "x"})
    api = await conn.ok(
        "configure_custom_api",
        {"agent_id": agent_id, "name": "Orders", "base_url": "https://api.example.com", "auth_type": "none"},
    )
    tool = await conn.ok(
        "add_custom_api_tool",
        {
            "agent_id": agent_id,
            "integration_id": api["id"],
            "name": "Track order",
            "http_method": "GET",
            "url_template": "/orders/{id}",
        },
    )
    mcp = await conn.ok(
        "configure_mcp_server", {"agent_id": agent_id, "name": "Guild", "server_url": "https://mrguild.com/mcp"}
    )
    message = await conn.ok(
        "send_message",
        {"agent_id": agent_id, "channel_type": "webchat", "channel_user_id": f"user-{agent_id}", "message": "Hi"},
    )
    call = await conn.ok("place_test_call", {"agent_id": agent_id, "destination": "+2348012345678"})
    return {
        "agent_id": agent_id,
        "kb_id": kb["id"],
        "integration_id": api["id"],
        "mcp_integration_id": mcp["id"],
        "tool_id": tool["id"],
        "conversation_id": message["conversation_id"],
        "message_id": message["id"],
        "call_id": call["call_id"],
    }
