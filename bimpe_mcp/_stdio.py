"""The stdio wire, read and written on the event loop rather than through a worker thread.

The SDK's stdio transport reads each line and writes (then flushes) each reply through anyio's
worker threads: three thread hand-offs per call, about a tenth of a millisecond each. When the
wire is a pipe or a socket (what an MCP client spawns a server with: Node's libuv hands out
sockets), the descriptor is made non-blocking and the event loop waits on it directly. Anything
else (a regular file, the null device, a terminal) keeps the threads.

Both descriptors are claimed as the SDK claims them: the wire moves to a private duplicate, and
fd 0 points at the null device and fd 1 at stderr while serving, so handlers and children read
EOF and their stray output misses the wire.
"""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO, cast

import anyio

__all__ = ["WireWriter", "claimed", "lines_of", "pollable"]

_READ_BYTES = 64 * 1024


def pollable(fd: int) -> bool:
    """Whether the event loop can wait on `fd`: a pipe or a socket (epoll refuses files and the null device)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


@contextmanager
def claimed(fd: int, divert: Callable[[], int], mode: str) -> Iterator[BinaryIO]:
    """The wire on `fd` as a private file, with `fd` pointed at `divert()` meanwhile; restored on exit.

    A pipe or a socket is made non-blocking for the event loop, and blocking again on exit: the
    setting belongs to the wire, which another process may share.
    """
    wire = os.dup(fd)
    diversion = divert()
    try:
        os.dup2(diversion, fd)
    finally:
        os.close(diversion)
    blocking = os.get_blocking(wire)
    if pollable(wire):
        os.set_blocking(wire, False)
    try:
        # closefd=False: a worker thread may still block on it after serving ends (the thread fallback).
        yield cast("BinaryIO", os.fdopen(wire, mode, closefd=False))
    finally:
        os.set_blocking(wire, blocking)
        os.dup2(wire, fd)


async def lines_of(wire: BinaryIO, max_bytes: int) -> AsyncIterator[bytes | None]:
    """Each line of `wire` (its newline kept, the last one maybe without), or None for a line longer than
    `max_bytes`, which is read and dropped."""
    fd = wire.fileno()
    if not pollable(fd):
        async for line in _threaded_lines(wire, max_bytes):
            yield line
        return
    pending = bytearray()
    dropping = False  # inside a line already answered as too long
    while True:
        try:
            chunk = os.read(fd, _READ_BYTES)
        except BlockingIOError:
            await anyio.wait_readable(fd)
            continue
        if not chunk:
            if pending and not dropping:
                yield bytes(pending)
            return
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) != -1:
            if dropping:
                dropping = False
            elif end - start > max_bytes:
                yield None
            else:
                yield bytes(pending[start : end + 1])
            start = end + 1
        del pending[:start]
        if len(pending) > max_bytes:
            if not dropping:
                yield None
            dropping = True
            pending.clear()


async def _threaded_lines(wire: BinaryIO, max_bytes: int) -> AsyncIterator[bytes | None]:
    while line := await anyio.to_thread.run_sync(wire.readline, max_bytes + 1):
        if len(line) > max_bytes and not line.endswith(b"\n"):
            await anyio.to_thread.run_sync(_discard_rest_of_line, wire)
            yield None
        else:
            yield line


def _discard_rest_of_line(wire: BinaryIO) -> None:
    while (chunk := wire.readline(_READ_BYTES)) and not chunk.endswith(b"\n"):
        pass


class WireWriter:
    """What the SDK's stdio transport writes its replies to (`write`, then `flush`): a non-blocking pipe
    or socket, written on the event loop, which waits only while the reader is behind."""

    def __init__(self, wire: BinaryIO) -> None:
        self._fd = wire.fileno()

    async def write(self, text: str) -> None:
        data = memoryview(text.encode())
        while data:
            try:
                data = data[os.write(self._fd, data) :]
            except BlockingIOError:
                await anyio.wait_writable(self._fd)

    async def flush(self) -> None:
        """Nothing is buffered: `write` has handed every byte to the wire."""
