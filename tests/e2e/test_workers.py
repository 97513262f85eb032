"""`serve --workers N`: stateless HTTP from N processes sharing one port, each counted, all drained on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

from bimpe_mcp.sandbox import RunningSandbox
from tests.e2e.test_operations import mcp_client
from tests.harness import run_cli, server_env, wait_until

CALL_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Connection": "close",  # a new connection per call, so the kernel picks a worker for each
    "MCP-Protocol-Version": "2025-11-25",
}


def test_workers_need_stateless_http_and_no_in_process_sandbox() -> None:
    stateful = run_cli("serve", "--transport", "http", "--workers", "2")
    stdio = run_cli("serve", "--workers", "2")
    sandboxed = run_cli("serve", "--transport", "http", "--stateless", "--workers", "2", "--sandbox")
    assert stateful.returncode == stdio.returncode == sandboxed.returncode == 2
    assert "--workers / BIMPE_WORKERS: more than one worker needs --stateless / BIMPE_STATELESS" in stateful.stderr
    assert "needs --transport http" in stdio.stderr
    assert "point BIMPE_BASE_URL at it" in sandboxed.stderr


def _wait_for_lines(log: Path, pattern: str, count: int, process: subprocess.Popen[str]) -> list[str]:
    deadline = time.monotonic() + 30
    while len(found := re.findall(pattern, log.read_text())) < count:
        assert time.monotonic() < deadline and process.poll() is None, log.read_text()
        time.sleep(0.05)
    return found


async def test_two_workers_share_the_port_count_their_calls_and_drain_on_sigterm(sandbox: RunningSandbox) -> None:
    store, agent_id = sandbox.store, sandbox.store.demo_agent_id
    flags = ["--stateless", "--workers", "2", "--port", "0", "--metrics-port", "0", "--shutdown-grace", "30"]
    command = [sys.executable, "-m", "bimpe_mcp", "serve", "--transport", "http", *flags]
    with tempfile.NamedTemporaryFile("w+", suffix=".log") as err:
        log = Path(err.name)
        process = subprocess.Popen(command, env=server_env(sandbox), stdout=subprocess.DEVNULL, stderr=err, text=True)
        try:
            pids = [int(pid) for pid in _wait_for_lines(log, r"with 2 workers \(pids (\d+), (\d+)\)", 1, process)[0]]
            metrics = _wait_for_lines(log, r"serving metrics on (\S+)", 2, process)
            mcp = _wait_for_lines(log, r"serving MCP on (\S+)", 2, process)[0]
            assert all(Path(f"/proc/{pid}").exists() for pid in pids)

            def counted() -> list[float]:
                pattern = r'bimpe_mcp_tool_calls_total\{outcome="ok",tool="get_agent"\} (\S+)'
                return [sum(map(float, re.findall(pattern, httpx.get(url, timeout=10).text))) for url in metrics]

            call = {"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "get_agent"}}
            call["params"]["arguments"] = {"agent_id": agent_id}
            sent = 0
            with httpx.Client(headers=CALL_HEADERS, timeout=30) as http:
                while 0 in counted():  # until both workers have answered, within a bound
                    assert sent < 200, f"one worker answered all {sent} calls: {counted()}"
                    answer = http.post(mcp, json={**call, "id": sent})
                    sent += 1
                    assert answer.headers["content-type"] == "application/json"
                    assert answer.json()["result"]["isError"] is False
            assert sum(counted()) == sent

            async with mcp_client(mcp) as client:
                await client.list_tools()
                walk: list[Any] = []

                async def progress(done: float, total: float | None, message: str | None) -> None:
                    walk.append(message)

                listed = await client.call_tool("list_workflows", {"all_pages": True}, progress_callback=progress)
                assert not listed.is_error and walk
                before = store.counts.get("workflows.create", 0)
                sandbox.faults.replace(latency_s=1.0, only_paths="/workflows$")
                result: dict[str, Any] = {}

                async def create() -> None:
                    result["call"] = await client.call_tool(
                        "create_workflow", {"name": "Drained", "system_prompt": "p"}
                    )

                async with anyio.create_task_group() as calls:
                    calls.start_soon(create)
                    await wait_until(lambda: store.counts.get("workflows.create", 0) == before + 1, timeout=20)
                    process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0, log.read_text()
        finally:
            sandbox.faults.replace()
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    assert not result["call"].is_error and result["call"].structured_content["name"] == "Drained"
    assert not any(_alive(pid) for pid in pids), "a worker outlived the service"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
