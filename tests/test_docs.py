"""The README's generated tables and its Quickstart stay true to the code and to CI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bimpe_mcp import _docs
from bimpe_mcp.settings import SETTINGS_TABLE
from bimpe_mcp.tools import ALL_TOOLS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
REGENERATE = "run `python -m bimpe_mcp._docs README.md` (`bimpe-mcp tools --markdown` prints the tools table)"


def _quickstart_commands() -> list[str]:
    section = README.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```[a-z]*\n(.*?)```", section, re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_the_tools_table_is_current() -> None:
    assert _docs.block(README, "tools") == _docs.tools_markdown(_docs.catalog()), (
        f"README tools table is stale: {REGENERATE}"
    )


def test_the_settings_table_is_current() -> None:
    assert _docs.block(README, "settings") == _docs.settings_markdown(), f"README settings table is stale: {REGENERATE}"


def test_the_toolsets_table_is_current() -> None:
    assert _docs.block(README, "toolsets") == _docs.toolsets_markdown(), f"README toolsets table is stale: {REGENERATE}"


def test_the_tables_cover_every_tool_and_setting() -> None:
    rows = _docs.block(README, "tools").splitlines()[2:]
    assert len(rows) == len(_docs.catalog()) == len(ALL_TOOLS)
    assert all(setting.env in _docs.settings_markdown() for setting in SETTINGS_TABLE)


def test_the_quickstart_has_two_commands_and_ci_runs_the_second() -> None:
    demo, tests = _quickstart_commands()
    assert demo.endswith("&& bimpe-mcp demo")
    assert "pip install -e '.[test]'" in tests
    test_command = tests.split("&&")[-1].strip()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(rf"^{re.escape(test_command)}\b", ci, re.MULTILINE), f"{test_command!r} is not what .ci/run runs"
    assert re.search(r"pip install (--quiet )?-e '\.\[test\]'", ci), ".ci/run installs the test extras"


def test_the_tools_markdown_flag_honours_the_tools_flags() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "bimpe_mcp", "tools", "--markdown", "--read-only", "--toolsets", "workflows"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout
    assert listed == _docs.tools_markdown(_docs.catalog(read_only=True, toolsets="workflows"))
    assert [row.split("`")[1] for row in listed.splitlines()[2:]] == ["list_workflows", "get_workflow"]


def test_a_pipe_in_a_description_stays_in_its_cell() -> None:
    tool = {
        "name": "t",
        "title": "T",
        "description": "a|b\nsecond line",
        "annotations": {"destructiveHint": True},
        "_meta": {"toolset": "x"},
    }
    assert _docs.tools_markdown({"tools": [tool]}).splitlines()[2] == "| `t` | x | destructive | T | a\\|b |"


def test_the_module_imports_nothing_heavy() -> None:
    code = "import sys, bimpe_mcp._docs; print(sorted(m for m in ('mcp', 'httpx', 'pydantic') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


@pytest.mark.parametrize("name", ["tools", "settings"])
def test_replace_block_rewrites_only_the_block(name: str) -> None:
    text = f"before\n<!-- {name}:start -->\nold\n<!-- {name}:end -->\nafter\n"
    assert (
        _docs.replace_block(text, name, "new\n") == f"before\n<!-- {name}:start -->\nnew\n<!-- {name}:end -->\nafter\n"
    )
