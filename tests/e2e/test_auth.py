"""Auth over streamable HTTP: pass-through keys, gateway tokens and JWTs, session caps, tenant isolation.

Real HTTP against uvicorn, the SDK's client where a client is the point, raw requests where the
status and headers are.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, redirect_stderr
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bimpe_mcp._auth import fingerprint, is_loopback, startup_problem
from bimpe_mcp.cli import main
from bimpe_mcp.http import create_app
from bimpe_mcp.sandbox import RunningSandbox, request_log
from bimpe_mcp.server import BimpeServer, build_server
from bimpe_mcp.settings import Settings
from tests.harness import serve_app, server_env, wait_until

LEGACY, MODERN = "2025-11-25", "2026-07-28"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "auth-test", "version": "1"}},
}
ISSUER = "https://idp.example.com"
AUDIENCE = "https://mcp.example.com/mcp"


# ---- serving -------------------------------------------------------------------------------------------------


@dataclass
class Served:
    base: str
    server: BimpeServer

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"

    def open_sessions(self) -> int:
        return len(self.server.mcp.session_manager._server_instances)


@contextmanager
def serving(
    sandbox: RunningSandbox, *, api_key: str = "", base_url: str | None = None, **options: Any
) -> Iterator[Served]:
    """bimpe-mcp over HTTP on a free loopback port, backed by `sandbox`, with `options` as settings."""
    settings = Settings.load({}, transport="http", **options)
    settings = settings.with_backend(base_url=base_url or sandbox.base_url, api_key=api_key)
    server = build_server(settings)
    with serve_app(create_app(server, settings)) as base:
        yield Served(base, server)


@asynccontextmanager
async def client(url: str, headers: dict[str, str], mode: str = "auto") -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60))
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode, read_timeout_seconds=60) as c:
        yield c


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: str


async def post_repeatedly(url: str, headers: dict[str, str], count: int, answers: list[RawAnswer]) -> None:
    """POST `initialize` `count` times on one kept-alive connection, by hand: an HTTP client library
    would spend more time than the server does."""
    host, _, port = url.removeprefix("http://").partition("/")[0].partition(":")
    body = json.dumps(INITIALIZE).encode()
    lines = ["POST /mcp HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in {**MCP_HEADERS, **headers}.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    buffer = b""
    async with await anyio.connect_tcp(host, int(port)) as stream:
        for _ in range(count):
            await stream.send(request)
            while b"\r\n\r\n" not in buffer:
                buffer += await stream.receive()
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            fields = {name.lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)}
            length = int(fields["content-length"])
            while len(buffer) < length:
                buffer += await stream.receive()
            answers.append(RawAnswer(int(status_line.split()[1]), fields, buffer[:length].decode()))
            buffer = buffer[length:]


def initialize(url: str, headers: dict[str, str]) -> httpx.Response:
    """A raw legacy-era initialize: the request that opens a session on a stateful server."""
    return httpx.post(url, json=INITIALIZE, headers={**MCP_HEADERS, **headers}, timeout=30)


# ---- pass-through --------------------------------------------------------------------------------------------


async def test_bogus_initialize_flood_opens_no_session_then_a_real_tenant_gets_in_on_both_eras(
    sandbox: RunningSandbox,
) -> None:
    _, key = sandbox.store.add_team("Real tenant")
    request_log(sandbox.app).clear()
    with serving(sandbox) as served:
        manager = served.server.mcp.session_manager
        admitted = 0
        admit = manager._admit_session

        def counting_admit(requestor: Any) -> Any:
            nonlocal admitted
            admitted += 1
            return admit(requestor)

        manager._admit_session = counting_admit  # type: ignore[method-assign]
        total, parallel = 2000, 50
        answers: list[RawAnswer] = []
        with anyio.fail_after(120):
            async with anyio.create_task_group() as group:
                for _ in range(parallel):
                    group.start_soon(post_repeatedly, served.url, bearer("not-a-real-key"), total // parallel, answers)
        statuses = Counter(answer.status for answer in answers)
        bodies = {answer.body for answer in answers}
        challenges = {answer.headers.get("www-authenticate") for answer in answers}
        assert statuses == {403: total}
        assert admitted == 0 and served.open_sessions() == 0, "a session was opened for an unchecked key"
        (body,) = {json.loads(text)["error"] for text in bodies}
        assert body == "api_key_invalid" and all("not-a-real-key" not in text for text in bodies)
        assert all("the Authorization header" in json.loads(text)["message"] for text in bodies)
        assert challenges == {None}, "no OAuth behind pass-through: no challenge"
        checks = [r for r in request_log(sandbox.app) if r.api_key == "not-a-real-key"]
        assert 1 <= len(checks) <= total // 20, "each bogus request reached the Console"

        async with client(served.url, bearer(key), mode="legacy") as legacy:
            assert legacy.protocol_version == LEGACY
            result = await legacy.call_tool("create_workflow", {"name": "Legacy flow", "system_prompt": "p"})
            assert not result.is_error
            assert admitted == 1 and served.open_sessions() == 1
        async with client(served.url, bearer(key)) as modern:
            assert modern.protocol_version == MODERN
            listed = await modern.call_tool("list_workflows", {})
            names = [w["name"] for w in listed.structured_content["items"]]  # type: ignore[index]
            assert "Legacy flow" in names
        await wait_until(lambda: served.open_sessions() == 0)
        assert admitted == 1, "the modern era opened a session"


async def test_missing_and_malformed_keys_get_403_naming_the_header_and_nothing_is_sent(
    sandbox: RunningSandbox,
) -> None:
    request_log(sandbox.app).clear()
    with serving(sandbox) as served:
        missing = initialize(served.url, {})
        assert missing.status_code == 403 and missing.json()["error"] == "api_key_missing"
        assert "Authorization: Bearer sk_" in missing.json()["message"]
        assert "X-Bimpe-Api-Key" in missing.json()["message"]
        # No challenge: OAuth-capable clients start OAuth on any 401, and no OAuth can yield a Console key.
        assert "www-authenticate" not in missing.headers
        for headers, named in (
            ({"X-Bimpe-Api-Key": "sk_test with space"}, "the X-Bimpe-Api-Key header"),
            ({"Authorization": "Bearer"}, "the Authorization header"),
        ):
            refused = initialize(served.url, headers)
            assert refused.status_code == 403 and named in refused.json()["message"], refused.text
        # No OAuth hints in pass-through: a client that went looking would find nothing to authorize with.
        assert httpx.get(f"{served.base}/.well-known/oauth-protected-resource/mcp").status_code == 404
    assert list(request_log(sandbox.app)) == [], "a malformed key reached the Console"


async def test_a_refused_key_is_told_apart_from_a_console_outage(sandbox: RunningSandbox) -> None:
    with serving(sandbox) as served:
        expired = sandbox.store.add_key(sandbox.store.demo_team_id, ["agents:read"], expired=True)
        refused = initialize(served.url, {"X-Bimpe-Api-Key": expired})
        assert refused.status_code == 403 and "api_key_expired" in refused.json()["message"]
        assert expired not in refused.text and fingerprint(expired) in refused.text
    # No Console at all: the key cannot be checked, which is not the caller's fault.
    with serving(sandbox, base_url=f"http://127.0.0.1:{closed_port()}", max_retries=0, timeout=2) as served:
        down = initialize(served.url, bearer("sk_test_anything"))
        assert down.status_code == 503 and down.json()["error"] == "key_check_unavailable"


async def test_sessions_are_capped_per_credential(sandbox: RunningSandbox) -> None:
    store = sandbox.store
    _, other = store.add_team("Other")
    with serving(sandbox, max_sessions_per_credential=2) as served:
        opened = [initialize(served.url, bearer(store.demo_api_key)) for _ in range(2)]
        assert [r.status_code for r in opened] == [200, 200]
        over = initialize(served.url, bearer(store.demo_api_key))
        assert over.status_code == 429 and over.json()["error"] == "too_many_sessions"
        assert "--max-sessions-per-credential / BIMPE_MAX_SESSIONS_PER_CREDENTIAL" in over.json()["message"]
        assert served.open_sessions() == 2
        assert initialize(served.url, bearer(other)).status_code == 200, "one credential's cap blocked another"

        # A session is bound to its credential: another key cannot use (or close) it.
        session = {"Mcp-Session-Id": opened[0].headers["mcp-session-id"], "Mcp-Protocol-Version": LEGACY}
        assert httpx.delete(served.url, headers={**session, **bearer(other)}).status_code == 404
        assert httpx.delete(served.url, headers={**session, **bearer(store.demo_api_key)}).status_code == 200
        assert initialize(served.url, bearer(store.demo_api_key)).status_code == 200


async def test_idle_sessions_close_and_free_their_slot(sandbox: RunningSandbox) -> None:
    key = sandbox.store.demo_api_key
    with serving(sandbox, max_sessions_per_credential=1, session_idle_timeout=1) as served:
        assert initialize(served.url, bearer(key)).status_code == 200
        await wait_until(lambda: served.open_sessions() == 0, timeout=30)
        assert initialize(served.url, bearer(key)).status_code == 200


async def test_stateless_servers_open_no_sessions_and_still_check_keys(sandbox: RunningSandbox) -> None:
    with serving(sandbox, stateless=True, max_sessions_per_credential=1) as served:
        for _ in range(3):
            async with client(served.url, bearer(sandbox.store.demo_api_key), mode="legacy") as legacy:
                assert not (await legacy.call_tool("list_agents", {})).is_error
        assert initialize(served.url, bearer("sk_test_unknown")).status_code == 403


async def test_fifty_concurrent_tenants_never_cross(sandbox: RunningSandbox) -> None:
    store = sandbox.store
    tenants = [store.add_team(f"Tenant {i}") for i in range(50)]
    keys = {key: i for i, (_, key) in enumerate(tenants)}
    seen: dict[int, list[str]] = {}
    request_log(sandbox.app).clear()
    with serving(sandbox) as served:

        async def tenant(i: int, key: str) -> None:
            mode = "legacy" if i % 2 else "auto"
            async with client(served.url, bearer(key), mode=mode) as c:
                created = await c.call_tool("create_workflow", {"name": f"Flow of tenant {i}", "system_prompt": "p"})
                assert not created.is_error, created.content
                listed = await c.call_tool("list_workflows", {})
                agents = await c.call_tool("list_agents", {})
                assert agents.structured_content["total_count"] == 0  # type: ignore[index]
                items = listed.structured_content["items"]  # type: ignore[index]
                seen[i] = [w["name"] for w in items if w["name"].startswith("Flow of tenant")]

        with anyio.fail_after(150):
            async with anyio.create_task_group() as group:
                for key, i in keys.items():
                    group.start_soon(tenant, i, key)
    assert seen == {i: [f"Flow of tenant {i}"] for i in range(50)}
    records = list(request_log(sandbox.app))
    assert {r.api_key for r in records} <= set(keys), "a request went out with a key no client sent"
    writes = Counter(keys[r.api_key] for r in records if r.method == "POST" and r.raw_path.endswith("/workflows"))
    assert writes == {i: 1 for i in range(50)}
    lists = Counter(keys[r.api_key] for r in records if r.method == "GET" and r.raw_path.endswith("/workflows"))
    assert lists == {i: 1 for i in range(50)}
    owners = {wf["name"]: wf["_team"] for wf in store.workflows.values() if wf["name"].startswith("Flow of tenant")}
    assert owners == {f"Flow of tenant {i}": team for i, (team, _) in enumerate(tenants)}


async def test_loopback_keyless_requests_use_the_server_key(sandbox: RunningSandbox) -> None:
    """The local developer's case: on loopback, a server with BIMPE_API_KEY serves keyless requests with it."""
    with serving(sandbox, api_key=sandbox.store.demo_api_key) as served:
        async with client(served.url, {}) as c:
            result = await c.call_tool("list_agents", {})
            assert result.structured_content["items"][0]["name"] == "Bimpe Demo Agent"  # type: ignore[index]
    # Off loopback the same request is refused, even if start-up checks were skipped.
    off = {"host": "0.0.0.0", "allowed_hosts": ("127.0.0.1:*",)}
    with serving(sandbox, api_key=sandbox.store.demo_api_key, **off) as served:
        assert initialize(served.url, {}).status_code == 403


# ---- gateway -------------------------------------------------------------------------------------------------

TOKEN = "gw-token-0123456789abcdef"


async def test_gateway_tokens_act_with_the_server_key_only(sandbox: RunningSandbox, tmp_path: Path) -> None:
    store = sandbox.store
    _, caller_key = store.add_team("Caller's own team")
    file_token = "gw-from-file-fedcba9876543210"
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text(f"# team tokens\n\n{file_token}\n  # another comment\n")
    request_log(sandbox.app).clear()
    options = {"auth": "gateway", "gateway_tokens": (TOKEN,), "gateway_tokens_file": str(tokens_file)}
    with serving(sandbox, api_key=store.demo_api_key, **options) as served:
        for token, mode in ((TOKEN, "legacy"), (file_token, "auto")):
            async with client(served.url, bearer(token), mode=mode) as c:
                result = await c.call_tool("list_agents", {})
                assert result.structured_content["items"][0]["name"] == "Bimpe Demo Agent"  # type: ignore[index]

        missing = initialize(served.url, {})
        assert missing.status_code == 403 and missing.json()["error"] == "token_missing"
        assert "Authorization: Bearer <token>" in missing.json()["message"]
        assert "www-authenticate" not in missing.headers, "static tokens have no OAuth"
        wrong = initialize(served.url, bearer(TOKEN + "x"))
        assert wrong.status_code == 403 and wrong.json()["error"] == "token_invalid"
        console_key = initialize(served.url, {**bearer(TOKEN), "X-Bimpe-Api-Key": caller_key})
        assert console_key.status_code == 400 and console_key.json()["error"] == "console_key_not_accepted"
        assert initialize(served.url, bearer(caller_key)).status_code == 403, "a Console key is not a gateway token"
        assert httpx.get(f"{served.base}/.well-known/oauth-protected-resource").status_code == 404
    sent = {r.api_key for r in request_log(sandbox.app)}
    assert sent == {store.demo_api_key}, "a caller's credential reached the Console"


class JwksServer:
    """The identity provider's JWKS endpoint, on a loopback port."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        body = json.dumps(jwks).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def idp() -> Iterator[tuple[Any, JwksServer]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    server = JwksServer({"keys": [{**public, "kid": "k1", "alg": "RS256", "use": "sig"}]})
    try:
        yield key, server
    finally:
        server.close()


def sign(key: Any, kid: str = "k1", algorithm: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 600, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=algorithm, headers={"kid": kid})


async def test_gateway_jwts_are_checked_for_signature_issuer_audience_and_expiry(
    sandbox: RunningSandbox, idp: tuple[Any, JwksServer]
) -> None:
    key, jwks = idp
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    options = {"auth": "gateway", "jwt_jwks_url": jwks.url, "jwt_issuer": ISSUER, "jwt_audience": AUDIENCE}
    request_log(sandbox.app).clear()
    with serving(sandbox, api_key=sandbox.store.demo_api_key, **options) as served:
        good = sign(key)
        for mode in ("legacy", "auto"):
            async with client(served.url, bearer(good), mode=mode) as c:
                assert not (await c.call_tool("list_agents", {})).is_error

        metadata_url = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        bad = {
            "expired": sign(key, exp=int(time.time()) - 3600),
            "wrong issuer": sign(key, iss="https://evil.example.com"),
            "wrong audience": sign(key, aud="https://other.example.com/mcp"),
            "no expiry": sign(key, exp=None),
            "unknown signer": sign(other_key),
            "symmetric": jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "exp": 2**31}, "secret" * 6, algorithm="HS256"),
            "garbage": "a.b.c",
        }
        for name, token in bad.items():
            refused = initialize(served.url, bearer(token))
            assert refused.status_code == 401, name
            assert refused.json()["error"] == "token_invalid", name
            challenge = refused.headers["www-authenticate"]
            assert challenge == f'Bearer realm="bimpe-mcp", error="invalid_token", resource_metadata="{metadata_url}"'
        missing = initialize(served.url, {})
        assert missing.headers["www-authenticate"] == f'Bearer realm="bimpe-mcp", resource_metadata="{metadata_url}"'

        for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
            document = httpx.get(served.base + path).json()
            assert document["resource"] == AUDIENCE and document["authorization_servers"] == [ISSUER]
            assert document["bearer_methods_supported"] == ["header"]
    assert {r.api_key for r in request_log(sandbox.app)} == {sandbox.store.demo_api_key}


# ---- start-up ------------------------------------------------------------------------------------------------


def refusal(args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    for name in [name for name in os.environ if name.startswith("BIMPE_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        code = main(["serve", "--transport", "http", *args])
    return code, stderr.getvalue()


OFF_LOOPBACK = ["--host", "0.0.0.0", "--allowed-hosts", "mcp.example.com:*"]


@pytest.mark.parametrize(
    ("args", "env", "names"),
    [
        (OFF_LOOPBACK, {"BIMPE_API_KEY": "sk_test_x"}, "--auth gateway"),
        (["--host", "::", "--allowed-hosts", "mcp.example.com"], {"BIMPE_API_KEY": "sk_test_x"}, "BIMPE_API_KEY"),
        (["--auth", "gateway"], {"BIMPE_GATEWAY_TOKENS": TOKEN}, "set BIMPE_API_KEY"),
        (["--auth", "gateway"], {"BIMPE_API_KEY": "sk_test_x"}, "BIMPE_GATEWAY_TOKENS"),
        (["--auth", "gateway"], {"BIMPE_API_KEY": "sk_test_x", "BIMPE_GATEWAY_TOKENS": "short"}, "at least 16"),
        (["--auth", "gateway", "--gateway-tokens-file", "/nonexistent/tokens"], {"BIMPE_API_KEY": "k"}, "cannot read"),
        (["--auth", "gateway", "--jwt-jwks-url", "https://idp/jwks"], {"BIMPE_API_KEY": "k"}, "--jwt-issuer"),
        ([], {"BIMPE_GATEWAY_TOKENS": TOKEN}, "--auth gateway"),
    ],
    ids=[
        "passthrough-server-key-off-loopback",
        "ipv6-any",
        "gateway-without-server-key",
        "gateway-without-credentials",
        "short-token",
        "unreadable-tokens-file",
        "jwt-without-issuer-audience",
        "tokens-in-passthrough",
    ],
)
def test_start_up_refuses_an_open_proxy_or_an_ambiguous_mode(
    args: list[str], env: dict[str, str], names: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, stderr = refusal(args, env, monkeypatch)
    assert code == 2
    assert len(stderr.strip().splitlines()) == 1 and stderr.startswith("bimpe-mcp: ") and names in stderr, stderr
    assert "sk_test_x" not in stderr and TOKEN not in stderr


def test_what_may_start() -> None:
    fine = [
        Settings.load({"BIMPE_API_KEY": "sk_test_x"}, transport="http"),  # loopback: the local developer
        Settings.load({}, transport="http", host="0.0.0.0"),  # keyless: every caller brings a key
        Settings.load(
            {"BIMPE_API_KEY": "k", "BIMPE_GATEWAY_TOKENS": TOKEN}, transport="http", host="0.0.0.0", auth="gateway"
        ),
        Settings.load({"BIMPE_SANDBOX": "1"}, transport="http", host="0.0.0.0"),  # callers send the printed key
    ]
    assert [startup_problem(settings) for settings in fine] == [None] * 4
    assert [is_loopback(h) for h in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "::ffff:127.0.0.1")] == [
        True
    ] * 6
    assert [is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.com", "")] == [False] * 5


async def test_http_sandbox_prints_its_key_and_accepts_it() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bimpe_mcp", "serve", "--transport", "http", "--sandbox", "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=server_env(None),
    )
    try:
        assert process.stderr is not None
        key = url = None
        deadline = time.monotonic() + 30
        while (key is None or url is None) and time.monotonic() < deadline:
            line = process.stderr.readline()
            assert line, "the server exited before serving"
            if line.startswith("bimpe-mcp: sandbox key for HTTP clients: "):
                key = line.rsplit(" ", 1)[1].strip()
            elif "serving MCP on " in line:
                url = line.split("serving MCP on ", 1)[1].split()[0]
        assert key is not None and key.startswith("sk_test_") and url is not None
        async with client(url, bearer(key)) as c:
            result = await c.call_tool("list_agents", {})
            assert result.structured_content["items"][0]["name"] == "Bimpe Demo Agent"  # type: ignore[index]
        assert initialize(url, bearer("sk_test_not_the_sandbox_key")).status_code == 403
    finally:
        process.terminate()
        process.wait(timeout=15)
