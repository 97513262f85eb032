"""Long operations report progress notifications to the client."""

from __future__ import annotations

import anyio
import pytest

from bimpe_mcp.sandbox import RunningSandbox
from bimpe_mcp.tools import unfence
from tests.harness import connect, console_api, start_conversation


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[float, float | None, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.events.append((progress, total, message))


@pytest.mark.parametrize("kind", ["stdio", "http"])
async def test_wait_for_messages_reports_each_live_message(kind: str, sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id
    started = start_conversation(sandbox, "first", "+2348000000009")
    conversation_id = started["conversation_id"]
    recorder = Recorder()
    result: dict = {}
    async with connect(kind, sandbox) as conn:

        async def waiter() -> None:
            args = {"agent_id": agent_id, "conversation_id": conversation_id, "count": 2, "timeout_s": 20}
            result.update(await conn.ok("wait_for_messages", args, progress_callback=recorder))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(waiter)
            await anyio.sleep(1.0)
            with console_api(sandbox) as api:
                for text in ("second", "third"):
                    path = f"/agents/{agent_id}/conversations/{conversation_id}/messages"
                    assert api.post(path, json={"message": text, "role": "assistant"}).status_code == 201
    assert [m["message"] for m in unfence(result)["messages"]] == ["second", "third"]
    assert result["timed_out"] is False
    assert recorder.events == [(1, 2, "1 of 2 messages (assistant)"), (2, 2, "2 of 2 messages (assistant)")]


@pytest.mark.parametrize("kind", ["stdio", "http"])
async def test_send_test_message_discover_and_page_walks_report_progress(kind: str, sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id
    with console_api(sandbox) as api:
        for number in range(101):
            assert api.post("/workflows", json={"name": f"WF {number:03}", "system_prompt": "p"}).status_code == 201
    async with connect(kind, sandbox) as conn:
        chat, discover, walk = Recorder(), Recorder(), Recorder()
        await conn.ok("send_test_message", {"agent_id": agent_id, "message": "hi"}, progress_callback=chat)
        server = await conn.ok(
            "configure_mcp_server", {"agent_id": agent_id, "name": "M", "server_url": "https://tools.example.org/mcp"}
        )
        found = await conn.ok(
            "discover_mcp_server_tools",
            {"agent_id": agent_id, "integration_id": server["id"]},
            progress_callback=discover,
        )
        listed = await conn.ok("list_workflows", {"scope": "owned", "all_pages": True}, progress_callback=walk)
    assert chat.events == [(0, 1, "Message sent; waiting for the agent's reply"), (1, 1, "Reply received")]
    assert discover.events[0] == (0, 1, "Asking the MCP server for its tools")
    assert discover.events[1] == (1, 1, f"Discovered {found['discovered']} tools ({found['created']} new, 0 disabled)")
    shown = len(listed["items"])
    assert listed["total_count"] == 102 and 0 < shown < 102 and listed["has_next_page"] is True, "capped by size"
    assert listed["next_step"] == (
        f"{102 - shown} more past the size cap: call again with page=2, limit={shown}, all_pages=false."
    )
    assert walk.events == [(1, 2, "Fetched page 1 of 2"), (2, 2, "Fetched page 2 of 2")]
