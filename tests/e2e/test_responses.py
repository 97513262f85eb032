"""Over streamable HTTP a call that streams nothing gets one JSON body; progress and questions still stream."""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bimpe_mcp.sandbox import RunningSandbox
from bimpe_mcp.settings import Settings
from bimpe_mcp.tools import unfence
from tests.harness import console_api, http_server, start_conversation, text_of, wait_until


@pytest.mark.parametrize("stateless", [False, True], ids=["stateful", "stateless"])
async def test_json_unless_the_request_may_stream(stateless: bool, sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id
    started = start_conversation(sandbox, "first", "+2348000000031")
    conversation = {"agent_id": agent_id, "conversation_id": started["conversation_id"]}
    settings = Settings.load({}, transport="http").with_backend(
        base_url=sandbox.base_url, api_key=sandbox.store.demo_api_key
    )
    answers: list[tuple[str, str]] = []

    async def record(response: Any) -> None:
        if response.request.method == "POST":
            body = response.request.content.decode()
            tool = next((name for name in ("get_agent", "wait_for_messages", "list_workflows") if name in body), "")
            kind = response.headers.get("content-type", "").split(";")[0]
            answers.append((tool, kind))

    events: list[tuple[float, float | None, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        events.append((done, total, message))

    with http_server(dataclasses.replace(settings, stateless=stateless)) as base:
        async with (
            httpx2.AsyncClient(timeout=httpx2.Timeout(60), event_hooks={"response": [record]}) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http), mode="legacy") as client,
        ):
            plain = await client.call_tool("get_agent", {"agent_id": agent_id})
            assert not plain.is_error, text_of(plain)
            waited: dict[str, Any] = {}

            async def wait() -> None:
                result = await client.call_tool(
                    "wait_for_messages", {**conversation, "count": 1, "timeout_s": 20}, progress_callback=progress
                )
                waited.update(result.structured_content or {})

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(wait)
                # a JSON call in the same session while the wait streams: each keeps its own mode
                during = await client.call_tool("list_workflows", {"scope": "owned"})
                assert not during.is_error, text_of(during)
                # post only once the wait listens: a message from before its stream opened is not new
                await wait_until(lambda: sandbox.store.open_streams.get(sandbox.store.demo_api_key, 0) > 0, 20)
                api_message = {"message": "second", "role": "assistant"}
                with console_api(sandbox) as api:
                    path = f"/agents/{agent_id}/conversations/{conversation['conversation_id']}/messages"
                    assert api.post(path, json=api_message).status_code == 201
            walked = await client.call_tool("list_workflows", {"all_pages": True}, progress_callback=progress)
            assert not walked.is_error, text_of(walked)
    assert [m["message"] for m in unfence(waited)["messages"]] == ["second"]
    assert events[0] == (1, 1, "1 of 1 messages (assistant)") and events[1][2] is not None
    assert events[1][2].startswith("Fetched page 1")
    assert ("get_agent", "application/json") in answers
    assert ("wait_for_messages", "text/event-stream") in answers
    assert ("list_workflows", "application/json") in answers and ("list_workflows", "text/event-stream") in answers
    assert all(kind == "application/json" for tool, kind in answers if tool == "get_agent")
