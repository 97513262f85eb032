"""The HTTP side of per-request narrowing: the `X-MCP-*` headers, read once per request.

A caller can narrow what the server exposes, never widen it:

- `X-MCP-Toolsets: agents,knowledge`: only these toolsets (`all`: no narrowing);
- `X-MCP-Tools: get_agent,list_workflows`: only these tools;
- `X-MCP-Readonly: true` (or `1`): only read-only tools; `false` narrows nothing;
- `X-Bimpe-Agent-Id: agt_…`: one agent, as `--agent-id` scopes a server: the tools that reach
  across agents are hidden and `agent_id` is fixed. On a server scoped to an agent, a header
  naming another one is refused.

`ReadNarrowing` parses the headers into the tools layer's `Narrowing` and keeps it in the ASGI
scope's state; `request_narrowing` is the tools' narrowing provider, as `request_api_key` is
their key provider. The tools layer never sees a header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from mcp.server.context import ServerRequestContext
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bimpe_mcp.console import ID_MAX_LENGTH, ID_PATTERN
from bimpe_mcp.settings import TOOLSET_IDS
from bimpe_mcp.tools import CATALOG, Narrowing

__all__ = ["HEADERS", "NarrowingRefused", "ReadNarrowing", "narrowing_from_headers", "request_narrowing"]

HEADERS: Final = {
    "toolsets": "X-MCP-Toolsets",
    "tools": "X-MCP-Tools",
    "read_only": "X-MCP-Readonly",
    "agent_id": "X-Bimpe-Agent-Id",
}
"""Each `Narrowing` field and the request header that sets it."""

_STATE: Final = "bimpe_narrowing"
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})
_TOOL_NAMES: Final = frozenset(tool.name for tool in CATALOG)
_ID: Final = re.compile(ID_PATTERN)


class NarrowingRefused(ValueError):
    """A narrowing header the server cannot honour: the HTTP status, an error code and what to fix."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def narrowing_from_headers(headers: Mapping[str, str], *, server_agent_id: str | None = None) -> Narrowing | None:
    """The narrowing the request's headers (lower-case names) ask for, None when they ask for none.

    A blank header asks for nothing. Raises `NarrowingRefused` for an unknown toolset or tool, a
    switch that is not true or false, a malformed agent id, or another agent than the server's.
    """
    values = {field: headers.get(header.lower(), "").strip() for field, header in HEADERS.items()}
    sources = {field: f"the {header} header" for field, header in HEADERS.items() if values[field]}
    if not sources:
        return None
    toolsets = _names(values["toolsets"], "toolsets", TOOLSET_IDS)
    tools = _names(values["tools"], "tools", sorted(_TOOL_NAMES))
    read_only = _switch(values["read_only"])
    agent_id = _agent_id(values["agent_id"], server_agent_id)
    return Narrowing(toolsets=toolsets, tools=tools, read_only=read_only, agent_id=agent_id, sources=sources)


def _names(raw: str, field: str, known: tuple[str, ...] | list[str]) -> frozenset[str] | None:
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if not names or (field == "toolsets" and names == ["all"]):
        return None
    if unknown := [name for name in names if name not in known]:
        kind = field.rstrip("s")
        hint = f"choose from {', '.join(known)}" if field == "toolsets" else "`bimpe-mcp tools` lists them"
        message = f"{HEADERS[field]}: unknown {kind} {unknown[0][:64]!r}; {hint}."
        raise NarrowingRefused(400, "invalid_narrowing", message)
    return frozenset(names)


def _switch(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if not lowered or lowered in _FALSE:
        return False  # false asks for nothing: it cannot make a read-only server writable
    raise NarrowingRefused(400, "invalid_narrowing", f"{HEADERS['read_only']} must be true or false, not {raw[:64]!r}.")


def _agent_id(raw: str, server_agent_id: str | None) -> str | None:
    if not raw:
        return None
    header = HEADERS["agent_id"]
    if len(raw) > ID_MAX_LENGTH or not _ID.match(raw):
        raise NarrowingRefused(400, "invalid_narrowing", f"{header}: {raw[:64]!r} is not an agent id.")
    if server_agent_id is not None and raw != server_agent_id:
        message = (
            f"{header} names agent {raw}, but this server is scoped to agent {server_agent_id} "
            "(--agent-id / BIMPE_AGENT_ID): a request can only narrow the server's scope."
        )
        raise NarrowingRefused(403, "agent_scope_conflict", message)
    return raw


def request_narrowing(ctx: ServerRequestContext[Any, Any]) -> Narrowing | None:
    """The narrowing `ReadNarrowing` found on this message's HTTP request: the tools' narrowing provider."""
    scope = getattr(ctx.request, "scope", None) or {}
    narrowing = scope.get("state", {}).get(_STATE)
    return narrowing if isinstance(narrowing, Narrowing) else None


class ReadNarrowing:
    """Reads the narrowing headers of each MCP request once (for `request_narrowing`), and answers
    400 (or 403) to a request whose narrowing the server cannot honour, before its body is read."""

    def __init__(self, app: ASGIApp, *, server_agent_id: str | None) -> None:
        self.app = app
        self.server_agent_id = server_agent_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/mcp"):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            try:
                narrowing = narrowing_from_headers(headers, server_agent_id=self.server_agent_id)
            except NarrowingRefused as refused:
                body = {"error": refused.code, "message": refused.message}
                await JSONResponse(body, status_code=refused.status)(scope, receive, send)
                return
            scope.setdefault("state", {})[_STATE] = narrowing
        await self.app(scope, receive, send)
