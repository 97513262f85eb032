"""Malformed JSON-RPC frames get the error the specification names, and the server keeps serving.

Raw frames, no MCP client: over stdio to a real `bimpe-mcp --sandbox` subprocess, and as raw
POSTs to the streamable HTTP app, in both protocol eras.
"""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from mcp_types import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR

from bimpe_mcp.sandbox import RunningSandbox
from bimpe_mcp.settings import Settings
from tests.harness import http_server, server_env

REPLY_TIMEOUT = 60.0
LEGACY, MODERN = "2025-11-25", "2026-07-28"
ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "frames-test", "version": "1"},
}


def frame(**message: Any) -> bytes:
    return json.dumps(message).encode()


def tools_list(request_id: int | str, era: str) -> dict[str, Any]:
    """A valid tools/list; the 2026-07-28 era carries its envelope on every request."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": "tools/list"}
    if era == MODERN:
        message["params"] = {"_meta": ENVELOPE}
    return message


class Case(NamedTuple):
    name: str
    frame: bytes
    code: int
    echoed_id: int | str | None
    http_status: int = 400


TWENTY_MB = "x" * 20_000_000
HUGE = frame(jsonrpc="2.0", id=14, method="tools/call", params={"name": "list_agents", "arguments": {"pad": TWENTY_MB}})

CASES = [
    Case("invalid JSON", b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"', PARSE_ERROR, None),
    Case("params as a string", frame(jsonrpc="2.0", id=2, method="tools/list", params="all"), INVALID_REQUEST, 2),
    Case("missing jsonrpc", frame(id=3, method="tools/list"), INVALID_REQUEST, 3),
    Case('jsonrpc "1.0"', frame(jsonrpc="1.0", id="four", method="tools/list"), INVALID_REQUEST, "four"),
    Case("numeric method", frame(jsonrpc="2.0", id=5, method=5), INVALID_REQUEST, 5),
    Case("params as an array", frame(jsonrpc="2.0", id=6, method="tools/list", params=[]), INVALID_PARAMS, 6),
    Case("batch", json.dumps([tools_list(7, LEGACY)]).encode(), INVALID_REQUEST, None),
    Case("100k-deep nesting", b"[" * 100_000 + b"]" * 100_000, PARSE_ERROR, None),
    Case("id as object", frame(jsonrpc="2.0", id={"n": 9}, method="tools/list"), INVALID_REQUEST, None),
    Case("id as float", frame(jsonrpc="2.0", id=10.5, method="tools/list"), INVALID_REQUEST, None),
    Case("id null", frame(jsonrpc="2.0", id=None, method="tools/list"), INVALID_REQUEST, None),
    Case("id true", frame(jsonrpc="2.0", id=True, method="tools/list"), INVALID_REQUEST, None),
    Case("no method", frame(jsonrpc="2.0", id=13), INVALID_REQUEST, 13),
    Case("not an object", b"42", INVALID_REQUEST, None),
    Case("20 MB", HUGE, PARSE_ERROR, None, http_status=413),
]


def mismatch(case: Case, reply: dict[str, Any]) -> str | None:
    """What is wrong with `reply` as the answer to `case`, or None."""
    error = reply.get("error") or {}
    if reply.get("jsonrpc") != "2.0" or "id" not in reply or "result" in reply:
        return f"{case.name}: not a JSON-RPC error: {reply}"
    if (error.get("code"), reply["id"]) != (case.code, case.echoed_id):
        return f"{case.name}: want code {case.code} id {case.echoed_id!r}, got {reply}"
    return None


class StdioServer:
    """`bimpe-mcp --sandbox` as a subprocess, spoken to in raw lines."""

    def __init__(self, log: Path) -> None:
        with log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bimpe_mcp", "--sandbox"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=server_env(None),
            )
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(b"")

    def send(self, line: bytes | dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((line if isinstance(line, bytes) else frame(**line)) + b"\n")
        self.process.stdin.flush()

    def reply(self) -> dict[str, Any]:
        """The next response on stdout, skipping the server's own notifications and requests."""
        while True:
            line = self.lines.get(timeout=REPLY_TIMEOUT)
            assert line, "the server closed stdout"
            message: dict[str, Any] = json.loads(line)
            if "method" not in message:
                return message


@contextmanager
def stdio_server(log: Path) -> Iterator[StdioServer]:
    server = StdioServer(log)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.process.kill()
        server.process.wait(timeout=30)


@pytest.mark.parametrize("era", [LEGACY, MODERN])
def test_stdio_answers_every_malformed_line_and_keeps_serving(era: str, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with stdio_server(log) as server:
        if era == LEGACY:
            client_info = {"name": "frames-test", "version": "1"}
            server.send(
                {
                    "jsonrpc": "2.0",
                    "id": 0,
                    "method": "initialize",
                    "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": client_info},
                }
            )
            assert server.reply()["result"]["protocolVersion"] == LEGACY
            server.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        else:
            server.send(tools_list(0, era))
            assert server.reply()["result"]["tools"]

        problems = []
        for case in CASES:
            server.send(case.frame)
            problems.append(mismatch(case, server.reply()))
        assert [p for p in problems if p] == [], log.read_text()

        server.send(tools_list("after", era))
        last = server.reply()
        assert last["id"] == "after" and last["result"]["tools"], last

        assert server.process.stdin is not None
        server.process.stdin.close()
        assert server.process.wait(timeout=30) == 0, log.read_text()
    assert "Traceback" not in log.read_text()


@pytest.mark.parametrize("wire", ["files", "socket"])
def test_stdio_serves_a_socket_and_plain_files_too(wire: str, tmp_path: Path) -> None:
    """Clients built on libuv (Node) hand a server sockets for stdio; a script may redirect files. The
    event loop serves a pipe or a socket itself, files go through threads: either way every line is
    answered in order, a malformed or an oversized one included, and the server exits 0 at the end."""
    client_info = {"name": "frames-test", "version": "1"}
    init = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": client_info}
    lines = [
        frame(jsonrpc="2.0", id=0, method="initialize", params=init),
        frame(jsonrpc="2.0", method="notifications/initialized"),
        CASES[0].frame,
        HUGE,
    ]
    wanted = [0, None, None]
    if wire == "socket":  # a client that waits for its answer before it closes
        lines.append(frame(**tools_list("after", LEGACY)))
        wanted.append("after")
    sent = b"".join(line + b"\n" for line in lines)
    command = [sys.executable, "-m", "bimpe_mcp", "--sandbox"]
    with (tmp_path / "server.log").open("wb") as log:
        if wire == "files":
            (tmp_path / "in.jsonl").write_bytes(sent)
            with (tmp_path / "in.jsonl").open("rb") as stdin, (tmp_path / "out.jsonl").open("wb") as stdout:
                code = subprocess.run(command, stdin=stdin, stdout=stdout, stderr=log, env=server_env(None), timeout=60)
            replies = [json.loads(line) for line in (tmp_path / "out.jsonl").read_bytes().splitlines()]
        else:
            client_in, server_in = socket.socketpair()  # one socket each way, as libuv makes them
            client_out, server_out = socket.socketpair()
            with client_in, server_in, client_out, server_out:
                env = server_env(None)
                process = subprocess.Popen(command, stdin=server_in, stdout=server_out, stderr=log, env=env)
                server_in.close()
                server_out.close()
                client_in.sendall(sent)
                received = client_out.makefile("rb")
                replies = [json.loads(received.readline()) for _ in wanted]
                client_in.shutdown(socket.SHUT_WR)
                code = subprocess.CompletedProcess(command, process.wait(timeout=60))
                assert received.read() == b"", "nothing after the answers"
    assert code.returncode == 0, (tmp_path / "server.log").read_text()
    assert [reply.get("id") for reply in replies] == wanted, replies
    assert replies[0]["result"]["protocolVersion"] == LEGACY
    assert [reply["error"]["code"] for reply in replies[1:3]] == [PARSE_ERROR, PARSE_ERROR]
    assert wire == "files" or replies[3]["result"]["tools"]


def sse_or_json(response: httpx.Response) -> dict[str, Any]:
    """The one JSON-RPC message of a response, whether sent as JSON or as an SSE event."""
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line.removeprefix("data:") for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1])
    return response.json()


@pytest.mark.parametrize("era", ["stateful", "stateless", MODERN])
def test_http_answers_every_malformed_body_and_keeps_serving(era: str, sandbox: RunningSandbox) -> None:
    settings = Settings.load({}, stateless=era == "stateless").with_backend(
        base_url=sandbox.base_url, api_key=sandbox.store.demo_api_key
    )
    with http_server(settings) as base, httpx.Client(base_url=base, timeout=REPLY_TIMEOUT) as http:
        headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
        if era == MODERN:
            headers["mcp-protocol-version"] = MODERN
        else:
            initialize = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
            opened = http.post(
                "/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": initialize}
            )
            assert opened.status_code == 200, opened.text
            headers["mcp-protocol-version"] = LEGACY
            if era == "stateful":
                headers["mcp-session-id"] = opened.headers["mcp-session-id"]
            initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            assert http.post("/mcp", headers=headers, json=initialized).status_code == 202

        problems = []
        for case in CASES:
            response = http.post("/mcp", headers=headers, content=case.frame)
            if (response.status_code, response.headers.get("content-type")) != (case.http_status, "application/json"):
                problems.append(f"{case.name}: HTTP {response.status_code} {response.text[:200]}")
            else:
                problems.append(mismatch(case, response.json()))
        assert [p for p in problems if p] == []

        last = http.post("/mcp", headers={**headers, "mcp-method": "tools/list"}, json=tools_list("after", era))
        assert last.status_code == 200, last.text
        reply = sse_or_json(last)
        assert reply["id"] == "after" and reply["result"]["tools"], reply
