"""Which tools a server exposes: toolsets, then read-only, then agent scope, in catalog order."""

from __future__ import annotations

from collections.abc import Sequence

from bimpe_mcp.tools._spec import Scope, ToolSpec

__all__ = ["hidden_reason", "select_tools"]


def hidden_reason(
    spec: ToolSpec,
    *,
    toolsets: Sequence[str] | None = None,
    read_only: bool = False,
    agent_id: str | None = None,
) -> str | None:
    """Why a server with these settings hides `spec` (naming the setting), or None when it exposes it."""
    if toolsets and spec.toolset not in toolsets:
        return f"its toolset {spec.toolset} is not enabled (--toolsets / BIMPE_TOOLSETS)"
    if read_only and not spec.read_only:
        return "the server is read-only (--read-only / BIMPE_READ_ONLY)"
    if agent_id and spec.scope is Scope.ALL_AGENTS:
        return "the server is scoped to one agent (--agent-id / BIMPE_AGENT_ID)"
    return None


def select_tools(
    catalog: Sequence[ToolSpec],
    *,
    toolsets: Sequence[str] | None = None,
    read_only: bool = False,
    agent_id: str | None = None,
) -> tuple[list[ToolSpec], dict[str, str]]:
    """The specs a server with these settings exposes, in catalog order, and the others with their reason."""
    exposed: list[ToolSpec] = []
    hidden: dict[str, str] = {}
    for spec in catalog:
        reason = hidden_reason(spec, toolsets=toolsets, read_only=read_only, agent_id=agent_id)
        if reason is None:
            exposed.append(spec)
        else:
            hidden[spec.name] = reason
    return exposed, hidden
