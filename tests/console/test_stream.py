"""MessageStream, wait_for_messages and wait_for_reply against the sandbox over real HTTP (SSE)."""

from __future__ import annotations

import asyncio
import time

import pytest

from bimpe_mcp.console import (
    ConnectionLimits,
    ConsoleClient,
    ConsoleConnectionError,
    ConsoleTransport,
    MessageStream,
    RateLimitError,
    wait_for_messages,
    wait_for_reply,
)
from bimpe_mcp.console import models as m
from bimpe_mcp.sandbox import RunningSandbox, SandboxStore

REPLY = 'Hi, this is Bimpe Demo Agent. You said: "{}"'


async def _start(client: ConsoleClient, store: SandboxStore, text: str, *, test: bool = False) -> m.Message:
    body = m.MessageCreate(message=text, channel_type="webchat", channel_user_id="u-stream", is_test_channel=test)
    return (await client.conversations.create_message(store.demo_agent_id or "", body)).data


async def _send(client: ConsoleClient, store: SandboxStore, cid: str, text: str, role: str = "user") -> m.Message:
    body = m.MessageSend(message=text, role=role)  # type: ignore[arg-type]
    return (await client.conversations.send_message(store.demo_agent_id or "", cid, body)).data


async def _until(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.01)


def _stream(client: ConsoleClient, store: SandboxStore, cid: str, **kw: object) -> MessageStream:
    return MessageStream(client, store.demo_agent_id or "", cid, **kw)  # type: ignore[arg-type]


async def test_test_channel_message_gets_the_assistant_reply(live_client: ConsoleClient, store: SandboxStore) -> None:
    sent = await _start(live_client, store, "hello", test=True)
    stream = _stream(live_client, store, sent.conversation_id or "", after=sent.id)
    waited = await wait_for_reply(stream, timeout=5)
    assert not waited.timed_out
    [reply] = waited.messages
    assert isinstance(reply, m.Message) and reply.role == "assistant" and reply.message == REPLY.format("hello")
    assert reply.conversation_id == sent.conversation_id and reply.id > sent.id
    assert waited.request_ids and waited.request_ids == stream.request_ids  # the ticket's request id


async def test_wait_for_reply_skips_non_assistant_messages(live_client: ConsoleClient, store: SandboxStore) -> None:
    sent = await _start(live_client, store, "first", test=True)
    cid = sent.conversation_id or ""
    await _until(lambda: len(store.messages[cid]) == 2)
    stream = _stream(live_client, store, cid, after=store.messages[cid][-1]["id"])
    task = asyncio.create_task(wait_for_reply(stream, timeout=5))
    await _send(live_client, store, cid, "second")  # a user message first, then the reply to it
    waited = await task
    assert [x.message for x in waited.messages] == [REPLY.format("second")]


async def test_stream_drops_reconnect_without_loss_or_repeats(
    live_client: ConsoleClient, live: RunningSandbox, store: SandboxStore
) -> None:
    first = await _start(live_client, store, "m0")
    cid = first.conversation_id or ""
    early = [await _send(live_client, store, cid, f"m{i}") for i in (1, 2)]  # before the stream: replayed
    live.faults.replace(stream_drop_after=1)
    stream = _stream(live_client, store, cid, after=first.id)
    task = asyncio.create_task(wait_for_messages(stream, count=6, timeout=10))
    late = []
    for i in (3, 4, 5, 6):
        late.append(await _send(live_client, store, cid, f"m{i}"))
        await asyncio.sleep(0.05)
    waited = await task
    assert not waited.timed_out
    assert [x.message for x in waited.messages] == [f"m{i}" for i in range(1, 7)]
    assert [x.id for x in waited.messages] == [x.id for x in early + late]
    assert stream.reconnects >= 5  # one message per connection
    assert len(stream.request_ids) == stream.reconnects + 1  # one fresh ticket per connection


async def test_system_messages_are_delivered(live_client: ConsoleClient, store: SandboxStore) -> None:
    sent = await _start(live_client, store, "hi", test=True)
    cid, agent = sent.conversation_id or "", store.demo_agent_id or ""
    await _until(lambda: len(store.messages[cid]) == 2)
    stream = _stream(live_client, store, cid, after=store.messages[cid][-1]["id"])
    task = asyncio.create_task(wait_for_messages(stream, count=3, timeout=5))
    await live_client.conversations.set_ai_status(agent, cid, m.AiStatusUpdate(is_ai_chat_paused=True))
    await _send(live_client, store, cid, "anyone there?")
    await live_client.conversations.set_ai_status(agent, cid, m.AiStatusUpdate(is_ai_chat_paused=False))
    waited = await task
    assert [(x.role, x.message) for x in waited.messages] == [
        ("system", "AI paused by a human operator."),
        ("user", "anyone there?"),
        ("system", "AI resumed."),
    ]


async def test_resume_after_message_id_and_time(live_client: ConsoleClient, store: SandboxStore) -> None:
    first = await _start(live_client, store, "a")
    cid = first.conversation_id or ""
    await asyncio.sleep(0.01)
    second = await _send(live_client, store, cid, "b")
    await asyncio.sleep(0.01)
    third = await _send(live_client, store, cid, "c")
    by_id = await wait_for_messages(_stream(live_client, store, cid, after=first.id), count=2, timeout=5)
    assert [x.id for x in by_id.messages] == [second.id, third.id]
    by_time = await wait_for_messages(_stream(live_client, store, cid, after=second.created_at), count=1, timeout=5)
    assert [x.id for x in by_time.messages] == [third.id]
    # a stream picks up where it left off when iterated again
    stream = _stream(live_client, store, cid, after=first.id)
    assert [x.id for x in (await wait_for_messages(stream, count=1, timeout=5)).messages] == [second.id]
    assert [x.id for x in (await wait_for_messages(stream, count=1, timeout=5)).messages] == [third.id]


async def test_too_many_streams_raise_rate_limit(live_client: ConsoleClient, store: SandboxStore) -> None:
    # The Console's own per-key cap, not ours: this client would let a key hold more waits than it allows.
    live_client.transport.limits = ConnectionLimits(waits_per_key=10)
    first = await _start(live_client, store, "x")
    cid = first.conversation_id or ""
    key = store.demo_api_key or ""
    holders = [
        asyncio.create_task(wait_for_messages(_stream(live_client, store, cid), count=1, timeout=10)) for _ in range(5)
    ]
    try:
        await _until(lambda: store.open_streams.get(key) == 5)
        started = time.monotonic()
        with pytest.raises(RateLimitError) as caught:
            await wait_for_messages(_stream(live_client, store, cid), count=1, timeout=5)
        assert time.monotonic() - started < 2  # raised, not retried in a loop
        assert (caught.value.code, caught.value.status, caught.value.retry_after) == ("too_many_requests", 429, 5.0)
    finally:
        for task in holders:
            task.cancel()
        await asyncio.gather(*holders, return_exceptions=True)
    await _until(lambda: store.open_streams.get(key) == 0)


async def test_streams_are_closed_when_the_wait_ends(live_client: ConsoleClient, store: SandboxStore) -> None:
    """Seven waits in a row on one key: each closes its connection, so the 5-stream cap never bites."""
    sent = await _start(live_client, store, "t0", test=True)
    cid = sent.conversation_id or ""
    last = sent.id
    for i in range(1, 8):
        await _until(lambda: store.messages[cid][-1]["role"] == "assistant")
        last = store.messages[cid][-1]["id"]
        stream = _stream(live_client, store, cid, after=last)
        task = asyncio.create_task(wait_for_reply(stream, timeout=5))
        await _send(live_client, store, cid, f"t{i}")
        waited = await task
        assert [x.message for x in waited.messages] == [REPLY.format(f"t{i}")]
    await _until(lambda: store.open_streams.get(store.demo_api_key or "") == 0, timeout=2)


async def test_wait_times_out_on_a_quiet_conversation(live_client: ConsoleClient, store: SandboxStore) -> None:
    first = await _start(live_client, store, "quiet")
    started = time.monotonic()
    waited = await wait_for_messages(_stream(live_client, store, first.conversation_id or ""), count=1, timeout=0.5)
    assert waited.timed_out and waited.messages == []
    assert 0.5 <= time.monotonic() - started < 1.5
    partial = await wait_for_messages(
        _stream(live_client, store, first.conversation_id or "", after="1970-01-01T00:00:00Z"), count=3, timeout=0.5
    )
    assert partial.timed_out and [x.message for x in partial.messages] == ["quiet"]


async def test_heartbeats_keep_a_quiet_stream_alive(live_client: ConsoleClient, store: SandboxStore) -> None:
    store.heartbeat_interval = 0.1
    first = await _start(live_client, store, "hb")
    cid = first.conversation_id or ""
    stream = _stream(live_client, store, cid, after=first.id, read_timeout=0.5)
    task = asyncio.create_task(wait_for_messages(stream, count=1, timeout=5))
    await asyncio.sleep(1.5)  # three read timeouts' worth of silence, but for the heartbeats
    later = await _send(live_client, store, cid, "after the quiet")
    waited = await task
    assert [x.id for x in waited.messages] == [later.id]
    assert stream.reconnects == 0 and len(stream.request_ids) == 1


async def test_silent_dead_connection_reconnects(live_client: ConsoleClient, store: SandboxStore) -> None:
    store.heartbeat_interval = 30  # the server says nothing at all
    first = await _start(live_client, store, "silent")
    cid = first.conversation_id or ""
    stream = _stream(live_client, store, cid, after=first.id, read_timeout=0.3)
    task = asyncio.create_task(wait_for_messages(stream, count=2, timeout=5))
    await _until(lambda: stream.reconnects >= 1)
    one = await _send(live_client, store, cid, "one")
    await _until(lambda: stream.reconnects >= 2)  # timed out again after delivering "one"
    two = await _send(live_client, store, cid, "two")
    waited = await task
    assert [x.id for x in waited.messages] == [one.id, two.id]


async def test_gives_up_after_max_reconnects(
    live_client: ConsoleClient, live: RunningSandbox, store: SandboxStore
) -> None:
    first = await _start(live_client, store, "x")
    live.faults.replace(stream_drop_after=0)  # every connection closes at once
    stream = _stream(live_client, store, first.conversation_id or "", max_reconnects=2)
    with pytest.raises(ConsoleConnectionError) as caught:
        await wait_for_messages(stream, count=1, timeout=5)
    assert "3 times" in caught.value.message and stream.reconnects == 2
    assert caught.value.request_id == stream.request_ids[-1]


async def test_no_loss_when_the_first_connection_drops_before_any_message(
    live_client: ConsoleClient, live: RunningSandbox, store: SandboxStore
) -> None:
    """Started without `after`: a message sent while the stream is reconnecting must still arrive."""
    first = await _start(live_client, store, "before the stream")
    cid = first.conversation_id or ""
    live.faults.replace(stream_drop_after=0)
    stream = _stream(live_client, store, cid)
    task = asyncio.create_task(wait_for_messages(stream, count=1, timeout=5))
    await _until(lambda: stream.reconnects >= 1)
    gap = await _send(live_client, store, cid, "sent while no connection was open")
    live.faults.replace()
    waited = await task
    assert [x.id for x in waited.messages] == [gap.id]  # not the message from before the stream


async def test_ticket_is_fresh_when_a_prefixed_call_is_repeated(
    live_transport: ConsoleTransport, store: SandboxStore
) -> None:
    """A tool call repeated with its idempotency key replays its writes, but must not replay a spent ticket."""
    replies = []
    for _ in range(2):
        client = ConsoleClient(live_transport, store.demo_api_key or "", idempotency_prefix="tool-call-1")
        sent = await _start(client, store, "hi there", test=True)
        waited = await wait_for_reply(_stream(client, store, sent.conversation_id or "", after=sent.id), timeout=5)
        replies.append([x.message for x in waited.messages])
    assert replies == [[REPLY.format("hi there")]] * 2
    assert store.counts["messages.create"] == 1  # the message itself was replayed, not sent twice
