"""Operating the shared HTTP service: probes, Prometheus metrics, JSON log fields and a graceful stop."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from prometheus_client.parser import text_string_to_metric_families

from bimpe_mcp.sandbox import RunningSandbox, request_log
from bimpe_mcp.settings import Settings
from tests.e2e.test_cli import free_port, one_line_failure, run
from tests.harness import connect, http_server, server_env, wait_until, write_in_flight


def samples(base: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample `/metrics` shows, by name and labels, parsed as Prometheus reads it."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def settings_for(sandbox: RunningSandbox, **values: Any) -> Settings:
    settings = Settings.load({}, transport="http", **values)
    return settings.with_backend(base_url=sandbox.base_url, api_key=sandbox.store.demo_api_key)


@asynccontextmanager
async def mcp_client(url: str, **options: Any) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(timeout=httpx2.Timeout(30))
    async with http, Client(streamable_http_client(url, http_client=http), **options) as client:
        yield client


def test_readyz_asks_the_console_once_for_several_probes(sandbox: RunningSandbox) -> None:
    with http_server(settings_for(sandbox)) as base:
        answers = [httpx.get(f"{base}/readyz", timeout=10) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert answers[0].json()["status"] == "ready"
    probes = [seen for seen in request_log(sandbox.app) if seen.raw_path == "/"]
    assert len(probes) == 1 and probes[0].api_key is None


def test_readyz_is_503_while_the_console_does_not_answer() -> None:
    settings = Settings.load({}, transport="http").with_backend(
        base_url=f"http://127.0.0.1:{free_port()}", api_key="sk_test_unused"
    )
    with http_server(settings) as base:
        health = httpx.get(f"{base}/healthz", timeout=10)
        ready = httpx.get(f"{base}/readyz", timeout=10)
    assert health.status_code == 200
    assert ready.status_code == 503 and ready.json()["status"] == "not_ready"
    assert "Could not reach the Console" in ready.json()["error"]


async def test_readyz_is_503_while_every_pooled_connection_is_busy_then_ready_again(sandbox: RunningSandbox) -> None:
    """A full Console pool is this replica's overload, not a Console outage: it says so, and is ready once a
    connection comes free (the probe's answer is kept a few seconds, so it is asked until then)."""
    sandbox.faults.replace(latency_s=5.0, only_paths="/agents$")  # longer than the probe's 2 s wait for the pool
    try:
        with http_server(settings_for(sandbox, max_connections=1)) as base:
            async with httpx.AsyncClient(base_url=base, timeout=10) as http, mcp_client(f"{base}/mcp") as client:
                async with anyio.create_task_group() as calls:
                    calls.start_soon(client.call_tool, "list_agents", {})  # holds the one pooled connection
                    await wait_until(lambda: any(r.raw_path.endswith("/agents") for r in request_log(sandbox.app)), 20)
                    busy = await http.get("/readyz")
                with anyio.fail_after(30):
                    while (ready := await http.get("/readyz")).status_code != 200:
                        await anyio.sleep(0.2)
    finally:
        sandbox.faults.replace()
    assert busy.status_code == 503
    assert busy.json() == {
        "status": "not_ready",
        "console": "unknown",
        "error": "all 1 connections to the Console are busy with other calls, and none came free within 2s",
    }
    assert ready.json()["status"] == "ready"


async def test_metrics_count_outcomes_console_answers_retries_calls_and_sessions(sandbox: RunningSandbox) -> None:
    workflow_id = sandbox.store.demo_workflow_id
    with http_server(settings_for(sandbox)) as base:
        # The 2025 handshake opens a session on a stateful server.
        async with mcp_client(f"{base}/mcp", mode="legacy") as client:
            assert sample(samples(base), "bimpe_mcp_open_sessions") == 1
            await client.call_tool("list_agents", {})
            await client.call_tool("get_agent", {"agent_id": "agt_missing"})
            await client.call_tool("get_agent", {})
            await client.call_tool("delete_workflow", {"workflow_id": workflow_id})
            sandbox.faults.replace(burst_429=1, retry_after_s=0)
            await client.call_tool("list_workflows", {})
            sandbox.faults.replace(latency_s=1.0, only_paths="/workflows$")
            async with anyio.create_task_group() as calls:
                calls.start_soon(client.call_tool, "list_workflows", {})
                await wait_until(lambda: sample(samples(base), "bimpe_mcp_tool_calls_in_flight") == 1, timeout=10)
            sandbox.faults.replace()
        await wait_until(lambda: sample(samples(base), "bimpe_mcp_open_sessions") == 0, timeout=10)
        found = samples(base)
    calls_total = "bimpe_mcp_tool_calls_total"
    assert sample(found, calls_total, tool="list_agents", outcome="ok") == 1
    assert sample(found, calls_total, tool="get_agent", outcome="error") == 1
    assert sample(found, calls_total, tool="get_agent", outcome="invalid") == 1
    assert sample(found, calls_total, tool="delete_workflow", outcome="needs_confirmation") == 1
    assert sample(found, calls_total, tool="list_workflows", outcome="ok") == 2
    assert sample(found, "bimpe_mcp_tool_call_duration_seconds_count", tool="list_workflows") == 2
    # Invalid calls never ran: only the one that did is timed.
    assert sample(found, "bimpe_mcp_tool_call_duration_seconds_count", tool="get_agent") == 1
    assert sample(found, "bimpe_mcp_tool_calls_in_flight") == 0
    assert sample(found, "bimpe_mcp_console_responses_total", status="404") == 1
    assert sample(found, "bimpe_mcp_console_responses_total", status="429") == 1
    assert sample(found, "bimpe_mcp_console_responses_total", status="200") == 3
    assert sample(found, "bimpe_mcp_console_retries_total", reason="429") == 1


async def test_json_log_lines_carry_the_mcp_request_the_tool_and_the_console_requests(
    sandbox: RunningSandbox,
) -> None:
    sandbox.faults.replace(burst_429=1, retry_after_s=0)
    # DEBUG: a call that went well is logged only at DEBUG
    async with connect("stdio", sandbox, args=["--log-json", "--log-level", "DEBUG"]) as conn:
        listed = await conn.call("list_agents")
        await conn.fails("get_agent", {"agent_id": "agt_missing"})
        log = conn.log()
    assert not listed.is_error
    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "message"} <= set(record) for record in records)
    outcomes = [r["message"].split(" in ")[0] for r in records if r["logger"] == "bimpe_mcp.tools"]
    assert outcomes == ["tool list_agents ok", "tool get_agent error"]
    call = next(record for record in records if record.get("tool") == "list_agents")
    assert call["outcome"] == "ok" and isinstance(call["duration_ms"], int)
    assert (listed.meta or {})["request_ids"] == call["console_request_ids"]
    retry = next(record for record in records if record["message"].startswith("retrying GET"))
    assert retry["mcp_request_id"] == call["mcp_request_id"] is not None
    key = sandbox.store.demo_api_key
    assert key and key not in log


@contextmanager
def serving(args: list[str], env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`bimpe-mcp serve --transport http` in a subprocess; yields it and its base URL once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "bimpe_mcp", "serve", "--transport", "http", "--port", str(port), *args]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=5)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and process.poll() is None, "the HTTP server did not start"
                time.sleep(0.1)
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def refused_after_the_signal(base: str) -> bool:
    """Once the server shows it is stopping, whether a new MCP request is refused or finds no listener."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 503:
                break
        except httpx.TransportError:
            break
        time.sleep(0.05)
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    try:
        response = httpx.post(f"{base}/mcp", json=initialize, timeout=5)
    except httpx.TransportError:
        return True
    return response.status_code == 503


@pytest.mark.parametrize(
    ("flags", "mode"),
    [(["--stateless"], "auto"), ([], "legacy")],
    ids=["stateless", "stateful-session-with-sse"],
)
async def test_sigterm_lets_the_call_in_flight_finish_then_exits_0(
    flags: list[str], mode: str, sandbox: RunningSandbox
) -> None:
    store = sandbox.store
    before = store.counts.get("workflows.create", 0)
    with serving([*flags, "--shutdown-grace", "30"], server_env(sandbox)) as (process, base):
        async with mcp_client(f"{base}/mcp", mode=mode) as client:
            # The client checks results against the listed tools: list them while the server still answers.
            await client.list_tools()
            async with write_in_flight(client, sandbox, hold_s=2.0) as result:
                process.send_signal(signal.SIGTERM)
                refused = await anyio.to_thread.run_sync(refused_after_the_signal, base)
        assert process.wait(timeout=30) == 0, process.stderr.read() if process.stderr else ""
    call = result["call"]
    assert not call.is_error and call.structured_content["name"] == "Drained"
    assert store.counts["workflows.create"] == before + 1
    assert [w["name"] for w in store.workflows.values()].count("Drained") == 1
    assert refused, "a request sent after SIGTERM was served"


def test_metrics_port_serves_the_metrics_alone_and_readyz_checks_the_sandbox() -> None:
    metrics_port = free_port()
    with serving(["--sandbox", "--metrics-port", str(metrics_port)], server_env(None)) as (process, base):
        assert httpx.get(f"{base}/metrics", timeout=10).status_code == 404
        scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        rebound = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", headers={"Host": "evil.example"}, timeout=10)
        ready = httpx.get(f"{base}/readyz", timeout=10)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert scrape.status_code == 200 and "# TYPE bimpe_mcp_tool_calls_total counter" in scrape.text
    assert rebound.status_code == 421, "the metrics port must check the Host like the main one"
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_a_busy_metrics_port_is_a_usage_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("serve", "--transport", "http", "--port", "0", "--metrics-port", str(port))
    one_line_failure(result)
    assert "--metrics-port" in result.stderr
