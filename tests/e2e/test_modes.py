"""Read-only mode, toolsets and agent scoping, through real transports."""

from __future__ import annotations

import pytest

from bimpe_mcp.sandbox import RunningSandbox
from bimpe_mcp.tools import ALL_TOOLS
from tests.harness import connect, text_of

READ_ONLY_NAMES = {spec.name for spec in ALL_TOOLS if spec.hints.read_only}


@pytest.mark.parametrize(
    ("kind", "args", "env"),
    [("stdio", ["--read-only"], {}), ("http", ["--read-only"], {}), ("stdio", [], {"BIMPE_READ_ONLY": "true"})],
)
async def test_read_only_lists_and_runs_only_read_tools(
    kind: str, args: list[str], env: dict[str, str], sandbox: RunningSandbox
) -> None:
    async with connect(kind, sandbox, args=args, env=env) as conn:
        tools = (await conn.client.list_tools()).tools
        result = await conn.call("create_workflow", {"name": "W", "system_prompt": "p"})
        listed = await conn.ok("list_workflows")
    assert {tool.name for tool in tools} == READ_ONLY_NAMES
    assert all(tool.annotations and tool.annotations.read_only_hint for tool in tools)
    assert result.is_error and "create_workflow" in text_of(result)
    assert sandbox.store.counts.get("workflows.create", 0) == 0
    assert listed["total_count"] >= 1


@pytest.mark.parametrize("kind", ["stdio", "http"])
async def test_toolsets_select_whole_toolsets(kind: str, sandbox: RunningSandbox) -> None:
    async with connect(kind, sandbox, args=["--toolsets", "workflows,calls"]) as conn:
        tools = (await conn.client.list_tools()).tools
        result = await conn.call("list_agents")
    expected = [spec.name for spec in ALL_TOOLS if spec.toolset in ("workflows", "calls")]
    assert [tool.name for tool in tools] == expected
    assert result.is_error


async def test_toolsets_from_the_environment(sandbox: RunningSandbox) -> None:
    async with connect("stdio", sandbox, env={"BIMPE_TOOLSETS": "testing"}) as conn:
        names = [tool.name for tool in (await conn.client.list_tools()).tools]
    assert names == ["get_test_code", "send_test_message", "place_test_call"]


@pytest.mark.parametrize("kind", ["stdio", "http"])
async def test_agent_scoping_removes_and_injects_agent_id(kind: str, sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id
    async with connect(kind, sandbox, args=["--agent-id", agent_id]) as conn:
        tools = (await conn.client.list_tools()).tools
        agent = await conn.ok("get_agent")
        exchange = await conn.ok("send_test_message", {"message": "Hello"})
        text = await conn.fails("get_agent", {"agent_id": "agt_other"})
        asked = await conn.fails("delete_agent")
        numbers = await conn.ok("list_phone_numbers")
        assigned = await conn.ok("update_phone_number", {"phone_number_id": numbers["items"][0]["id"]})
    names = {tool.name for tool in tools}
    assert "list_agents" not in names and "create_agent" not in names and "list_workflows" in names
    assert all("agent_id" not in tool.input_schema.get("properties", {}) for tool in tools)
    assert all("agent_id" not in tool.input_schema.get("required", []) for tool in tools)
    assert agent["id"] == agent_id and exchange["reply"] is not None
    assert "agent_id: not a parameter of get_agent" in text
    assert f"('{agent_id}')" in asked and sandbox.store.counts.get("agents.delete", 0) == 0
    assert assigned["agent_id"] == agent_id
