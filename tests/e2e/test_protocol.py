"""The protocol surface beside the tools, through the SDK's client on both protocol eras: errors the
specification assigns a code (-32602 for an unknown prompt, resource or tool), completion, logging,
cache hints and icons. The MCP conformance suite and the Inspector run these against a real
process in `.ci/conformance`."""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND, PromptReference, ResourceTemplateReference

from bimpe_mcp._toolsets import TOOLSETS
from bimpe_mcp.cli import build_parser, settings_from_args
from bimpe_mcp.sandbox import RunningSandbox, request_log
from bimpe_mcp.server import CACHE_HINTS
from bimpe_mcp.tools import ALL_TOOLS
from tests.harness import Connection, connect, http_server, server_env, wait_until

ERAS = ["legacy", "auto"]
TOOLSET_OF = {spec.name: spec.toolset for spec in ALL_TOOLS}
AGENT_TEMPLATE = "bimpe://agents/{agent_id}"
INTEGRATIONS_TEMPLATE = "bimpe://agents/{agent_id}/integrations/{family}"
WORKFLOW_TEMPLATE = "bimpe://workflows/{workflow_id}"


async def protocol_error(call: Any) -> MCPError:
    with pytest.raises(MCPError) as caught:
        await call
    return caught.value


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logged = [record for record in caplog.records if record.exc_info or record.levelno >= logging.ERROR]
    assert logged == [], [record.getMessage() for record in logged]


@pytest.mark.parametrize("mode", ERAS)
async def test_prompt_errors_are_invalid_params_and_log_no_traceback(
    mode: str, sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    agent_id = sandbox.store.demo_agent_id or ""
    async with connect("memory", sandbox, mode=mode) as conn:
        unknown = await protocol_error(conn.client.get_prompt("test_agnet", {"agent_id": agent_id}))
        missing = await protocol_error(conn.client.get_prompt("test_agent", {"scenario": "refunds"}))
        blank = await protocol_error(conn.client.get_prompt("connect_payments", {"agent_id": " "}))
        foreign = await protocol_error(conn.client.get_prompt("test_agent", {"agent_id": agent_id, "agnet": "x"}))
        rendered = await conn.client.get_prompt("test_agent", {"agent_id": agent_id})
    assert {unknown.code, missing.code, blank.code, foreign.code} == {INVALID_PARAMS}
    assert unknown.message == (
        "Unknown prompt: test_agnet. Prompts: connect_payments, wire_custom_api, connect_mcp_server, test_agent."
    )
    assert missing.message == (
        "Invalid arguments for prompt test_agent: agent_id: required. Arguments: agent_id (required), scenario."
    )
    assert "agent_id: required" in blank.message
    assert "agnet: not an argument of test_agent" in foreign.message
    assert agent_id in getattr(rendered.messages[0].content, "text", "")
    no_tracebacks(caplog)


@pytest.mark.parametrize("mode", ERAS)
async def test_a_missing_resource_is_invalid_params_and_a_failing_read_internal(
    mode: str, sandbox: RunningSandbox
) -> None:
    agent_id = sandbox.store.demo_agent_id or ""
    async with connect("memory", sandbox, mode=mode) as conn:
        agent = await protocol_error(conn.client.read_resource("bimpe://agents/agt_nobody"))
        workflow = await protocol_error(conn.client.read_resource("bimpe://workflows/wf_nothing"))
        family = await protocol_error(conn.client.read_resource(f"bimpe://agents/{agent_id}/integrations/payments"))
        malformed = await protocol_error(conn.client.read_resource("bimpe://agents/a%20b"))
        connected = await conn.client.read_resource(f"bimpe://agents/{agent_id}/integrations/bimpeai")
    async with connect("memory", sandbox, mode=mode, args=["--agent-id", agent_id]) as conn:
        outside = await protocol_error(conn.client.read_resource("bimpe://agents/agt_other"))
    async with connect("memory", sandbox, mode=mode, server_key=False) as conn:
        keyless = await protocol_error(conn.client.read_resource(f"bimpe://agents/{agent_id}"))
    assert [e.code for e in (agent, workflow, family, malformed, outside)] == [INVALID_PARAMS] * 5
    assert "404 not_found" in agent.message and "404 not_found" in workflow.message
    assert "family must be one of bimpeai, custom_api, mcp_server, pipedream" in family.message
    assert "scoped to agent" in outside.message
    assert keyless.code == INTERNAL_ERROR and "No BimpeAI API key" in keyless.message
    assert '"items"' in getattr(connected.contents[0], "text", "")


@pytest.mark.parametrize("mode", ERAS)
async def test_unknown_and_hidden_tools_are_invalid_params_with_the_reason(mode: str, sandbox: RunningSandbox) -> None:
    async with connect("memory", sandbox, mode=mode, args=["--read-only"]) as conn:
        typo = await protocol_error(conn.client.call_tool("list_agent", {}))
        nothing_like = await protocol_error(conn.client.call_tool("zzz", {}))
        hidden = await protocol_error(conn.client.call_tool("create_workflow", {"name": "W", "system_prompt": "p"}))
    assert {typo.code, nothing_like.code, hidden.code} == {INVALID_PARAMS}
    assert typo.message.startswith("Unknown tool: list_agent. Did you mean list_agents")
    assert nothing_like.message == "Unknown tool: zzz. tools/list shows the tools this server offers."
    assert hidden.message == (
        "create_workflow is not available in this configuration: "
        "the server is read-only (--read-only / BIMPE_READ_ONLY)."
    )
    assert sum(sandbox.store.counts.values()) == 0


async def complete(conn: Connection, ref: Any, name: str, value: str = "", **context: str) -> list[str]:
    result = await conn.client.complete(ref, {"name": name, "value": value}, context_arguments=context or None)
    return result.completion.values


@pytest.mark.parametrize("mode", ERAS)
async def test_completion_offers_the_callers_ids_and_the_fixed_choices(mode: str, sandbox: RunningSandbox) -> None:
    store = sandbox.store
    async with connect("memory", sandbox, mode=mode) as conn:
        assert conn.client.server_capabilities.completions is not None
        workflows = (await conn.ok("list_workflows"))["items"]
        created = await conn.ok(
            "create_agent", {"workflow_id": workflows[0]["id"], "name": "Refunds desk", "description": "Refunds"}
        )
        prompt, agent_template = PromptReference(name="test_agent"), ResourceTemplateReference(uri=AGENT_TEMPLATE)
        every_agent = await complete(conn, prompt, "agent_id")
        by_name = await complete(conn, agent_template, "agent_id", "refunds")
        by_id = await complete(conn, prompt, "agent_id", created["id"][:9])
        flows = await complete(conn, ResourceTemplateReference(uri=WORKFLOW_TEMPLATE), "workflow_id")
        family = await complete(conn, ResourceTemplateReference(uri=INTEGRATIONS_TEMPLATE), "family", "M")
        providers = await complete(conn, PromptReference(name="connect_payments"), "provider", "")
        free_text = await complete(conn, PromptReference(name="wire_custom_api"), "base_url", "https://")
        errors = [
            await protocol_error(conn.client.complete(PromptReference(name="nope"), {"name": "agent_id", "value": ""})),
            await protocol_error(
                conn.client.complete(ResourceTemplateReference(uri="bimpe://x/{y}"), {"name": "y", "value": ""})
            ),
            await protocol_error(conn.client.complete(prompt, {"name": "workflow_id", "value": ""})),
        ]
    assert sorted(every_agent) == sorted([store.demo_agent_id, created["id"]])
    assert by_name == [created["id"]] and by_id == [created["id"]]
    assert sorted(flows) == sorted(w["id"] for w in workflows)
    assert family == ["mcp_server"] and providers == ["paystack", "stripe"] and free_text == []
    assert [e.code for e in errors] == [INVALID_PARAMS] * 3
    assert errors[0].message.startswith("Unknown prompt: nope.")
    assert errors[1].message.startswith("Unknown resource template: bimpe://x/{y}.")
    assert errors[2].message == "Prompt test_agent has no argument 'workflow_id' (arguments: agent_id, scenario)."


async def test_completion_within_an_agent_scope_asks_the_console_nothing(sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id or ""
    request_log(sandbox.app).clear()
    async with connect("memory", sandbox, args=["--agent-id", agent_id]) as conn:
        scoped = await complete(conn, PromptReference(name="test_agent"), "agent_id")
        other = await complete(conn, PromptReference(name="test_agent"), "agent_id", "agt_other")
    assert scoped == [agent_id] and other == []
    assert not [r for r in request_log(sandbox.app) if r.raw_path.endswith("/agents")]


@asynccontextmanager
async def tenant(base: str, key: str) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=httpx2.Timeout(30))
    async with http, Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client:
        yield client


async def test_completion_is_cached_per_key_and_never_crosses_tenants(sandbox: RunningSandbox) -> None:
    """Two teams on one shared HTTP server: each is offered its own agents; a repeat is served from the cache."""
    store = sandbox.store
    _, other_key = store.add_team("Other team")
    env = {k: v for k, v in server_env(sandbox).items() if k != "BIMPE_API_KEY"}
    settings = settings_from_args(build_parser().parse_args(["serve", "--transport", "http"]), env)
    prompt = PromptReference(name="test_agent")
    request_log(sandbox.app).clear()
    with http_server(settings) as base:
        async with tenant(base, store.demo_api_key) as demo, tenant(base, other_key) as other:
            flow = await other.call_tool("create_workflow", {"name": "Flow", "system_prompt": "p"})
            agent = {"workflow_id": (flow.structured_content or {})["id"], "name": "Other", "description": "o"}
            other_id = ((await other.call_tool("create_agent", agent)).structured_content or {})["id"]
            for _ in range(2):
                demo_values = (await demo.complete(prompt, {"name": "agent_id", "value": ""})).completion.values
                other_values = (await other.complete(prompt, {"name": "agent_id", "value": ""})).completion.values
                assert demo_values == [store.demo_agent_id] and other_values == [other_id]
    listings = [r.api_key for r in request_log(sandbox.app) if r.raw_path.endswith("/agents") and "page=1" in r.query]
    assert sorted(listings) == sorted([store.demo_api_key, other_key]), "one listing per key, then the cache"


@pytest.mark.filterwarnings("ignore:The logging capability is deprecated")
@pytest.mark.parametrize("kind", ["memory", "http"])
async def test_set_log_level_reports_tool_calls_on_the_2025_era(kind: str, sandbox: RunningSandbox) -> None:
    received: list[tuple[str, str]] = []

    async def on_log(params: Any) -> None:
        received.append((params.level, params.data))

    async with connect(kind, sandbox, mode="legacy", logging_callback=on_log) as conn:
        assert conn.client.server_capabilities.logging is not None
        await conn.ok("list_agents")
        assert received == [], "nothing is reported before the client sets a level"
        await conn.client.set_logging_level("info")
        await conn.ok("list_agents")
        await conn.fails("get_agent", {"agent_id": "agt_nobody"})
        await protocol_error(conn.client.call_tool("no_such_tool", {}))
        await wait_until(lambda: len(received) >= 3)
        await conn.client.set_logging_level("error")
        await conn.fails("get_agent", {"agent_id": "agt_nobody"})
        await conn.ok("list_agents")
    assert [level for level, _ in received] == ["info", "warning", "warning"]
    assert received[0][1].startswith("tool list_agents ok in ")
    assert received[1][1].startswith("tool get_agent failed in ") and "404 not_found" in received[1][1]
    assert received[2][1] == (
        "tool no_such_tool refused: Unknown tool: no_such_tool. tools/list shows the tools this server offers."
    )


@pytest.mark.filterwarnings("ignore:The logging capability is deprecated")
async def test_the_2026_era_has_no_set_log_level(sandbox: RunningSandbox) -> None:
    async with connect("memory", sandbox, mode="auto") as conn:
        assert conn.client.protocol_version == "2026-07-28"
        refused = await protocol_error(conn.client.set_logging_level("info"))
    assert refused.code == METHOD_NOT_FOUND


async def test_list_results_carry_cache_hints_on_the_2026_era(sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id or ""
    async with connect("memory", sandbox, mode="auto") as conn:
        listings = [
            await conn.client.list_tools(),
            await conn.client.list_prompts(),
            await conn.client.list_resource_templates(),
            await conn.client.list_resources(),
        ]
        read = await conn.client.read_resource(f"bimpe://agents/{agent_id}")
    assert [(r.ttl_ms, r.cache_scope) for r in listings] == [(300_000, "private")] * 4
    assert (read.ttl_ms, read.cache_scope) == (0, "private")
    assert CACHE_HINTS["tools/list"].ttl_ms == 300_000


def svg_of(src: str) -> ET.Element:
    assert src.startswith("data:image/svg+xml,")
    assert re.fullmatch(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", src), "a valid URI, as format: uri asks"
    return ET.fromstring(unquote(src.removeprefix("data:image/svg+xml,")))


@pytest.mark.parametrize("mode", ERAS)
async def test_the_server_and_every_tool_show_a_shipped_icon(mode: str, sandbox: RunningSandbox) -> None:
    async with connect("memory", sandbox, mode=mode) as conn:
        tools = (await conn.client.list_tools()).tools
        server = conn.client.server_info
    assert server is not None and server.icons and len(server.icons) == 1
    assert svg_of(server.icons[0].src).tag == "{http://www.w3.org/2000/svg}svg"
    by_toolset: dict[str, set[str]] = {}
    for tool in tools:
        assert tool.icons and len(tool.icons) == 1, tool.name
        svg_of(tool.icons[0].src)
        by_toolset.setdefault(TOOLSET_OF[tool.name], set()).add(tool.icons[0].src)
    assert set(by_toolset) == {toolset.id for toolset in TOOLSETS}
    assert all(len(srcs) == 1 for srcs in by_toolset.values()), "one icon per toolset"
    assert len({next(iter(srcs)) for srcs in by_toolset.values()}) == len(TOOLSETS), "each toolset its own"
