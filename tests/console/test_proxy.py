"""A proxy named in the environment carries the Console's requests, as httpx would route them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from anyio.abc import SocketStream

from bimpe_mcp.console import ConsoleClient, ConsoleConnectionError, ConsoleTransport
from bimpe_mcp.upstream import RetryPolicy

ANSWER = b'{"message": "Success", "data": {"id": "agt_1", "name": "Via proxy"}}'


@asynccontextmanager
async def http_proxy() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A loopback HTTP proxy that answers every request itself; it records each request line."""
    lines: list[bytes] = []

    async def serve(stream: SocketStream) -> None:
        async with stream:
            head = b""
            while b"\r\n\r\n" not in head:
                head += await stream.receive()
            lines.append(head.split(b"\r\n", 1)[0])
            await stream.send(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(ANSWER)}\r\n\r\n".encode()
                + ANSWER
            )

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, serve)
        yield f"http://127.0.0.1:{port}", lines
        tasks.cancel_scope.cancel()


async def test_requests_go_through_the_environment_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    async with http_proxy() as (url, lines):
        monkeypatch.setenv("HTTP_PROXY", url)
        async with ConsoleTransport(base_url="http://console.invalid") as transport:
            agent = await ConsoleClient(transport, "sk_test_x").agents.get("agt_1")
    assert agent.data.name == "Via proxy"
    assert lines == [b"GET http://console.invalid/api/v1/console/agents/agt_1 HTTP/1.1"]


async def test_no_proxy_exempts_the_console(monkeypatch: pytest.MonkeyPatch) -> None:
    async with http_proxy() as (url, lines):
        monkeypatch.setenv("HTTP_PROXY", url)
        monkeypatch.setenv("NO_PROXY", "console.invalid")
        async with ConsoleTransport(base_url="http://console.invalid", retry=RetryPolicy(max_retries=0)) as transport:
            with pytest.raises(ConsoleConnectionError):
                await ConsoleClient(transport, "sk_test_x").agents.get("agt_1")
    assert lines == []
