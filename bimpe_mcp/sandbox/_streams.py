"""The conversation SSE stream: ticket auth, replay after a cursor, then live events with heartbeats.

Subscribes before replaying and skips anything at or before the last id sent, so there is no gap and no
duplicate. Ends on client disconnect (Starlette cancels the body), on shutdown (a None sentinel) and after
`Faults.stream_drop_after` message events.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from ._errors import SandboxError
from ._store import MAX_STREAMS_PER_KEY, SandboxStore

_EVENT_FIELDS = ("id", "conversation_id", "role", "message", "message_type", "created_at")


async def stream_endpoint(request: Request) -> StreamingResponse:
    store: SandboxStore = request.app.state.store
    faults = request.app.state.faults
    agent_id = request.path_params["agent_id"]
    conversation_id = request.path_params["conversation_id"]
    conversations = store.conversation_rules
    api_key = conversations.redeem_ticket(request.query_params.get("ticket"), agent_id, conversation_id)
    key = store.authenticate(api_key)
    conversations.get_conversation(key["team_id"], agent_id, conversation_id)
    if store.open_streams.get(api_key, 0) >= MAX_STREAMS_PER_KEY:
        raise SandboxError(
            "too_many_requests",
            f"At most {MAX_STREAMS_PER_KEY} concurrent streams per API key.",
            headers={"Retry-After": "5"},
        )
    after = request.query_params.get("after") or request.headers.get("last-event-id")
    queue = store.subscribe(conversation_id)
    try:
        replay = conversations.messages_after(conversation_id, after)
    except SandboxError:
        store.unsubscribe(conversation_id, queue)
        raise
    drop_after = faults.stream_drop_after if faults.applies_to(request.url.path) else None
    store.open_streams[api_key] = store.open_streams.get(api_key, 0) + 1

    async def events() -> AsyncIterator[str]:
        sent = 0
        last_id = after if after and after.startswith("msg_") else ""
        try:
            pending = list(replay)
            while True:
                if drop_after is not None and sent >= drop_after:
                    return
                message: dict[str, Any] | None
                if pending:
                    message = pending.pop(0)
                else:
                    try:
                        message = await asyncio.wait_for(queue.get(), store.heartbeat_interval)
                    except TimeoutError:
                        yield f"event: heartbeat\ndata: {json.dumps({'ts': int(time.time())})}\n\n"
                        continue
                    if message is None:
                        return
                if message["id"] <= last_id:
                    continue
                last_id = message["id"]
                sent += 1
                data = json.dumps({k: message.get(k) for k in _EVENT_FIELDS})
                yield f"event: message\nid: {message['id']}\ndata: {data}\n\n"
        finally:
            store.unsubscribe(conversation_id, queue)
            store.open_streams[api_key] -= 1

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
