"""Live conversation messages over SSE, with tickets, heartbeats and lossless resume.

Each connection spends one single-use stream ticket. A dropped or silent connection
(no event, not even a heartbeat, within `read_timeout`) is reopened with `after=<last
message id>`, so the server replays what was missed; ids already seen are skipped, so
nothing is lost or repeated. Unknown roles are passed through, never dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass

import anyio
import httpx

from bimpe_mcp.console._client import ConsoleClient, ListQuery
from bimpe_mcp.console._errors import (
    ConsoleConnectionError,
    ConsoleError,
    ConsoleResponseError,
    RateLimitError,
    ServerError,
)
from bimpe_mcp.console._models import Message
from bimpe_mcp.console._paths import route
from bimpe_mcp.console._transport import RequestSpec

__all__ = ["MessageStream", "WaitResult", "wait_for_messages", "wait_for_reply"]

logger = logging.getLogger("bimpe_mcp.console.stream")

_EPOCH = "1970-01-01T00:00:00.000Z"

_MAX_RETRY_AFTER_S = 2.0
"""A 429 asking for a longer wait (e.g. the per-key stream cap) is a lasting refusal: raised, not waited out."""


def _passing(error: ConsoleError) -> bool:
    if isinstance(error, RateLimitError):
        return error.retry_after is None or error.retry_after <= _MAX_RETRY_AFTER_S
    if isinstance(error, ServerError):
        return error.status != 501
    return True


DEFAULT_READ_TIMEOUT = 45.0
"""Above the Console's ~20 s heartbeat, so a live but quiet stream is never mistaken for a dead one."""


@dataclass(frozen=True, slots=True)
class WaitResult:
    messages: list[Message]
    timed_out: bool
    request_ids: list[str]


class MessageStream:
    """An async iterator of new messages in one conversation.

    Iteration never ends on its own: bound it with a timeout (see `wait_for_messages`).
    """

    def __init__(
        self,
        client: ConsoleClient,
        agent_id: str,
        conversation_id: str,
        *,
        after: str | None = None,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_reconnects: int = 5,
    ) -> None:
        self._client = client
        self._agent_id = agent_id
        self._conversation_id = conversation_id
        self._after = after
        self._read_timeout = read_timeout
        self._max_reconnects = max_reconnects
        self._seen: set[str] = set()
        self.request_ids: list[str] = []
        self.reconnects = 0

    def __aiter__(self) -> AsyncGenerator[Message, None]:
        return self._messages()

    async def _messages(self) -> AsyncGenerator[Message, None]:
        with self._client.transport.wait_slot(self._client.api_key):
            async with aclosing(self._waited_messages()) as messages:
                async for message in messages:
                    yield message

    async def _waited_messages(self) -> AsyncGenerator[Message, None]:
        from httpx_sse import SSEError  # only a server that streams messages loads the SSE client

        if self._after is None:
            self._after = await self._latest_position()
        failures = 0
        while True:
            pause: float | None = None
            try:
                async for message in self._connect_once():
                    failures = 0
                    yield message
                reason = "the server closed the stream"
                last: ConsoleError | None = None
            except (httpx.TransportError, SSEError) as exc:
                reason, last = type(exc).__name__, None
            except (ServerError, RateLimitError, ConsoleResponseError, ConsoleConnectionError) as exc:
                # Opening a stream is a read: a passing failure is retried; a lasting one is raised as is.
                if not _passing(exc):
                    raise
                reason, last, pause = str(exc), exc, getattr(exc, "retry_after", None)
            failures += 1
            if failures > self._max_reconnects:
                if last is not None:
                    raise last
                raise ConsoleConnectionError(
                    f"The message stream failed {failures} times in a row ({reason})",
                    request_id=self.request_ids[-1] if self.request_ids else None,
                )
            self.reconnects += 1
            logger.info("message stream reconnecting after %s (after=%s)", reason, self._after)
            await anyio.sleep(pause if pause is not None else min(0.25 * failures, 2.0))

    async def _latest_position(self) -> str:
        """Where "new" starts, as a resume cursor: the newest message's id, or the epoch when there is none.

        Without it, a connection lost before the first message would resume with no `after`, and
        whatever arrived in between would never be delivered.
        """
        latest = await self._client.conversations.list_messages(
            self._agent_id, self._conversation_id, ListQuery(limit=1, sort="-created_at")
        )
        if latest.request_id:
            self.request_ids.append(latest.request_id)
        return latest.data[0].id if latest.data else _EPOCH

    async def _connect_once(self) -> AsyncIterator[Message]:
        ticket = await self._client.conversations.stream_ticket(self._agent_id, self._conversation_id)
        if ticket.request_id:
            self.request_ids.append(ticket.request_id)
        transport = self._client.transport
        path = route(
            "/agents/{agent_id}/conversations/{conversation_id}/stream",
            agent_id=self._agent_id,
            conversation_id=self._conversation_id,
        )
        params = {"ticket": ticket.data.ticket}
        if self._after:
            params["after"] = self._after
        timeout = httpx.Timeout(transport.timeout, read=self._read_timeout)
        from httpx_sse import aconnect_sse

        async with aconnect_sse(transport.streams, "GET", path, params=params, timeout=timeout) as source:
            response = source.response
            if response.status_code != 200:
                await response.aread()
                transport.unwrap(RequestSpec("GET", path), response, response.headers.get("x-request-id") or "")
                raise ConsoleResponseError(
                    f"The message stream answered {response.status_code} without an error envelope",
                    status=response.status_code,
                )
            async for event in source.aiter_sse():
                if event.event != "message":
                    continue
                message = self._parse(event.data)
                if message is None or message.id in self._seen:
                    continue
                self._seen.add(message.id)
                self._after = message.id
                yield message

    @staticmethod
    def _parse(data: str) -> Message | None:
        try:
            return Message.model_validate(json.loads(data))
        except ValueError:
            logger.warning("skipping a stream event that is not a message")
            return None


async def wait_for_messages(
    stream: MessageStream,
    *,
    count: int,
    timeout: float,
    accept: Callable[[Message], bool] = lambda message: True,
    on_message: Callable[[Message, int], Awaitable[None]] | None = None,
    room: Callable[[Message], bool] | None = None,
) -> WaitResult:
    """Collect up to `count` accepted messages, giving up after `timeout` seconds.

    `room(message)`: whether the caller has room for one more; the first it has none for ends the
    wait, uncollected (a later `after=<last id collected>` delivers it again).
    """
    collected: list[Message] = []
    timed_out = True
    with anyio.move_on_after(timeout):
        async with aclosing(stream.__aiter__()) as messages:
            async for message in messages:
                if not accept(message):
                    continue
                if room is not None and not room(message):
                    timed_out = False
                    break
                collected.append(message)
                if on_message is not None:
                    await on_message(message, len(collected))
                if len(collected) >= count:
                    timed_out = False
                    break
    return WaitResult(collected, timed_out and len(collected) < count, list(stream.request_ids))


async def wait_for_reply(stream: MessageStream, *, timeout: float) -> WaitResult:
    """Wait for the next assistant message."""
    return await wait_for_messages(stream, count=1, timeout=timeout, accept=lambda message: message.role == "assistant")
