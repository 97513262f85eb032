"""The command line as people and scripts use it: real subprocesses, real exit codes."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bimpe_mcp import __version__
from bimpe_mcp.sandbox import RunningSandbox
from bimpe_mcp.tools import ALL_TOOLS
from tests.harness import connect, server_env


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bimpe_mcp", *args],
        env=env if env is not None else server_env(None),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_without_a_key_it_exits_2_naming_the_variable() -> None:
    for args in ([], ["serve", "--transport", "stdio"], ["call", "list_agents"]):
        result = run(*args)
        assert result.returncode == 2, args
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1 and "BIMPE_API_KEY" in result.stderr


def test_version_and_bad_settings() -> None:
    assert run("--version").stdout.strip() == f"bimpe-mcp {__version__}"
    bad = run("--toolsets", "agents,nope", env=server_env(None, BIMPE_API_KEY="sk_test_x"))
    assert bad.returncode == 2 and "--toolsets / BIMPE_TOOLSETS: unknown toolset 'nope'" in bad.stderr
    bad = run("tools", env=server_env(None, BIMPE_TIMEOUT="soon"))
    assert bad.returncode == 2 and "--timeout / BIMPE_TIMEOUT must be a number" in bad.stderr
    bad = run("tools", env=server_env(None, BIMPE_STATE_KEY="short"))
    assert bad.returncode == 2 and "BIMPE_STATE_KEY must be at least 32 bytes" in bad.stderr


def test_tools_honours_the_serve_flags_and_environment() -> None:
    lines = run("tools").stdout.splitlines()
    assert [line.split()[0] for line in lines] == [spec.name for spec in ALL_TOOLS]
    assert "delete_agent                   agents         destructive" in lines[4]
    read_only = run("tools", "--read-only").stdout.splitlines()
    assert {line.split()[2] for line in read_only} == {"read-only"}
    assert len(read_only) == sum(spec.read_only for spec in ALL_TOOLS)
    calls = run("tools", env=server_env(None, BIMPE_TOOLSETS="calls")).stdout.splitlines()
    assert [line.split()[0] for line in calls] == ["list_calls", "get_call", "make_call"]
    payload = json.loads(run("tools", "--json", "--agent-id", "agt_1", "--toolsets", "agents").stdout)
    names = [tool["name"] for tool in payload["tools"]]
    assert "list_agents" not in names and "get_agent" in names
    assert all("agent_id" not in tool["inputSchema"]["properties"] for tool in payload["tools"])


def test_call_prints_structured_content_and_signals_errors(sandbox: RunningSandbox) -> None:
    env = server_env(sandbox)
    ok = run("call", "get_agent", "--args", json.dumps({"agent_id": sandbox.store.demo_agent_id}), env=env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["name"] == "Bimpe Demo Agent" and ok.stderr == ""
    missing = run("call", "get_agent", "--args", '{"agent_id": "agt_nope"}', env=env)
    assert missing.returncode == 1 and missing.stdout == ""
    assert "get_agent failed: HTTP 404 not_found" in missing.stderr
    assert run("call", "get_agent", "--args", "{nope", env=env).returncode == 2
    assert run("call", "get_agent", "--args", "[1]", env=env).returncode == 2
    unknown = run("call", "fly_to_moon", env=env)
    assert unknown.returncode == 1 and "unknown tool 'fly_to_moon'" in unknown.stderr
    sandboxed = run("call", "list_agents", "--sandbox")
    assert sandboxed.returncode == 0 and json.loads(sandboxed.stdout)["items"][0]["name"] == "Bimpe Demo Agent"


def test_demo_walks_the_integrations_scenario() -> None:
    result = run("demo", timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in (
        "Connected over streamable HTTP: 48 tools.",
        "connected: success=True, channel_id=int_",
        "onboarding_url=https://agent.bimpe.ai/agents/",
        "tool create_order",
        "created, 0 updated, 0 disabled",
        "success=True, tools_count=",
        "WhatsApp testers send 'start ",
        "agent replied: 'Hi, this is Bimpe Demo Agent.",
        "Done:",
    ):
        assert expected in out, expected
    assert "sk_test_DemoSecretKey456" not in out and "[redacted]" in out


def test_sandbox_command_serves_the_demo_agent_until_interrupted() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bimpe_mcp", "sandbox", "--port", str(port), "--api-key", "sk_test_1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server_env(None),
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"BIMPE_BASE_URL=http://127.0.0.1:{port}"
        assert process.stdout.readline().strip() == "BIMPE_API_KEY=sk_test_1"
        response = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/console/agents", headers={"Authorization": "Bearer sk_test_1"}
        )
        body = response.json()
        assert body["data"][0]["name"] == "Bimpe Demo Agent" and body["meta"]["total_count"] == 1
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def test_http_transport_from_the_command_line() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bimpe_mcp", "serve", "--transport", "http", "--port", str(port), "--sandbox"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server_env(None),
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and process.poll() is None, "the HTTP server did not start"
                time.sleep(0.1)
        assert health.json() == {"status": "ok", "version": __version__, "tools": 48}
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    assert process.stdout is not None and process.stdout.read() == ""


async def test_start_up_makes_no_network_call() -> None:
    """Initialize and list everything against a Console that records connections: none may arrive."""
    with socket.socket() as console:
        console.bind(("127.0.0.1", 0))
        console.listen()
        console.setblocking(False)
        url = f"http://127.0.0.1:{console.getsockname()[1]}"
        env = {"BIMPE_BASE_URL": url, "BIMPE_API_KEY": "sk_test_x"}
        async with connect("stdio", None, env=env) as conn:
            assert len((await conn.client.list_tools()).tools) == 48
            await conn.client.list_prompts()
            await conn.client.list_resource_templates()
            with pytest.raises(BlockingIOError):
                console.accept()


async def test_http_service_without_a_server_key_takes_each_requests_key(sandbox: RunningSandbox) -> None:
    port = free_port()
    env = server_env(None, BIMPE_BASE_URL=sandbox.base_url)
    process = subprocess.Popen(
        [sys.executable, "-m", "bimpe_mcp", "serve", "--transport", "http", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        deadline = time.monotonic() + 20
        while True:
            try:
                anonymous = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and process.poll() is None, "the HTTP server did not start"
                time.sleep(0.1)
        assert anonymous.status_code == 401
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {sandbox.store.demo_api_key}"})
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            result = await client.call_tool("list_agents", {})
        assert result.structured_content["items"][0]["name"] == "Bimpe Demo Agent"  # type: ignore[index]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


async def test_logs_go_to_stderr_as_json_lines_when_asked(sandbox: RunningSandbox) -> None:
    async with connect("stdio", sandbox, args=["--log-json"]) as conn:
        await conn.ok("list_agents")
        await conn.fails("get_agent", {"agent_id": "agt_missing"})
        log = conn.log()
    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    outcomes = [r["message"].split(" in ")[0] for r in records if r["logger"] == "bimpe_mcp.tools"]
    assert outcomes == ["tool list_agents ok", "tool get_agent error"]
    assert all({"ts", "level", "logger", "message"} <= set(record) for record in records)


async def test_stdio_sandbox_mode_needs_no_key() -> None:
    """`bimpe-mcp --sandbox` over stdio: the demo data in-process, no key, no Console."""
    async with connect("stdio", None, args=["--sandbox"]) as conn:
        agents = await conn.ok("list_agents")
        exchange = await conn.ok(
            "send_test_message", {"agent_id": agents["items"][0]["id"], "message": "Hello there", "timeout_s": 10}
        )
    assert [agent["name"] for agent in agents["items"]] == ["Bimpe Demo Agent"]
    assert exchange["reply"]["message"].endswith('You said: "Hello there"')
