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
from bimpe_mcp.tools import CATALOG as TOOL_FACTS
from bimpe_mcp.tools._catalog import SCHEMAS_FILE
from bimpe_mcp.tools._schemas import generate_catalog

SNAPSHOTS = Path(__file__).parent / "snapshots" / "tools"
CATALOG = SNAPSHOTS / "_catalog.txt"
"""The tools/list order, one `toolset name` line per tool; each tool's own JSON beside it."""
UPDATE = "UPDATE_SNAPSHOTS=1 pytest tests/test_catalog.py"


_LISTED: dict[str, list[dict[str, Any]]] = {}


async def listed_tools(**flags: Any) -> list[dict[str, Any]]:
    """tools/list through an in-memory client (cached: building a server per guardrail case is slow)."""
    key = json.dumps(flags, sort_keys=True)
    if key not in _LISTED:
        _LISTED[key] = await _list(**flags)
    return _LISTED[key]


BUTTERBASE = {"BUTTERBASE_API_KEY": "bb_sk_test_unused", "BUTTERBASE_APP_ID": "app_unused"}
"""The whole catalog: the butterbase toolset is listed only when these are set."""


async def _list(**flags: Any) -> list[dict[str, Any]]:
    server = build_server(Settings.load(BUTTERBASE, api_key="sk_test_unused", **flags))
    try:
        async with Client(server.mcp) as client:
            tools = (await client.list_tools()).tools
    finally:
        await server.aclose()
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]


def _snapshot_files(tools: list[dict[str, Any]]) -> dict[str, str]:
    files = {
        f"{tool['name']}.json": json.dumps(tool, indent=1, sort_keys=True, ensure_ascii=False) + "\n" for tool in tools
    }
    toolsets = {tool.name: tool.toolset for tool in TOOL_FACTS}
    files[CATALOG.name] = "".join(f"{toolsets[tool['name']]} {tool['name']}\n" for tool in tools)
    return files


async def test_tools_list_matches_the_committed_snapshots() -> None:
    """One file per tool, so a review diff shows only the tools that changed."""
    current = _snapshot_files(await listed_tools())
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or (not SNAPSHOTS.exists() and not os.environ.get("CI")):
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        for stale in set(p.name for p in SNAPSHOTS.iterdir()) - set(current):
            (SNAPSHOTS / stale).unlink()
        for name, text in current.items():
            (SNAPSHOTS / name).write_text(text)
    committed = {p.name: p.read_text() for p in SNAPSHOTS.iterdir()} if SNAPSHOTS.exists() else {}
    assert set(committed) == set(current), f"tools added or removed: review, then run {UPDATE}"
    changed = sorted(name for name in current if committed[name] != current[name])
    assert not changed, f"tools/list changed in {', '.join(changed)}: review the diff, then run {UPDATE}"


def test_shipped_catalog_matches_the_specs_and_models() -> None:
    """The server registers its tools from `tools/_schemas.json`: it must say what the specs and models say."""
    generated = json.dumps(generate_catalog(ALL_TOOLS), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SCHEMAS_FILE.write_text(generated, encoding="utf-8")
    assert SCHEMAS_FILE.read_text(encoding="utf-8") == generated, f"tools/_schemas.json is stale: run {UPDATE}"


async def test_catalog_order_is_stable_and_toolsets_match_the_settings() -> None:
    tools = await listed_tools()
    assert [tool["name"] for tool in tools] == [spec.name for spec in ALL_TOOLS]
    assert [t["name"] for t in tools] == [t["name"] for t in await _list()], "order must be stable"
    assert sorted({spec.toolset for spec in ALL_TOOLS}) == sorted(TOOLSET_IDS), "settings offer the catalog's toolsets"


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
    # Every hint whose value is not the specification's default (readOnly false, destructive true,
    # idempotent false, openWorld true) is stated, and destructiveHint on every write; on a read-only
    # tool, destructive and idempotent mean nothing.
    stated = {"readOnlyHint": True, "openWorldHint": spec.hints.open_world}
    if not spec.read_only:
        stated = {"destructiveHint": spec.hints.destructive, "openWorldHint": spec.hints.open_world}
        stated |= {"idempotentHint": True} if spec.hints.idempotent else {}
    assert hints == stated
    schema = tool["inputSchema"]
    assert schema["type"] == "object" and "additionalProperties" not in schema, "the server names unknown arguments"
    assert not {"anyOf", "oneOf", "allOf"} & set(schema)
    for name, prop in schema["properties"].items():
        assert prop.get("description"), f"{spec.name}.{name} has no description"
        assert len(prop["description"]) <= 100
    assert all("title" not in node for node in _walk(schema))
    assert len(json.dumps(tool, separators=(",", ":"))) < 4_500, "a tool over ~1,100 tokens: trim it"
    output = tool["outputSchema"]
    assert output["type"] == "object" and output["properties"], "results say what they hold"
    assert not {"request_id", "request_ids"} & set(output["properties"]), "request ids go in the result's _meta"
    assert "null" not in json.dumps(output), "a field that may be null is left untyped"
    if spec.hints.destructive:
        assert "confirm" in schema["properties"]
    if not spec.hints.read_only:
        assert "idempotency_key" in schema["properties"], "every write can be retried safely"


async def test_tool_icons_stay_tiny() -> None:
    """Icons are drawn by the client's UI, never put in the model's context; each is a small data: URI."""
    tools = await listed_tools()
    icons = max(len(json.dumps(tool.get("icons"), separators=(",", ":"))) for tool in tools)
    assert icons <= 300, f"a tool's icon grew to {icons} bytes: keep bimpe_mcp/icons/*.svg tiny"
