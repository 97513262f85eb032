"""`serve --workers N`: stateless HTTP from N processes on one port, one /metrics for all, drained on SIGTERM."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from bimpe_mcp._metrics import _remove_stale_dirs
from bimpe_mcp.cli import _WORKER_FAILED_EARLY_S
from bimpe_mcp.sandbox import RunningSandbox
from tests.e2e.test_operations import mcp_client
from tests.harness import run_cli, server_env, start_conversation, wait_until, write_in_flight

CALL_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Connection": "close",  # a new connection per call, so the kernel picks a worker for each
    "MCP-Protocol-Version": "2025-11-25",
}
GET_AGENT_OK = ("bimpe_mcp_tool_calls_total", {"outcome": "ok", "tool": "get_agent"})
IN_FLIGHT = ("bimpe_mcp_tool_calls_in_flight", {})
OPEN_WAITS = ("bimpe_mcp_open_waits", {})


def test_workers_need_stateless_http_and_no_in_process_sandbox() -> None:
    stateful = run_cli("serve", "--transport", "http", "--workers", "2")
    stdio = run_cli("serve", "--workers", "2")
    sandboxed = run_cli("serve", "--transport", "http", "--stateless", "--workers", "2", "--sandbox")
    assert stateful.returncode == stdio.returncode == sandboxed.returncode == 2
    assert "--workers / BIMPE_WORKERS: more than one worker needs --stateless / BIMPE_STATELESS" in stateful.stderr
    assert "needs --transport http" in stdio.stderr
    assert "point BIMPE_BASE_URL at it" in sandboxed.stderr


def _wait_for_lines(log: Path, pattern: str, count: int, process: subprocess.Popen[str]) -> list[Any]:
    deadline = time.monotonic() + 30
    while len(found := re.findall(pattern, log.read_text())) < count:
        assert time.monotonic() < deadline and process.poll() is None, log.read_text()
        time.sleep(0.05)
    return found


@dataclass
class Workers:
    """A running `serve --workers 2`, and where its workers write their metrics."""

    process: subprocess.Popen[str]
    log: Path
    pids: list[int]
    started: float
    """When the supervisor had forked them (a little after, as this test saw it)."""
    metrics_dir: Path
    """The supervisor's private directory of every worker's metrics files."""

    def counted(self, metric: tuple[str, dict[str, str]], pids: Iterable[int]) -> float:
        """What the workers `pids` count of `metric` themselves, read from the files each one writes."""
        files = [str(file) for pid in pids for file in self.metrics_dir.glob(f"*_{pid}.db")]
        return _value(MultiProcessCollector.merge(files), metric)

    def pids_in_dir(self) -> set[int]:
        return {int(file.stem.rsplit("_", 1)[1]) for file in self.metrics_dir.glob("*.db")}


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _killed_supervisors_metrics(parent: Path) -> Path:
    """The metrics directory a supervisor killed with SIGKILL leaves behind, its workers gone too."""
    directory = parent / f"bimpe-mcp-metrics-{_dead_pid()}-k1ll3d"
    directory.mkdir()
    (directory / "counter_12345.db").write_bytes(b"\0" * 64)
    return directory


@contextmanager
def _serving_workers(sandbox: RunningSandbox, tmp_path: Path, *flags: str) -> Iterator[Workers]:
    """`serve --workers 2` on a free port; the temporary files it makes land in `tmp_path`, where a killed
    supervisor's metrics directory was left, which the start removes."""
    flags = ("--stateless", "--workers", "2", "--port", "0", *flags)
    command = [sys.executable, "-m", "bimpe_mcp", "serve", "--transport", "http", *flags]
    env = server_env(sandbox, TMPDIR=str(tmp_path))
    stale = _killed_supervisors_metrics(tmp_path)
    with tempfile.NamedTemporaryFile("w+", suffix=".log") as err:
        log = Path(err.name)
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err, text=True)
        try:
            pids = [int(pid) for pid in _wait_for_lines(log, r"with 2 workers \(pids (\d+), (\d+)\)", 1, process)[0]]
            started = time.monotonic()
            assert all(Path(f"/proc/{pid}").exists() for pid in pids)
            assert not stale.exists(), "a killed supervisor's metrics directory outlived the next start"
            [metrics_dir] = tmp_path.glob(f"bimpe-mcp-metrics-{process.pid}-*")
            yield Workers(process, log, pids, started, metrics_dir)
        finally:
            sandbox.faults.replace()
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def _value(families: Iterable[Metric], metric: tuple[str, dict[str, str]]) -> float:
    """The sum of the samples named `metric[0]` with exactly the labels `metric[1]` (0 when there is none)."""
    return sum(
        sample.value for family in families for sample in family.samples if (sample.name, sample.labels) == metric
    )


def _scrape(url: str) -> list[Metric]:
    answer = httpx.get(url, headers={"Connection": "close"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return list(text_string_to_metric_families(answer.text))


def _call_get_agent_until(done: Callable[[], bool], url: str, agent_id: str, sent: int) -> int:
    """Call get_agent over new connections until `done()`, within a bound; the number of calls made in all."""
    call = {
        "jsonrpc": "2.0",
        "method": "tools/call",
        "params": {"name": "get_agent", "arguments": {"agent_id": agent_id}},
    }
    with httpx.Client(headers=CALL_HEADERS, timeout=30) as http:
        for _ in range(200):
            if done():
                return sent
            answer = http.post(url, json={**call, "id": sent})
            sent += 1
            assert answer.headers["content-type"] == "application/json"
            assert answer.json()["result"]["isError"] is False
    raise AssertionError(f"not done after {sent} calls (one worker answering them all?)")


async def test_two_workers_share_the_port_and_one_metrics_port_and_drain_on_sigterm(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    agent_id = sandbox.store.demo_agent_id
    with _serving_workers(sandbox, tmp_path, "--metrics-port", "0", "--shutdown-grace", "30") as workers:
        process, log = workers.process, workers.log
        metrics = _wait_for_lines(log, r"serving metrics on (\S+)", 2, process)
        assert len(set(metrics)) == 1, "the workers serve /metrics on one port"
        mcp = _wait_for_lines(log, r"serving MCP on (\S+)", 2, process)[0]

        def both_counted() -> bool:
            return all(workers.counted(GET_AGENT_OK, [pid]) for pid in workers.pids)

        sent = _call_get_agent_until(both_counted, mcp, agent_id, 0)
        assert workers.counted(GET_AGENT_OK, workers.pids) == sent
        # Either worker may answer a scrape: each reports the calls both answered.
        assert [_value(_scrape(metrics[0]), GET_AGENT_OK) for _ in range(6)] == [sent] * 6

        async with mcp_client(mcp) as client:
            await client.list_tools()
            walk: list[Any] = []

            async def progress(done: float, total: float | None, message: str | None) -> None:
                walk.append(message)

            listed = await client.call_tool("list_workflows", {"all_pages": True}, progress_callback=progress)
            assert not listed.is_error and walk
            async with write_in_flight(client, sandbox, hold_s=1.0) as result:
                process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
    assert not result["call"].is_error and result["call"].structured_content["name"] == "Drained"
    assert not any(_alive(pid) for pid in workers.pids), "a worker outlived the service"
    assert not workers.metrics_dir.exists(), "the metrics files outlived the service"


async def test_a_replaced_worker_keeps_its_counts_in_the_sum_and_takes_its_live_gauges_away(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    agent_id = sandbox.store.demo_agent_id
    conversation = start_conversation(sandbox, "Hello", "+15550100")["conversation_id"]
    with _serving_workers(sandbox, tmp_path) as workers:
        base = _wait_for_lines(workers.log, r"serving MCP on (\S+)/mcp", 2, workers.process)[0]
        mcp, metrics = f"{base}/mcp", f"{base}/metrics"  # no --metrics-port: on the main port

        sent = _call_get_agent_until(
            lambda: all(workers.counted(GET_AGENT_OK, [pid]) for pid in workers.pids), mcp, agent_id, 0
        )
        # A worker that exits within this long of its start stops the service rather than being replaced.
        time.sleep(max(0.0, workers.started + _WORKER_FAILED_EARLY_S + 0.5 - time.monotonic()))
        waited: list[BaseException] = []

        async def wait_for_a_message() -> None:
            arguments = {"agent_id": agent_id, "conversation_id": conversation, "timeout_s": 120}
            call = {"jsonrpc": "2.0", "id": "wait", "method": "tools/call"}
            call["params"] = {"name": "wait_for_messages", "arguments": arguments}
            async with httpx.AsyncClient(headers=CALL_HEADERS, timeout=60) as http:
                try:
                    await http.post(mcp, json=call)
                except httpx.HTTPError as error:  # its worker is killed mid-call
                    waited.append(error)

        async with anyio.create_task_group() as calls:
            calls.start_soon(wait_for_a_message)
            # The worker holding the wait publishes it; a scrape of either reports it.
            await wait_until(lambda: _value(_scrape(metrics), OPEN_WAITS) == 1, timeout=20)
            assert _value(_scrape(metrics), IN_FLIGHT) == 1
            [holder] = [pid for pid in workers.pids if workers.counted(OPEN_WAITS, [pid]) == 1]
            os.kill(holder, signal.SIGKILL)
        assert waited, "the wait ended although its worker was killed"
        _wait_for_lines(workers.log, rf"\(pid {holder}\) exited with -9; starting another", 1, workers.process)

        scraped = _scrape(metrics)
        assert _value(scraped, IN_FLIGHT) == _value(scraped, OPEN_WAITS) == 0, "a dead worker's wait is still counted"
        assert _value(scraped, GET_AGENT_OK) == sent, "the killed worker's calls left the sum"

        def newcomer_counted() -> bool:
            return workers.counted(GET_AGENT_OK, workers.pids_in_dir() - set(workers.pids)) > 0

        sent = _call_get_agent_until(newcomer_counted, mcp, agent_id, sent)
        assert [_value(_scrape(metrics), GET_AGENT_OK) for _ in range(4)] == [sent] * 4
        workers.process.send_signal(signal.SIGTERM)
        assert workers.process.wait(timeout=30) == 0, workers.log.read_text()
    assert not workers.metrics_dir.exists(), "the metrics files outlived the service"


def test_a_start_removes_only_the_metrics_of_supervisors_killed_outright(tmp_path: Path) -> None:
    """SIGKILL leaves a supervisor's metrics directory behind: the next start removes it, and no other."""
    stale = _killed_supervisors_metrics(tmp_path)
    running = tmp_path / f"bimpe-mcp-metrics-{os.getpid()}-running"
    # Its supervisor killed, its workers still draining: they hold the directory's lock until they exit.
    draining = _killed_supervisors_metrics(tmp_path).rename(tmp_path / f"bimpe-mcp-metrics-{_dead_pid()}-draining")
    unrelated = tmp_path / f"other-metrics-{_dead_pid()}-x"
    for directory in (running, unrelated):
        directory.mkdir()
    held = os.open(draining, os.O_RDONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        _remove_stale_dirs(str(tmp_path))
    finally:
        os.close(held)
    assert not stale.exists()
    assert running.is_dir() and draining.is_dir() and unrelated.is_dir()
    _remove_stale_dirs(str(tmp_path))  # the workers are gone too now
    assert not draining.exists() and running.is_dir()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
