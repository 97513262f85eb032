"""The README's generated tables: the tool catalog and the settings.

`tools_markdown` renders a `tools/list` payload (what `bimpe-mcp tools --json` prints);
`settings_markdown` renders `SETTINGS_TABLE`. `python -m bimpe_mcp._docs README.md` rewrites
both tables in place, between their `<!-- tools:start -->` … `<!-- settings:end -->` markers.
Only the standard library is imported up front; building the catalog loads the server lazily.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "block",
    "catalog",
    "replace_block",
    "settings_markdown",
    "tool_kind",
    "tools_markdown",
    "toolsets_markdown",
]


def _cell(text: str) -> str:
    """One table cell: a single line, with pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _as_dict(tool: Any) -> Mapping[str, Any]:
    if isinstance(tool, Mapping):
        return tool
    dumped: Mapping[str, Any] = tool.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def tool_kind(tool: Mapping[str, Any]) -> str:
    """read-only, destructive or write, from the tool's annotations (as `bimpe-mcp tools` shows it)."""
    hints = tool.get("annotations") or {}
    if hints.get("readOnlyHint"):
        return "read-only"
    if hints.get("destructiveHint"):
        return "destructive"
    return "write"


def tools_markdown(tools: Iterable[Any] | Mapping[str, Any]) -> str:
    """A markdown table of the catalog: name, toolset, kind, title and the description's first line.

    `tools` is a `tools/list` payload (`{"tools": [...]}`), its list of tool objects as JSON
    dicts, or the SDK's `Tool` models.
    """
    items = tools["tools"] if isinstance(tools, Mapping) else tools
    lines = ["| Tool | Toolset | Kind | Title | Description |", "| --- | --- | --- | --- | --- |"]
    for raw in items:
        tool = _as_dict(raw)
        meta = tool.get("_meta") or tool.get("meta") or {}
        description = (tool.get("description") or "").strip().splitlines()
        lines.append(
            f"| `{tool['name']}` | {_cell(str(meta.get('toolset', '')))} | {tool_kind(tool)} "
            f"| {_cell(tool.get('title') or '')} | {_cell(description[0] if description else '')} |"
        )
    return "\n".join(lines) + "\n"


def settings_markdown() -> str:
    """A markdown table of every flag and environment variable, its default and meaning."""
    from bimpe_mcp.settings import SETTINGS_TABLE

    lines = ["| Flag | Environment variable | Default | Meaning |", "| --- | --- | --- | --- |"]
    for setting in SETTINGS_TABLE:
        flag = f"`{setting.flag}`" if setting.flag else "(env only)"
        default = f"`{setting.default}`" if setting.default else "(unset)"
        lines.append(f"| {flag} | `{setting.env}` | {default} | {_cell(setting.help)} |")
    return "\n".join(lines) + "\n"


def toolsets_markdown() -> str:
    """A markdown table of the toolsets, from their data."""
    from bimpe_mcp._toolsets import TOOLSETS

    lines = ["| Toolset | On by default | What it covers |", "| --- | --- | --- |"]
    lines += [f"| `{t.id}` | {'yes' if t.default else 'no'} | {_cell(t.description)} |" for t in TOOLSETS]
    return "\n".join(lines) + "\n"


_FULL_CATALOG = {"BUTTERBASE_API_KEY": "bb_sk_docs", "BUTTERBASE_APP_ID": "app_docs"}
"""No other environment: only what lists the butterbase toolset, which is listed only when configured."""


def catalog(**settings: Any) -> list[dict[str, Any]]:
    """The `tools/list` tools of a server built from these settings (defaults: the full catalog).

    Environment variables are ignored, so the README's table does not depend on the shell; a placeholder
    Butterbase app makes the butterbase toolset show.
    """
    import anyio
    from mcp import Client

    from bimpe_mcp.server import build_server
    from bimpe_mcp.settings import Settings

    async def listing() -> list[dict[str, Any]]:
        server = build_server(Settings.load(env=_FULL_CATALOG, **settings))
        try:
            async with Client(server.mcp) as client:
                tools = (await client.list_tools()).tools
        finally:
            await server.aclose()
        return [dict(_as_dict(tool)) for tool in tools]

    return anyio.run(listing)


def replace_block(text: str, name: str, content: str) -> str:
    """`text` with the lines between `<!-- name:start -->` and `<!-- name:end -->` set to `content`."""
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"no <!-- {name}:start --> … <!-- {name}:end --> block")
    return pattern.sub(lambda m: m.group(1) + content + m.group(2), text, count=1)


def block(text: str, name: str) -> str:
    """The content between `<!-- name:start -->` and `<!-- name:end -->`."""
    found = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", text, re.DOTALL)
    if found is None:
        raise ValueError(f"no <!-- {name}:start --> … <!-- {name}:end --> block")
    return found.group(1)


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the generated tables of the given markdown files (README.md by default)."""
    paths = list(argv if argv is not None else sys.argv[1:]) or ["README.md"]
    tables = {"tools": tools_markdown(catalog()), "settings": settings_markdown(), "toolsets": toolsets_markdown()}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        updated = text
        for name, table in tables.items():
            updated = replace_block(updated, name, table)
        if updated != text:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(updated)
            print(f"updated {path}")
        else:
            print(f"{path} is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
