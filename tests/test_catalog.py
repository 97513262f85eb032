"""The model-facing surface: a committed tools/list snapshot and guardrails every tool must pass."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from bimpe_mcp.server import build_server
from bimpe_mcp.settings import TOOLSET_IDS, Settings
from bimpe_mcp.tools import ALL_TOOLS

SNAPSHOT = Path(__file__).parent / "snapshots" / "tools.json"
ISSUE_CATALOG = {
    "agents": "list_agents get_agent create_agent update_agent delete_agent set_agent_status list_agent_channels "
    "list_agent_actions set_agent_actions",
    "knowledge": "list_knowledge_bases add_knowledge_base update_knowledge_base delete_knowledge_base",
    "integrations": "list_integrations configure_bimpeai_integration configure_custom_api configure_mcp_server "
    "configure_pipedream_app add_custom_api_tool list_custom_api_tools delete_custom_api_tool "
    "discover_mcp_server_tools test_mcp_server list_mcp_server_tools disconnect_integration",
    "testing": "get_test_code send_test_message place_test_call",
    "workflows": "list_workflows get_workflow create_workflow update_workflow clone_workflow delete_workflow",
    "conversations": "list_conversations get_conversation list_messages send_message set_conversation_ai "
    "wait_for_messages",
    "calls": "list_calls get_call make_call",
    "phone_numbers": "list_phone_numbers get_phone_number update_phone_number request_phone_number "
    "list_phone_number_requests",
}


_LISTED: dict[str, list[dict[str, Any]]] = {}


async def listed_tools(**flags: Any) -> list[dict[str, Any]]:
    """tools/list through an in-memory client (cached: building a server per guardrail case is slow)."""
    key = json.dumps(flags, sort_keys=True)
    if key not in _LISTED:
        _LISTED[key] = await _list(**flags)
    return _LISTED[key]


async def _list(**flags: Any) -> list[dict[str, Any]]:
    server = build_server(Settings.load({}, api_key="sk_test_unused", **flags))
    try:
        async with Client(server.mcp) as client:
            tools = (await client.list_tools()).tools
    finally:
        await server.aclose()
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]


async def test_tools_list_matches_the_committed_snapshot() -> None:
    current = json.dumps(await listed_tools(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or (not SNAPSHOT.exists() and not os.environ.get("CI")):
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.exists(), (
        "tests/snapshots/tools.json is missing: run UPDATE_SNAPSHOTS=1 pytest tests/test_catalog.py"
    )
    assert current == SNAPSHOT.read_text(), (
        "tools/list changed. Review the diff, then run UPDATE_SNAPSHOTS=1 pytest tests/test_catalog.py"
    )


async def test_catalog_is_the_issue_catalog_in_a_fixed_order() -> None:
    tools = await listed_tools()
    by_toolset: dict[str, set[str]] = {}
    for tool in tools:
        by_toolset.setdefault(tool["_meta"]["toolset"], set()).add(tool["name"])
    assert by_toolset == {toolset: set(names.split()) for toolset, names in ISSUE_CATALOG.items()}
    assert [tool["name"] for tool in tools] == [spec.name for spec in ALL_TOOLS]
    assert [t["name"] for t in tools] == [t["name"] for t in await _list()], "order must be stable"
    assert tuple(ISSUE_CATALOG) == TOOLSET_IDS, "settings must offer exactly the catalog's toolsets"


def _walk(schema: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(schema, dict):
        found.append(schema)
        for value in schema.values():
            found.extend(_walk(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(_walk(value))
    return found


@pytest.mark.parametrize("spec", ALL_TOOLS, ids=lambda spec: spec.name)
async def test_every_tool_passes_the_guardrails(spec: Any) -> None:
    tool = next(t for t in await listed_tools() if t["name"] == spec.name)
    assert re.fullmatch(r"[a-z]+(_[a-z]+)+", tool["name"])
    assert tool["title"] and len(tool["title"]) <= 40
    assert 20 <= len(tool["description"]) <= 250, "keep descriptions short: the model reads them every turn"
    hints = tool["annotations"]
    assert set(hints) == {"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"}
    assert not (hints["readOnlyHint"] and hints["destructiveHint"])
    schema = tool["inputSchema"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert not {"anyOf", "oneOf", "allOf"} & set(schema)
    for name, prop in schema["properties"].items():
        assert prop.get("description"), f"{spec.name}.{name} has no description"
        assert len(prop["description"]) <= 100
    assert all("title" not in node for node in _walk(schema))
    assert len(json.dumps(tool, separators=(",", ":"))) < 4_500, "a tool over ~1,100 tokens: trim it"
    output = tool["outputSchema"]
    assert output["type"] == "object" and {"request_id", "request_ids"} <= set(output["properties"])
    if spec.hints.destructive:
        assert "confirm" in schema["properties"]
    if not spec.hints.read_only and not spec.hints.idempotent:
        assert "idempotency_key" in schema["properties"]


async def test_the_whole_catalog_stays_within_its_context_budget() -> None:
    payload = json.dumps(await listed_tools(), separators=(",", ":"))
    assert len(payload) < 90_000, f"tools/list grew to {len(payload)} bytes: trim descriptions or schemas"
    descriptions = sum(len(tool["description"]) for tool in await listed_tools())
    assert descriptions < 6_000
