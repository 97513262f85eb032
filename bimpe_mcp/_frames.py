"""Answer malformed JSON-RPC frames, on stdio and on streamable HTTP, instead of dropping them.

The SDK (mcp 2.3) parses each frame straight into its pydantic envelope. Over stdio a frame
that fails is dropped without a reply, even one that carries an id, so the client waits on
that id forever; a line may be of any length. Over 2025-era streamable HTTP, a request
whose id is an object, a float or null fits the notification model and gets 202, other
failures get -32602 without their id, and an oversized body gets plain text.

`refusal` checks a frame with the SDK's own JSON parser and the JSON-RPC 2.0 rules its
envelope enforces, and names the error the specification gives for what is wrong. The
transports send that error and pass every other frame to the SDK unchanged.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import anyio
import pydantic_core
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp_types import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError

from bimpe_mcp._stdio import WireWriter, claimed, lines_of, pollable

if TYPE_CHECKING:
    from anyio.abc import ObjectReceiveStream, ObjectSendStream
    from mcp.server.mcpserver import MCPServer
    from mcp.shared._stream_protocols import WriteStream
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "MAX_FRAME_BYTES",
    "PARSED_MESSAGE",
    "FrameGuard",
    "parsed",
    "refusal",
    "replay",
    "send_error",
    "serve_stdio",
    "too_large",
]

MAX_FRAME_BYTES = 4 * 1024 * 1024
"""The largest stdio line or HTTP body we read. 4 MiB is the SDK's own HTTP body limit: tool
arguments here are ids, names and prompts, far smaller, and a bound keeps one line from
holding the server's memory (an unbounded reader let a 20 MB line reach a tool). Over HTTP the
bound is the `--max-body-bytes` setting, whose default this is."""

PARSED_MESSAGE = "bimpe_mcp.parsed_message"
"""Where `FrameGuard` leaves the message it parsed in the request's scope state, so no layer behind it
parses the body again to look at it."""

logger = logging.getLogger(__name__)


def refusal(frame: bytes) -> JSONRPCError | None:
    """The JSON-RPC error that answers `frame`, or None when the frame is for the SDK.

    Parsing uses pydantic-core, the parser the SDK runs next, so a frame we pass is one the
    SDK can parse. json.loads would pass frames that parser then rejects unanswered (lone
    surrogates, nesting 200 to 1000 deep). Its nesting limit of 200 turns a 100k-deep frame
    into a ValueError, so no depth pre-check is needed and no RecursionError can arise.
    """
    return parsed(frame)[1]


def parsed(frame: bytes) -> tuple[Any, JSONRPCError | None]:
    """The frame's JSON value and `refusal`'s answer to it (the value is None when it does not parse)."""
    try:
        message = pydantic_core.from_json(frame)
    except ValueError as error:
        return None, _error(None, PARSE_ERROR, f"Parse error: {error}")
    return message, _envelope_refusal(message)


def _envelope_refusal(message: Any) -> JSONRPCError | None:
    """Check the JSON-RPC 2.0 request envelope, in the order that lets the most ids be echoed."""
    if isinstance(message, list):  # MCP removed JSON-RPC batching in protocol 2025-06-18
        return _error(None, INVALID_REQUEST, "Invalid Request: batches are not supported")
    if not isinstance(message, dict):
        return _error(None, INVALID_REQUEST, "Invalid Request: a message must be a JSON object")
    if "method" not in message and ("result" in message or "error" in message):
        return None  # the client's response to our request: never answered, the SDK matches it to the request
    request_id = message.get("id")
    echoed = request_id if isinstance(request_id, str | int) and not isinstance(request_id, bool) else None
    if "id" in message and echoed is None:
        return _error(None, INVALID_REQUEST, 'Invalid Request: "id" must be a string or an integer')
    if message.get("jsonrpc") != "2.0":
        return _error(echoed, INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"')
    if not isinstance(message.get("method"), str):
        return _error(echoed, INVALID_REQUEST, 'Invalid Request: "method" must be a string')
    params = message.get("params")
    # JSON-RPC allows by-position params (an array), so that request is valid and only its params
    # are wrong for MCP, whose methods all take an object: -32602. Any other non-object breaks the
    # Request object itself: -32600. A null is let through, as the SDK's envelope accepts it.
    if isinstance(params, list):
        return _error(echoed, INVALID_PARAMS, "Invalid params: MCP methods take named params, a JSON object")
    if params is not None and not isinstance(params, dict):
        return _error(echoed, INVALID_REQUEST, 'Invalid Request: "params" must be an object')
    return None


def _error(request_id: str | int | None, code: int, message: str) -> JSONRPCError:
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=code, message=message))


def too_large(limit: int = MAX_FRAME_BYTES) -> JSONRPCError:
    """The error that answers a message larger than `limit` bytes."""
    return _error(None, PARSE_ERROR, f"Parse error: the message is larger than {limit} bytes")


async def serve_stdio(mcp: MCPServer) -> None:
    """`mcp.run_stdio_async()`, with malformed and oversized lines answered rather than dropped.

    The seam is `stdio_server(stdin=..., stdout=...)`: our reader reads bounded lines and gives the
    SDK's reader only the frames it can parse; errors go into the SDK's write stream, so its one
    stdout writer serialises them with every other reply. On a pipe or a socket both ends are
    served by the event loop (see _stdio.py).
    """
    # MCPServer has no public run over given streams; the SDK's own in-memory client uses this attribute.
    server = mcp._lowlevel_server
    refusals_in, refusals_out = anyio.create_memory_object_stream[JSONRPCError]()
    with ExitStack() as claims:
        wire_in = claims.enter_context(claimed(0, lambda: os.open(os.devnull, os.O_RDONLY), "rb"))
        writer = None
        if _stdout_is_fd_1() and pollable(1):  # else the SDK claims and serves stdout itself, with its threads
            writer = WireWriter(claims.enter_context(claimed(1, _stderr, "wb")))
        # stdio_server only iterates `stdin` and awaits `stdout.write` and `.flush`; it parses each line
        # with validate_json, which takes bytes.
        lines = cast("anyio.AsyncFile[str]", _valid_lines(wire_in, refusals_in))
        stdout = cast("anyio.AsyncFile[str] | None", writer)
        async with (
            stdio_server(stdin=lines, stdout=stdout) as (read_stream, write_stream),
            anyio.create_task_group() as tasks,
        ):
            # A clone: at end of input the server closes its write stream while the last errors may be in flight.
            tasks.start_soon(_answer, refusals_out, write_stream.clone())
            await server.run(read_stream, write_stream, server.create_initialization_options())


def _stdout_is_fd_1() -> bool:
    """Whether sys.stdout writes to fd 1: only then is fd 1 the wire (a test may swap sys.stdout)."""
    try:
        return sys.stdout is not None and sys.stdout.fileno() == 1
    except (AttributeError, OSError, ValueError):
        return False


def _stderr() -> int:
    """Where fd 1 points while serving: stray output goes to stderr, as the SDK's own claim sends it."""
    return os.dup(2)


async def _valid_lines(wire: BinaryIO, refusals: ObjectSendStream[JSONRPCError]) -> AsyncIterator[bytes]:
    """Yield each line the SDK should parse; send the error that answers every other one."""
    async with refusals:
        async for line in lines_of(wire, MAX_FRAME_BYTES):
            if line is None:
                error: JSONRPCError | None = too_large()
            elif line.isspace():
                continue  # a blank line is no frame
            else:
                error = refusal(line)
            if error is None:
                assert line is not None
                yield line
            else:
                logger.info("answered a malformed message with %s: %s", error.error.code, error.error.message)
                await refusals.send(error)


async def _answer(refusals: ObjectReceiveStream[JSONRPCError], write_stream: WriteStream[SessionMessage]) -> None:
    async with refusals, write_stream:
        async for error in refusals:
            await write_stream.send(SessionMessage(error))


class FrameGuard:
    """ASGI middleware that answers a malformed or oversized POST to the MCP path itself.

    It reads the body once, bounded by `max_bytes`, and replies 413 with the JSON-RPC error
    to a larger one, and 400 to a malformed JSON one; a valid body is replayed to the app
    unchanged (a body not declared JSON too: the SDK answers it 415).
    """

    def __init__(self, app: ASGIApp, *, path: str, max_bytes: int = MAX_FRAME_BYTES) -> None:
        self.app = app
        self.path = path
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == self.path):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await send_error(send, 413, too_large(self.max_bytes))
            return
        body = bytearray()
        more_body = True
        while more_body and len(body) <= self.max_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left: nobody to answer
            body += message.get("body", b"")
            more_body = message.get("more_body", False)
        if len(body) > self.max_bytes:
            await send_error(send, 413, too_large(self.max_bytes))
            return
        frame = bytes(body)
        if not _is_json(headers):
            await self.app(scope, replay(frame, receive), send)
            return
        message, error = parsed(frame)
        if error is not None:
            logger.info("answered a malformed message with %s: %s", error.error.code, error.error.message)
            await send_error(send, 400, error)
            return
        scope.setdefault("state", {})[PARSED_MESSAGE] = message
        await self.app(scope, replay(frame, receive), send)


def _is_json(headers: dict[bytes, bytes]) -> bool:
    """Whether the body is declared JSON, as the SDK reads Content-Type; it answers anything else with 415."""
    media_types = headers.get(b"content-type", b"").split(b";")[0].split(b",")
    return any(media_type.strip().lower() == b"application/json" for media_type in media_types)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then defers to the server's."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


async def send_error(send: Send, status: int, error: JSONRPCError) -> None:
    """Answer with `error` as the JSON body, with HTTP `status`."""
    payload = error.model_dump_json(by_alias=True, exclude_unset=True).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
