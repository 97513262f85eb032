"""What guides the model: instructions, prompts and the agent and workflow resources."""

from __future__ import annotations

import json

import pytest
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from bimpe_mcp import _prompts
from bimpe_mcp.sandbox import RunningSandbox
from bimpe_mcp.server import build_server
from bimpe_mcp.settings import Settings
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


async def test_prompts_and_templates_are_what_the_sdk_decorators_would_register() -> None:
    """The server registers them from the functions' signatures, without the decorators' pydantic models
    (start-up cost). This fails when the two drift apart: a function's arguments change, or the SDK changes
    what it derives from them or where the server keeps its templates."""
    settings = Settings.load({}).with_backend(base_url="http://127.0.0.1:9", api_key="sk_test_x")
    ours = build_server(settings).mcp
    decorated = MCPServer("reference")
    for fn, title, description in _prompts.PROMPTS:
        decorated.prompt(title=title, description=description)(fn)
    templates = ours._resource_manager.list_templates()
    for template in templates:
        decorated.resource(
            template.uri_template,
            name=template.name,
            title=template.title,
            description=template.description,
            mime_type=template.mime_type,
        )(template.fn)

    assert await ours.list_prompts() == await decorated.list_prompts()
    for name, arguments in PROMPTS.items():
        assert await ours.get_prompt(name, arguments) == await decorated.get_prompt(name, arguments)
    assert await ours.list_resource_templates() == await decorated.list_resource_templates()
    assert len(templates) == 3
    for mine, theirs in zip(templates, decorated._resource_manager.list_templates(), strict=True):
        assert mine.context_kwarg == theirs.context_kwarg == "ctx"
        assert mine.security == theirs.security
        assert mine.parsed_template.variable_names == theirs.parsed_template.variable_names
        assert mine.parameters["required"] == theirs.parameters["required"]
        assert mine.parameters["properties"].keys() == theirs.parameters["properties"].keys()
