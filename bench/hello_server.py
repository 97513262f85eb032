"""The SDK's floor: a one-tool `MCPServer` over stdio, started the way bimpe-mcp is."""

from __future__ import annotations

import anyio
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("hello")


@mcp.tool()
def hello(name: str) -> str:
    """Say hello to someone."""
    return f"Hello, {name}!"


if __name__ == "__main__":
    anyio.run(mcp.run_stdio_async)
