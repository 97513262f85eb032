"""MessageStream details that are easier to pin with a scripted transport than with the sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bimpe_mcp.console import ConsoleResponseError, MessageStream, ServerError, wait_for_messages

from .conftest import fail, ok

TICKET = {"ticket": "tkt_1", "expires_in": 60}


def sse(*events: tuple[str, dict[str, Any] | str]) -> httpx.Response:
    chunks = []
    for name, data in events:
        payload = data if isinstance(data, str) else json.dumps(data)
        chunks.append(f"event: {name}\ndata: {payload}\n\n")
    return httpx.Response(200, content="".join(chunks).encode(), headers={"content-type": "text/event-stream"})


def msg(i: int, role: str = "user") -> dict[str, Any]:
    return {"id": f"msg_{i:03d}", "conversation_id": "conv", "role": role, "message": f"m{i}", "message_type": "text"}


async def test_without_after_the_stream_starts_from_the_newest_message(scripted: Callable[..., Any]) -> None:
    client, script = scripted(ok([msg(7)]), ok(TICKET), sse(("message", msg(8))))
    waited = await wait_for_messages(MessageStream(client, "agt", "conv"), count=1, timeout=2)
    assert [x.id for x in waited.messages] == ["msg_008"]
    listing, ticket, stream = script.requests[:3]
    assert dict(listing.url.params) == {"page": "1", "limit": "1", "sort": "-created_at"}
    assert ticket.method == "POST" and ticket.url.path.endswith("/conversations/conv/stream-ticket")
    assert dict(stream.url.params) == {"ticket": "tkt_1", "after": "msg_007"}
    assert "authorization" not in stream.headers  # the ticket authenticates the stream
    assert stream.headers["accept"] == "text/event-stream"


async def test_empty_conversation_replays_from_the_start(scripted: Callable[..., Any]) -> None:
    client, script = scripted(ok([]), ok(TICKET), sse(("message", msg(1))))
    await wait_for_messages(MessageStream(client, "agt", "conv"), count=1, timeout=2)
    assert script.requests[2].url.params["after"] == "1970-01-01T00:00:00.000Z"


async def test_events_are_filtered_and_unknown_roles_kept(scripted: Callable[..., Any]) -> None:
    client, _ = scripted(
        ok(TICKET),
        sse(
            ("heartbeat", {"ts": 1}),
            ("message", msg(1, "system")),
            ("message", "{not json"),
            ("message", {"no": "id"}),
            ("typing", msg(9)),
            ("message", msg(1, "system")),  # a repeat is skipped
            ("message", msg(2, "tool")),
        ),
    )
    waited = await wait_for_messages(MessageStream(client, "agt", "conv", after="msg_000"), count=2, timeout=2)
    assert [(x.id, x.role) for x in waited.messages] == [("msg_001", "system"), ("msg_002", "tool")]


async def test_stream_open_retries_passing_failures_and_raises_lasting_ones(scripted: Callable[..., Any]) -> None:
    """Opening a stream is a read: a 5xx or a proxy's HTML page is retried with a fresh ticket; a 501 is not."""
    client, _ = scripted(ok(TICKET), fail(501, "not_implemented"))
    with pytest.raises(ServerError):
        await wait_for_messages(MessageStream(client, "agt", "conv", after="msg_1"), count=1, timeout=2)
    html = httpx.Response(502, content=b"<html>bad gateway</html>", headers={"content-type": "text/html"})
    client, script = scripted(
        ok(TICKET), html, ok(TICKET), fail(503, "internal_error"), ok(TICKET), sse(("message", msg(2)))
    )
    waited = await wait_for_messages(MessageStream(client, "agt", "conv", after="msg_1"), count=1, timeout=5)
    assert [m.id for m in waited.messages] == ["msg_002"]
    assert sum(r.method == "POST" for r in script.requests) == 3
    client, _ = scripted(*[item for _ in range(6) for item in (ok(TICKET), html)])
    with pytest.raises(ConsoleResponseError) as caught:
        await wait_for_messages(
            MessageStream(client, "agt", "conv", after="msg_1", max_reconnects=5), count=1, timeout=9
        )
    assert caught.value.status == 502


async def test_each_connection_spends_a_fresh_ticket_with_its_own_key(scripted: Callable[..., Any]) -> None:
    client, script = scripted(ok(TICKET), sse(("message", msg(1))), ok(TICKET), sse(("message", msg(2))), prefix="job")
    waited = await wait_for_messages(MessageStream(client, "agt", "conv", after="msg_000"), count=2, timeout=3)
    assert [x.id for x in waited.messages] == ["msg_001", "msg_002"]
    keys = [r.headers.get("idempotency-key") for r in script.requests if r.method == "POST"]
    assert len(keys) == 2 and len(set(keys)) == 2 and not any(k.startswith("job-") for k in keys if k)
    assert client.next_idempotency_key() == "job-1"  # tickets did not use up the prefix's numbers
