"""Shared fixtures: a fresh sandbox store with short timings, and that store on a real loopback port."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from bimpe_mcp.sandbox import RunningSandbox, SandboxStore, start_in_thread

# Every xdist worker imports the test modules and every spawned server the package: with bytecode
# caching off (PYTHONDONTWRITEBYTECODE, set on some machines) each one compiles them again. The
# suite caches its own bytecode (the harness's `server_env` does the same for the servers it spawns).
sys.dont_write_bytecode = False


@pytest.fixture
def store() -> SandboxStore:
    """A store with demo data and short timings (replies, heartbeats, call steps)."""
    return SandboxStore(reply_delay=0.05, heartbeat_interval=0.2, call_step=0.05)


@pytest.fixture
def live(store: SandboxStore) -> Iterator[RunningSandbox]:
    """`store` served by real uvicorn on loopback (streams, dropped connections, the SDK)."""
    with start_in_thread(store) as running:
        yield running


@pytest.fixture
def sandbox(live: RunningSandbox) -> RunningSandbox:
    """What the end-to-end tests talk to: the live sandbox."""
    return live
