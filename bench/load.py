"""Per-call cost, throughput, waits and memory, each against the SDK's bare server in the same run.

    python bench/load.py latency     added latency over the direct ConsoleClient call, p50, HTTP and stdio,
                                     beside a no-op tool's whole call (the floor) and a minimal client's view
    python bench/load.py cpu         server CPU per call, against bench/bare_server.py doing the same request
    python bench/load.py throughput  32 clients, mixed tools: calls/s per server core, p99, errors
    python bench/load.py waits       150 open wait_for_messages: the p99 of every other call
    python bench/load.py memory      idle RSS against the bare server
    python bench/load.py all [--quick]

The sandbox runs in its own process (its demo key's rate limit lifted), and so does every server;
the load comes from this process over loopback. Runs of A and B are interleaved, so drift on the
machine hits both alike. Each command prints markdown rows: the target, the measured value and the
same-run reference. `bench/soak.py` reuses these pieces.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

HERE = Path(__file__).resolve().parent
BARE = str(HERE / "bare_server.py")
HELLO = str(HERE / "hello_server.py")
LEGACY_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}
_TICK = os.sysconf("SC_CLK_TCK")

# --- processes


@dataclass(frozen=True)
class Sandbox:
    base_url: str
    api_key: str
    agent_id: str
    pid: int
    team_keys: list[str]
    """More keys of the demo team: the sandbox streams at most 5 waits per key, as the Console does."""


def _run_sandbox(pipe: Connection, keys: int) -> None:
    from bimpe_mcp.sandbox import ALL_SCOPES, SandboxStore, start_in_thread

    store = SandboxStore()
    assert store.demo_api_key is not None
    store.keys[store.demo_api_key]["rate_limit"] = 10**9  # the load is ours to measure, not its limit
    team = store.keys[store.demo_api_key]["team_id"]
    team_keys = [store.add_key(team, ALL_SCOPES, rate_limit=10**9) for _ in range(keys)]
    with start_in_thread(store) as running:
        pipe.send((running.base_url, store.demo_api_key, store.demo_agent_id, team_keys))
        pipe.recv()


@contextmanager
def sandbox_process(keys: int = 0) -> Iterator[Sandbox]:
    """The Console stand-in in a process of its own, so its CPU is never counted as the server's."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_run_sandbox, args=(theirs, keys), daemon=True)
    process.start()
    base_url, api_key, agent_id, team_keys = ours.recv()
    assert process.pid is not None
    try:
        yield Sandbox(base_url, api_key, agent_id, process.pid, team_keys)
    finally:
        ours.send("stop")
        process.join(10)
        if process.is_alive():
            process.kill()


def server_env(sandbox: Sandbox, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIMPE_")}
    env.update(BIMPE_BASE_URL=sandbox.base_url, BIMPE_API_KEY=sandbox.api_key, **extra)
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid


def ours_command(*flags: str) -> list[str]:
    return [sys.executable, "-m", "bimpe_mcp", "serve", "--transport", "http", *flags]


def bare_command(*flags: str) -> list[str]:
    return [sys.executable, BARE, "http", *flags]


@contextmanager
def server_process(name: str, command: list[str], env: dict[str, str]) -> Iterator[Server]:
    """`command` with `--port` appended, once its port accepts connections."""
    port = free_port()
    process = subprocess.Popen(
        [*command, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{name} did not start") from None
                time.sleep(0.05)
        yield Server(name, process, f"http://127.0.0.1:{port}/mcp")
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and its live children (the workers)."""
    total = 0.0
    for each in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


# --- calls


class CallFailed(Exception):
    pass


async def rpc(
    http: httpx.AsyncClient, url: str, name: str, arguments: dict[str, Any], ident: int, api_key: str | None = None
) -> dict[str, Any]:
    """One stateless 2025-era `tools/call`, as a raw POST (with the caller's own key, if given); its result."""
    body = {"jsonrpc": "2.0", "id": ident, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    headers = LEGACY_HEADERS if api_key is None else {**LEGACY_HEADERS, "Authorization": f"Bearer {api_key}"}
    response = await http.post(url, content=json.dumps(body), headers=headers)
    if response.status_code != 200:
        raise CallFailed(f"{name}: HTTP {response.status_code}")
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        message = json.loads(next(item for item in reversed(data) if item))
    else:
        message = response.json()
    result = message.get("result")
    if not isinstance(result, dict) or result.get("isError"):
        raise CallFailed(f"{name}: {message}")
    return result


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class LoadResult:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def cores(self) -> float:
        return self.cpu / self.seconds


def mixed_tools(sandbox: Sandbox, workflow_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Reads mostly, one write in ten: what an assistant managing an agent sends."""
    agent = {"agent_id": sandbox.agent_id}
    return [
        ("get_agent", agent),
        ("list_workflows", {}),
        ("get_workflow", {"workflow_id": workflow_id}),
        ("get_agent", agent),
        ("list_conversations", agent),
        ("list_agents", {}),
        ("get_agent", agent),
        ("list_knowledge_bases", agent),
        ("get_workflow", {"workflow_id": workflow_id}),
        ("create_workflow", {"name": "Load", "system_prompt": "Answer briefly."}),
    ]


def a_workflow(sandbox: Sandbox) -> str:
    with httpx.Client(
        base_url=f"{sandbox.base_url}/api/v1/console", headers={"Authorization": f"Bearer {sandbox.api_key}"}
    ) as api:
        created = api.post("/workflows", json={"name": "Bench", "system_prompt": "Answer briefly."})
        created.raise_for_status()
        workflow_id: str = created.json()["data"]["id"]
        return workflow_id


async def load(
    url: str,
    tools: Sequence[tuple[str, dict[str, Any]]],
    *,
    clients: int,
    seconds: float,
    pid: int | None = None,
    rate: float | None = None,
) -> LoadResult:
    """`clients` concurrent callers for `seconds`, each cycling through `tools`; at most `rate` calls/s in all."""
    result = LoadResult(seconds)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(60)) as http:

        async def caller(index: int) -> None:
            sent = 0
            started = time.perf_counter()
            while (now := time.perf_counter()) < deadline:
                if rate is not None and (due := started + sent * clients / rate) > now:
                    await anyio.sleep(due - now)
                    continue
                name, arguments = tools[(index + sent) % len(tools)]
                began = time.perf_counter()
                try:
                    await rpc(http, url, name, arguments, index * 1_000_000 + sent)
                    result.latencies.append(time.perf_counter() - began)
                except (CallFailed, httpx.HTTPError) as error:
                    result.errors.append(str(error)[:200])
                sent += 1

        before = cpu_seconds(pid) if pid else 0.0
        deadline = time.perf_counter() + seconds
        async with anyio.create_task_group() as tasks:
            for index in range(clients):
                tasks.start_soon(caller, index)
        result.cpu = cpu_seconds(pid) - before if pid else 0.0
    return result


# --- (3) latency


@asynccontextmanager
async def _http_mcp(url: str, mode: str) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(timeout=httpx2.Timeout(60))
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        yield client


def _stdio_mcp(args: list[str], env: dict[str, str]) -> Client:
    params = StdioServerParameters(command=sys.executable, args=args, env=env)
    return Client(stdio_client(params, errlog=open(os.devnull, "w")))


MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "bench-wire", "version": "1"},
}
"""The envelope every 2026-07-28 request carries in its `_meta`."""

WireCall = Callable[[str, dict[str, Any]], None]


@contextmanager
def _wire_stdio(args: list[str], env: dict[str, str]) -> Iterator[WireCall]:
    """The least a stdio client can do: JSON lines on a pipe, blocking reads, no validation."""
    process = subprocess.Popen(
        [sys.executable, *args], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert process.stdin is not None and process.stdout is not None
    wire_in, wire_out, ids = process.stdin, process.stdout, iter(range(1, 1 << 62))

    def send(method: str, params: dict[str, Any], *, answered: bool = True) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        if answered:
            message["id"] = next(ids)
        wire_in.write(json.dumps(message).encode() + b"\n")
        wire_in.flush()
        reply: dict[str, Any] = json.loads(wire_out.readline()) if answered else {}
        return reply

    def call(name: str, arguments: dict[str, Any]) -> None:
        reply = send("tools/call", {"name": name, "arguments": arguments})
        assert not reply["result"].get("isError"), reply

    hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench-wire", "version": "1"}}
    send("initialize", hello)
    send("notifications/initialized", {}, answered=False)
    try:
        yield call
    finally:
        wire_in.close()
        process.wait(30)


@contextmanager
def _wire_http(url: str) -> Iterator[WireCall]:
    """The least a 2026-07-28 client can do: one keep-alive POST per call, the reply read as JSON."""
    with httpx.Client(timeout=60) as http:

        def call(name: str, arguments: dict[str, Any]) -> None:
            params = {"name": name, "arguments": arguments, "_meta": MODERN_META}
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
            headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": name}
            response = http.post(url, content=json.dumps(body), headers={**LEGACY_HEADERS, **headers})
            assert response.headers["content-type"].startswith("application/json"), response.headers
            assert not response.json()["result"].get("isError"), response.text

        yield call


async def latency(calls: int) -> list[str]:
    from bimpe_mcp.console import ConsoleClient, ConsoleTransport

    with (
        sandbox_process() as sandbox,
        server_process("bimpe-mcp", ours_command(), server_env(sandbox)) as ours,
        server_process("bare", bare_command(), server_env(sandbox)) as bare,
        server_process("hello", [sys.executable, HELLO, "http"], server_env(sandbox)) as hello,
    ):
        transport = ConsoleTransport(base_url=sandbox.base_url)
        direct = ConsoleClient(transport, sandbox.api_key)
        get_agent = ("get_agent", {"agent_id": sandbox.agent_id})
        do_nothing = ("hello", {"name": "floor"})
        async with AsyncExitStack() as stack:

            async def http(url: str, mode: str) -> Client:
                return await stack.enter_async_context(_http_mcp(url, mode))

            async def stdio(args: list[str]) -> Client:
                return await stack.enter_async_context(_stdio_mcp(args, server_env(sandbox)))

            timed: dict[str, Callable[[], Awaitable[object]]] = {"direct": lambda: direct.agents.get(sandbox.agent_id)}
            servers = (
                ("o", ours, ["-m", "bimpe_mcp"], get_agent),
                ("b", bare, [BARE, "stdio"], get_agent),
                ("h", hello, [HELLO], do_nothing),
            )
            # Path by path, so that one by one no server answers two calls in a row.
            for path, mode in (("HTTP, 2025 era", "legacy"), ("HTTP, 2026 era", "auto")):
                for who, server, _, tool in servers:
                    timed[f"{path}|{who}"] = _tool_call(await http(server.url, mode), *tool)
            for who, _, stdio_args, tool in servers:
                timed[f"stdio|{who}"] = _tool_call(await stdio(stdio_args), *tool)
            for who, server, stdio_args, tool in servers:
                stdio_wire = stack.enter_context(_wire_stdio(stdio_args, server_env(sandbox)))
                timed[f"stdio, minimal client|{who}"] = _wire_call(stdio_wire, *tool)
                timed[f"HTTP 2026, minimal client|{who}"] = _wire_call(
                    stack.enter_context(_wire_http(server.url)), *tool
                )
            for _ in range(max(10, calls // 10)):  # warm-up
                for call in timed.values():
                    await call()
            samples = {spacing: await _interleaved(timed, calls, block) for spacing, block in SPACINGS}
        await transport.aclose()
    targets = {"HTTP, 2025 era": 2.5, "HTTP, 2026 era": 2.5, "stdio": 1.5}
    targets |= {"HTTP 2026, minimal client": 2.5, "stdio, minimal client": 1.5}
    base = {spacing: statistics.median(found["direct"]) for spacing, found in samples.items()}

    def p50s(label: str, minus: dict[str, float] | None = None) -> str:
        """One p50 per spacing, less `minus` (the direct call's) if given."""
        less = minus or dict.fromkeys(base, 0.0)
        return " / ".join(f"{statistics.median(samples[spacing][label]) - less[spacing]:.2f}" for spacing in less)

    rows = [
        f"{calls} calls per path and spacing, the paths interleaved: one call of each in turn (`{SPACINGS[0][0]}`: "
        f"every process has slept since its last call), and blocks of {SPACINGS[1][1]} (`{SPACINGS[1][0]}`). Direct "
        f"`ConsoleClient.agents.get` p50: {base[SPACINGS[0][0]]:.2f} / {base[SPACINGS[1][0]]:.2f} ms. The floor is "
        "the whole round trip of a tool that does nothing (bench/hello_server.py), through the same client: a server "
        "that also makes the Console request adds at least that, unless its request is faster than the direct one. "
        "The SDK's `Client` makes the first three rows' calls; the minimal client writes JSON lines on a pipe, or one "
        "keep-alive POST, and reads the reply without validating it, which leaves the server's own share.\n",
        "| `get_agent`, added p50 over the direct call | Target | bimpe-mcp, one by one / back to back "
        "| bare `MCPServer` (same run) | floor: a no-op tool's whole call (same run) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for path, target in targets.items():
        rows.append(
            f"| {path} | ≤ {target} ms | {p50s(f'{path}|o', base)} ms | {p50s(f'{path}|b', base)} ms "
            f"| {p50s(f'{path}|h')} ms |"
        )
    return rows


def _wire_call(call: WireCall, name: str, arguments: dict[str, Any]) -> Callable[[], Awaitable[object]]:
    async def blocking() -> None:  # blocks the loop for one call: nothing else runs meanwhile
        call(name, arguments)

    return blocking


def _tool_call(client: Client, name: str, arguments: dict[str, Any]) -> Callable[[], Awaitable[object]]:
    async def call() -> object:
        outcome = await client.call_tool(name, arguments)
        assert not outcome.is_error, outcome.content
        return outcome

    return call


SPACINGS = (("one by one", 1), ("back to back", 20))
"""How many calls a path makes before the next path's turn."""


async def _interleaved(
    timed: dict[str, Callable[[], Awaitable[object]]], calls: int, block: int
) -> dict[str, list[float]]:
    """Each path's call times (ms): `calls` per path, `block` at a time, the order rotating every round."""
    order = list(timed.items())
    samples: dict[str, list[float]] = {}
    for round_ in range(max(1, calls // block)):
        shift = round_ % len(order)
        for label, call in order[shift:] + order[:shift]:
            for _ in range(block):
                began = time.perf_counter()
                await call()
                samples.setdefault(label, []).append((time.perf_counter() - began) * 1000)
    return samples


# --- (3) CPU per call


async def cpu(calls: int) -> list[str]:
    with sandbox_process() as sandbox:
        env = server_env(sandbox)
        arguments = {"agent_id": sandbox.agent_id}
        with (
            server_process("bimpe-mcp", ours_command("--stateless"), env) as ours,
            server_process("bare", bare_command("--stateless"), env) as bare,
            server_process("bare, json_response", bare_command("--stateless", "--json"), env) as bare_json,
        ):
            servers = [ours, bare, bare_json]
            spent = {server.name: 0.0 for server in servers}
            block = 50
            async with httpx.AsyncClient(timeout=httpx.Timeout(60)) as http:
                for server in servers:  # warm-up
                    for n in range(block):
                        await rpc(http, server.url, "get_agent", arguments, n)
                for round_ in range(max(1, calls // block)):
                    for server in servers[round_ % 3 :] + servers[: round_ % 3]:
                        before = cpu_seconds(server.pid)
                        for n in range(block):
                            await rpc(http, server.url, "get_agent", arguments, n)
                        spent[server.name] += cpu_seconds(server.pid) - before
    done = max(1, calls // block) * block
    per_call = {name: seconds / done * 1000 for name, seconds in spent.items()}
    return [
        f"`get_agent` over stateless streamable HTTP (2025 era), {done} calls per server, interleaved in "
        f"blocks of {block}; CPU from /proc.\n",
        "| Server CPU per call | Target | bimpe-mcp | bare `MCPServer` (same run) | ratio |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| against the bare server's default (SSE per POST) | ≤ 0.9x | {per_call['bimpe-mcp']:.2f} ms | "
        f"{per_call['bare']:.2f} ms | {per_call['bimpe-mcp'] / per_call['bare']:.2f}x |",
        f"| against the bare server with `json_response=True` | (reference) | {per_call['bimpe-mcp']:.2f} ms | "
        f"{per_call['bare, json_response']:.2f} ms | {per_call['bimpe-mcp'] / per_call['bare, json_response']:.2f}x |",
    ]


# --- (3) throughput


def _load_row(label: str, target: str, outcome: LoadResult) -> str:
    p50, p99 = (percentile(outcome.latencies, q) * 1000 for q in (0.5, 0.99))
    per_core = outcome.rate / outcome.cores if outcome.cores else 0.0
    return (
        f"| {label} | {target} | {outcome.rate:.0f} | {outcome.cores:.2f} | {per_core:.0f} | {p50:.0f} / {p99:.0f} | "
        f"{len(outcome.errors)} |"
    )


async def throughput(seconds: float, clients: int) -> list[str]:
    with sandbox_process() as sandbox:
        env = server_env(sandbox, BIMPE_LOG_LEVEL="WARNING")
        mixed = mixed_tools(sandbox, a_workflow(sandbox))
        reads = [("get_agent", {"agent_id": sandbox.agent_id})]
        rows = [
            f"{clients} clients for {seconds:g} s each, raw stateless 2025-era POSTs, sandbox in its own process.\n",
            "| Server, tools | Target | calls/s | server cores | calls/s per core | p50 / p99 ms | errors |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        runs = [
            ("bimpe-mcp, 1 worker, mixed", "≥ 300 per core, 0 errors", ours_command("--stateless"), mixed),
            ("bimpe-mcp, 1 worker, `get_agent`", "(reference)", ours_command("--stateless"), reads),
            ("bare `MCPServer`, `get_agent`", "(reference)", bare_command("--stateless"), reads),
            ("bimpe-mcp, 2 workers, mixed", "(scaling)", ours_command("--stateless", "--workers", "2"), mixed),
        ]
        for label, target, command, tools in runs:
            with server_process(label, command, env) as server:
                await load(server.url, tools, clients=clients, seconds=min(2.0, seconds), pid=server.pid)  # warm-up
                outcome = await load(server.url, tools, clients=clients, seconds=seconds, pid=server.pid)
            rows.append(_load_row(label, target, outcome))
            for error in outcome.errors[:3]:
                print(f"  error: {error}", file=sys.stderr)
    return rows


# --- (4) waits


WAITS_PER_KEY = 5
"""The sandbox streams at most 5 waits per key, as the Console does: each caller brings its own key."""


def waits_flags(count: int) -> list[str]:
    """`serve` flags for a stateless server that admits `count` open waits, five a key."""
    return ["--stateless", "--max-waits", str(count + 50), "--max-waits-per-key", str(WAITS_PER_KEY)]


def a_quiet_conversation(sandbox: Sandbox) -> str:
    """A conversation nothing writes to after this: a wait on it stays open."""
    with httpx.Client(
        base_url=f"{sandbox.base_url}/api/v1/console", headers={"Authorization": f"Bearer {sandbox.api_key}"}
    ) as api:
        started = api.post(
            f"/agents/{sandbox.agent_id}/conversations/messages",
            json={"message": "quiet", "channel_type": "webchat", "channel_user_id": "bench-waits"},
        )
        conversation: str = started.json()["data"]["conversation_id"]
        return conversation


@asynccontextmanager
async def open_waits(server: Server, sandbox: Sandbox, conversation: str, count: int) -> AsyncIterator[None]:
    """`count` `wait_for_messages` calls open on `server` (its metrics say so) until the block ends."""
    wait = {"agent_id": sandbox.agent_id, "conversation_id": conversation, "count": 1, "timeout_s": 300}
    metrics = server.url.removesuffix("/mcp") + "/metrics"
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    async with (
        httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(None)) as waiting,
        anyio.create_task_group() as tasks,
    ):
        for n in range(count):
            key = sandbox.team_keys[n // WAITS_PER_KEY]
            tasks.start_soon(rpc, waiting, server.url, "wait_for_messages", wait, n, key)
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as scrape:
            while f"bimpe_mcp_open_waits {float(count)}" not in (await scrape.get(metrics)).text:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{count} waits did not open")
                await anyio.sleep(0.1)
        yield
        tasks.cancel_scope.cancel()


async def waits(count: int, seconds: float, clients: int = 8) -> list[str]:
    with sandbox_process(keys=-(-count // WAITS_PER_KEY)) as sandbox:
        env = server_env(sandbox, BIMPE_LOG_LEVEL="WARNING")
        conversation = a_quiet_conversation(sandbox)
        reads = [("get_agent", {"agent_id": sandbox.agent_id}), ("list_workflows", {})]
        with server_process("bimpe-mcp", ours_command(*waits_flags(count)), env) as server:
            await load(server.url, reads, clients=clients, seconds=1.0)  # warm-up
            quiet = await load(server.url, reads, clients=clients, seconds=seconds)
            half = quiet.rate / 2  # a busy server that is not saturated: what the calls wait for is the waits
            quiet_half = await load(server.url, reads, clients=clients, seconds=seconds, rate=half)
            async with open_waits(server, sandbox, conversation, count):
                # The waits open together: the first young collections after scan all their new objects once.
                opening = await load(server.url, reads, clients=clients, seconds=seconds, rate=half)
                busy_half = await load(server.url, reads, clients=clients, seconds=seconds, rate=half)
                busy = await load(server.url, reads, clients=clients, seconds=seconds)

    def p99(outcome: LoadResult) -> str:
        return f"{percentile(outcome.latencies, 0.99) * 1000:.1f} ms"

    def served(outcome: LoadResult) -> str:
        return f"{outcome.rate:.0f}, {len(outcome.errors)}"

    return [
        f"{clients} clients calling `get_agent` and `list_workflows` for {seconds:g} s, with and without "
        f"{count} open `wait_for_messages` calls on the same server (stateless HTTP, 2025 era): at half the "
        f"server's measured throughput ({half:.0f} calls/s), then as fast as it answers. With the waits: the "
        f"{seconds:g} s right after they opened together, then the next {seconds:g} s.\n",
        "| Other calls | Target | with open waits | without (same run) |",
        "| --- | ---: | ---: | ---: |",
        f"| p99 with {count} open waits, at {half:.0f} calls/s | ≤ 50 ms | {p99(busy_half)} | {p99(quiet_half)} |",
        f"| calls/s, errors | 0 errors | {served(busy_half)} | {served(quiet_half)} |",
        f"| the same, the first {seconds:g} s after the waits opened | (reference) | {p99(opening)} | |",
        f"| p99 with {count} open waits, saturated | (reference) | {p99(busy)} | {p99(quiet)} |",
        f"| calls/s, errors | 0 errors | {served(busy)} | {served(quiet)} |",
    ]


# --- (5) memory


async def _settled_rss(server: Server, agent_id: str) -> float:
    async with _http_mcp(server.url, "legacy") as client:
        await client.list_tools()
        await client.call_tool("get_agent", {"agent_id": agent_id})
    await anyio.sleep(1.0)
    return rss_mb(server.pid)


async def _stdio_rss(args: list[str], env: dict[str, str], agent_id: str) -> float:
    before = set(_children(os.getpid()))
    async with _stdio_mcp(args, env) as client:
        await client.list_tools()
        await client.call_tool("get_agent", {"agent_id": agent_id})
        await anyio.sleep(1.0)
        (pid,) = set(_children(os.getpid())) - before
        return rss_mb(pid)


async def memory(runs: int) -> list[str]:
    found: dict[str, list[float]] = {}
    with sandbox_process() as sandbox:
        env = server_env(sandbox)
        for _ in range(runs):
            for label, command in (("http|o", ours_command()), ("http|b", bare_command())):
                with server_process(label, command, env) as server:
                    found.setdefault(label, []).append(await _settled_rss(server, sandbox.agent_id))
            for label, args in (("stdio|o", ["-m", "bimpe_mcp"]), ("stdio|b", [BARE, "stdio"])):
                found.setdefault(label, []).append(await _stdio_rss(args, env, sandbox.agent_id))
    median = {label: statistics.median(values) for label, values in found.items()}
    rows = [
        f"RSS after `initialize`, `tools/list` and one `get_agent`, then 1 s idle; median of {runs} "
        "interleaved runs.\n",
        "| Idle RSS | Target | bimpe-mcp | bare `MCPServer` (same run) | ratio |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for path, name in (("http", "streamable HTTP"), ("stdio", "stdio")):
        ours, bare = median[f"{path}|o"], median[f"{path}|b"]
        rows.append(f"| {name} | ≤ 1.05x | {ours:.1f} MB | {bare:.1f} MB | {ours / bare:.2f}x |")
    return rows


async def main(command: str, quick: bool) -> None:
    scale = 0.2 if quick else 1.0
    machine = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}; the machine is shared and noisy."
    print(f"Machine: {machine}\n")
    if command in ("latency", "all"):
        print("## Added latency\n\n" + "\n".join(await latency(int(300 * scale))) + "\n")
    if command in ("cpu", "all"):
        print("## Server CPU per call\n\n" + "\n".join(await cpu(int(1000 * scale))) + "\n")
    if command in ("throughput", "all"):
        print("## Throughput\n\n" + "\n".join(await throughput(10 * scale, 32)) + "\n")
    if command in ("waits", "all"):
        print("## Open waits\n\n" + "\n".join(await waits(150, 10 * scale)) + "\n")
    if command in ("memory", "all"):
        print("## Idle memory\n\n" + "\n".join(await memory(3 if not quick else 1)) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["latency", "cpu", "throughput", "waits", "memory", "all"])
    parser.add_argument("--quick", action="store_true", help="A fifth of the calls and seconds: a smoke run.")
    options = parser.parse_args()
    anyio.run(main, options.command, options.quick)
