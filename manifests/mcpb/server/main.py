"""The MCP Bundle's entry point: bimpe-mcp over stdio, with the dependencies bundled in server/lib.

Build the bundle from the repository root, in build/ (README: Registry and bundle):
    rm -rf build/mcpb && mkdir -p build && cp -r manifests/mcpb build/mcpb
    pip install --target build/mcpb/server/lib .
    npx @anthropic-ai/mcpb pack build/mcpb build/bimpe-mcp.mcpb
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))

from bimpe_mcp.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
