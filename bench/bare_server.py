"""The SDK's floor for a call: a bare `MCPServer` whose `get_agent` makes the same Console request.

    python bench/bare_server.py stdio
    python bench/bare_server.py http --port N [--stateless] [--json]

Reads BIMPE_BASE_URL and BIMPE_API_KEY like bimpe-mcp. No validation, confirmation, redaction,
metrics or logging: what any MCP server making this request pays, and nothing more.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import anyio
import httpx
from mcp.server.mcpserver import MCPServer

# WARNING: the SDK would otherwise log each request through rich, a cost bimpe-mcp does not pay.
mcp = MCPServer("bare", log_level="WARNING")
_pool: httpx.AsyncClient | None = None


def _console() -> httpx.AsyncClient:
    global _pool
    if _pool is None:
        _pool = httpx.AsyncClient(
            base_url=os.environ["BIMPE_BASE_URL"] + "/api/v1/console",
            headers={"Authorization": f"Bearer {os.environ['BIMPE_API_KEY']}"},
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
        )
    return _pool


@mcp.tool()
async def get_agent(agent_id: str) -> dict[str, Any]:
    """Get one agent by id."""
    response = await _console().get(f"/agents/{agent_id}")
    response.raise_for_status()
    data: dict[str, Any] = response.json()["data"]
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("transport", choices=["stdio", "http"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--stateless", action="store_true")
    parser.add_argument("--json", action="store_true", help="The SDK's json_response mode for every request.")
    args = parser.parse_args()
    if args.transport == "stdio":
        anyio.run(mcp.run_stdio_async)
        return
    import uvicorn

    app = mcp.streamable_http_app(stateless_http=args.stateless, json_response=args.json)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
