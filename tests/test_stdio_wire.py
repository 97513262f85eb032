"""The stdio wire on the event loop: lines framed across reads, oversized ones dropped, no worker threads."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import anyio
import pytest

from bimpe_mcp._stdio import WireWriter, lines_of, pollable

LIMIT = 1_000


@contextmanager
def wire(kind: str) -> Iterator[tuple[BinaryIO, BinaryIO]]:
    """(read end, write end), non-blocking as `claimed` leaves them."""
    if kind == "pipe":
        read_fd, write_fd = os.pipe()
    else:
        left, right = socket.socketpair()
        read_fd, write_fd = left.detach(), right.detach()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    with os.fdopen(read_fd, "rb") as reader, os.fdopen(write_fd, "wb") as writer:
        yield reader, writer


@pytest.mark.parametrize("kind", ["pipe", "socket"])
async def test_lines_are_framed_across_reads_without_threads(kind: str) -> None:
    sent = [b'{"n": %d}\n' % n for n in range(2_000)]
    with wire(kind) as (reader, writer):
        assert pollable(reader.fileno()) and pollable(writer.fileno())
        threads = threading.active_count()
        got: list[bytes | None] = []
        out = WireWriter(writer)

        async def write_all() -> None:
            for start in range(0, len(sent), 7):  # many lines a write, lines split between writes
                await out.write(b"".join(sent[start : start + 7]).decode()[:-3])
                await out.write(b"".join(sent[start : start + 7]).decode()[-3:])
            await out.write("x" * (LIMIT + 1) + "\n")  # one line over the limit, in one read or several
            await out.write("tail")
            await out.flush()
            writer.close()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(write_all)
            async for line in lines_of(reader, LIMIT):
                got.append(line)
        assert threading.active_count() == threads, "a worker thread was used"
    assert got == [*sent, None, b"tail"]


async def test_a_long_line_is_dropped_whole_and_reading_goes_on() -> None:
    with wire("pipe") as (reader, writer):
        out = WireWriter(writer)

        async def write_all() -> None:
            await out.write("y" * (5 * LIMIT))  # no newline yet: longer than the limit on its own
            await out.write("y" * LIMIT + "\nnext\n")
            writer.close()

        got: list[bytes | None] = []
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(write_all)
            got = [line async for line in lines_of(reader, LIMIT)]
    assert got == [None, b"next\n"]
