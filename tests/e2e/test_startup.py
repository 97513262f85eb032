"""Start-up stays at the SDK's floor: serving `tools/list` over stdio imports none of what a call needs.

The stdio server registers its tools from the shipped catalog; the toolset modules, the argument
and Console models, the HTTP client and the metrics library load on the first call. Timing is
not asserted (BENCHMARKS.md measures it); what start-up imports is, in one real process.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bimpe_mcp.cli import _GC_THRESHOLDS
from bimpe_mcp.sandbox import RunningSandbox
from bimpe_mcp.tools import CATALOG
from tests.harness import server_env

ON_FIRST_CALL = (
    "httpx",
    "prometheus_client",
    "bimpe_mcp.console",
    "bimpe_mcp.console._models",
    "bimpe_mcp.tools._spec",
    "bimpe_mcp.tools._schemas",
    "bimpe_mcp.tools._agents",
    "bimpe_mcp.tools._integrations",
    "bimpe_mcp._completion",
    "bimpe_mcp._netsec",
    "difflib",
)
"""Modules a server may import only when first needed: a tool call, a completion, the secret-entry page
or a mistyped tool name."""

_SERVE_THEN_LIST_MODULES = """
import atexit, gc, json, sys
import bimpe_mcp._frames as frames
loaded = lambda: sorted(name for name, module in sys.modules.items() if module is not None)
atexit.register(lambda: print("MODULES " + json.dumps(loaded()), file=sys.stderr, flush=True))
at_serve = []
serve_stdio = frames.serve_stdio
async def probed(mcp):
    at_serve.append(f"GC {int(gc.isenabled())} {gc.get_freeze_count()} " + " ".join(map(str, gc.get_threshold())))
    await serve_stdio(mcp)
frames.serve_stdio = probed
atexit.register(lambda: print(*at_serve, file=sys.stderr, flush=True))
from bimpe_mcp.cli import main
raise SystemExit(main([]))
"""


def _rpc(process: subprocess.Popen[str], message: dict[str, Any]) -> dict[str, Any] | None:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(message) + "\n")
    process.stdin.flush()
    if "id" not in message:
        return None
    reply: dict[str, Any] = json.loads(process.stdout.readline())
    assert reply.get("id") == message["id"], reply
    return reply


@contextmanager
def _probed_server(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """A stdio server that reports its modules and collections at exit, past its initialize handshake."""
    with subprocess.Popen(
        [sys.executable, "-c", _SERVE_THEN_LIST_MODULES],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        client = {"name": "startup-test", "version": "1"}
        init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": client}
        _rpc(process, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init})
        _rpc(process, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        yield process


def test_stdio_start_up_imports_nothing_a_call_needs_and_calls_nothing() -> None:
    """Also: initialize and every listing make no network call (a Console and a Butterbase that record
    connections get none), so an assistant's launch never waits on the network."""
    assert all(importlib.util.find_spec(name) for name in ON_FIRST_CALL), "a watched module was renamed"
    console = socket.socket()
    console.bind(("127.0.0.1", 0))
    console.listen()
    console.setblocking(False)
    url = f"http://127.0.0.1:{console.getsockname()[1]}"
    env = server_env(None, BIMPE_API_KEY="sk_test_startup", BIMPE_LOG_LEVEL="WARNING", BIMPE_BASE_URL=url)
    env |= {"BUTTERBASE_BASE_URL": url, "BUTTERBASE_API_KEY": "bb_sk_test_x", "BUTTERBASE_APP_ID": "app_x"}
    with console, _probed_server(env) as process:
        listed = _rpc(process, {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})
        _rpc(process, {"jsonrpc": "2.0", "id": 3, "method": "prompts/list", "params": {}})
        _rpc(process, {"jsonrpc": "2.0", "id": 4, "method": "resources/templates/list", "params": {}})
        _, stderr = process.communicate(timeout=60)
        with pytest.raises(BlockingIOError):
            console.accept()
    assert listed is not None and len(listed["result"]["tools"]) == len(CATALOG), listed
    dump = next(line for line in stderr.splitlines() if line.startswith("MODULES "))
    loaded = set(json.loads(dump.removeprefix("MODULES ")))
    assert "bimpe_mcp.server" in loaded, "the server was not the one measured"
    # Start-up runs without the garbage collector; it serves with it on, start-up's objects frozen.
    # Young collections are spaced for a server's calls in flight (cli._GC_THRESHOLDS).
    gc_line = next(line for line in stderr.splitlines() if line.startswith("GC "))
    enabled, frozen, *thresholds = map(int, gc_line.split()[1:])
    assert enabled and frozen > 50_000 and tuple(thresholds) == _GC_THRESHOLDS, (enabled, frozen, thresholds)
    assert not loaded & set(ON_FIRST_CALL), f"start-up imported {sorted(loaded & set(ON_FIRST_CALL))}"


def test_a_stdio_server_never_loads_the_metrics_library_or_rich(sandbox: RunningSandbox) -> None:
    """Nothing can scrape a stdio server, so its calls are not counted: the library stays unloaded.
    Neither the SDK's log handler nor httpx's command line is used, so rich and
    pygments stay unloaded too (`server._sdk_logging_skipped`, the `httpx._main` entry in `cli`)."""
    with _probed_server(server_env(sandbox, BIMPE_LOG_LEVEL="WARNING")) as process:
        call = {"name": "get_agent", "arguments": {"agent_id": sandbox.store.demo_agent_id}}
        answer = _rpc(process, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call})
        _, stderr = process.communicate(timeout=60)
    assert answer is not None and answer["result"].get("isError") is not True, answer
    loaded = set(json.loads(next(line for line in stderr.splitlines() if line.startswith("MODULES "))[8:]))
    assert "bimpe_mcp.console" in loaded, "no call was served"
    assert "prometheus_client" not in loaded
    assert "httpx" in loaded and not {"rich", "pygments", "httpx._main"} & loaded, sorted(loaded)
