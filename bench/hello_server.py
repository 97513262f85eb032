"""The SDK's floor: a one-tool `MCPServer` whose tool does no work.

python bench/hello_server.py                    stdio, started the way bimpe-mcp is (bench/run.py)
python bench/hello_server.py http --port N      streamable HTTP (bench/load.py latency)
"""

from __future__ import annotations

import sys

import anyio
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("hello", log_level="WARNING")


@mcp.tool()
def hello(name: str) -> str:
    """Say hello to someone."""
    return f"Hello, {name}!"


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:  # no argparse: the stdio start-up stays the SDK's own
        import uvicorn

        port = int(sys.argv[sys.argv.index("--port") + 1])
        uvicorn.run(mcp.streamable_http_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    else:
        anyio.run(mcp.run_stdio_async)
