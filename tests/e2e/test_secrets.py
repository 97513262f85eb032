"""Secrets canary: credentials never appear in a result, an error, a progress message or a log line."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from mcp_types import CallToolResult

from bimpe_mcp._auth import fingerprint
from bimpe_mcp.sandbox import ALL_SCOPES, RunningSandbox
from bimpe_mcp.server import build_server
from bimpe_mcp.settings import Settings
from tests.e2e.test_auth import bearer, initialize, serving
from tests.e2e.test_every_tool import exercise_every_tool
from tests.harness import Connection, connect

SERVER_KEY = "sk_test_CANARYserverKey0001"
BUTTERBASE_KEY = "bb_sk_test_CANARYbutterbase0014"
CANARIES = {
    "public_key": "pk_test_CANARYpublic0002",
    "secret_key": "sk_test_CANARYsecret0003",
    "token": "CANARY-bumpa-token-0004xyz",
    "bearer": "CANARY-bearer-0005",
    "api_key": "CANARY-apikey-0006",
    "header": "X-CANARY-Header-0007",
    "username": "CANARY-user-0008",
    "password": "CANARY-pass-0009",
    "bad_secret": "CANARY-not-a-stripe-key-0010",
}


def auth_config() -> dict[str, str]:
    return {
        "token": CANARIES["bearer"],
        "api_key": CANARIES["api_key"],
        "header_name": CANARIES["header"],
        "username": CANARIES["username"],
        "password": CANARIES["password"],
    }


class Recorder:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.messages.append(message or "")


def server_records(caplog: pytest.LogCaptureFixture) -> str:
    """The in-process HTTP server's log lines; the test's own MCP client logs what it sends."""
    client_side = ("mcp.client", "httpx2", "httpcore2")
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(client_side))


def leaks(text: str) -> list[str]:
    known = {**CANARIES, "server_key": SERVER_KEY, "butterbase_key": BUTTERBASE_KEY}
    return [name for name, value in known.items() if value in text]


def dump(result: CallToolResult) -> str:
    return json.dumps(result.model_dump(mode="json", by_alias=True))


async def every_secret_bearing_call(conn: Connection, agent_id: str, progress: Recorder) -> list[CallToolResult]:
    stripe = {"public_key": CANARIES["public_key"], "secret_key": CANARIES["secret_key"], "currency": "NGN"}
    api_args = {
        "agent_id": agent_id,
        "name": "Secured",
        "base_url": "https://api.example.com",
        "auth_type": "custom",
        "auth_config": auth_config(),
    }
    results = [
        await conn.call("configure_bimpeai_integration", {"agent_id": agent_id, "type": "stripe", **stripe}),
        await conn.call(
            "configure_bimpeai_integration",
            {"agent_id": agent_id, "type": "paystack", **stripe, "secret_key": CANARIES["bad_secret"]},
        ),
        await conn.call(
            "configure_bimpeai_integration", {"agent_id": agent_id, "type": "bumpa", "token": CANARIES["token"]}
        ),
        await conn.call(
            "configure_bimpeai_integration",
            {"agent_id": agent_id, "type": "bumpa", "token": CANARIES["bad_secret"] + "!"},
        ),
        await conn.call("configure_custom_api", api_args),
        await conn.call("configure_custom_api", {**api_args, "auth_type": "wrong"}),
        await conn.call("configure_custom_api", {**api_args, "auth_config": {**auth_config(), "extra": "x"}}),
        await conn.call("configure_custom_api", {**api_args, "auth_config": CANARIES["password"]}),
    ]
    api_id = results[4].structured_content["id"]  # type: ignore[index]
    tool = {
        "agent_id": agent_id,
        "integration_id": api_id,
        "name": "Pay",
        "http_method": "POST",
        "url_template": "/pay",
        "auth_type": "basic",
        "auth_config": auth_config(),
    }
    results.append(await conn.call("add_custom_api_tool", tool))
    results.append(await conn.call("add_custom_api_tool", {**tool, "http_method": "FETCH"}))
    mcp_args = {
        "agent_id": agent_id,
        "name": "Locked",
        "server_url": "https://mcp.example.com/mcp",
        "auth_type": "bearer",
        "auth_config": auth_config(),
    }
    results.append(await conn.call("configure_mcp_server", mcp_args))
    results.append(
        await conn.call("configure_mcp_server", {**mcp_args, "name": "Local", "server_url": "http://localhost/mcp"})
    )
    mcp_id = results[-2].structured_content["id"]  # type: ignore[index]
    ref = {"agent_id": agent_id, "integration_id": mcp_id}
    results.append(await conn.call("discover_mcp_server_tools", ref, progress_callback=progress))
    results.append(await conn.call("test_mcp_server", ref))
    chat = {"agent_id": agent_id, "message": "hi", "channel_user_id": "canary-tester", "timeout_s": 10}
    results.append(await conn.call("send_test_message", chat, progress_callback=progress))
    return results


@pytest.mark.parametrize("kind", ["stdio", "http"])
async def test_canary_secrets_never_leave(kind: str, sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.store.add_key(sandbox.store.demo_team_id, ALL_SCOPES, api_key=SERVER_KEY)
    sandbox.store.butterbase.api_keys.add(BUTTERBASE_KEY)
    env = {"BIMPE_API_KEY": SERVER_KEY, "BUTTERBASE_API_KEY": BUTTERBASE_KEY, "BIMPE_LOG_LEVEL": "DEBUG"}
    headers = {"Authorization": f"Bearer {SERVER_KEY}"}
    progress = Recorder()
    async with connect(kind, sandbox, args=["--log-level", "DEBUG"], env=env, headers=headers) as conn:
        await exercise_every_tool(conn, sandbox)
        results = await every_secret_bearing_call(conn, sandbox.store.demo_agent_id, progress)
        log = conn.log() if kind == "stdio" else server_records(caplog)
    assert [r.is_error for r in results] == [
        False,
        True,
        False,
        True,
        False,
        True,
        True,
        True,
        False,
        True,
        False,
        False,
        False,
        False,
        False,
    ]
    for result in results:
        assert leaks(dump(result)) == [], dump(result)
    assert progress.messages and leaks(" ".join(progress.messages)) == []
    assert "tool configure_custom_api" in log, "the server log was not captured"
    assert "tool butterbase_execute_tool ok" in log and "/integrations/execute" in log
    assert "POST /agents/" in log, "DEBUG records were not captured"
    assert leaks(log) == []


async def test_upstream_echoes_of_secrets_are_scrubbed() -> None:
    """A Console (or proxy) that echoes credentials back is scrubbed before anything reaches the model."""

    def echo(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        sent = json.dumps(body)
        if request.url.path.endswith("/bimpeai/configure"):
            return httpx.Response(
                400,
                json={
                    "message": f"Rejected {sent}",
                    "code": "integration_connection_failed",
                    "statusCode": 400,
                    "request_id": "r1",
                },
            )
        config = {
            "name": body["name"],
            "base_url": f"https://u:{body['auth_config']['password']}@api.example.com",
            "auth_type": f"bearer {body['auth_config']['token']}",
        }
        return httpx.Response(200, json={"message": "ok", "data": {"id": "int_1", "config": config}})

    settings = Settings.load({}, api_key=SERVER_KEY, max_retries=0)
    server = build_server(settings, http_transport=httpx.MockTransport(echo))
    from mcp import Client

    try:
        async with Client(server.mcp) as client:
            error = await client.call_tool(
                "configure_bimpeai_integration", {"agent_id": "a", "type": "bumpa", "token": CANARIES["token"]}
            )
            echoed = await client.call_tool(
                "configure_custom_api",
                {"agent_id": "a", "name": "Echo", "auth_type": "basic", "auth_config": auth_config()},
            )
    finally:
        await server.aclose()
    assert error.is_error and "Rejected" in dump(error) and leaks(dump(error)) == []
    assert not echoed.is_error and leaks(dump(echoed)) == []
    assert "[redacted]" in dump(echoed)


async def test_butterbase_echoes_of_its_key_are_scrubbed() -> None:
    """A Butterbase (or proxy) that echoes the bb_sk_ key in an error or a result never shows it to the model."""

    def echo(request: httpx.Request) -> httpx.Response:
        sent = request.headers["authorization"]
        if request.url.path.endswith("/config"):
            error = {"code": "UNAUTHORIZED", "message": f"Rejected {sent}", "remediation": f"Not {BUTTERBASE_KEY}"}
            return httpx.Response(401, json={"error": error})
        return httpx.Response(200, json={"integrations": [{"toolkit": "gmail", "displayName": sent, "curated": True}]})

    env = {"BUTTERBASE_API_KEY": BUTTERBASE_KEY, "BUTTERBASE_APP_ID": "app_1"}
    server = build_server(
        Settings.load(env, api_key=SERVER_KEY, max_retries=0), http_transport=httpx.MockTransport(echo)
    )
    from mcp import Client

    try:
        async with Client(server.mcp) as client:
            error = await client.call_tool("butterbase_list_enabled_toolkits", {})
            echoed = await client.call_tool("butterbase_list_toolkits", {})
    finally:
        await server.aclose()
    assert error.is_error and "Rejected" in dump(error) and leaks(dump(error)) == []
    assert not echoed.is_error and leaks(dump(echoed)) == [] and "[redacted]" in dump(echoed)


REJECTED = {
    "console_key": "sk_test_CANARYrejectedKey0011",
    "gateway_token": "CANARY-gateway-token-0012-abcdef",
    "jwt": "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJDQU5BUlkifQ.CANARYsignature0013",
}


async def test_rejected_credentials_are_logged_by_fingerprint_only(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = REJECTED["console_key"]
    with serving(sandbox) as served:
        answers = [initialize(served.url, bearer(key)), initialize(served.url, {"X-Bimpe-Api-Key": key})]
    gateway = {
        "auth": "gateway",
        "gateway_tokens": ("the-one-valid-gateway-token",),
        "jwt_jwks_url": "http://127.0.0.1:9/jwks.json",
        "jwt_issuer": "https://idp.example.com",
        "jwt_audience": "bimpe-mcp",
    }
    with serving(sandbox, api_key=SERVER_KEY, **gateway) as served:
        answers += [initialize(served.url, bearer(REJECTED[name])) for name in ("gateway_token", "jwt")]
    assert [answer.status_code for answer in answers] == [403, 403, 401, 401]  # 401 only with OAuth (JWTs) behind
    log = server_records(caplog)
    warnings = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    for value in REJECTED.values():
        assert fingerprint(value) in warnings, f"the rejection of {fingerprint(value)} was not logged"
    canaries = [*REJECTED.values(), "CANARY"]
    assert [c for c in canaries if c in log] == []
    assert [c for c in canaries for answer in answers if c in answer.text] == []
