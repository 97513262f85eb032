"""A caller always knows whether a write may have happened, and how to retry it without duplicating."""

from __future__ import annotations

import logging
import re

import anyio
import pytest
from mcp import Client

from bimpe_mcp.sandbox import RunningSandbox
from bimpe_mcp.server import build_server
from bimpe_mcp.settings import Settings
from tests.harness import TRANSPORTS, connect, text_of, wait_until

KEY = re.compile(r"idempotency_key='([^']+)'")


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_write_errors_say_whether_anything_changed(kind: str, sandbox: RunningSandbox) -> None:
    store, faults = sandbox.store, sandbox.faults
    workflow = {"name": "Outcome", "system_prompt": "p"}
    async with connect(kind, sandbox, args=["--max-retries", "0"], env={"BIMPE_MAX_RETRIES": "0"}) as conn:
        faults.replace(burst_429=1, retry_after_s=3)
        refused = await conn.fails("create_workflow", workflow)
        faults.replace(error_rate=1.0, only_paths="/workflows$")
        failed = await conn.fails("create_workflow", workflow)
        faults.replace()
        wf = store.demo_workflow_id
        conflict = await conn.fails("delete_workflow", {"workflow_id": wf, "confirm": wf})
    assert "Nothing was changed." in refused and "retry after 3 s" in refused and not KEY.search(refused)
    found = KEY.search(failed)
    assert found and "It may have been applied" in failed and "Nothing was changed." not in failed
    assert "HTTP 409 conflict" in conflict and "Nothing was changed." in conflict
    async with connect(kind, sandbox) as conn:
        retried = await conn.ok("create_workflow", {**workflow, "idempotency_key": found.group(1)})
    assert retried["name"] == "Outcome"


async def test_a_dropped_answer_after_the_write_is_reported_as_maybe_applied(sandbox: RunningSandbox) -> None:
    """The connection drops after the Console executed the write: retrying with the key replays it."""
    before = sandbox.store.counts.get("knowledge_bases.create", 0)
    args = {"agent_id": sandbox.store.demo_agent_id, "type": "text", "name": "Dropped", "content": "c"}
    async with connect("memory", sandbox, args=["--max-retries", "0"]) as conn:
        sandbox.faults.replace(drop_rate=1.0, only_paths="/knowledge_bases$")
        text = await conn.fails("add_knowledge_base", args)
        sandbox.faults.replace()
        key = KEY.search(text)
        assert key, text
        again = await conn.ok("add_knowledge_base", {**args, "idempotency_key": key.group(1)})
    assert sandbox.store.counts["knowledge_bases.create"] == before + 1
    assert again["name"] == "Dropped"


async def test_send_test_message_reports_the_sent_message_when_the_reply_cannot_be_awaited(
    sandbox: RunningSandbox,
) -> None:
    agent_id = sandbox.store.demo_agent_id
    async with connect("memory", sandbox, args=["--max-retries", "0"]) as conn:
        sandbox.faults.replace(error_rate=1.0, only_paths="/stream(-ticket)?$")
        exchange = await conn.ok("send_test_message", {"agent_id": agent_id, "message": "Sent once", "timeout_s": 5})
        sandbox.faults.replace()
    assert exchange["sent"]["message"] == "Sent once" and exchange["reply"] is None
    assert "Do not resend" in exchange["next_step"] and "wait_for_messages" in exchange["next_step"]
    sent = [m for c in sandbox.store.messages.values() for m in c if m.get("message") == "Sent once"]
    assert len(sent) == 1


async def test_send_test_message_retries_a_passing_stream_failure(sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id
    async with connect("memory", sandbox) as conn:
        sandbox.faults.replace(burst_429=1, retry_after_s=0, only_paths="/stream$")
        exchange = await conn.ok("send_test_message", {"agent_id": agent_id, "message": "Hello again"})
        sandbox.faults.replace()
    assert exchange["reply"] is not None and exchange.get("next_step") is None


async def test_a_cancelled_call_is_logged_and_counted(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.load({}, transport="http").with_backend(
        base_url=sandbox.base_url, api_key=sandbox.store.demo_api_key
    )
    server = build_server(settings)  # as HTTP serves it: counted for /metrics
    caplog.set_level(logging.WARNING, logger="bimpe_mcp.tools")
    try:
        async with Client(server.mcp) as client:
            sandbox.faults.replace(latency_s=3.0, only_paths="/workflows$")
            with anyio.move_on_after(0.5):
                await client.call_tool("create_workflow", {"name": "Cancelled", "system_prompt": "p"})
            await wait_until(lambda: 'outcome="cancelled"' in server.backend.metrics.render(), timeout=10)
            sandbox.faults.replace()
            result = await client.call_tool("list_workflows", {})
            assert not result.is_error, text_of(result)
    finally:
        await server.aclose()
    assert (
        'bimpe_mcp_tool_calls_total{outcome="cancelled",tool="create_workflow"} 1.0' in server.backend.metrics.render()
    )
    line = next(r.getMessage() for r in caplog.records if "cancelled" in r.getMessage())
    assert "create_workflow" in line and "idempotency key " in line and "idempotency key none" not in line
