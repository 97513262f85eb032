"""Local limits: a busy request pool and the caps on open waits are this process's overload, never an outage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from bimpe_mcp.console import (
    ConnectionLimits,
    ConsoleClient,
    ConsoleOverloadedError,
    ConsoleTransport,
)
from bimpe_mcp.console import models as m
from bimpe_mcp.sandbox import RunningSandbox, request_log

from .conftest import Scripted, ok

AGENT = {"id": "agt_1", "name": "A"}


async def test_a_pool_timeout_is_overload_reported_once_and_never_retried(scripted: Callable[..., Any]) -> None:
    client, script = scripted(httpx.PoolTimeout("pool"), ok(AGENT))
    with pytest.raises(ConsoleOverloadedError) as raised:
        await client.agents.get("agt_1")
    assert script.attempts == 1 and raised.value.limit == "connections"
    assert "connections to the Console are busy" in raised.value.message
    # a write that never left says so: nothing may have been applied
    client, script = scripted(httpx.PoolTimeout("pool"), ok(AGENT))
    with pytest.raises(ConsoleOverloadedError) as raised:
        await client.agents.update("agt_1", m.AgentUpdate(name="A"))
    assert script.attempts == 1 and raised.value.may_have_been_applied is False


async def test_the_pool_size_and_timeout_apply_to_real_connections(live: RunningSandbox) -> None:
    """One pooled connection, held by a slow answer: the next call is refused as overload, not retried."""
    retries: list[str] = []
    limits = ConnectionLimits(connections=1, pool_timeout=0.1)
    transport = ConsoleTransport(base_url=live.base_url, limits=limits, on_retry=retries.append)
    client = ConsoleClient(transport, live.store.demo_api_key or "")
    agent_id = live.store.demo_agent_id
    outcomes: list[str] = []
    live.faults.replace(latency_s=1.0, only_paths="/agents$")
    try:
        async with transport, anyio.create_task_group() as tasks:

            async def slow() -> None:
                await client.agents.list()
                outcomes.append("slow answered")

            tasks.start_soon(slow)
            with anyio.fail_after(10):  # the slow call holds the one connection once the sandbox has it
                while not any(r.raw_path.endswith("/agents") for r in request_log(live.app)):
                    await anyio.sleep(0.01)
            with pytest.raises(ConsoleOverloadedError) as raised:
                await client.agents.get(agent_id)
            outcomes.append("refused")
    finally:
        live.faults.replace()
    assert outcomes == ["refused", "slow answered"]
    assert raised.value.cap == 1 and "within 0.1s" in raised.value.message
    assert retries == []


async def test_a_burst_leaves_only_the_idle_cap_of_connections_open(live: RunningSandbox) -> None:
    """httpcore scans every pooled connection on each request: after a burst, only `idle` stay for reuse."""
    limits = ConnectionLimits(connections=30, idle=5)
    transport = ConsoleTransport(base_url=live.base_url, limits=limits)
    client = ConsoleClient(transport, live.store.demo_api_key or "")
    live.faults.replace(latency_s=0.3, only_paths="/agents$")
    # httpx's transport keeps its httpcore pool privately; its connection list is httpcore's public API.
    connections = lambda: len(transport.wire._pool.connections)  # type: ignore[attr-defined]  # noqa: E731
    try:
        async with transport:
            async with anyio.create_task_group() as tasks:
                for _ in range(30):
                    tasks.start_soon(client.agents.list)
                with anyio.fail_after(10):
                    while connections() <= 5:  # the burst holds more connections than the idle cap
                        await anyio.sleep(0.01)
            assert connections() <= 5
    finally:
        live.faults.replace()


def test_waits_are_capped_per_key_and_per_process() -> None:
    transport = ConsoleTransport(transport=Scripted(), limits=ConnectionLimits(waits=3, waits_per_key=2))
    with transport.wait_slot("sk_a"), transport.wait_slot("sk_a"):
        with pytest.raises(ConsoleOverloadedError) as per_key, transport.wait_slot("sk_a"):
            pass
        assert per_key.value.limit == "waits_per_key" and per_key.value.cap == 2
        with transport.wait_slot("sk_b"):
            assert transport.open_waits == 3
            with pytest.raises(ConsoleOverloadedError) as per_process, transport.wait_slot("sk_c"):
                pass
            assert per_process.value.limit == "waits" and "3 message waits are open" in per_process.value.message
    # every slot is given back, a refused one never taken
    assert transport.open_waits == 0
    with transport.wait_slot("sk_a"), transport.wait_slot("sk_a"), transport.wait_slot("sk_c"):
        assert transport.open_waits == 3
