"""The command line as people and scripts use it: real exit codes and streams.

Most cases run `cli.main` in-process (`run`); a real subprocess (`spawn_cli`) where only a process
shows the behaviour: a terminal, a closed pipe, a server's lifetime, two processes' seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
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
from bimpe_mcp.cli import build_parser, settings_from_args
from bimpe_mcp.sandbox import RunningSandbox
from bimpe_mcp.tools import ALL_TOOLS, unfence
from tests.harness import connect, run_cli, server_env, spawn_cli

run = run_cli


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_without_a_key_it_exits_2_naming_the_variable() -> None:
    for args in ([], ["serve", "--transport", "stdio"], ["call", "list_agents"]):
        result = (spawn_cli if not args else run)(*args)
        assert result.returncode == 2, args
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1 and "BIMPE_API_KEY" in result.stderr


def test_version_and_bad_settings() -> None:
    assert spawn_cli("--version").stdout.strip() == f"bimpe-mcp {__version__}"
    assert run("-V").stdout.strip() == f"bimpe-mcp {__version__}"
    bad = run("--toolsets", "agents,nope", env=server_env(None, BIMPE_API_KEY="sk_test_x"))
    assert bad.returncode == 2 and "--toolsets / BIMPE_TOOLSETS: unknown toolset 'nope'" in bad.stderr
    bad = run("tools", env=server_env(None, BIMPE_TIMEOUT="soon"))
    assert bad.returncode == 2 and "--timeout / BIMPE_TIMEOUT must be a number" in bad.stderr
    bad = run("tools", env=server_env(None, BIMPE_STATE_KEY="short"))
    assert bad.returncode == 2 and "BIMPE_STATE_KEY must be at least 32 bytes" in bad.stderr


def test_tools_honours_the_serve_flags_and_environment() -> None:
    console = [spec for spec in ALL_TOOLS if spec.toolset != "butterbase"]  # listed only when configured
    lines = run("tools").stdout.splitlines()
    assert [line.split()[0] for line in lines] == [spec.name for spec in console]
    assert "delete_agent                   agents         destructive" in lines[4]
    read_only = run("tools", "--read-only").stdout.splitlines()
    assert {line.split()[2] for line in read_only} == {"read-only"}
    assert len(read_only) == sum(spec.read_only for spec in console)
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
    result = run("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in (
        f"Connected over streamable HTTP: {len(ALL_TOOLS)} tools.",
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
        env=server_env(None, BIMPE_SANDBOX_ADMIN_KEY="admin-from-env"),
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"BIMPE_BASE_URL=http://127.0.0.1:{port}"
        assert process.stdout.readline().strip() == "BIMPE_API_KEY=sk_test_1"
        assert process.stdout.readline().strip() == "BIMPE_SANDBOX_ADMIN_KEY=admin-from-env"
        base = f"http://127.0.0.1:{port}"
        assert process.stdout.readline().strip() == f"BUTTERBASE_BASE_URL={base}"
        butterbase_key = process.stdout.readline().strip().removeprefix("BUTTERBASE_API_KEY=")
        app_id = process.stdout.readline().strip().removeprefix("BUTTERBASE_APP_ID=")
        assert butterbase_key.startswith("bb_sk_test_") and app_id.startswith("app_")
        curated = httpx.get(
            f"{base}/v1/{app_id}/integrations/available", headers={"Authorization": f"Bearer {butterbase_key}"}
        )
        assert len(curated.json()["integrations"]) == 10
        response = httpx.get(f"{base}/api/v1/console/agents", headers={"Authorization": "Bearer sk_test_1"})
        body = response.json()
        assert body["data"][0]["name"] == "Bimpe Demo Agent" and body["meta"]["total_count"] == 1
        refused = httpx.get(f"{base}/_sandbox/state", headers={"Authorization": "Bearer sk_test_1"})
        assert refused.status_code == 401 and "X-Sandbox-Admin-Key" in refused.json()["message"]
        minted = httpx.post(f"{base}/_sandbox/teams", json={"name": "Intruder"})
        assert minted.status_code == 401
        state = httpx.get(f"{base}/_sandbox/state", headers={"X-Sandbox-Admin-Key": "admin-from-env"})
        assert state.status_code == 200 and "counts" in state.json()
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
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
        assert health.json() == {"status": "ok", "version": __version__, "tools": len(ALL_TOOLS)}
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    assert process.stdout is not None and process.stdout.read() == ""


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
        assert anonymous.status_code == 403
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {sandbox.store.demo_api_key}"})
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            result = await client.call_tool("list_agents", {})
        assert result.structured_content["items"][0]["name"] == "Bimpe Demo Agent"  # type: ignore[index]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


async def test_stdio_sandbox_mode_needs_no_key() -> None:
    """`bimpe-mcp --sandbox` over stdio: the demo data in-process, no key, no Console."""
    async with connect("stdio", None, args=["--sandbox"]) as conn:
        agents = await conn.ok("list_agents")
        exchange = await conn.ok(
            "send_test_message", {"agent_id": agents["items"][0]["id"], "message": "Hello there", "timeout_s": 10}
        )
    assert [agent["name"] for agent in agents["items"]] == ["Bimpe Demo Agent"]
    assert unfence(exchange)["reply"]["message"].endswith('You said: "Hello there"')


def one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a command that failed as a usage error, with nothing on stdout."""
    assert result.returncode == 2, result.stderr
    assert result.stdout == "" and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("bimpe-mcp: ")
    return result.stderr


def test_sandbox_bind_failures_are_one_line_and_exit_2() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        in_use = one_line_failure(run("sandbox", "--port", str(port)))
    assert f"cannot listen on 127.0.0.1:{port}: the port is in use" in in_use and "--port" in in_use
    out_of_range = one_line_failure(run("sandbox", "--port", "99999"))
    assert "127.0.0.1:99999" in out_of_range and "between 0 and 65535" in out_of_range
    unknown_host = one_line_failure(run("sandbox", "--host", "no-such-host.invalid"))
    assert "no-such-host.invalid:8765: unknown host" in unknown_host and "--host" in unknown_host


def test_http_serve_on_a_busy_port_never_claims_to_serve() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        failed = one_line_failure(run("serve", "--transport", "http", "--port", str(port)))
    assert f"127.0.0.1:{port}: the port is in use" in failed and "--port / BIMPE_PORT" in failed
    assert "serving MCP" not in failed


def run_for_a_reader_that_leaves(*args: str, lines: int) -> tuple[int, str]:
    """Run bimpe-mcp with stdout into a pipe whose reader takes `lines` lines and closes it (`| head`)."""
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "bimpe_mcp", *args],
        stdin=subprocess.DEVNULL,
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        env=server_env(None),
    )
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        for _ in range(lines):
            reader.readline()
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr


@pytest.mark.parametrize(
    ("args", "lines"),
    [(("call", "list_agents", "--sandbox"), 0), (("demo",), 1)],
    ids=["call", "demo"],
)
def test_a_reader_that_leaves_early_ends_the_command_quietly(args: tuple[str, ...], lines: int) -> None:
    code, stderr = run_for_a_reader_that_leaves(*args, lines=lines)
    assert code == 0 and "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_stdio_in_a_terminal_says_what_it_is_then_serves() -> None:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "bimpe_mcp", "--sandbox"],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server_env(None),
    )
    os.close(terminal)
    try:
        assert process.stderr is not None
        assert select.select([process.stderr], [], [], 30)[0], "no hint on stderr"
        hint = process.stderr.readline()
        assert hint.startswith("bimpe-mcp: ") and "MCP over stdio" in hint and "MCP client" in hint
        assert "bimpe-mcp demo" in hint and "--help" in hint
        assert process.poll() is None, "it serves after the hint"
    finally:
        os.close(controller)  # the terminal hangs up: end of input
        assert process.wait(timeout=20) == 0
    assert process.stdout is not None and process.stdout.read() == ""
    piped = spawn_cli("--sandbox")
    assert piped.returncode == 0 and "MCP client" not in piped.stderr


def test_every_command_says_what_it_does_and_shows_defaults() -> None:
    for command in ("serve", "sandbox", "call", "tools", "demo"):
        shown = run(command, "--help")
        assert shown.returncode == 0 and shown.stdout.startswith(f"usage: bimpe-mcp {command}"), command
        description = shown.stdout.split("\n\n")[1]
        assert len(description.split()) > 5, command
        assert command == "demo" or "default: " in shown.stdout, command
    assert "Env BIMPE_READ_ONLY; default: false." in " ".join(run("call", "--help").stdout.split())


def test_no_arguments_mean_what_an_empty_command_line_means() -> None:
    """`main` builds no parser for a launch without arguments (an assistant's): an empty command line
    must set nothing over the environment."""
    parsed = build_parser().parse_args([])
    assert {name: value for name, value in vars(parsed).items() if value is not None} == {}
    env = {"BIMPE_API_KEY": "sk_test_x", "BIMPE_READ_ONLY": "true", "BIMPE_TOOLSETS": "agents"}
    assert settings_from_args(argparse.Namespace(command=None), env) == settings_from_args(parsed, env)


def test_a_no_flag_switches_off_what_the_environment_switched_on() -> None:
    env = server_env(None, BIMPE_READ_ONLY="true")
    assert {line.split()[2] for line in run("tools", env=env).stdout.splitlines()} == {"read-only"}
    kinds = {line.split()[2] for line in run("tools", "--no-read-only", "--sandbox", env=env).stdout.splitlines()}
    assert kinds == {"read-only", "write", "destructive"}
    no_sandbox = run("call", "list_agents", "--no-sandbox", env=server_env(None, BIMPE_SANDBOX="true"))
    assert no_sandbox.returncode == 2 and "BIMPE_API_KEY is not set" in no_sandbox.stderr


def test_an_empty_toolsets_flag_is_an_error_but_an_empty_variable_means_all() -> None:
    for empty in ("", " , "):
        failed = one_line_failure(run("tools", "--toolsets", empty))
        assert "--toolsets is empty" in failed and "agents, knowledge" in failed and "phone_numbers" in failed
    butterbase = {"BUTTERBASE_API_KEY": "bb_sk_test_x", "BUTTERBASE_APP_ID": "app_x"}
    listed = run("tools", env=server_env(None, BIMPE_TOOLSETS="", **butterbase)).stdout.splitlines()
    assert len(listed) == len(ALL_TOOLS)


def test_a_seeded_sandbox_makes_the_same_ids_in_every_process() -> None:
    env = server_env(None, BIMPE_SANDBOX_SEED="1")
    command = [sys.executable, "-m", "bimpe_mcp", "call", "list_agents", "--sandbox"]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    listings = [json.loads(process.communicate(timeout=60)[0]) for process in runs]
    first, second = ([(a["id"], a["workflow_id"], a["created_at"]) for a in x["items"]] for x in listings)
    assert first == second
    agent_id = first[0][0]
    fetched = run("call", "get_agent", "--args", json.dumps({"agent_id": agent_id}), "--sandbox", "--sandbox-seed", "1")
    assert fetched.returncode == 0, fetched.stderr
    assert json.loads(fetched.stdout)["id"] == agent_id
