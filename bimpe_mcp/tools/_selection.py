"""Which tools a server exposes, and which of those one request narrows away.

The server's settings (toolsets, tools, excluded tools, read-only, agent scope) choose the
exposed specs once, in catalog order. A request can only narrow that set further: a transport
reads what the caller asked for (the HTTP layer, its `X-MCP-*` headers) into a `Narrowing`,
and the registry hides what it rules out. Nothing a request sends brings back a spec the
server hides.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from bimpe_mcp.tools._spec import Scope, ToolSpec

__all__ = ["Narrowing", "hidden_reason", "narrowed_reason", "select_tools"]


def hidden_reason(
    spec: ToolSpec,
    *,
    toolsets: Sequence[str] | None = None,
    read_only: bool = False,
    agent_id: str | None = None,
    tools: Collection[str] = (),
    exclude_tools: Collection[str] = (),
    unavailable: Mapping[str, str] | None = None,
) -> str | None:
    """Why a server with these settings hides `spec` (naming the setting), or None when it exposes it.

    `unavailable`: toolsets the server cannot serve, each with why (naming what to set).
    """
    if unavailable and spec.toolset in unavailable:
        return unavailable[spec.toolset]
    if toolsets and spec.toolset not in toolsets:
        return f"its toolset {spec.toolset} is not enabled (--toolsets / BIMPE_TOOLSETS)"
    if tools and spec.name not in tools:
        return "the server exposes only the tools it names (--tools / BIMPE_TOOLS)"
    if spec.name in exclude_tools:
        return "the server excludes it (--exclude-tools / BIMPE_EXCLUDE_TOOLS)"
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
    tools: Collection[str] = (),
    exclude_tools: Collection[str] = (),
    unavailable: Mapping[str, str] | None = None,
) -> tuple[list[ToolSpec], dict[str, str]]:
    """The specs a server with these settings exposes, in catalog order, and the others with their reason."""
    exposed: list[ToolSpec] = []
    hidden: dict[str, str] = {}
    for spec in catalog:
        reason = hidden_reason(
            spec,
            toolsets=toolsets,
            read_only=read_only,
            agent_id=agent_id,
            tools=tools,
            exclude_tools=exclude_tools,
            unavailable=unavailable,
        )
        if reason is None:
            exposed.append(spec)
        else:
            hidden[spec.name] = reason
    return exposed, hidden


@dataclass(frozen=True, slots=True)
class Narrowing:
    """What one request narrows the server's tools to; a field left at its default narrows nothing.

    `sources` names where each field came from (e.g. `toolsets` -> "the X-MCP-Toolsets header"),
    so a refusal names the place to change. The transport fills it; this layer reads no headers.
    """

    toolsets: frozenset[str] | None = None
    tools: frozenset[str] | None = None
    read_only: bool = False
    agent_id: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def narrows(self) -> bool:
        return self.toolsets is not None or self.tools is not None or self.read_only or self.agent_id is not None

    def source(self, name: str) -> str:
        return self.sources.get(name, "the request")


def narrowed_reason(spec: ToolSpec, narrowing: Narrowing | None, *, server_agent_id: str | None = None) -> str | None:
    """Why `narrowing` hides `spec`, a tool the server exposes (naming where it came from), or None."""
    if narrowing is None:
        return None
    if narrowing.toolsets is not None and spec.toolset not in narrowing.toolsets:
        shown = ", ".join(sorted(narrowing.toolsets)) or "none"
        return f"this request narrows the toolsets to {shown} ({narrowing.source('toolsets')})"
    if narrowing.tools is not None and spec.name not in narrowing.tools:
        return f"this request narrows the tools to those it names ({narrowing.source('tools')})"
    if narrowing.read_only and not spec.read_only:
        return f"this request is read-only ({narrowing.source('read_only')})"
    agent_id = narrowing.agent_id
    if agent_id is not None and server_agent_id is not None and agent_id != server_agent_id:
        return (
            f"the server is scoped to agent {server_agent_id} (--agent-id / BIMPE_AGENT_ID), and "
            f"{narrowing.source('agent_id')} names another"
        )
    if agent_id is not None and spec.scope is Scope.ALL_AGENTS:
        return f"this request is scoped to agent {agent_id} ({narrowing.source('agent_id')})"
    return None
