"""Open waits cannot starve other calls: they stream on their own connections, and their cap is a clear error."""

from __future__ import annotations

import anyio

from bimpe_mcp.sandbox import RunningSandbox, request_log
from tests.harness import connect, start_conversation, text_of

WAITS = 5


def _streams_opened(sandbox: RunningSandbox) -> int:
    return sum(record.raw_path.endswith("/stream") for record in request_log(sandbox.app))


async def test_capped_waits_leave_the_request_pool_to_other_calls(sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id
    started = start_conversation(sandbox, "quiet", "+2348000000077")
    wait = {"agent_id": agent_id, "conversation_id": started["conversation_id"], "count": 1, "timeout_s": 120}
    # Two pooled connections for everything else: if a wait held one, the other calls would queue behind it.
    args = ["--max-waits", str(WAITS), "--max-waits-per-key", str(WAITS), "--max-connections", "2"]
    finished_waits: list[bool] = []
    async with connect("http", sandbox, args=args) as conn:

        async def waiter() -> None:
            await conn.call("wait_for_messages", wait)
            finished_waits.append(True)

        async with anyio.create_task_group() as tasks:
            for _ in range(WAITS):
                tasks.start_soon(waiter)
            with anyio.fail_after(30):
                while _streams_opened(sandbox) < WAITS:
                    await anyio.sleep(0.02)
            refused = await conn.fails("wait_for_messages", wait)
            answered = []

            async def other(name: str, arguments: dict[str, str]) -> None:
                answered.append((name, await conn.ok(name, arguments)))

            async with anyio.create_task_group() as others:
                for _ in range(4):
                    others.start_soon(other, "get_agent", {"agent_id": agent_id})
                    others.start_soon(other, "list_workflows", {})
            # every other call answered while all the waits were still open
            assert len(answered) == 8 and finished_waits == []
            assert _streams_opened(sandbox) == WAITS
            tasks.cancel_scope.cancel()
        # the cancelled waits give their slots back: a new one is accepted again
        with anyio.fail_after(30):
            while (again := await conn.call("wait_for_messages", {**wait, "timeout_s": 0.2})).is_error:
                assert "at its own limit" in text_of(again)
                await anyio.sleep(0.05)
    assert again.structured_content is not None and again.structured_content["timed_out"] is True
    assert "this MCP server is at its own limit" in refused
    assert f"{WAITS} message waits are open in this server" in refused
    assert "BIMPE_MAX_WAITS" in refused and "Nothing was sent to the Console" in refused
    assert "Check BIMPE_BASE_URL" not in refused
