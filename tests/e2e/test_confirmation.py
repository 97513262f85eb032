"""Destructive tools need confirmation: by elicitation where the client supports it, else by `confirm`."""

from __future__ import annotations

from typing import Any

import pytest
from mcp_types import ElicitResult

from bimpe_mcp.sandbox import RunningSandbox
from tests.harness import connect


class Asker:
    """An elicitation callback that records the questions and answers as told."""

    def __init__(self, action: str = "accept", confirm: bool = True) -> None:
        self.action = action
        self.confirm = confirm
        self.questions: list[str] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        self.questions.append(params.message)
        content = {"confirm": self.confirm} if self.action == "accept" else None
        return ElicitResult(action=self.action, content=content)


async def _new_workflow(conn: Any) -> str:
    return (await conn.ok("create_workflow", {"name": "Disposable", "system_prompt": "p"}))["id"]


# Each era over HTTP; over stdio (a spawned server each), one era per test.
@pytest.mark.parametrize(("kind", "mode"), [("stdio", "legacy"), ("http", "legacy"), ("http", "auto")])
async def test_elicitation_accept_decline_and_confirm_argument(kind: str, mode: str, sandbox: RunningSandbox) -> None:
    asker = Asker()
    async with connect(kind, sandbox, mode=mode, elicitation_callback=asker) as conn:
        accepted = await _new_workflow(conn)
        deleted = await conn.ok("delete_workflow", {"workflow_id": accepted})
        assert deleted == {**deleted, "deleted": True, "id": accepted}
        assert asker.questions == [f"Delete workflow {accepted}? This cannot be undone."]

        declined = await _new_workflow(conn)
        asker.action = "decline"
        text = await conn.fails("delete_workflow", {"workflow_id": declined})
        assert "not confirmed by the user: nothing was sent" in text and "confirm equal to the workflow_id" in text

        asker.action, asker.confirm = "accept", False
        await conn.fails("delete_workflow", {"workflow_id": declined})

        asker.questions.clear()
        await conn.ok("delete_workflow", {"workflow_id": declined, "confirm": declined})
        assert asker.questions == [], "a matching confirm must not prompt"
    assert sandbox.store.counts["workflows.delete"] == 2


@pytest.mark.parametrize(("kind", "mode"), [("stdio", "auto"), ("http", "legacy"), ("http", "auto")])
async def test_without_elicitation_confirm_must_equal_the_target(kind: str, mode: str, sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id
    async with connect(kind, sandbox, mode=mode) as conn:
        workflow_id = await _new_workflow(conn)
        text = await conn.fails("delete_workflow", {"workflow_id": workflow_id})
        assert text == (
            f"delete_workflow needs confirmation: nothing was sent. To go ahead, pass confirm equal to the "
            f"workflow_id ('{workflow_id}')."
        )
        await conn.fails("delete_workflow", {"workflow_id": workflow_id, "confirm": "yes"})
        assert sandbox.store.counts.get("workflows.delete", 0) == 0
        await conn.ok("delete_workflow", {"workflow_id": workflow_id, "confirm": workflow_id})

        text = await conn.fails("make_call", {"agent_id": agent_id, "destination": "+2348011112222"})
        assert "confirm equal to the destination ('+2348011112222')" in text
        assert sandbox.store.counts.get("calls.create", 0) == 0
        integration = await conn.ok("configure_custom_api", {"agent_id": agent_id, "name": "X"})
        await conn.fails(
            "disconnect_integration",
            {"agent_id": agent_id, "family": "custom_api", "integration_id": integration["id"], "confirm": agent_id},
        )
        await conn.ok(
            "disconnect_integration",
            {
                "agent_id": agent_id,
                "family": "custom_api",
                "integration_id": integration["id"],
                "confirm": integration["id"],
            },
        )
    assert sandbox.store.counts["workflows.delete"] == 1
    assert sandbox.store.counts["integrations.custom_api.disconnect"] == 1


async def test_every_destructive_tool_is_gated(sandbox: RunningSandbox) -> None:
    async with connect("memory", sandbox) as conn:
        tools = (await conn.client.list_tools()).tools
        gated = {tool.name for tool in tools if "confirm" in tool.input_schema["properties"]}
        destructive = {tool.name for tool in tools if tool.annotations and tool.annotations.destructive_hint}
        for name in sorted(gated):
            args = {field: "x" for field in tools[[t.name for t in tools].index(name)].input_schema["required"]}
            if name == "disconnect_integration":
                args["family"] = "custom_api"
            if name == "make_call":
                args["destination"] = "+2348011112222"
            assert "needs confirmation: nothing was sent" in await conn.fails(name, args)
    assert (
        gated
        == destructive
        == {
            "delete_agent",
            "delete_workflow",
            "delete_knowledge_base",
            "disconnect_integration",
            "delete_custom_api_tool",
            "make_call",
            "butterbase_disable_toolkit",
            "butterbase_disconnect",
        }
    )
    assert sum(sandbox.store.counts.values()) == 0
