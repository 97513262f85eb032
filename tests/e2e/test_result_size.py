"""No single tool result costs a model more than 8,000 cl100k tokens, and a capped list says how to go on.

A conversation of 120 long messages: `list_messages` with `all_pages` walks the pages, keeps what
fits the size cap and names the call that continues; following those calls yields every message
once, in order. Over real HTTP, against the sandbox.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mcp_types import CallToolResult

from bimpe_mcp.sandbox import RunningSandbox
from tests.harness import connect
from tests.test_token_budget import tokens

RESULT_MAX_TOKENS = 8_000
MESSAGES = 120
_CONTINUE = re.compile(
    r"^(\d+) more past the (size|item) cap: call again with page=(\d+), limit=(\d+), all_pages=false\.$"
)


def _model_facing(result: CallToolResult) -> int:
    """Tokens of what a client may hand the model: the text block and the structured content, both."""
    return tokens(
        result.model_dump(mode="json", by_alias=True, exclude_none=True, include={"content", "structured_content"})
    )


def _seed_long_conversation(sandbox: RunningSandbox, conversation_id: str, messages: int) -> None:
    sandbox.store.messages[conversation_id] = [
        {
            "id": f"msg_seed_{n:04d}",
            "conversation_id": conversation_id,
            "role": "user" if n % 2 else "assistant",
            "message": f"Message {n}: " + "the delivery window and the refund policy, again. " * 8,
            "message_type": "text",
            "created_at": "2026-01-01T00:00:00Z",
            "attachments": [],
        }
        for n in range(messages)
    ]


async def test_a_walk_of_long_messages_stays_under_budget_and_continues_exactly(sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id
    async with connect("http", sandbox) as conn:
        opening = {"agent_id": agent_id, "message": "Hello", "channel_type": "webchat", "channel_user_id": "u-300"}
        conversation_id = (await conn.ok("send_message", opening))["conversation_id"]
        _seed_long_conversation(sandbox, conversation_id, MESSAGES)
        arguments: dict[str, Any] = {"agent_id": agent_id, "conversation_id": conversation_id}
        walked = await conn.call("list_messages", {**arguments, "all_pages": True})
        first = walked.structured_content or {}
        assert not walked.is_error and _model_facing(walked) <= RESULT_MAX_TOKENS, _model_facing(walked)
        assert first["has_next_page"] is True and 0 < len(first["items"]) < MESSAGES
        text = walked.content[0].text  # type: ignore[union-attr]
        assert not text.startswith("{") and "msg_seed_0000" in text, "a large result's text is a rendering"
        seen = [item["id"] for item in first["items"]]
        step = first["next_step"]
        while step is not None:
            found = _CONTINUE.match(step)
            assert found, step
            assert int(found.group(1)) == MESSAGES - len(seen), "the cap says how many more"
            page = {"page": int(found.group(3)), "limit": int(found.group(4)), "all_pages": False}
            result = await conn.call("list_messages", {**arguments, **page})
            assert not result.is_error and _model_facing(result) <= RESULT_MAX_TOKENS
            structured = result.structured_content or {}
            seen.extend(item["id"] for item in structured["items"])
            step = structured.get("next_step")
            if step is None and structured["has_next_page"]:  # a page that fit: the next one, same size
                following = {"page": page["page"] + 1, "limit": page["limit"]}
                step = "{} more past the size cap: call again with page={page}, limit={limit}, all_pages=false.".format(
                    MESSAGES - len(seen), **following
                )
        assert seen == [f"msg_seed_{n:04d}" for n in range(MESSAGES)], "every message once, in order"
        small = await conn.call("get_agent", {"agent_id": sandbox.store.demo_agent_id})
        assert json.loads(small.content[0].text) == small.structured_content  # type: ignore[union-attr]
