"""Shared fixtures: a fresh sandbox on a real loopback port for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bimpe_mcp.sandbox import RunningSandbox, SandboxStore, start_in_thread


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """A sandbox with demo data and short timings (replies, heartbeats, call steps)."""
    with start_in_thread(SandboxStore(reply_delay=0.05, heartbeat_interval=0.5, call_step=0.05)) as running:
        yield running
