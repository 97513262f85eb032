"""The HTTP service on a real network: Host and Origin allow-lists on every route, the start-up
refusal off loopback, the body limit, and CORS for browser clients. Real HTTP requests throughout."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import PARSE_ERROR

from bimpe_mcp import cli
from bimpe_mcp._netsec import LOOPBACK_HOSTS, AllowList, bind_refusal, is_loopback, transport_security
from bimpe_mcp.sandbox import RunningSandbox
from bimpe_mcp.settings import Settings
from tests.harness import http_server, server_env

MODERN = "2026-07-28"
ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "rebinding-probe", "version": "1"},
}
ROUTES = ("/mcp", "/healthz", "/readyz", "/metrics", "/.well-known/oauth-protected-resource")
FOREIGN_HOSTS = ("evil.example", "evil.example:8000", "attacker.test:80", "mcp.example.com.evil.example", "")


def settings_for(sandbox: RunningSandbox, **values: Any) -> Settings:
    """HTTP settings over `sandbox`, as a deployment bound to every interface would have them."""
    values.setdefault("host", "0.0.0.0")
    values.setdefault("allowed_hosts", "mcp.example.com,mcp.example.com:*")
    return Settings.load({}, transport="http", **values).with_backend(
        base_url=sandbox.base_url, api_key=sandbox.store.demo_api_key
    )


def mcp_headers(sandbox: RunningSandbox, **extra: str) -> dict[str, str]:
    return {
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "authorization": f"Bearer {sandbox.store.demo_api_key}",
        **extra,
    }


def create_workflow_call(name: str) -> dict[str, Any]:
    """A one-request tool call (2026-07-28 era): what a rebinding page would POST."""
    arguments = {"name": name, "system_prompt": "p"}
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "create_workflow", "arguments": arguments, "_meta": ENVELOPE},
    }


def probe(base: str, path: str, sandbox: RunningSandbox, **headers: str) -> httpx.Response:
    if path == "/mcp":
        wire = mcp_headers(sandbox, **{"mcp-protocol-version": MODERN, "mcp-method": "tools/call"}, **headers)
        wire.setdefault("mcp-name", "create_workflow")
        return httpx.post(f"{base}{path}", headers=wire, json=create_workflow_call("Rebound"))
    return httpx.get(f"{base}{path}", headers=headers)


def assert_misdirected(response: httpx.Response) -> None:
    assert response.status_code == 421, response.text
    body = response.json()
    assert body["error"] == "misdirected_request" and "--allowed-hosts / BIMPE_ALLOWED_HOSTS" in body["message"]


def test_dns_rebinding_probes_get_421_on_every_route_and_run_no_tool(sandbox: RunningSandbox) -> None:
    store = sandbox.store
    with http_server(settings_for(sandbox)) as base:
        for path in ROUTES:
            for host in FOREIGN_HOSTS:
                assert_misdirected(probe(base, path, sandbox, host=host))
        assert store.counts.get("workflows.create", 0) == 0

        port = base.rsplit(":", 1)[1]
        for host in ("mcp.example.com", f"mcp.example.com:{port}", f"MCP.Example.COM:{port}"):
            assert probe(base, "/healthz", sandbox, host=host).status_code == 200
            assert probe(base, "/metrics", sandbox, host=host).status_code == 200
        called = probe(base, "/mcp", sandbox, host=f"mcp.example.com:{port}")
        assert called.status_code == 200, called.text
        assert store.counts.get("workflows.create", 0) == 1
        # The loopback names stay allowed: a rebinding page can only send its own name, and the
        # container's health check asks for 127.0.0.1.
        assert httpx.get(f"{base}/healthz").status_code == 200


def test_the_sdks_own_check_is_a_second_line_not_the_only_one(sandbox: RunningSandbox) -> None:
    security = transport_security(settings_for(sandbox))
    assert security.enable_dns_rebinding_protection
    assert "mcp.example.com" in security.allowed_hosts and "mcp.example.com:*" in security.allowed_hosts
    assert "evil.example" not in security.allowed_hosts


def test_host_entries_match_a_name_its_port_or_any_port() -> None:
    hosts = AllowList(["mcp.example.com", "api.example.com:8443", "edge.example.com:*", *LOOPBACK_HOSTS])
    for allowed in ("mcp.example.com", "MCP.example.com", "api.example.com:8443", "edge.example.com"):
        assert hosts.allows(allowed), allowed
    for allowed in ("edge.example.com:80", "localhost", "localhost:8000", "127.0.0.1:1", "[::1]:8000"):
        assert hosts.allows(allowed), allowed
    for foreign in (
        "mcp.example.com:8000",
        "api.example.com",
        "api.example.com:443",
        "edge.example.com:x",
        "edge.example.com.evil.example:80",
        "localhost.evil.example",
        "127.0.0.1.evil.example:80",
        "",
    ):
        assert not hosts.allows(foreign), foreign


def test_a_server_bound_to_every_interface_refuses_foreign_hosts() -> None:
    """A real `serve --host 0.0.0.0` subprocess, with the allow-list from the environment."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    env = server_env(None, BIMPE_ALLOWED_HOSTS="mcp.example.com:*")
    args = ["serve", "--transport", "http", "--host", "0.0.0.0", "--port", str(port), "--sandbox"]
    process = subprocess.Popen(
        [sys.executable, "-m", "bimpe_mcp", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                allowed = httpx.get(f"{base}/healthz", headers={"host": f"mcp.example.com:{port}"})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and process.poll() is None, "the HTTP server did not start"
                time.sleep(0.1)
        assert allowed.status_code == 200
        for path in ("/healthz", "/metrics"):
            assert_misdirected(httpx.get(f"{base}{path}", headers={"host": f"evil.example:{port}"}))
        rebound = httpx.post(
            f"{base}/mcp",
            headers={
                "host": f"evil.example:{port}",
                "content-type": "application/json",
                "mcp-protocol-version": MODERN,
            },
            json=create_workflow_call("Rebound"),
        )
        assert_misdirected(rebound)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)


def test_serving_on_every_interface_without_allowed_hosts_refuses_to_start() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bimpe_mcp", "serve", "--transport", "http", "--host", "0.0.0.0", "--sandbox"],
        env=server_env(None),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "--host 0.0.0.0" in result.stderr and "--allowed-hosts / BIMPE_ALLOWED_HOSTS" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("host", "allowed", "refusal"),
    [
        ("::", "", "--host ::"),
        ("192.168.1.20", "", "--host 192.168.1.20"),
        ("mcp.internal", "", "--host mcp.internal"),
        ("0.0.0.0", "*", "--allowed-hosts / BIMPE_ALLOWED_HOSTS: '*'"),
        ("0.0.0.0", "https://mcp.example.com", "--allowed-hosts / BIMPE_ALLOWED_HOSTS: 'https://mcp.example.com'"),
        ("0.0.0.0", "mcp.example.com/mcp", "--allowed-hosts / BIMPE_ALLOWED_HOSTS: 'mcp.example.com/mcp'"),
        ("127.0.0.1", "*.example.com", "--allowed-hosts / BIMPE_ALLOWED_HOSTS: '*.example.com'"),
    ],
)
def test_start_up_refusals_are_one_line_naming_the_setting(
    host: str, allowed: str, refusal: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BIMPE_ALLOWED_HOSTS", raising=False)
    served: list[Settings] = []

    def serve(settings: Settings) -> int:
        served.append(settings)
        return cli.EXIT_OK

    monkeypatch.setattr(cli, "_serve", serve)
    args = ["serve", "--transport", "http", "--host", host, "--sandbox", "--allowed-hosts", allowed]
    assert cli.main(args) == cli.EXIT_USAGE
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and refusal in stderr, stderr
    assert served == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_allowed_hosts(host: str) -> None:
    assert is_loopback(host)
    assert bind_refusal(Settings(transport="http", host=host)) is None
    assert bind_refusal(Settings(transport="http", host="0.0.0.0", allowed_hosts=("mcp.example.com:*",))) is None


def test_a_foreign_origin_gets_403_on_every_route(sandbox: RunningSandbox) -> None:
    settings = settings_for(sandbox, allowed_origins="https://app.example.com")
    with http_server(settings) as base:
        for path in ROUTES:
            for origin in ("https://evil.example", "null", "http://localhost:5173", "https://app.example.com.evil"):
                refused = probe(base, path, sandbox, origin=origin)
                assert refused.status_code == 403, (path, origin, refused.text)
                body = refused.json()
                assert body["error"] == "origin_not_allowed"
                assert "--allowed-origins / BIMPE_ALLOWED_ORIGINS" in body["message"]
        assert sandbox.store.counts.get("workflows.create", 0) == 0
        assert probe(base, "/healthz", sandbox, origin="https://app.example.com").status_code == 200
        assert probe(base, "/mcp", sandbox, origin="https://app.example.com").status_code == 200
        assert probe(base, "/healthz", sandbox).status_code == 200  # no Origin: not a browser's cross-origin call


def test_by_default_only_loopback_origins_pass(sandbox: RunningSandbox) -> None:
    settings = Settings.load({}, transport="http").with_backend(
        base_url=sandbox.base_url, api_key=sandbox.store.demo_api_key
    )
    with http_server(settings) as base:
        assert httpx.get(f"{base}/healthz", headers={"origin": "http://localhost:6274"}).status_code == 200
        assert httpx.get(f"{base}/healthz", headers={"origin": "https://evil.example"}).status_code == 403
        assert_misdirected(httpx.get(f"{base}/healthz", headers={"host": "evil.example"}))


@contextmanager
def limited(sandbox: RunningSandbox, limit: int) -> Iterator[str]:
    with http_server(settings_for(sandbox, host="127.0.0.1", allowed_hosts="", max_body_bytes=str(limit))) as base:
        yield base


def test_a_body_over_the_limit_gets_413_with_a_json_rpc_error(sandbox: RunningSandbox) -> None:
    limit = 2048
    oversized = create_workflow_call("x" * (2 * limit))
    headers = mcp_headers(
        sandbox, **{"mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": "create_workflow"}
    )
    with limited(sandbox, limit) as base:

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted as the body arrives
            body = httpx.Request("POST", "/", json=oversized).content
            for start in range(0, len(body), 512):
                yield body[start : start + 512]

        answers = {
            "declared": httpx.post(f"{base}/mcp", headers=headers, json=oversized),
            "streamed": httpx.post(f"{base}/mcp", headers=headers, content=chunks()),
            "not JSON": httpx.post(
                f"{base}/mcp", headers={**headers, "content-type": "text/plain"}, content=b"x" * (2 * limit)
            ),
            "another route": httpx.post(f"{base}/healthz", content=b"x" * (2 * limit)),
        }
        for case, response in answers.items():
            assert response.status_code == 413, (case, response.text)
            assert response.headers["content-type"] == "application/json"
            error = response.json()
            assert error["jsonrpc"] == "2.0" and error["error"]["code"] == PARSE_ERROR, case
            assert f"larger than {limit} bytes" in error["error"]["message"], case
        fits = httpx.post(f"{base}/mcp", headers=headers, json=create_workflow_call("Fits"))
        assert fits.status_code == 200, fits.text
    assert sandbox.store.counts.get("workflows.create", 0) == 1


PREFLIGHT = {
    "origin": "https://app.example.com",
    "access-control-request-method": "POST",
    "access-control-request-headers": (
        "authorization, content-type, mcp-protocol-version, mcp-session-id, last-event-id, x-bimpe-api-key, "
        "x-mcp-toolsets, x-mcp-tools, x-mcp-readonly, x-bimpe-agent-id"
    ),
}


async def test_cors_lets_a_browser_client_in_before_the_key_check(sandbox: RunningSandbox) -> None:
    settings = settings_for(sandbox, cors_origins="https://app.example.com").with_backend(
        base_url=sandbox.base_url, api_key=""
    )
    with http_server(settings) as base:
        preflight = httpx.options(f"{base}/mcp", headers=PREFLIGHT)
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
        allowed = {h.strip() for h in preflight.headers["access-control-allow-headers"].lower().split(",")}
        assert {h.strip() for h in PREFLIGHT["access-control-request-headers"].split(",")} <= allowed
        assert "POST" in preflight.headers["access-control-allow-methods"]

        foreign = httpx.options(f"{base}/mcp", headers={**PREFLIGHT, "origin": "https://evil.example"})
        assert foreign.status_code == 403 and "access-control-allow-origin" not in foreign.headers

        browser = httpx2.AsyncClient(
            headers={"origin": "https://app.example.com", "authorization": f"Bearer {sandbox.store.demo_api_key}"}
        )
        async with browser, Client(streamable_http_client(f"{base}/mcp", http_client=browser)) as client:
            listed = await client.call_tool("list_workflows", {})
        assert not listed.is_error
        answered = httpx.post(
            f"{base}/mcp",
            headers=mcp_headers(sandbox, origin="https://app.example.com"),
            json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": _initialize()},
        )
        assert answered.status_code == 200, answered.text
        assert answered.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "mcp-session-id" in answered.headers["access-control-expose-headers"].lower()
        assert "mcp-session-id" in answered.headers


def test_cors_is_off_by_default(sandbox: RunningSandbox) -> None:
    # The origin is allowed (the Origin check passes), but no CORS headers are granted to it.
    settings = settings_for(sandbox, allowed_origins="https://app.example.com")
    with http_server(settings) as base:
        preflight = httpx.options(f"{base}/mcp", headers=PREFLIGHT)
        plain = httpx.get(f"{base}/healthz", headers={"origin": "https://app.example.com"})
    assert preflight.status_code != 200
    assert not [name for name in preflight.headers if name.startswith("access-control-")]
    assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers


def _initialize() -> dict[str, Any]:
    return {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "browser", "version": "1"}}
