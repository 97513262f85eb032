"""`bimpe-mcp`: serve (the default), sandbox, demo, call and tools.

Imports stay inside the commands, so `bimpe-mcp` over stdio loads only what it serves.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from bimpe_mcp import __version__
from bimpe_mcp.settings import SETTINGS_TABLE, Settings, SettingsError

__all__ = ["main"]

_HELP = {setting.name: setting.help for setting in SETTINGS_TABLE}
_SERVER_FLAG_NAMES = (
    "toolsets",
    "read_only",
    "agent_id",
    "sandbox",
    "base_url",
    "timeout",
    "max_retries",
    "log_level",
    "log_json",
)
_SERVE_FLAG_NAMES = ("transport", "host", "port", "stateless")


def _server_flags(parser: argparse.ArgumentParser, default: Any = None) -> None:
    """Flags shared by serve, call and tools. Unset flags let the environment show through."""
    parser.add_argument("--toolsets", help=_HELP["toolsets"] + " Default: all.", default=default)
    parser.add_argument("--read-only", action="store_const", const=True, help=_HELP["read_only"], default=default)
    parser.add_argument("--agent-id", help=_HELP["agent_id"], default=default)
    parser.add_argument("--sandbox", action="store_const", const=True, help=_HELP["sandbox"], default=default)
    parser.add_argument("--base-url", help=_HELP["base_url"], default=default)
    parser.add_argument("--timeout", type=float, help=_HELP["timeout"], default=default)
    parser.add_argument("--max-retries", type=int, help=_HELP["max_retries"], default=default)
    parser.add_argument("--log-level", help=_HELP["log_level"], default=default)
    parser.add_argument("--log-json", action="store_const", const=True, help=_HELP["log_json"], default=default)


def _serve_flags(parser: argparse.ArgumentParser, default: Any = None) -> None:
    parser.add_argument("--transport", choices=["stdio", "http"], help=_HELP["transport"], default=default)
    parser.add_argument("--host", help=_HELP["host"], default=default)
    parser.add_argument("--port", type=int, help=_HELP["port"], default=default)
    parser.add_argument("--stateless", action="store_const", const=True, help=_HELP["stateless"], default=default)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bimpe-mcp",
        description="MCP server for the BimpeAI Console API. With no command it serves MCP over stdio.",
        epilog="Environment: " + ", ".join(s.env for s in SETTINGS_TABLE) + ".",
    )
    parser.add_argument("--version", action="version", version=f"bimpe-mcp {__version__}")
    _server_flags(parser)
    _serve_flags(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="Serve MCP over stdio (default) or streamable HTTP.")
    _server_flags(serve, argparse.SUPPRESS)
    _serve_flags(serve, argparse.SUPPRESS)

    sandbox = commands.add_parser("sandbox", help="Run the Console API sandbox on HTTP.")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--api-key", help="The demo team's key (default: a random sk_test_ key).")
    sandbox.add_argument("--empty", action="store_true", help="Seed no demo data.")

    commands.add_parser("demo", help="Walk the integrations scenario against a sandbox and print it.")

    call = commands.add_parser("call", help="Run one tool and print its structuredContent as JSON.")
    call.add_argument("tool")
    call.add_argument("--args", default="{}", help="Tool arguments as a JSON object.")
    _server_flags(call, argparse.SUPPRESS)

    tools = commands.add_parser("tools", help="List the tools this configuration exposes.")
    output = tools.add_mutually_exclusive_group()
    output.add_argument(
        "--json", dest="output", action="store_const", const="json", help="Print the tools/list payload."
    )
    output.add_argument(
        "--markdown",
        dest="output",
        action="store_const",
        const="markdown",
        help="Print the catalog as a markdown table.",
    )
    _server_flags(tools, argparse.SUPPRESS)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    names = _SERVER_FLAG_NAMES + _SERVE_FLAG_NAMES
    return Settings.load(**{name: getattr(args, name, None) for name in names})


def _fail(message: str, code: int = 2) -> int:
    print(f"bimpe-mcp: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "serve"
    if command == "sandbox":
        from bimpe_mcp.sandbox import serve

        serve(host=args.host, port=args.port, api_key=args.api_key, empty=args.empty)
        return 0
    if command == "demo":
        from bimpe_mcp.demo import run_demo

        return run_demo()
    try:
        settings = _settings(args)
    except SettingsError as error:
        return _fail(str(error))
    if command == "tools":
        return _list_tools(settings, output=args.output)
    # A shared HTTP service may run keyless: each request then brings its team's key (see http.py).
    shared_http = command == "serve" and settings.transport == "http"
    if not settings.sandbox and not settings.api_key and not shared_http:
        return _fail("BIMPE_API_KEY is not set: export your team key (sk_…), or pass --sandbox to try the demo data.")
    from bimpe_mcp.logs import configure_logging

    quiet = command == "call" and args.log_level is None and "BIMPE_LOG_LEVEL" not in os.environ
    level = "WARNING" if quiet else settings.log_level
    configure_logging(level, json_lines=settings.log_json, secrets=[settings.api_key or ""])
    if command == "call":
        return _call(settings, args.tool, args.args)
    return _serve(settings)


def _with_backend(settings: Settings) -> tuple[Settings, Any]:
    """Start the in-process sandbox when asked for, and point the settings at it."""
    if not settings.sandbox:
        return settings, None
    from bimpe_mcp.sandbox import start_in_thread

    sandbox = start_in_thread()
    return settings.with_backend(base_url=sandbox.base_url, api_key=sandbox.store.demo_api_key), sandbox


def _serve(settings: Settings) -> int:
    import anyio

    from bimpe_mcp.server import build_server

    settings, sandbox = _with_backend(settings)
    server = build_server(settings)
    try:
        if settings.transport == "stdio":

            async def stdio() -> None:
                try:
                    from bimpe_mcp._frames import serve_stdio

                    await serve_stdio(server.mcp)
                finally:
                    await server.aclose()

            anyio.run(stdio)
        else:
            import logging

            import uvicorn

            from bimpe_mcp.http import create_app

            app = create_app(server, settings)
            logging.getLogger("bimpe_mcp").info(
                "serving MCP on http://%s:%s/mcp%s", settings.host, settings.port, " (stateless)" * settings.stateless
            )
            uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)
    except KeyboardInterrupt:
        pass
    finally:
        if sandbox is not None:
            sandbox.stop()
    return 0


def _call(settings: Settings, tool: str, raw_arguments: str) -> int:
    import anyio

    try:
        arguments = json.loads(raw_arguments)
    except json.JSONDecodeError as error:
        return _fail(f"--args is not valid JSON ({error.msg} at position {error.pos})")
    if not isinstance(arguments, dict):
        return _fail('--args must be a JSON object, e.g. \'{"agent_id": "agt_…"}\'')

    async def run() -> int:
        from mcp import Client

        from bimpe_mcp.server import build_server

        server = build_server(settings)
        try:
            async with Client(server.mcp) as client:
                known = {t.name for t in (await client.list_tools()).tools}
                if tool not in known:
                    return _fail(f"unknown tool {tool!r}; `bimpe-mcp tools` lists them", code=1)
                result = await client.call_tool(tool, arguments)
        finally:
            await server.aclose()
        if result.is_error:
            text = "\n".join(getattr(block, "text", "") for block in result.content)
            print(text, file=sys.stderr)
            return 1
        print(json.dumps(result.structured_content, indent=2, ensure_ascii=False))
        return 0

    settings, sandbox = _with_backend(settings)
    try:
        return anyio.run(run)
    finally:
        if sandbox is not None:
            sandbox.stop()


def _list_tools(settings: Settings, *, output: str | None) -> int:
    """Print the catalog: a plain list, the tools/list payload (output="json") or a markdown table."""
    import anyio
    from mcp import Client

    from bimpe_mcp._docs import tool_kind, tools_markdown
    from bimpe_mcp.server import build_server

    async def listing() -> list[Any]:
        server = build_server(settings)
        try:
            async with Client(server.mcp) as client:
                return list((await client.list_tools()).tools)
        finally:
            await server.aclose()

    tools = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in anyio.run(listing)]
    if output == "markdown":
        text = tools_markdown(tools)
    elif output == "json":
        text = json.dumps({"tools": tools}, indent=2, ensure_ascii=False) + "\n"
    else:
        width = max((len(t["name"]) for t in tools), default=0)
        text = "".join(
            f"{t['name']:<{width}}  {t.get('_meta', {}).get('toolset', ''):<13}  {tool_kind(t):<11}  "
            f"{t.get('title', '')}\n"
            for t in tools
        )
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `bimpe-mcp tools --json | head`: the reader left, which is fine
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
