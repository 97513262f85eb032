"""Over streamable HTTP, a request that cannot stream anything is answered with one JSON body.

The SDK (mcp 2.3) answers each 2025-era POST with an SSE stream unless the whole service runs in
JSON-response mode, which would drop progress notifications and confirmation questions. A stream
per POST costs a task group, memory streams and a ping task, a large share of a short call's CPU.
So the choice is made per request, from its body (`may_stream`): a stream when the request carries
a progress token or a log-level opt-in, or calls a tool that may ask the user or waits (its SSE
pings keep proxies from closing a quiet connection); one JSON body otherwise. A 2026-era request
takes the SDK's own path, which already answers JSON unless the handler sends something first; a
JSON choice skips that path's deferral as well.

The SDK offers the choice only per session manager. `answer_per_request` makes the manager read it
per request: a stateless request's transport is built for that one request, a stateful session's
transport reads it per POST.
"""

from __future__ import annotations

from collections.abc import Collection
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import pydantic_core
from mcp.server.auth.middleware.bearer_auth import AuthorizationContext
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from bimpe_mcp._frames import PARSED_MESSAGE, replay

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ResponseModes", "answer_per_request", "answering_json", "may_stream"]

_LOG_LEVEL_META = "io.modelcontextprotocol/logLevel"

_CHOSEN: ContextVar[bool] = ContextVar("bimpe_answer_json", default=False)
"""This HTTP request's choice (True: one JSON body), set by `ResponseModes` around the SDK."""

_POST_CHOSEN: ContextVar[bool | None] = ContextVar("bimpe_post_answers_json", default=None)
"""The same choice while a session's transport handles the POST, and so in everything the request's
handler sends (the SDK carries the sender's context with each message)."""


def answering_json() -> bool:
    """Whether the request being handled here is answered with one JSON body, which carries nothing
    sent before the result: a message for the client then goes on the session's own stream instead."""
    return bool(_POST_CHOSEN.get())


def may_stream(message: Any, streaming_tools: Collection[str]) -> bool:
    """Whether answering this JSON-RPC message may need more than one JSON body."""
    if not isinstance(message, dict) or not isinstance(params := message.get("params"), dict):
        return False
    meta = params.get("_meta")
    if isinstance(meta, dict) and (meta.get("progressToken") is not None or _LOG_LEVEL_META in meta):
        return True
    return message.get("method") == "tools/call" and params.get("name") in streaming_tools


class ResponseModes:
    """ASGI middleware around the SDK's MCP app: chooses JSON or SSE for each POST to `path`.

    It sits behind `FrameGuard`, which has read and checked the body, so the body is one message.
    """

    def __init__(self, app: ASGIApp, *, path: str, streaming_tools: Collection[str]) -> None:
        self.app = app
        self.path = path
        self.streaming_tools = frozenset(streaming_tools)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == self.path):
            await self.app(scope, receive, send)
            return
        first = await receive()
        body = first.get("body", b"")
        more_body = first.get("more_body", False)
        while more_body:  # not after FrameGuard, but a body is never cut short here
            message = await receive()
            body += message.get("body", b"")
            more_body = message.get("more_body", False)
        message = scope.get("state", {}).get(PARSED_MESSAGE)
        try:
            if message is None:
                message = pydantic_core.from_json(body)
            answer_json = not may_stream(message, self.streaming_tools)
        except ValueError:
            answer_json = False  # the SDK answers what it cannot parse, as it always has
        token = _CHOSEN.set(answer_json)
        try:
            await self.app(scope, replay(body, receive), send)
        finally:
            _CHOSEN.reset(token)


class _PerRequestTransport(StreamableHTTPServerTransport):
    """A stateful session's transport: each POST is answered in the mode chosen for it."""

    @property
    def is_json_response_enabled(self) -> bool:
        chosen = _POST_CHOSEN.get()
        if chosen is None:
            # The session's message router, placing a message a request's handler sent: the mode is
            # that request's, read from the context the message was sent in. JSON drops the message.
            sender = self._write_stream_reader.last_context if self._write_stream_reader is not None else None
            chosen = sender.get(_POST_CHOSEN, None) if sender is not None else None
        return bool(chosen)

    @is_json_response_enabled.setter
    def is_json_response_enabled(self, value: bool) -> None:
        """Ignored: the SDK sets one mode for the whole session when it opens it."""

    async def _handle_post_request(self, scope: Scope, request: Request, receive: Receive, send: Send) -> None:
        token = _POST_CHOSEN.set(_CHOSEN.get())
        try:
            await super()._handle_post_request(scope, request, receive, send)
        finally:
            _POST_CHOSEN.reset(token)


class _PerRequestManager(StreamableHTTPSessionManager):
    @property
    def json_response(self) -> bool:
        """Read by the SDK when it builds a stateless request's transport, and on the 2026-era path."""
        return _CHOSEN.get()

    @json_response.setter
    def json_response(self, value: bool) -> None:
        """Ignored: the choice is made per request."""

    def _admit_session(self, requestor: AuthorizationContext | None) -> StreamableHTTPServerTransport | None:
        transport = super()._admit_session(requestor)
        if transport is not None:
            transport.__class__ = _PerRequestTransport
        return transport


def answer_per_request(manager: StreamableHTTPSessionManager) -> None:
    """Make the SDK's session manager answer each request as `ResponseModes` chose.

    The SDK builds the manager (with its app) and has no hook for the transport it makes; the
    subclasses only read the choice where the SDK reads its one flag. tests/e2e/test_responses.py
    fails if a new SDK reads it elsewhere.
    """
    manager.__class__ = _PerRequestManager
