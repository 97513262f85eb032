"""Console client fixtures: the sandbox in-process (ASGI) and over real HTTP, plus scripted transports."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from bimpe_mcp.console import ConsoleClient, ConsoleTransport, RetryPolicy
from bimpe_mcp.sandbox import Faults, RunningSandbox, SandboxStore, create_app, start_in_thread

FAST = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.05, retry_after_cap=2.0)
"""Real retry behaviour with tiny waits, so the folder stays fast."""

MOCK_BASE = "http://console.test"


@pytest.fixture
async def live_transport(live: RunningSandbox) -> AsyncIterator[ConsoleTransport]:
    async with ConsoleTransport(base_url=live.base_url, retry=FAST, timeout=10) as transport:
        yield transport


@pytest.fixture
async def live_client(live_transport: ConsoleTransport, store: SandboxStore) -> ConsoleClient:
    assert store.demo_api_key
    return ConsoleClient(live_transport, store.demo_api_key)


@pytest.fixture(params=["asgi", "http"])
async def transport(request: pytest.FixtureRequest, store: SandboxStore) -> AsyncIterator[ConsoleTransport]:
    """The same sandbox reached in-process through `httpx.ASGITransport` and over real loopback HTTP."""
    if request.param == "asgi":
        asgi = httpx.ASGITransport(app=create_app(store))
        async with ConsoleTransport(base_url="http://sandbox", retry=FAST, transport=asgi) as t:
            yield t
    else:
        with start_in_thread(store) as running:
            async with ConsoleTransport(base_url=running.base_url, retry=FAST, timeout=10) as t:
                yield t


@pytest.fixture
def client(transport: ConsoleTransport, store: SandboxStore) -> ConsoleClient:
    assert store.demo_api_key
    return ConsoleClient(transport, store.demo_api_key)


def ok(data: Any, *, meta: dict[str, Any] | None = None, status: int = 200, **headers: str) -> httpx.Response:
    body: dict[str, Any] = {"message": "Success", "data": data}
    if meta is not None:
        body["meta"] = meta
    return httpx.Response(status, json=body, headers=headers)


def fail(status: int, code: str, message: Any = "nope", **headers: str) -> httpx.Response:
    body = {"message": message, "error": "x", "code": code, "statusCode": status, "request_id": "rid-server"}
    return httpx.Response(status, json=body, headers=headers)


Step = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class Scripted(httpx.AsyncBaseTransport):
    """Answers from a script, one step per request; records every request it saw.

    A step is a response, an exception to raise, or a callable. When the script runs out, the
    last step repeats, or `inner` (e.g. an ASGI sandbox) answers if given.
    """

    def __init__(self, *steps: Step, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.steps = list(steps)
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        index = len(self.requests) - 1
        if index >= len(self.steps):
            if self.inner is not None:
                return await self.inner.handle_async_request(request)
            index = len(self.steps) - 1
        step = self.steps[index]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            # a fresh copy each time, so a repeated step can be read again
            return httpx.Response(step.status_code, headers=step.headers, content=step.content)
        return step(request)

    @property
    def attempts(self) -> int:
        return len(self.requests)

    def header(self, name: str) -> list[str | None]:
        return [r.headers.get(name) for r in self.requests]

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[..., tuple[ConsoleClient, Scripted]]]:
    """`scripted(*steps, retry=FAST, prefix=None)` -> a client whose transport answers from the script."""
    opened: list[ConsoleTransport] = []

    def make(
        *steps: Step, retry: RetryPolicy = FAST, prefix: str | None = None, inner: Any = None
    ) -> tuple[ConsoleClient, Scripted]:
        script = Scripted(*steps, inner=inner)
        transport = ConsoleTransport(base_url=MOCK_BASE, retry=retry, transport=script)
        opened.append(transport)
        return ConsoleClient(transport, "sk_test_mock", idempotency_prefix=prefix), script

    yield make
    for transport in opened:
        await transport.aclose()


__all__ = ["FAST", "MOCK_BASE", "Faults", "Scripted", "fail", "ok"]
