"""No id can change the route: a server scoped to agent A never reaches agent B, whatever id it is handed.

Every id parameter is taken from the tools' published inputSchema (properties ending in `_id`), so a
new tool is covered without touching this file. Each gets path-traversal, encoding, control-character,
look-alike and oversized payloads; the call must fail naming the field, and the sandbox's request log
(what actually arrived on the wire) must show no request that leaves agent A.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import anyio
import pytest
from mcp import Client, MCPError
from mcp_types import Tool

from bimpe_mcp.sandbox import RecordedRequest, RunningSandbox, request_log
from bimpe_mcp.server import build_server
from bimpe_mcp.settings import Settings
from bimpe_mcp.tools import ALL_TOOLS
from bimpe_mcp.tools._runtime import Limits
from bimpe_mcp.tools._spec import Scope
from tests.harness import connect, populate_agent, text_of

PREFIX = "/api/v1/console"
SPECS = {spec.name: spec for spec in ALL_TOOLS}
TEAM_LEVEL = {Scope.TEAM, Scope.ROUTED}
"""Scopes whose tools may use team routes (`/workflows`, `/phone-numbers`); every other tool stays under A."""

NOT_CONSOLE_IDS = {"channel_user_id"}
"""`*_id` properties that are a person's address on a channel (a phone number or handle), sent in the body:
they must not change the route either, but they are free text, so an odd value need not be refused."""

CALL_TIMEOUT_S = 20


@dataclass
class World:
    """Agent A (the scope) and agent B (the target), each with a knowledge base, an integration, a tool,
    a conversation and a call."""

    a: str
    b: str
    workflow_id: str
    phone_number_id: str
    mine: dict[str, str] = field(default_factory=dict)
    """A's own ids, by parameter name: the valid values other parameters get."""
    theirs: dict[str, str] = field(default_factory=dict)
    """B's ids: none of them may appear in any request the scoped server sends."""


async def build_world(sandbox: RunningSandbox) -> World:
    """Create agent B next to the demo agent A, and give both the same kinds of data, through unscoped tools."""
    store = sandbox.store
    a, workflow_id = store.demo_agent_id or "", store.demo_workflow_id or ""
    async with connect("memory", sandbox) as conn:
        created = await conn.ok("create_agent", {"workflow_id": workflow_id, "name": "B", "description": "b"})
        b = str(created["id"])
        mine = await populate_agent(conn, a)
        theirs = await populate_agent(conn, b)
    world = World(a, b, workflow_id, store.demo_phone_number_id or "", mine, theirs)
    world.mine.update(
        workflow_id=workflow_id,
        source_workflow_id=workflow_id,
        phone_number_id=world.phone_number_id,
        submitted_by_agent_id=a,
    )
    return world


def _to_cyrillic(value: str) -> str:
    """The same id with its Latin a/e/o/c/p swapped for Cyrillic look-alikes."""
    return value.translate(str.maketrans("aeocp", "\u0430\u0435\u043e\u0441\u0440"))


def payloads(world: World) -> dict[str, str]:
    """Ids that try to leave their path segment, by a short label used in failure reports."""
    b, conversation = world.b, world.theirs["conversation_id"]
    return {
        "dotdot": "../",
        "dotdot-to-B": f"../../{b}",
        "dotdot-deep": f"../../{b}/conversations/{conversation}",
        "encoded-slash": f"..%2f{b}",
        "encoded-dots": f"%2e%2e/{b}",
        "double-encoded": f"%252e%252e%252f{b}",
        "bare-dot": ".",
        "bare-dotdot": "..",
        "slash": "/",
        "backslash": "\\",
        "backslash-to-B": f"..\\..\\{b}",
        "query": "?x=",
        "query-after-id": f"x?agent={b}",
        "fragment": "#frag",
        "nul": "abc\x00def",
        "crlf": "abc\r\nX-Injected: 1",
        "trailing-newline": "abc\n",
        "leading-space": " abc",
        "trailing-space": "abc ",
        "tab": "abc\tdef",
        "empty": "",
        "fullwidth-solidus": f"..\uff0f{b}",
        "one-dot-leaders": f"\u2024\u2024/{b}",
        "cyrillic": _to_cyrillic(world.a),
        "huge": "a" * 100_000,
    }


def id_params(tool: Tool) -> list[str]:
    return [name for name in tool.input_schema.get("properties", {}) if name.endswith("_id")]


_STRING_SAMPLES = ("sample", "+2348012345678", "https://example.com", "NGN", "sample_1")


def sample_value(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A valid value for `schema`: the first enum value, or a simple value meeting its constraints."""
    if "$ref" in schema:
        return sample_value(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "string":
        for candidate in _STRING_SAMPLES:
            pattern = schema.get("pattern")
            if (pattern is None or re.search(pattern, candidate)) and len(candidate) <= schema.get("maxLength", 1e9):
                return candidate
        raise AssertionError(f"test bug: no sample string fits {schema}")
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "array":
        return [sample_value(schema.get("items", {"type": "string"}), defs)] * schema.get("minItems", 0)
    if kind == "object":
        props = schema.get("properties", {})
        return {name: sample_value(props[name], defs) for name in schema.get("required", [])}
    raise AssertionError(f"test bug: no sample for {schema}")


def arguments_for(tool: Tool, param: str, payload: str, world: World) -> dict[str, Any]:
    """Valid values for every required parameter, `payload` in `param`, and the confirmation a destructive
    tool needs (so a payload that slipped through would really be sent)."""
    schema = tool.input_schema
    props, defs = schema.get("properties", {}), schema.get("$defs", {})
    arguments: dict[str, Any] = {}
    for name in schema.get("required", []):
        arguments[name] = world.mine.get(name) or sample_value(props[name], defs)
    if "timeout_s" in props:
        arguments["timeout_s"] = 1
    arguments[param] = payload
    if "confirm" in props:
        target = SPECS[tool.name].confirm or param
        arguments["confirm"] = arguments.get(target, world.mine.get(target, payload))
    return arguments


def route_violations(tool_name: str, requests: list[RecordedRequest], world: World) -> list[str]:
    """What is wrong with the requests one call sent: B's ids, dot or encoded-separator segments, or a
    path outside /agents/<A> (team routes only for team-level tools)."""
    problems = []
    secrets = {world.b, *world.theirs.values()}
    team_level = SPECS[tool_name].scope in TEAM_LEVEL
    for request in requests:
        raw = request.raw_path
        seen = f"{request.method} {raw}" + (f"?{request.query}" if request.query else "")
        decoded = unquote(unquote(raw + "?" + request.query))
        if any(secret in raw or secret in decoded for secret in secrets):
            problems.append(f"B's id on the wire: {seen}")
        lowered = raw.lower()
        if any(seg in (".", "..") for seg in raw.split("/")) or any(
            bad in lowered for bad in ("%2e", "%2f", "%5c", "\\")
        ):
            problems.append(f"dot or encoded separator in path: {seen}")
        path = raw.removeprefix(PREFIX)
        if path.startswith("/agents"):
            if not (path == f"/agents/{world.a}" or path.startswith(f"/agents/{world.a}/")):
                problems.append(f"outside /agents/{world.a}: {seen}")
        elif not team_level:
            problems.append(f"agent tool reached a team route: {seen}")
    return problems


@dataclass
class Failure:
    tool: str
    param: str
    payload: str
    why: str


async def probe(
    client: Client, tools: list[Tool], world: World, sandbox: RunningSandbox, labels: dict[str, str]
) -> list[Failure]:
    """Call every tool with every payload in every id parameter; return each broken expectation."""
    log = request_log(sandbox.app)
    failures: list[Failure] = []
    for tool in tools:
        for param in id_params(tool):
            for label, payload in labels.items():
                before = len(log)
                try:
                    with anyio.fail_after(CALL_TIMEOUT_S):
                        result = await client.call_tool(tool.name, arguments_for(tool, param, payload, world))
                except Exception as error:
                    failures.append(Failure(tool.name, param, label, f"{type(error).__name__}: {error}"[:200]))
                    continue
                sent = list(log)[before:]
                failures.extend(
                    Failure(tool.name, param, label, problem) for problem in route_violations(tool.name, sent, world)
                )
                if param in NOT_CONSOLE_IDS:
                    continue
                text = text_of(result)
                if not result.is_error:
                    failures.append(Failure(tool.name, param, label, f"accepted ({len(sent)} requests sent)"))
                elif param not in text:
                    failures.append(Failure(tool.name, param, label, f"error does not name {param}: {text[:160]!r}"))
    return failures


def report(failures: list[Failure]) -> str:
    """One line per tool and parameter: which payloads broke it, and the first reason."""
    grouped: dict[tuple[str, str], list[Failure]] = {}
    for failure in failures:
        grouped.setdefault((failure.tool, failure.param), []).append(failure)
    lines = [f"{len(failures)} broken expectations:"]
    for (tool, param), items in grouped.items():
        labels = sorted({item.payload for item in items})
        lines.append(f"- {tool}.{param} [{', '.join(labels)}]: {items[0].why}")
    return "\n".join(lines)


@asynccontextmanager
async def scoped_client(sandbox: RunningSandbox, agent_id: str) -> AsyncIterator[Client]:
    """An in-memory client of a server scoped to `agent_id`, with every wait capped short."""
    settings = Settings.load({}, agent_id=agent_id).with_backend(
        base_url=sandbox.base_url, api_key=sandbox.store.demo_api_key
    )
    server = build_server(settings)
    server.backend.limits = Limits(max_wait_s=0.3)
    try:
        async with Client(server.mcp, read_timeout_seconds=60) as client:
            yield client
    finally:
        await server.aclose()


async def test_no_id_leaves_the_scoped_agent(sandbox: RunningSandbox) -> None:
    """Every id parameter of every tool, every payload: refused naming the field, nothing sent past A."""
    world = await build_world(sandbox)
    request_log(sandbox.app).clear()
    async with scoped_client(sandbox, world.a) as client:
        tools = (await client.list_tools()).tools
        failures = await probe(client, tools, world, sandbox, payloads(world))
    probed = [tool.name for tool in tools if id_params(tool)]
    assert len(probed) >= 15, f"too few tools with id parameters: {probed}"
    assert not failures, report(failures)


def _one_tool_per_toolset(tools: list[Tool]) -> list[Tool]:
    """The first tool of each toolset that has an id parameter: a small, representative subset."""
    chosen: dict[str, Tool] = {}
    for tool in tools:
        toolset = SPECS[tool.name].toolset
        if id_params(tool) and toolset not in chosen:
            chosen[toolset] = tool
    return list(chosen.values())


async def test_no_id_leaves_the_scoped_agent_over_stdio(sandbox: RunningSandbox) -> None:
    """The same over a real stdio subprocess (`--agent-id A`), for one tool per toolset and the sharpest payloads."""
    world = await build_world(sandbox)
    sharpest = {
        label: payload
        for label, payload in payloads(world).items()
        if label in ("dotdot-to-B", "encoded-slash", "backslash-to-B", "query-after-id", "crlf", "fullwidth-solidus")
    }
    request_log(sandbox.app).clear()
    async with connect("stdio", sandbox, args=["--agent-id", world.a]) as conn:
        tools = _one_tool_per_toolset((await conn.client.list_tools()).tools)
        failures = await probe(conn.client, tools, world, sandbox, sharpest)
    assert len(tools) >= 5, [tool.name for tool in tools]
    assert not failures, report(failures)


@pytest.mark.parametrize(
    "uri",
    [
        "bimpe://agents/{b}",
        "bimpe://agents/..%2f{b}",
        "bimpe://agents/{a}%2f..%2f{b}",
        "bimpe://agents/{a}%3F{b}",
        "bimpe://agents/{cyrillic_a}",
    ],
)
async def test_scoped_agent_resource_refuses_other_agents(uri: str, sandbox: RunningSandbox) -> None:
    """The agent resource of a scoped server reads A and only A: B, or anything dressed up as A, is refused
    and nothing about B is requested."""
    world = await build_world(sandbox)
    target = uri.format(a=world.a, b=world.b, cyrillic_a=_to_cyrillic(world.a))
    log = request_log(sandbox.app)
    log.clear()
    async with scoped_client(sandbox, world.a) as client:
        mine = await client.read_resource(f"bimpe://agents/{world.a}")
        with pytest.raises(MCPError):
            await client.read_resource(target)
    assert world.a in getattr(mine.contents[0], "text", "")
    sent = list(log)
    assert [request.raw_path for request in sent] == [f"{PREFIX}/agents/{world.a}"]
    assert not route_violations("get_agent", sent, world)
