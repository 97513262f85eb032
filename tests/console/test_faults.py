"""Under injected faults over real HTTP, every logical write executes exactly once: none twice, none lost."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bimpe_mcp.console import ConsoleClient, ConsoleConnectionError, ConsoleTransport, RetryPolicy
from bimpe_mcp.console import models as m
from bimpe_mcp.sandbox import Faults, RunningSandbox, SandboxStore

N = 12
PATIENT = RetryPolicy(max_retries=10, backoff_base=0.005, backoff_max=0.02, retry_after_cap=1.0)

FAULTS = {
    "drop": dict(drop_rate=0.5),
    "error": dict(error_rate=0.5),
    "malformed": dict(malformed_rate=0.6),
    "burst_429": dict(burst_429=PATIENT.max_retries, retry_after_s=0),
    "mixed": dict(error_rate=0.2, drop_rate=0.25, malformed_rate=0.25, burst_429=3, retry_after_s=0),
}


@pytest.fixture
async def faulty(live: RunningSandbox, store: SandboxStore) -> Any:
    async with ConsoleTransport(base_url=live.base_url, retry=PATIENT, timeout=10) as transport:
        yield ConsoleClient(transport, store.demo_api_key or ""), live.faults


async def _run_all(
    faults: Faults, knobs: dict[str, Any], seed: int, calls: list[Callable[[], Awaitable[Any]]]
) -> list[Any]:
    faults.replace(seed=seed, **knobs)
    results = [await call() for call in calls]
    faults.replace()
    return results


@pytest.mark.parametrize("kind", list(FAULTS))
async def test_creates_execute_exactly_once(faulty: Any, store: SandboxStore, kind: str) -> None:
    client, faults = faulty
    agent, workflow = store.demo_agent_id or "", store.demo_workflow_id or ""
    # one conversation to append to, created before the faults start
    first = await client.conversations.create_message(
        agent, m.MessageCreate(message="start", channel_type="webchat", channel_user_id="u-faults")
    )
    conversation = first.data.conversation_id or ""
    baseline = dict(store.counts)

    calls: list[Callable[[], Awaitable[Any]]] = []
    for i in range(N):
        calls.append(lambda i=i: client.workflows.create(m.WorkflowCreate(name=f"wf-{kind}-{i}", system_prompt="p")))
        calls.append(
            lambda i=i: client.agents.create(
                m.AgentCreate(workflow_id=workflow, name=f"ag-{kind}-{i}", description="d")
            )
        )
        calls.append(
            lambda i=i: client.conversations.create_message(
                agent, m.MessageCreate(message=f"msg-{i}", conversation_id=conversation)
            )
        )
        calls.append(
            lambda i=i: client.knowledge_bases.create(
                agent, m.KnowledgeBaseCreate(type="text", name=f"kb-{kind}-{i}", content="c")
            )
        )
    results = await _run_all(faults, FAULTS[kind], seed=len(kind), calls=calls)

    executed = {k: store.counts.get(k, 0) - baseline.get(k, 0) for k in store.counts}
    assert executed == {
        "workflows.create": N,
        "agents.create": N,
        "messages.create": N,
        "knowledge_bases.create": N,
    }, kind
    for prefix, table in (("wf", store.workflows), ("ag", store.agents), ("kb", store.knowledge_bases)):
        names = sorted(r["name"] for r in table.values() if r["name"].startswith(f"{prefix}-{kind}-"))
        assert names == sorted(f"{prefix}-{kind}-{i}" for i in range(N))
    texts = [x["message"] for x in store.messages[conversation]]
    assert texts == ["start"] + [f"msg-{i}" for i in range(N)]  # each once, in order
    # the client saw the one original answer of each write, even when it arrived by replay
    assert [r.data.name for r in results[0::4]] == [f"wf-{kind}-{i}" for i in range(N)]
    assert len({r.data.id for r in results[1::4]}) == N


async def test_faults_really_fired(faulty: Any, store: SandboxStore) -> None:
    """Guard for the test above: with these knobs the client did have to retry."""
    client, faults = faulty
    replays: list[int] = []
    transport: ConsoleTransport = client.transport
    original = transport.wire.handle_async_request

    async def counting_send(request: Any) -> Any:
        replays.append(1)
        return await original(request)

    transport.wire.handle_async_request = counting_send  # type: ignore[method-assign]
    faults.replace(seed=3, drop_rate=0.5)
    for i in range(N):
        await client.workflows.create(m.WorkflowCreate(name=f"x{i}", system_prompt="p"))
    faults.replace()
    assert len(replays) > N + 2 and store.counts["workflows.create"] == N


async def test_real_calls_are_never_duplicated_under_drops(faulty: Any, store: SandboxStore) -> None:
    client, faults = faulty
    agent = store.demo_agent_id or ""
    await client.phone_numbers.update(store.demo_phone_number_id or "", m.PhoneNumberUpdate(agent_id=agent))
    faults.replace(drop_rate=1.0, only_paths=r"/calls$")
    with pytest.raises(ConsoleConnectionError):
        await client.calls.create(agent, m.CallCreate(destination="+2348012345678", is_test_call=False))
    assert store.counts["calls.create"] == 1  # it did ring once, and was not sent again
    # a test call is keyed and replayable: retried until it gets its answer, executed once
    faults.replace(seed=1, drop_rate=0.6, only_paths=r"/calls$")
    for _ in range(5):
        await client.calls.create(agent, m.CallCreate(destination="+2348012345678", is_test_call=True))
    faults.replace()
    assert store.counts["calls.create"] == 6
    assert len(store.calls) == 6


async def test_reads_survive_faults(faulty: Any, store: SandboxStore) -> None:
    client, faults = faulty
    faults.replace(seed=5, error_rate=0.3, drop_rate=0.3, malformed_rate=0.3, burst_429=2, retry_after_s=0)
    for _ in range(10):
        listed = await client.agents.list()
        assert [a.id for a in listed.data] == [store.demo_agent_id]
    faults.replace()
