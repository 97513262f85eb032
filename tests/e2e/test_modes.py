"""Read-only mode, toolsets and agent scoping, through real transports."""

from __future__ import annotations

import pytest

from bimpe_mcp.sandbox import RunningSandbox, SandboxStore
from bimpe_mcp.tools import ALL_TOOLS, Scope
from tests.harness import Connection, connect

READ_ONLY_NAMES = {spec.name for spec in ALL_TOOLS if spec.hints.read_only}
SCOPES = {spec.name: spec.scope for spec in ALL_TOOLS}


@pytest.mark.parametrize(
    ("kind", "args", "env"),
    [("stdio", ["--read-only"], {}), ("http", ["--read-only"], {}), ("memory", [], {"BIMPE_READ_ONLY": "true"})],
)
async def test_read_only_lists_and_runs_only_read_tools(
    kind: str, args: list[str], env: dict[str, str], sandbox: RunningSandbox
) -> None:
    async with connect(kind, sandbox, args=args, env=env) as conn:
        tools = (await conn.client.list_tools()).tools
        refused = await conn.refused("create_workflow", {"name": "W", "system_prompt": "p"})
        listed = await conn.ok("list_workflows")
    assert {tool.name for tool in tools} == READ_ONLY_NAMES
    assert all(tool.annotations and tool.annotations.read_only_hint for tool in tools)
    assert "create_workflow is not available in this configuration" in refused
    assert sandbox.store.counts.get("workflows.create", 0) == 0
    assert listed["total_count"] >= 1


@pytest.mark.parametrize("kind", ["stdio", "http"])
async def test_toolsets_select_whole_toolsets(kind: str, sandbox: RunningSandbox) -> None:
    async with connect(kind, sandbox, args=["--toolsets", "workflows,calls"]) as conn:
        tools = (await conn.client.list_tools()).tools
        refused = await conn.refused("list_agents")
    expected = [spec.name for spec in ALL_TOOLS if spec.toolset in ("workflows", "calls")]
    assert [tool.name for tool in tools] == expected
    assert "--toolsets" in refused


async def test_toolsets_from_the_environment(sandbox: RunningSandbox) -> None:
    async with connect("memory", sandbox, env={"BIMPE_TOOLSETS": "testing"}) as conn:
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
        number = numbers["items"][0]["id"]
        assigned = await conn.ok("update_phone_number", {"phone_number_id": number, "agent_id": agent_id})
    names = {tool.name for tool in tools}
    assert "list_agents" not in names and "create_agent" not in names and "list_workflows" in names
    confined = [tool for tool in tools if SCOPES[tool.name] is Scope.AGENT]
    assert confined and all("agent_id" not in tool.input_schema.get("properties", {}) for tool in confined)
    assert all("agent_id" not in tool.input_schema.get("required", []) for tool in tools)
    assert agent["id"] == agent_id and exchange["reply"] is not None
    assert "agent_id: not a parameter of get_agent" in text
    assert f"('{agent_id}')" in asked and sandbox.store.counts.get("agents.delete", 0) == 0
    assert assigned["agent_id"] == agent_id


@pytest.mark.parametrize(
    ("args", "tool", "setting"),
    [
        (["--read-only"], "create_workflow", "--read-only"),
        (["--toolsets", "calls"], "list_workflows", "--toolsets"),
        (["--agent-id", "AGENT"], "list_agents", "--agent-id"),
    ],
)
async def test_hidden_tools_say_which_setting_hides_them(
    args: list[str], tool: str, setting: str, sandbox: RunningSandbox
) -> None:
    args = [sandbox.store.demo_agent_id or "" if arg == "AGENT" else arg for arg in args]
    async with connect("memory", sandbox, args=args) as conn:
        text = await conn.refused(tool)
        unknown = await conn.refused("no_such_tool")
    assert f"{tool} is not available in this configuration" in text and setting in text
    assert unknown.startswith("Unknown tool: no_such_tool.")


async def test_scoped_hints_name_no_hidden_tool(sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id or ""
    async with connect("memory", sandbox, args=["--agent-id", agent_id]) as conn:
        missing_kb = await conn.fails("update_knowledge_base", {"kb_id": "kb_missing", "name": "x"})
        instructions = conn.client.instructions or ""
    assert "list_knowledge_bases" in missing_kb
    assert "list_agents" not in missing_kb and "create_agent" not in missing_kb
    assert instructions and "list_agents" not in instructions and "create_agent" not in instructions


async def test_scoped_phone_numbers_cannot_take_or_release_another_agents_number(sandbox: RunningSandbox) -> None:
    store = sandbox.store
    agent_id = store.demo_agent_id or ""
    async with connect("memory", sandbox) as conn:
        other = await _other_agent(conn, store)
        number = (await conn.ok("list_phone_numbers"))["items"][0]["id"]
        await conn.ok("update_phone_number", {"phone_number_id": number, "agent_id": other})
    async with connect("memory", sandbox, args=["--agent-id", agent_id]) as scoped:
        take = await scoped.fails("update_phone_number", {"phone_number_id": number, "agent_id": agent_id})
        release = await scoped.fails("update_phone_number", {"phone_number_id": number, "agent_id": None})
        give_away = await scoped.fails("update_phone_number", {"phone_number_id": number, "agent_id": other})
    assert "routed to another agent" in take and "routed to another agent" in release
    assert "agent_id" in give_away and "Nothing was sent" in give_away
    assert store.counts.get("phone_numbers.update", 0) == 1

    async with connect("memory", sandbox) as conn:
        await conn.ok("update_phone_number", {"phone_number_id": number, "agent_id": None})
    async with connect("memory", sandbox, args=["--agent-id", agent_id]) as scoped:
        taken = await scoped.ok("update_phone_number", {"phone_number_id": number, "agent_id": agent_id})
        released = await scoped.ok("update_phone_number", {"phone_number_id": number, "agent_id": None})
    assert taken["agent_id"] == agent_id and released["agent_id"] is None


async def test_scoped_resource_reads_only_the_scoped_agent(sandbox: RunningSandbox) -> None:
    store = sandbox.store
    agent_id = store.demo_agent_id or ""
    async with connect("memory", sandbox) as conn:
        other = await _other_agent(conn, store)
    async with connect("memory", sandbox, args=["--agent-id", agent_id]) as scoped:
        mine = await scoped.client.read_resource(f"bimpe://agents/{agent_id}")
        with pytest.raises(Exception, match="scoped to agent"):
            await scoped.client.read_resource(f"bimpe://agents/{other}")
    assert agent_id in getattr(mine.contents[0], "text", "")


async def _other_agent(conn: Connection, store: SandboxStore) -> str:
    workflow_id = store.agents[store.demo_agent_id or ""]["workflow_id"]
    created = await conn.ok("create_agent", {"workflow_id": workflow_id, "name": "B", "description": "b"})
    return str(created["id"])
