"""What guides the model: instructions, prompts and the agent and workflow resources."""

from __future__ import annotations

import json

import pytest
from mcp.shared.exceptions import MCPError

from bimpe_mcp.sandbox import RunningSandbox
from tests.harness import connect

PROMPTS = {
    "connect_payments": {"agent_id": "agt_1", "provider": "paystack"},
    "wire_custom_api": {"agent_id": "agt_1", "base_url": "https://api.shop.ng", "endpoint": "GET /orders/{id}"},
    "connect_mcp_server": {"agent_id": "agt_1", "server_url": "https://mcp.example.com"},
    "test_agent": {"agent_id": "agt_1"},
}


async def test_instructions_prompts_and_resources_over_stdio(sandbox: RunningSandbox) -> None:
    store = sandbox.store
    async with connect("stdio", sandbox) as conn:
        client = conn.client
        instructions = client.instructions or ""
        prompts = {prompt.name: prompt for prompt in (await client.list_prompts()).prompts}
        rendered = {name: await client.get_prompt(name, args) for name, args in PROMPTS.items()}
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        agent = await client.read_resource(f"bimpe://agents/{store.demo_agent_id}")
        workflow = await client.read_resource(f"bimpe://workflows/{store.demo_workflow_id}")
        with pytest.raises(MCPError, match="404 not_found"):
            await client.read_resource("bimpe://agents/agt_missing")

    assert "update_agent(workflow_id=" in instructions and "confirm=" in instructions
    assert len(instructions.splitlines()) <= 12
    assert set(prompts) == set(PROMPTS)
    assert [a.name for a in prompts["connect_payments"].arguments or []] == ["agent_id", "provider"]
    payments = rendered["connect_payments"].messages[0].content.text  # type: ignore[union-attr]
    assert "configure_bimpeai_integration(agent_id='agt_1', type='paystack'" in payments
    custom = rendered["wire_custom_api"].messages[0].content.text  # type: ignore[union-attr]
    assert "http_method='GET', url_template='/orders/{id}'" in custom
    assert "discover_mcp_server_tools" in rendered["connect_mcp_server"].messages[0].content.text  # type: ignore
    assert "send_test_message" in rendered["test_agent"].messages[0].content.text  # type: ignore[union-attr]
    assert templates == {
        "bimpe://agents/{agent_id}",
        "bimpe://agents/{agent_id}/integrations/{family}",
        "bimpe://workflows/{workflow_id}",
    }
    agent_json = json.loads(agent.contents[0].text)  # type: ignore[union-attr]
    assert agent_json["name"] == "Bimpe Demo Agent" and agent_json["request_id"]
    assert agent.contents[0].mime_type == "application/json"
    assert json.loads(workflow.contents[0].text)["name"] == "Customer Support"  # type: ignore[union-attr]
