"""The tool catalog and what turns it into MCP tools.

Every module here is private; this package's `__all__` is its public face. `CATALOG` holds
every tool's `ToolFacts`, shipped as data, in the order `tools/list` shows them: a server
registers its tools from it without importing a toolset module. `ALL_TOOLS`, the toolsets'
`ToolSpec`s in the same order, loads those modules (and the Console models) when first read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bimpe_mcp.tools._catalog import CATALOG, Hints, Scope, ToolFacts, all_tools
from bimpe_mcp.tools._fencing import unfence
from bimpe_mcp.tools._registry import ApiKey, Backend, ButterbaseAccess, KeyProvider, NarrowingProvider, ToolFactory
from bimpe_mcp.tools._runtime import Limits, Refused, ToolCall
from bimpe_mcp.tools._secret_entry import EntryRefused, PendingEntry, SecretEntries, SecretNeed
from bimpe_mcp.tools._selection import Narrowing, hidden_reason, narrowed_reason, select_tools

if TYPE_CHECKING:
    from bimpe_mcp.tools._spec import ToolSpec

    ALL_TOOLS: tuple[ToolSpec, ...]


def __getattr__(name: str) -> Any:
    """`ALL_TOOLS` and `ToolSpec` load the toolset modules on first use, so serving does not pay for them."""
    if name == "ALL_TOOLS":
        return all_tools()
    if name == "ToolSpec":
        from bimpe_mcp.tools._spec import ToolSpec

        return ToolSpec
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ALL_TOOLS",
    "CATALOG",
    "ApiKey",
    "Backend",
    "ButterbaseAccess",
    "EntryRefused",
    "Hints",
    "KeyProvider",
    "Limits",
    "Narrowing",
    "NarrowingProvider",
    "PendingEntry",
    "Refused",
    "Scope",
    "SecretEntries",
    "SecretNeed",
    "ToolCall",
    "ToolFactory",
    "ToolFacts",
    "ToolSpec",
    "all_tools",
    "hidden_reason",
    "narrowed_reason",
    "select_tools",
    "unfence",
]
