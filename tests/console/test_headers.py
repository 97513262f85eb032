"""Auth per call, team isolation on one pool, request ids, idempotency keys, no cookie jar."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bimpe_mcp.console import (
    AuthenticationError,
    ConsoleClient,
    ConsoleTransport,
    NotFoundError,
    RequestSpec,
)
from bimpe_mcp.console import (
    models as m,
)
from bimpe_mcp.sandbox import SandboxStore, create_app

from .conftest import FAST, MOCK_BASE, Scripted, fail, ok

AGENT = {"id": "agt_1", "name": "A", "workflow": None}


async def test_two_keys_on_one_transport_see_their_own_team(transport: ConsoleTransport, store: SandboxStore) -> None:
    other_team, other_key = store.add_team("Other")
    assert store.demo_api_key
    demo = ConsoleClient(transport, store.demo_api_key)
    other = ConsoleClient(transport, other_key)
    wf = await other.workflows.create(m.WorkflowCreate(name="Theirs", system_prompt="p"))
    await other.agents.create(m.AgentCreate(workflow_id=wf.data.id, name="Other agent", description="d"))

    for _ in range(3):  # interleaved on the same pool: the key is per request, never per connection
        mine, theirs = await asyncio.gather(demo.agents.list(), other.agents.list())
        assert [a.name for a in mine.data] == ["Bimpe Demo Agent"]
        assert [a.name for a in theirs.data] == ["Other agent"]
    with pytest.raises(NotFoundError):
        await other.agents.get(store.demo_agent_id or "")
    with pytest.raises(NotFoundError):
        await demo.workflows.get(wf.data.id)
    owned = await other.workflows.list(scope="owned")
    assert [w.name for w in owned.data] == ["Theirs"]
    assert store.teams[other_team]["name"] == "Other"


async def test_bearer_request_id_and_idempotency_headers(scripted: Callable[..., Any]) -> None:
    client, script = scripted(ok([]), ok(AGENT, status=201), ok(AGENT, status=201), ok(None))
    listed = await client.agents.list(request_id="rid-1")
    await client.agents.create(m.AgentCreate(workflow_id="wf", name="A", description="d"))
    await client.agents.create(m.AgentCreate(workflow_id="wf", name="A", description="d"), idempotency_key="caller-key")
    await client.agents.delete("agt_1")
    assert listed.request_id == "rid-1"  # the mock echoes nothing: the sent id is kept
    assert script.header("authorization") == ["Bearer sk_test_mock"] * 4
    assert script.header("x-request-id")[0] == "rid-1"
    generated = script.header("x-request-id")[1:]
    assert all(uuid.UUID(rid or "") for rid in generated) and len(set(generated)) == 3
    keys = script.header("idempotency-key")
    assert keys[0] is None  # a GET carries no key
    assert uuid.UUID(keys[1] or "") and keys[2] == "caller-key" and uuid.UUID(keys[3] or "")
    assert keys[1] != keys[3]
    assert [r.method for r in script.requests] == ["GET", "POST", "POST", "DELETE"]
    assert script.requests[0].url.path == "/api/v1/console/agents"
    assert dict(script.requests[0].url.params) == {"page": "1"}
    assert client.request_ids[0] == "rid-1" and len(client.request_ids) == 4


async def test_bool_and_none_query_params(scripted: Callable[..., Any]) -> None:
    client, script = scripted(ok([]))
    await client.conversations.list("agt", is_test_channel=True, needs_attention=False, channel=None)
    assert dict(script.requests[0].url.params) == {"page": "1", "is_test_channel": "true", "needs_attention": "false"}


async def test_idempotency_key_and_request_id_reused_across_retries(scripted: Callable[..., Any]) -> None:
    client, script = scripted(
        fail(503, "internal_error"),
        httpx.ConnectError("refused"),
        httpx.RemoteProtocolError("peer closed"),
        ok(AGENT, status=201),
    )
    result = await client.agents.create(m.AgentCreate(workflow_id="wf", name="A", description="d"))
    assert result.data.id == "agt_1" and script.attempts == 4
    assert len(set(script.header("idempotency-key"))) == 1 and script.header("idempotency-key")[0]
    assert len(set(script.header("x-request-id"))) == 1
    assert script.bodies() == [{"workflow_id": "wf", "name": "A", "description": "d"}] * 4


async def test_idempotency_prefix_numbers_writes_only(scripted: Callable[..., Any]) -> None:
    client, script = scripted(
        ok(AGENT, status=201), ok([]), fail(503, "internal_error"), ok(AGENT), ok(None), prefix="job"
    )
    await client.agents.create(m.AgentCreate(workflow_id="wf", name="A", description="d"))
    await client.agents.list()
    await client.agents.update("agt_1", m.AgentUpdate(name="B"))  # retried once: the same key
    await client.agents.delete("agt_1")
    assert script.header("idempotency-key") == ["job-1", None, "job-2", "job-2", "job-3"]


async def test_same_prefix_replays_instead_of_writing_twice(transport: ConsoleTransport, store: SandboxStore) -> None:
    body = m.AgentCreate(workflow_id=store.demo_workflow_id or "", name="Once", description="d")
    results = []
    for _ in range(2):  # a tool call repeated with the same idempotency key
        client = ConsoleClient(transport, store.demo_api_key or "", idempotency_prefix="tool-call-7")
        results.append(await client.agents.create(body))
    assert results[0].data.id == results[1].data.id
    assert store.counts["agents.create"] == 1
    assert sum(1 for a in store.agents.values() if a["name"] == "Once") == 1
    # a caller-supplied key is honoured the same way
    client = ConsoleClient(transport, store.demo_api_key or "")
    a = await client.workflows.create(m.WorkflowCreate(name="K", system_prompt="p"), idempotency_key="wf-key")
    b = await client.workflows.create(m.WorkflowCreate(name="K", system_prompt="p"), idempotency_key="wf-key")
    assert a.data.id == b.data.id and store.counts["workflows.create"] == 1


async def test_sandbox_echoes_request_id_on_success_and_error(transport: ConsoleTransport, store: SandboxStore) -> None:
    client = ConsoleClient(transport, store.demo_api_key or "")
    got = await client.workflows.get(store.demo_workflow_id or "", request_id="rid-ok")
    assert got.request_id == "rid-ok"
    with pytest.raises(NotFoundError) as caught:
        await client.workflows.get("wf_missing", request_id="rid-err")
    assert caught.value.request_id == "rid-err"
    assert client.request_ids == ["rid-ok", "rid-err"]


async def test_cookies_are_never_stored_or_sent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = [
            ("Set-Cookie", "session=abc123; Path=/"),
            ("Set-Cookie", f"AWSALB=lb{len(seen)}; Path=/; Domain=console.test"),
        ]
        return httpx.Response(200, json={"message": "Success", "data": []}, headers=headers)

    async with ConsoleTransport(base_url=MOCK_BASE, retry=FAST, transport=httpx.MockTransport(handler)) as transport:
        a = ConsoleClient(transport, "sk_test_a")
        b = ConsoleClient(transport, "sk_test_b")
        await a.agents.list()
        await b.agents.list()
        await a.agents.delete("agt_1")
    assert [r.headers.get("cookie") for r in seen] == [None, None, None]
    assert [r.headers["authorization"] for r in seen] == ["Bearer sk_test_a", "Bearer sk_test_b", "Bearer sk_test_a"]


async def test_key_is_never_kept_on_the_transport(store: SandboxStore) -> None:
    app = create_app(store)
    script = Scripted(inner=httpx.ASGITransport(app=app))
    async with ConsoleTransport(base_url="http://sandbox", retry=FAST, transport=script) as transport:
        await ConsoleClient(transport, store.demo_api_key or "").agents.list()
        assert (store.demo_api_key or "") not in repr(vars(transport))
        with pytest.raises(AuthenticationError) as caught:
            await transport.request(RequestSpec("GET", "/agents"), api_key="sk_test_someone_else")
        assert caught.value.code == "api_key_invalid"
        assert "sk_" not in repr(ConsoleClient(transport, store.demo_api_key or ""))
    assert script.header("authorization") == [f"Bearer {store.demo_api_key}", "Bearer sk_test_someone_else"]


async def test_key_with_stray_whitespace_still_authenticates(transport: ConsoleTransport, store: SandboxStore) -> None:
    """A key pasted with a newline must not become an illegal header (or a 'could not reach' error)."""
    client = ConsoleClient(transport, f"  {store.demo_api_key}\n")
    assert [a.id for a in (await client.agents.list()).data] == [store.demo_agent_id]
