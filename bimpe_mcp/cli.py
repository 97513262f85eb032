"""`bimpe-mcp`: serve (the default), sandbox, demo, call and tools.

Imports stay inside the commands, so `bimpe-mcp` over stdio loads only what it serves.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bimpe_mcp import __version__
from bimpe_mcp.settings import SETTINGS_TABLE, Settings, SettingsError, add_flags

if TYPE_CHECKING:
    import socket

    from bimpe_mcp.server import BimpeServer

__all__ = ["EXIT_OK", "EXIT_TOOL_FAILED", "EXIT_USAGE", "build_parser", "main", "settings_from_args"]

# The exit codes of every command; README's Scripting section lists them.
EXIT_OK = 0
"""Done. Also when the reader of stdout left early (`… | head`), and after Ctrl-C."""
EXIT_TOOL_FAILED = 1
"""`call`: the tool returned an error, or there is no such tool. `demo`: a step failed. `serve --workers`:
a worker failed at start-up."""
EXIT_USAGE = 2
"""Bad usage or configuration: a flag, a setting, a missing key, or a host and port that cannot be bound."""

# httpx imports its command line (click, pygments and rich: 1.7 MB, and 25 to 40 ms on the first call) when
# they are installed; no bimpe-mcp process runs it, and a None entry makes httpx fall back to its stub.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

_ADMIN_KEY_ENV = "BIMPE_SANDBOX_ADMIN_KEY"
_STDIO_IN_A_TERMINAL = (
    "bimpe-mcp: this speaks MCP over stdio and is meant to be launched by an MCP client (README: Connect an "
    "assistant). To try it by hand: `bimpe-mcp demo`; every command: `bimpe-mcp --help`. Waiting; Ctrl-C quits."
)


def _command(commands: Any, name: str, summary: str) -> argparse.ArgumentParser:
    """A subcommand whose `--help` opens with the same summary the command list shows."""
    parser: argparse.ArgumentParser = commands.add_parser(name, help=summary, description=summary)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bimpe-mcp",
        description="MCP server for the BimpeAI Console API. With no command it serves MCP over stdio.",
        epilog="Environment: " + ", ".join(s.env for s in SETTINGS_TABLE) + ".",
        allow_abbrev=False,  # `demo --butterbase` is a flag of its own, not short for --butterbase-app-id
    )
    parser.add_argument("-V", "--version", action="version", version=f"bimpe-mcp {__version__}")
    add_flags(parser, "serve")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = _command(commands, "serve", "Serve MCP over stdio (the default) or streamable HTTP.")
    add_flags(serve, "serve", default=argparse.SUPPRESS)

    sandbox = _command(
        commands,
        "sandbox",
        "Run the Console API sandbox (and a Butterbase app beside it) on HTTP. Prints BIMPE_BASE_URL, "
        f"BIMPE_API_KEY, {_ADMIN_KEY_ENV} and BUTTERBASE_BASE_URL, BUTTERBASE_API_KEY, BUTTERBASE_APP_ID, "
        "then serves until Ctrl-C.",
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="Bind address (default: %(default)s).")
    sandbox.add_argument("--port", type=int, default=8765, help="Port; 0 picks a free one (default: %(default)s).")
    sandbox.add_argument("--api-key", help="The demo team's key (default: a random sk_test_ key).")
    sandbox.add_argument(
        "--admin-key",
        help=f"The key the /_sandbox/* routes require in X-Sandbox-Admin-Key (default: {_ADMIN_KEY_ENV}, else random).",
    )
    sandbox.add_argument(
        "--seed", type=int, metavar="N", help="Make the same ids, keys and demo data on every run (default: random)."
    )
    sandbox.add_argument("--empty", action="store_true", help="Seed no demo data (default: a demo team and agent).")

    demo = _command(
        commands,
        "demo",
        "Walk the integrations scenario (Stripe, Google Calendar, a custom API, an MCP server, a test chat) "
        "against a private sandbox and print the transcript.",
    )
    demo.add_argument(
        "--butterbase",
        action="store_true",
        help="Walk Butterbase's instead: search the catalog, enable Gmail, connect a user, list tools, send an email.",
    )

    call = _command(
        commands,
        "call",
        "Run one tool with the server's settings and print its structuredContent as JSON (exit 1 if it fails).",
    )
    call.add_argument("tool", help="The tool's name, as `bimpe-mcp tools` lists it.")
    call.add_argument("--args", default="{}", help="Tool arguments as a JSON object (default: %(default)s).")
    add_flags(call, "call", default=argparse.SUPPRESS)

    tools = _command(
        commands, "tools", "List the tools this configuration exposes (default: name, toolset, kind and title)."
    )
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
    add_flags(tools, "tools", default=argparse.SUPPRESS)
    return parser


def settings_from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Settings:
    """The settings of a parsed command line: its flags over `env` (default: the process environment)."""
    return Settings.load(env, **{s.name: getattr(args, s.name, None) for s in SETTINGS_TABLE if s.flag})


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"bimpe-mcp: {message}", file=sys.stderr)
    return code


def _writing_stdout(command: Callable[[], int]) -> int:
    """Run a command that prints to stdout; when the reader leaves early (`… | head`), end quietly."""
    try:
        code = command()
        sys.stdout.flush()
        return code
    except* BrokenPipeError:
        # Python flushes stdout once more at exit: point it at the null device so that cannot fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # An assistant starts the server with no arguments (its settings in the environment): the parser, with
    # every command's flags, is built only for a command line that has some.
    args = build_parser().parse_args(argv) if argv else argparse.Namespace(command=None)
    command = args.command or "serve"
    if command == "sandbox":
        return _writing_stdout(lambda: _sandbox(args))
    if command == "demo":
        from bimpe_mcp.demo import run_demo

        return _writing_stdout(lambda: run_demo(butterbase=args.butterbase))
    try:
        settings = settings_from_args(args)
    except SettingsError as error:
        return _fail(str(error))
    if problem := _start_up_refusal(settings, command):
        return _fail(problem)
    if command == "tools":
        return _writing_stdout(lambda: _list_tools(settings, output=args.output))
    # A shared HTTP service may run keyless: each request then brings its team's key (see http.py).
    shared_http = command == "serve" and settings.transport == "http"
    if not settings.sandbox and not settings.api_key and not shared_http:
        return _fail("BIMPE_API_KEY is not set: export your team key (sk_…), or pass --sandbox to try the demo data.")
    from bimpe_mcp.logs import configure_logging

    quiet = command == "call" and args.log_level is None and "BIMPE_LOG_LEVEL" not in os.environ
    level = "WARNING" if quiet else settings.log_level
    secrets = [settings.api_key or "", settings.butterbase_api_key or "", *settings.gateway_tokens]
    configure_logging(level, json_lines=settings.log_json, secrets=secrets)
    if command == "call":
        return _writing_stdout(lambda: _call(settings, args.tool, args.args))
    if settings.transport == "stdio" and sys.stdin.isatty():
        print(_STDIO_IN_A_TERMINAL, file=sys.stderr, flush=True)
    return _serve(settings)


def _start_up_refusal(settings: Settings, command: str) -> str | None:
    """What start-up refuses in settings that parse, in one line naming the setting: a tool name the
    catalog does not have; for an HTTP server, one reachable off loopback without `--allowed-hosts`,
    or one where a caller it did not check would act with the server's key (no open proxy)."""
    if settings.tools or settings.exclude_tools:
        from bimpe_mcp.tools import CATALOG

        known = {tool.name for tool in CATALOG}
        for label, names in (
            ("--tools / BIMPE_TOOLS", settings.tools),
            ("--exclude-tools / BIMPE_EXCLUDE_TOOLS", settings.exclude_tools),
        ):
            if unknown := [name for name in names if name not in known]:
                return f"{label}: unknown tool {unknown[0]!r}; `bimpe-mcp tools` lists them"
    if command == "serve" and settings.workers > 1:
        if settings.transport != "http":
            return "--workers / BIMPE_WORKERS: more than one worker needs --transport http"
        if not settings.stateless:
            return (
                "--workers / BIMPE_WORKERS: more than one worker needs --stateless / BIMPE_STATELESS: a stateful "
                "session lives in one process, and its next request may reach another worker"
            )
        if settings.sandbox:
            return (
                "--workers / BIMPE_WORKERS: each worker would run its own --sandbox with its own data; run "
                "`bimpe-mcp sandbox` and point BIMPE_BASE_URL at it"
            )
    if command == "serve" and settings.transport == "http":
        from bimpe_mcp._auth import startup_problem
        from bimpe_mcp._netsec import bind_refusal

        return bind_refusal(settings) or startup_problem(settings)
    return None


def _sandbox(args: argparse.Namespace) -> int:
    from bimpe_mcp._sockets import ListenError
    from bimpe_mcp.sandbox import serve

    admin_key = args.admin_key or os.environ.get(_ADMIN_KEY_ENV) or None
    try:
        serve(
            host=args.host, port=args.port, api_key=args.api_key, empty=args.empty, seed=args.seed, admin_key=admin_key
        )
    except ListenError as error:
        return _fail(f"{error}; pass another --port (0 picks a free one) or --host")
    return EXIT_OK


def _with_backend(settings: Settings, *, announce_key: bool = False) -> tuple[Settings, Any]:
    """Start the in-process sandbox when asked for, and point the settings at it (its Butterbase app too).

    `announce_key`: print the sandbox team's key on stderr, for HTTP clients to send (a pass-through
    server checks every key a client sends against the sandbox, which knows only its own), and the
    sandbox's Butterbase app id (its key stays with the server, which is the one to use it).
    """
    if not settings.sandbox:
        return settings, None
    from bimpe_mcp.sandbox import SandboxStore, start_in_thread

    sandbox = start_in_thread(SandboxStore(seed=settings.sandbox_seed))
    butterbase = sandbox.store.butterbase
    if announce_key:
        print(f"bimpe-mcp: sandbox key for HTTP clients: {sandbox.store.demo_api_key}", file=sys.stderr, flush=True)
        print(f"bimpe-mcp: sandbox Butterbase app: {butterbase.app_id}", file=sys.stderr, flush=True)
    settings = settings.with_backend(base_url=sandbox.base_url, api_key=sandbox.store.demo_api_key)
    return settings.with_butterbase(
        base_url=sandbox.base_url, api_key=butterbase.api_key, app_id=butterbase.app_id
    ), sandbox


def _serve(settings: Settings) -> int:
    # Start-up allocates hundreds of thousands of objects (the SDK, the catalog, the app), none of them
    # garbage: collecting while they are made only scans them again and again, a few percent of a launch.
    gc.disable()
    try:
        return _serve_started(settings)
    finally:
        _started()


_GC_THRESHOLDS = (10_000, 5, 10)
"""Young collections every 10,000 net allocations, not CPython's 700. A collection promotes what is alive
at that moment, which on a server is every call in flight, and promotions are what trigger a full
collection. With 150 open waits a full collection scans some 150,000 objects, about 100 ms in which no
call is answered; at 700 one came every second or two (BENCHMARKS.md, e). A middle collection every 5
young ones (not 10) scans at most 50,000 objects: 150 waits opening together stall calls half as long."""


def _started() -> None:
    """Collection on again once start-up is done, with what start-up made frozen: later collections do not
    scan it, and forked workers share its pages (the use `gc.freeze` documents)."""
    if not gc.isenabled():
        gc.freeze()
        gc.set_threshold(*_GC_THRESHOLDS)
        gc.enable()


def _serve_started(settings: Settings) -> int:
    import anyio

    from bimpe_mcp.server import build_server

    listening = None
    metrics_listening = None
    if settings.transport == "http":
        from bimpe_mcp._sockets import ListenError, listen

        try:
            listening = listen(settings.host, settings.port)
        except ListenError as error:
            return _fail(f"{error}; set another --port / BIMPE_PORT (0 picks a free one) or --host / BIMPE_HOST")
        if settings.metrics_port is not None:
            try:
                metrics_listening = listen(settings.host, settings.metrics_port)
            except ListenError as error:
                listening.close()
                return _fail(f"{error}; set another --metrics-port / BIMPE_METRICS_PORT")
        if settings.workers > 1:
            try:
                return _serve_workers(settings, listening, metrics_listening)
            finally:
                for sock in (listening, metrics_listening):
                    if sock is not None:
                        sock.close()
    settings, sandbox = _with_backend(settings, announce_key=settings.transport == "http")
    server = build_server(settings)
    _started()
    try:
        if listening is None:

            async def stdio() -> None:
                try:
                    from bimpe_mcp._frames import serve_stdio

                    await serve_stdio(server.mcp)
                finally:
                    await server.aclose()

            anyio.run(stdio)
        else:
            _serve_http(server, settings, listening, metrics_listening)
    except KeyboardInterrupt:
        pass
    finally:
        for sock in (listening, metrics_listening):
            if sock is not None:
                sock.close()
        if sandbox is not None:
            sandbox.stop()
    return EXIT_OK


_WORKER_FAILED_EARLY_S = 5.0
"""A worker that exits this soon after it started is failing, not crashing once: the service stops."""


def _serve_workers(settings: Settings, listening: socket.socket, metrics_listening: socket.socket | None) -> int:
    """Serve stateless HTTP from `settings.workers` forked processes sharing the listening sockets.

    The kernel hands each new connection to one worker. A signal is passed on to every worker, which
    drains as a single server does; this process exits once they have all exited. A worker that
    dies is replaced, unless it died at start-up. Each worker has its own Console pools and limits;
    their metrics go to one private directory (see `_metrics.shared_by_workers`), so whichever worker
    answers a scrape of `/metrics` (or of `--metrics-port`) reports the sum over all of them.
    """
    import logging
    import secrets
    import signal
    import time
    from dataclasses import replace

    from bimpe_mcp._metrics import shared_by_workers

    # Loaded here, once, so every worker shares the pages instead of importing it again.
    from bimpe_mcp.server import build_server

    log = logging.getLogger("bimpe_mcp")
    if settings.state_key is None:
        # A multi-round confirmation may end on another worker than it began on: they share one key.
        settings = replace(settings, state_key=secrets.token_hex(32))
    parent = os.getpid()
    workers: dict[int, tuple[int, float]] = {}
    """pid -> (worker index, when it started)"""
    stopping = 0

    def start(index: int) -> None:
        pid = os.fork()
        if pid:
            workers[pid] = (index, time.monotonic())
            return
        code = 1
        try:
            # Its own process group: a Ctrl-C in the terminal reaches only the parent, which passes it on once.
            os.setpgid(0, 0)
            for handled in (signal.SIGTERM, signal.SIGINT):
                signal.signal(handled, signal.default_int_handler)
            with contextlib.suppress(KeyboardInterrupt):
                _serve_http(build_server(settings), settings, listening, metrics_listening, parent_pid=parent)
            code = 0
        except BaseException:
            log.exception("worker %d failed", index)
        finally:
            logging.shutdown()
            os._exit(code)

    def stop(sig: int, frame: object) -> None:
        nonlocal stopping
        stopping += 1
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # a second signal here stops the workers at once

    failed = False
    _started()  # before the first fork: the workers share start-up's pages
    with shared_by_workers() as forget_metrics_of:
        for index in range(settings.workers):
            start(index)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("serving MCP with %d workers (pids %s)", settings.workers, ", ".join(map(str, workers)))
        while workers:
            pid, status = os.wait()
            index, started = workers.pop(pid)
            forget_metrics_of(pid)
            code = os.waitstatus_to_exitcode(status)
            if stopping:
                continue
            if time.monotonic() - started < _WORKER_FAILED_EARLY_S:
                log.error("worker %d (pid %d) exited with %d at start-up; stopping the service", index, pid, code)
                failed = True
                stop(signal.SIGTERM, None)
                continue
            log.warning("worker %d (pid %d) exited with %d; starting another", index, pid, code)
            start(index)
    return EXIT_TOOL_FAILED if failed else EXIT_OK


def _serve_http(
    server: BimpeServer,
    settings: Settings,
    listening: socket.socket,
    metrics_listening: socket.socket | None,
    *,
    parent_pid: int | None = None,
) -> None:
    """Serve until SIGTERM or Ctrl-C, then drain: no new connections or MCP requests, up to
    `settings.shutdown_grace` seconds for those in flight; the process then exits 0.

    `parent_pid`: a worker's supervisor; the worker drains too if that process goes away."""
    import logging
    import signal
    import threading

    import uvicorn

    from bimpe_mcp._netsec import network_middleware
    from bimpe_mcp._operations import Drain, DrainingServer, metrics_app
    from bimpe_mcp._sockets import base_url
    from bimpe_mcp.http import create_app

    log = logging.getLogger("bimpe_mcp")
    drain = Drain(server.backend.metrics, settings.shutdown_grace)
    # Once drained, uvicorn closes what is left: the GET streams end within a second (see _operations.py).
    config = uvicorn.Config(
        create_app(server, settings, drain=drain), log_level="warning", access_log=False, timeout_graceful_shutdown=2
    )
    service = DrainingServer(config, drain, parent_pid=parent_pid)
    scrapes = None
    if metrics_listening is not None:
        guarded = metrics_app(server.backend.metrics, network_middleware(settings))
        scraping = uvicorn.Config(guarded, log_level="warning", access_log=False)
        scrapes = uvicorn.Server(scraping)
        # On its own thread, so its event loop leaves the signals to the MCP server's.
        threading.Thread(target=scrapes.run, kwargs={"sockets": [metrics_listening]}, daemon=True).start()
        log.info("serving metrics on %s/metrics", base_url(metrics_listening, settings.host))
    log.info("serving MCP on %s/mcp%s", base_url(listening, settings.host), " (stateless)" * settings.stateless)
    # uvicorn raises the signal it stopped on again once it is done: SIGTERM then ends the process as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        service.run(sockets=[listening])
    finally:
        if scrapes is not None:
            scrapes.should_exit = True


def _call(settings: Settings, tool: str, raw_arguments: str) -> int:
    import anyio

    try:
        arguments = json.loads(raw_arguments)
    except json.JSONDecodeError as error:
        return _fail(f"--args is not valid JSON ({error.msg} at position {error.pos})")
    if not isinstance(arguments, dict):
        return _fail('--args must be a JSON object, e.g. \'{"agent_id": "agt_…"}\'')

    async def call(client: Any) -> Any:
        known = {t.name for t in (await client.list_tools()).tools}
        return await client.call_tool(tool, arguments) if tool in known else None

    settings, sandbox = _with_backend(settings)
    try:
        result = anyio.run(_in_memory, settings, call)
    finally:
        if sandbox is not None:
            sandbox.stop()
    if result is None:
        return _fail(f"unknown tool {tool!r}; `bimpe-mcp tools` lists them", code=EXIT_TOOL_FAILED)
    if result.is_error:
        print("\n".join(getattr(block, "text", "") for block in result.content), file=sys.stderr)
        return EXIT_TOOL_FAILED
    print(json.dumps(result.structured_content, indent=2, ensure_ascii=False))
    return EXIT_OK


async def _in_memory(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """`work(client)` with an in-memory MCP client of the server these settings build."""
    from mcp import Client

    from bimpe_mcp.server import build_server

    # A script has no one to type into a secret-entry page: it passes secrets as arguments.
    server = build_server(settings, secret_entry=False)
    try:
        async with Client(server.mcp) as client:
            return await work(client)
    finally:
        await server.aclose()


def _list_tools(settings: Settings, *, output: str | None) -> int:
    """Print the catalog: a plain list, the tools/list payload (output="json") or a markdown table."""
    import anyio

    from bimpe_mcp._docs import tool_kind, tools_markdown, toolset_of_each_tool

    async def listing(client: Any) -> list[Any]:
        return list((await client.list_tools()).tools)

    settings, sandbox = _with_backend(settings)
    try:
        listed = anyio.run(_in_memory, settings, listing)
    finally:
        if sandbox is not None:
            sandbox.stop()
    tools = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed]
    if output == "markdown":
        text = tools_markdown(tools)
    elif output == "json":
        text = json.dumps({"tools": tools}, indent=2, ensure_ascii=False) + "\n"
    else:
        width = max((len(t["name"]) for t in tools), default=0)
        toolsets = toolset_of_each_tool()
        text = "".join(
            f"{t['name']:<{width}}  {toolsets.get(t['name'], ''):<13}  {tool_kind(t):<11}  {t.get('title', '')}\n"
            for t in tools
        )
    sys.stdout.write(text)
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
