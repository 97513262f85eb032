"""Narrowing the tools: `--tools` / `--exclude-tools` on the server, and per request over HTTP with the
`X-MCP-*` headers, which can only narrow what the server allows. Through the SDK's clients."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bimpe_mcp.sandbox import RunningSandbox
from bimpe_mcp.settings import Settings
from bimpe_mcp.tools import ALL_TOOLS, Scope
from tests.e2e.test_http_service import _client
from tests.harness import Connection, connect, http_server, run_cli

NAMES = [spec.name for spec in ALL_TOOLS]
READ_ONLY = [spec.name for spec in ALL_TOOLS if spec.read_only]
SPECS = {spec.name: spec for spec in ALL_TOOLS}
NOT_AVAILABLE = "is not available in this configuration"


def team_key(sandbox: RunningSandbox, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {sandbox.store.demo_api_key}", **headers}


async def listed(conn: Connection) -> list[str]:
    return [tool.name for tool in (await conn.client.list_tools()).tools]


@pytest.mark.parametrize("kind", ["memory", "stdio", "http"])
async def test_tools_and_exclude_tools_narrow_the_server(kind: str, sandbox: RunningSandbox) -> None:
    args = ["--tools", "get_agent,list_workflows,create_workflow", "--exclude-tools", "create_workflow"]
    async with connect(kind, sandbox, args=args, headers=team_key(sandbox)) as conn:
        names = await listed(conn)
        outside = await conn.refused("list_agents")
        excluded = await conn.refused("create_workflow", {"name": "W", "system_prompt": "p"})
        await conn.ok("list_workflows")
    assert names == ["get_agent", "list_workflows"]
    assert f"list_agents {NOT_AVAILABLE}" in outside and "--tools / BIMPE_TOOLS" in outside
    assert f"create_workflow {NOT_AVAILABLE}" in excluded and "--exclude-tools / BIMPE_EXCLUDE_TOOLS" in excluded
    assert sandbox.store.counts.get("workflows.create", 0) == 0


async def test_exclude_tools_from_the_environment(sandbox: RunningSandbox) -> None:
    async with connect("memory", sandbox, env={"BIMPE_EXCLUDE_TOOLS": "delete_agent, delete_workflow"}) as conn:
        names = await listed(conn)
    assert names == [name for name in NAMES if name not in ("delete_agent", "delete_workflow")]


def test_an_unknown_tool_name_refuses_to_start() -> None:
    for args in (["--tools", "get_agent,get_agnet"], ["--exclude-tools", "get_agnet"]):
        result = run_cli("tools", *args)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert "unknown tool 'get_agnet'" in result.stderr and args[0] in result.stderr


async def test_x_mcp_toolsets_narrows_the_request(sandbox: RunningSandbox) -> None:
    headers = team_key(sandbox, **{"X-MCP-Toolsets": "workflows, calls"})
    async with connect("http", sandbox, headers=headers) as conn:
        names = await listed(conn)
        refused = await conn.refused("list_agents")
        await conn.ok("list_workflows")
    assert names == [spec.name for spec in ALL_TOOLS if spec.toolset in ("workflows", "calls")]
    assert f"list_agents {NOT_AVAILABLE}" in refused and "X-MCP-Toolsets" in refused


async def test_x_mcp_tools_narrows_the_request(sandbox: RunningSandbox) -> None:
    headers = team_key(sandbox, **{"X-MCP-Tools": "list_workflows,get_agent"})
    async with connect("http", sandbox, headers=headers) as conn:
        names = await listed(conn)
        refused = await conn.refused("create_workflow", {"name": "W", "system_prompt": "p"})
        agent = await conn.ok("get_agent", {"agent_id": sandbox.store.demo_agent_id})
    assert names == ["get_agent", "list_workflows"]
    assert f"create_workflow {NOT_AVAILABLE}" in refused and "X-MCP-Tools" in refused
    assert agent["id"] == sandbox.store.demo_agent_id
    assert sandbox.store.counts.get("workflows.create", 0) == 0


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
async def test_x_mcp_readonly_narrows_the_request(value: str, sandbox: RunningSandbox) -> None:
    async with connect("http", sandbox, headers=team_key(sandbox, **{"X-MCP-Readonly": value})) as conn:
        tools = (await conn.client.list_tools()).tools
        refused = await conn.refused("create_workflow", {"name": "W", "system_prompt": "p"})
    assert [tool.name for tool in tools] == READ_ONLY
    assert all(tool.annotations and tool.annotations.read_only_hint for tool in tools)
    assert f"create_workflow {NOT_AVAILABLE}" in refused and "X-MCP-Readonly" in refused
    assert sandbox.store.counts.get("workflows.create", 0) == 0


async def test_x_bimpe_agent_id_scopes_the_request_to_one_agent(sandbox: RunningSandbox) -> None:
    store = sandbox.store
    agent_id = store.demo_agent_id or ""
    async with connect("memory", sandbox) as unscoped:
        workflow_id = store.agents[agent_id]["workflow_id"]
        other = (await unscoped.ok("create_agent", {"workflow_id": workflow_id, "name": "B", "description": "b"}))["id"]
        number = (await unscoped.ok("list_phone_numbers"))["items"][0]["id"]
        await unscoped.ok("update_phone_number", {"phone_number_id": number, "agent_id": other})

    async with connect("http", sandbox, headers=team_key(sandbox, **{"X-Bimpe-Agent-Id": agent_id})) as conn:
        tools = (await conn.client.list_tools()).tools
        agent = await conn.ok("get_agent")
        exchange = await conn.ok("send_test_message", {"message": "Hello"})
        passed = await conn.fails("get_agent", {"agent_id": other})
        across = await conn.refused("list_agents")
        asked = await conn.fails("delete_agent")
        take = await conn.fails("update_phone_number", {"phone_number_id": number, "agent_id": agent_id})
        mine = await conn.client.read_resource(f"bimpe://agents/{agent_id}")
        with pytest.raises(Exception, match=f"this request is scoped to agent {agent_id}"):
            await conn.client.read_resource(f"bimpe://agents/{other}")

    names = [tool.name for tool in tools]
    assert names == [name for name in NAMES if SPECS[name].scope is not Scope.ALL_AGENTS]
    confined = [tool for tool in tools if SPECS[tool.name].scope is Scope.AGENT]
    assert confined and all("agent_id" not in tool.input_schema.get("properties", {}) for tool in confined)
    assert all("agent_id" not in tool.input_schema.get("required", []) for tool in tools)
    assert agent["id"] == agent_id and exchange["reply"] is not None
    assert "agent_id: not a parameter of get_agent" in passed
    assert f"list_agents {NOT_AVAILABLE}" in across and "X-Bimpe-Agent-Id" in across
    assert f"('{agent_id}')" in asked and store.counts.get("agents.delete", 0) == 0
    assert "routed to another agent" in take
    assert agent_id in getattr(mine.contents[0], "text", "")


async def test_one_deployment_narrows_each_request_on_its_own(sandbox: RunningSandbox) -> None:
    """Two callers of one server: each sees what its own headers ask for, and the server's whole set without."""
    butterbase = sandbox.store.butterbase
    settings = (
        Settings.load({}, transport="http")
        .with_backend(base_url=sandbox.base_url, api_key=sandbox.store.demo_api_key)
        .with_butterbase(base_url=sandbox.base_url, api_key=butterbase.api_key, app_id=butterbase.app_id)
    )
    with http_server(settings) as base:
        async with (
            _client(f"{base}/mcp", headers=team_key(sandbox, **{"X-MCP-Toolsets": "testing"})) as narrow,
            _client(f"{base}/mcp", headers=team_key(sandbox)) as whole,
        ):
            narrowed = [tool.name for tool in (await narrow.list_tools()).tools]
            everything = [tool.name for tool in (await whole.list_tools()).tools]
    assert narrowed == ["get_test_code", "send_test_message", "place_test_call"]
    assert everything == NAMES


@pytest.mark.parametrize(
    ("args", "headers", "expected", "call", "named"),
    [
        (  # a header naming a toolset the server hides cannot bring it back
            ["--toolsets", "workflows"],
            {"X-MCP-Toolsets": "workflows,agents"},
            [spec.name for spec in ALL_TOOLS if spec.toolset == "workflows"],
            "list_agents",
            "--toolsets / BIMPE_TOOLSETS",
        ),
        (  # nor a tool the server leaves out
            ["--tools", "get_agent,list_workflows"],
            {"X-MCP-Tools": "get_agent,list_workflows,create_workflow"},
            ["get_agent", "list_workflows"],
            "create_workflow",
            "--tools / BIMPE_TOOLS",
        ),
        (
            ["--exclude-tools", "create_workflow"],
            {"X-MCP-Tools": "list_workflows,create_workflow"},
            ["list_workflows"],
            "create_workflow",
            "--exclude-tools / BIMPE_EXCLUDE_TOOLS",
        ),
        (  # X-MCP-Readonly: false on a read-only server changes nothing
            ["--read-only"],
            {"X-MCP-Readonly": "false"},
            READ_ONLY,
            "create_workflow",
            "--read-only / BIMPE_READ_ONLY",
        ),
        (  # and an empty toolset header is no way round the server's toolsets
            ["--toolsets", "workflows", "--read-only"],
            {"X-MCP-Toolsets": "all", "X-MCP-Readonly": "0"},
            [spec.name for spec in ALL_TOOLS if spec.toolset == "workflows" and spec.read_only],
            "create_workflow",
            "--read-only / BIMPE_READ_ONLY",
        ),
    ],
    ids=["toolsets", "tools", "exclude-tools", "read-only", "all-and-false"],
)
async def test_headers_cannot_loosen_the_server(
    args: list[str], headers: dict[str, str], expected: list[str], call: str, named: str, sandbox: RunningSandbox
) -> None:
    async with connect("http", sandbox, args=args, headers=team_key(sandbox, **headers)) as conn:
        names = await listed(conn)
        refused = await conn.refused(call, {"name": "W", "system_prompt": "p"} if call == "create_workflow" else {})
    assert names == expected
    assert f"{call} {NOT_AVAILABLE}" in refused and named in refused
    assert sandbox.store.counts.get("workflows.create", 0) == 0


async def test_a_server_scoped_to_one_agent_refuses_a_header_naming_another(sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id or ""
    async with connect(
        "http", sandbox, args=["--agent-id", agent_id], headers=team_key(sandbox, **{"X-Bimpe-Agent-Id": agent_id})
    ) as conn:
        agent = await conn.ok("get_agent")
        assert "list_agents" not in await listed(conn)
    assert agent["id"] == agent_id

    settings = Settings.load({}, transport="http", agent_id=agent_id).with_backend(
        base_url=sandbox.base_url, api_key=sandbox.store.demo_api_key
    )
    with http_server(settings) as base:
        refused = raw_list(base, team_key(sandbox, **{"X-Bimpe-Agent-Id": "agt_someone_else"}))
    assert refused.status_code == 403
    assert refused.json()["error"] == "agent_scope_conflict"
    message = refused.json()["message"]
    assert "X-Bimpe-Agent-Id" in message and agent_id in message and "--agent-id / BIMPE_AGENT_ID" in message


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"X-MCP-Toolsets": "agents,agentz"}, "X-MCP-Toolsets: unknown toolset 'agentz'"),
        ({"X-MCP-Tools": "get_agent,get_agnet"}, "X-MCP-Tools: unknown tool 'get_agnet'"),
        ({"X-MCP-Readonly": "maybe"}, "X-MCP-Readonly must be true or false"),
        ({"X-Bimpe-Agent-Id": "../agents"}, "X-Bimpe-Agent-Id: '../agents' is not an agent id"),
    ],
)
def test_a_header_the_server_cannot_honour_gets_400_naming_it(
    headers: dict[str, str], named: str, sandbox: RunningSandbox
) -> None:
    settings = Settings.load({}, transport="http").with_backend(
        base_url=sandbox.base_url, api_key=sandbox.store.demo_api_key
    )
    with http_server(settings) as base:
        refused = raw_list(base, team_key(sandbox, **headers))
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "invalid_narrowing" and named in refused.json()["message"]


def raw_list(base: str, headers: dict[str, str]) -> httpx.Response:
    wire: dict[str, Any] = {
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        **headers,
    }
    initialize = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    return httpx.post(
        f"{base}/mcp", headers=wire, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": initialize}
    )
