"""What is retried, how often, how long it waits, and what is never sent twice."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bimpe_mcp.console import (
    ConsoleConnectionError,
    ConsoleError,
    ConsoleTimeoutError,
    ConsoleTransport,
    RateLimitError,
    RequestSpec,
    RetryPolicy,
    ServerError,
    ValidationError,
)
from bimpe_mcp.console import (
    models as m,
)

from .conftest import FAST, MOCK_BASE, Scripted, fail, ok

AGENT = {"id": "agt_1", "name": "A"}
CALL = {"status": "initiated", "call_id": "call_1", "detail": "Call queued."}
REAL_CALL = m.CallCreate(destination="+2348012345678", is_test_call=False)
TEST_CALL = m.CallCreate(destination="+2348012345678", is_test_call=True)


def _exc(kind: type[httpx.TransportError]) -> httpx.TransportError:
    return kind("boom")


@pytest.mark.parametrize(
    "first",
    [
        _exc(httpx.ConnectError),
        _exc(httpx.ConnectTimeout),
        _exc(httpx.ReadTimeout),
        _exc(httpx.ReadError),
        _exc(httpx.RemoteProtocolError),
        fail(408, "", "timeout"),
        fail(429, "too_many_requests"),
        fail(500, "internal_error"),
        fail(502, "", "bad gateway"),
        fail(503, "", "unavailable"),
        fail(504, "", "gateway timeout"),
    ],
    ids=lambda s: type(s).__name__ if isinstance(s, Exception) else str(s.status_code),
)
async def test_transient_failures_are_retried(scripted: Callable[..., Any], first: Any) -> None:
    client, script = scripted(first, first, ok(AGENT))
    got = await client.agents.get("agt_1")
    assert got.data.id == "agt_1" and script.attempts == 3
    # a keyed write is retried just the same, with one key
    client, script = scripted(first, ok(AGENT))
    await client.agents.update("agt_1", m.AgentUpdate(name="A"))
    assert script.attempts == 2 and len(set(script.header("idempotency-key"))) == 1


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (501, "not_implemented"),
        (400, "validation_error"),
        (401, "api_key_invalid"),
        (403, "forbidden"),
        (404, "not_found"),
        (409, "conflict"),
        (422, ""),
    ],
)
async def test_501_and_4xx_are_not_retried(scripted: Callable[..., Any], status: int, code: str) -> None:
    client, script = scripted(fail(status, code), ok(AGENT))
    with pytest.raises(Exception) as caught:
        await client.agents.get("agt_1")
    assert getattr(caught.value, "status", None) == status and script.attempts == 1


async def test_gives_up_after_max_retries(scripted: Callable[..., Any]) -> None:
    client, script = scripted(fail(503, "internal_error"))
    with pytest.raises(ServerError):
        await client.agents.list()
    assert script.attempts == FAST.max_retries + 1
    client, script = scripted(httpx.ConnectError("refused"))
    with pytest.raises(ConsoleConnectionError) as caught:
        await client.agents.list()
    assert not isinstance(caught.value, ConsoleTimeoutError) and script.attempts == FAST.max_retries + 1
    client, script = scripted(httpx.ReadTimeout("slow"))
    with pytest.raises(ConsoleTimeoutError):
        await client.agents.list()
    assert script.attempts == FAST.max_retries + 1


async def test_backoff_grows_and_is_capped(scripted: Callable[..., Any]) -> None:
    retry = RetryPolicy(max_retries=4, backoff_base=0.05, backoff_max=0.08)
    client, script = scripted(fail(503, "internal_error"), retry=retry)
    started = time.monotonic()
    with pytest.raises(ServerError):
        await client.agents.list()
    elapsed = time.monotonic() - started
    # waits drawn from [c/2, c] with c = 0.05, 0.08, 0.08, 0.08: at least 0.145 s, at most 0.29 s
    assert script.attempts == 5 and 0.14 <= elapsed < 0.6


async def test_retry_after_is_honoured_up_to_the_cap(scripted: Callable[..., Any]) -> None:
    client, script = scripted(fail(429, "rate_limited", **{"Retry-After": "0.3"}), ok(AGENT))
    started = time.monotonic()
    await client.agents.get("agt_1")
    assert 0.3 <= time.monotonic() - started < 1.5 and script.attempts == 2

    client, script = scripted(
        fail(
            429, "too_many_requests", **{"Retry-After": "120", "X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0"}
        ),
        ok(AGENT),
    )
    started = time.monotonic()
    with pytest.raises(RateLimitError) as caught:
        await client.agents.get("agt_1")
    assert time.monotonic() - started < 0.5 and script.attempts == 1
    assert caught.value.retry_after == 120.0
    assert (caught.value.rate_limit.limit, caught.value.rate_limit.remaining) == (60, 0)


async def test_429_without_retry_after_backs_off(scripted: Callable[..., Any]) -> None:
    client, script = scripted(fail(429, "rate_limited"), fail(429, "rate_limited"), ok(AGENT))
    await client.agents.get("agt_1")
    assert script.attempts == 3


async def test_429_retries_are_bounded(scripted: Callable[..., Any]) -> None:
    client, script = scripted(fail(429, "rate_limited", **{"Retry-After": "0"}))
    with pytest.raises(RateLimitError) as caught:
        await client.agents.get("agt_1")
    assert script.attempts == FAST.max_retries + 1 and caught.value.retry_after == 0.0


async def test_replay_never_is_sent_once() -> None:
    for step in (fail(503, "internal_error"), httpx.ConnectError("refused"), fail(429, "rate_limited")):
        script = Scripted(step, ok(AGENT))
        async with ConsoleTransport(base_url=MOCK_BASE, retry=FAST, transport=script) as transport:
            spec = RequestSpec("POST", "/agents", json={"name": "x"}, replay="never")
            with pytest.raises((ServerError, ConsoleConnectionError, RateLimitError)):
                await transport.request(spec, api_key="sk_test_x")
        assert script.attempts == 1, step
        assert script.header("idempotency-key") == [None]


async def test_real_call_not_retried_after_read_timeout(scripted: Callable[..., Any]) -> None:
    for step in (httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped"), httpx.WriteError("half sent")):
        client, script = scripted(step, ok(CALL, status=201))
        with pytest.raises(ConsoleConnectionError):
            await client.calls.create("agt", REAL_CALL)
        assert script.attempts == 1, step
    client, script = scripted(fail(503, "internal_error"), ok(CALL, status=201))
    with pytest.raises(ServerError):
        await client.calls.create("agt", REAL_CALL)
    assert script.attempts == 1


async def test_real_call_retried_when_it_never_left(scripted: Callable[..., Any]) -> None:
    for step in (httpx.ConnectError("refused"), httpx.ConnectTimeout("syn")):
        client, script = scripted(step, ok(CALL, status=201))
        started = await client.calls.create("agt", REAL_CALL)
        assert started.data.call_id == "call_1" and script.attempts == 2, step
        assert len(set(script.header("idempotency-key"))) == 1
    # a 429 was not executed either: waiting and sending again is safe
    client, script = scripted(fail(429, "rate_limited", **{"Retry-After": "0"}), ok(CALL, status=201))
    await client.calls.create("agt", REAL_CALL)
    assert script.attempts == 2


async def test_test_call_is_retried(scripted: Callable[..., Any]) -> None:
    client, script = scripted(httpx.ReadTimeout("slow"), fail(503, "internal_error"), ok(CALL, status=201))
    started = await client.calls.create("agt", TEST_CALL)
    assert started.data.status == "initiated" and script.attempts == 3
    assert len(set(script.header("idempotency-key"))) == 1


async def test_undecodable_body_is_retried_like_a_malformed_answer(scripted: Callable[..., Any]) -> None:
    def garbled(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"not gzip at all", headers={"content-encoding": "gzip"})

    client, script = scripted(garbled, ok(AGENT))
    result = await client.agents.get("agt_1")  # never a bare httpx.DecodingError
    assert result.data.id == AGENT["id"] and script.attempts == 2


async def test_validation_error_on_first_try_is_final(scripted: Callable[..., Any]) -> None:
    client, script = scripted(fail(400, "validation_error", ["name: is required"]), ok(AGENT))
    with pytest.raises(ValidationError):
        await client.agents.create(m.AgentCreate(workflow_id="w", name="n", description="d"))
    assert script.attempts == 1


@pytest.mark.parametrize(
    ("steps", "applied"),
    [
        ((fail(500, "internal_error"), fail(429, "rate_limited", **{"Retry-After": "0"})), True),
        ((httpx.ReadTimeout("slow"), fail(400, "validation_error", ["name: bad"])), True),
        ((fail(502, "", "bad gateway"),), True),
        ((httpx.ConnectError("refused"), fail(429, "rate_limited", **{"Retry-After": "0"})), False),
        ((fail(429, "rate_limited", **{"Retry-After": "0"}),), False),
        ((fail(409, "conflict"),), False),
    ],
    ids=["5xx-then-429", "timeout-then-400", "5xx", "connect-then-429", "429", "409"],
)
async def test_a_write_remembers_whether_any_attempt_may_have_landed(
    scripted: Callable[..., Any], steps: tuple[Any, ...], applied: bool
) -> None:
    """The last answer alone does not decide: an earlier 5xx or timeout may have executed the write."""
    client, _ = scripted(*steps)
    with pytest.raises(ConsoleError) as caught:
        await client.workflows.create(m.WorkflowCreate(name="W", system_prompt="p"))
    assert caught.value.may_have_been_applied is applied
    assert client.write_may_have_happened is applied


async def test_reads_never_claim_a_write(scripted: Callable[..., Any]) -> None:
    client, _ = scripted(fail(500, "internal_error"))
    with pytest.raises(ServerError) as caught:
        await client.agents.get("agt_1")
    assert caught.value.may_have_been_applied is False and client.write_may_have_happened is False
