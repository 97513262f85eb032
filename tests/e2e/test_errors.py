"""Every error class reaches the model as an isError result it can act on, and the server keeps serving."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from bimpe_mcp.sandbox import ALL_SCOPES, RunningSandbox
from bimpe_mcp.settings import Settings
from bimpe_mcp.tools import unfence
from tests.e2e.test_auth import initialize
from tests.harness import TRANSPORTS, connect, http_server, server_env, wait_until

STRIPE = {"type": "stripe", "public_key": "pk_test_abcdefgh1", "secret_key": "sk_test_abcdefgh2"}


def detach_workflow(sandbox: RunningSandbox, agent_id: str) -> None:
    response = httpx.patch(
        f"{sandbox.base_url}/api/v1/console/agents/{agent_id}",
        json={"workflow_id": None},
        headers={"Authorization": f"Bearer {sandbox.store.demo_api_key}"},
    )
    assert response.status_code == 200 and response.json()["data"]["workflow_id"] is None


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_console_errors_name_the_operation_code_request_and_fix(kind: str, sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id
    async with connect(kind, sandbox) as conn:
        text = await conn.fails("get_agent", {"agent_id": "agt_missing"})
        assert text.startswith("get_agent failed: HTTP 404 not_found: Agent not found (request ")
        assert "check agent_id (list_agents lists valid ones)" in text

        text = await conn.fails("configure_bimpeai_integration", {"agent_id": agent_id, **STRIPE, "secret_key": "x"})
        assert "HTTP 400 integration_connection_failed: Invalid Stripe API keys" in text
        assert "check the keys" in text

        text = await conn.fails(
            "delete_workflow",
            {"workflow_id": sandbox.store.demo_workflow_id, "confirm": sandbox.store.demo_workflow_id},
        )
        assert "HTTP 409 conflict" in text

        text = await conn.fails(
            "make_call", {"agent_id": agent_id, "destination": "+2348011112222", "confirm": "+2348011112222"}
        )
        assert "HTTP 400 channel_not_configured" in text and "update_phone_number(agent_id=" in text

        for number in range(10):
            await conn.ok("configure_custom_api", {"agent_id": agent_id, "name": f"API {number}"})
        text = await conn.fails("configure_custom_api", {"agent_id": agent_id, "name": "One too many"})
        assert "HTTP 409 integration_limit_reached" in text and "disconnect_integration" in text

        detach_workflow(sandbox, agent_id)
        text = await conn.fails(
            "configure_mcp_server", {"agent_id": agent_id, "name": "M", "server_url": "https://mcp.example.com"}
        )
        assert "HTTP 400 workflow_required" in text and "update_agent(workflow_id=" in text

        # After all of that, the same connection still serves.
        assert (await conn.ok("list_agents"))["total_count"] == 1


@pytest.mark.parametrize("kind", ["memory", "http"])
async def test_invalid_arguments_name_the_field_and_rule(kind: str, sandbox: RunningSandbox) -> None:
    async with connect(kind, sandbox) as conn:
        text = await conn.fails("create_agent", {"name": "", "persona": "rude", "colour": "red"})
        assert text.startswith("Invalid arguments for create_agent: ")
        assert "workflow_id: required" in text and "description: required" in text
        assert "persona: Input should be 'professional', 'friendly' or 'concise'" in text
        assert "colour: not a parameter of create_agent" in text and "name: String should have at least 1" in text
        text = await conn.fails("send_message", {"agent_id": sandbox.store.demo_agent_id, "message": "hi"})
        assert "give conversation_id, or channel_type and channel_user_id" in text
        text = await conn.fails("list_agents", {"limit": 500})
        assert "limit: Input should be less than or equal to 100" in text
        text = await conn.fails("place_test_call", {"agent_id": "a", "destination": "0801"})
        assert "destination: String should match pattern" in text
    assert sandbox.store.counts.get("calls.create", 0) == 0


async def test_key_errors_over_http_per_request_keys(sandbox: RunningSandbox) -> None:
    store = sandbox.store
    _, free_key = store.add_team("Free team", plan="free")
    cases = {
        "sk_test_unknown": "api_key_invalid",
        store.add_key(store.demo_team_id, ALL_SCOPES, expired=True): "api_key_expired",
    }
    # A key the Console refuses is turned away with 403 before any tool runs, naming the header it came in.
    with http_server(Settings.load(server_env(sandbox), transport="http")) as base:
        for key, expected in cases.items():
            refused = initialize(f"{base}/mcp", {"Authorization": f"Bearer {key}"})
            text = refused.json()["message"]
            assert refused.status_code == 403 and expected in text and "the Authorization header" in text
            assert "BIMPE_API_KEY" not in text and key not in refused.text

    read_only_key = store.add_key(store.demo_team_id, ["agents:read"])
    async with connect("http", sandbox, headers={"X-Bimpe-Api-Key": read_only_key}) as conn:
        assert (await conn.ok("list_agents"))["total_count"] == 1
        text = await conn.fails("create_workflow", {"name": "W", "system_prompt": "p"})
        assert "HTTP 403 insufficient_scope" in text and "Missing scope: workflows:write." in text

    async with connect("http", sandbox, headers={"Authorization": f"Bearer {free_key}"}) as conn:
        workflow = await conn.ok("create_workflow", {"name": "W", "system_prompt": "p"})
        body = {"workflow_id": workflow["id"], "name": "First", "description": "d"}
        first = await conn.ok("create_agent", body)
        text = await conn.fails("create_agent", {**body, "name": "Second"})
        assert "HTTP 409 agent_limit_reached" in text and "delete_agent" in text
        assert (await conn.ok("list_agents"))["items"][0]["id"] == first["id"]


async def test_invalid_key_over_stdio_points_at_the_environment(sandbox: RunningSandbox) -> None:
    async with connect("stdio", sandbox, env={"BIMPE_API_KEY": "sk_test_revoked"}) as conn:
        text = await conn.fails("list_agents")
    assert "HTTP 401 api_key_invalid" in text and "Check BIMPE_API_KEY" in text and "sk_test_revoked" not in text


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_upstream_failures_and_safe_retry_of_a_timed_out_write(kind: str, sandbox: RunningSandbox) -> None:
    faults = sandbox.faults
    env = {"BIMPE_MAX_RETRIES": "0", "BIMPE_TIMEOUT": "0.5"}
    async with connect(kind, sandbox, args=["--max-retries", "0", "--timeout", "0.5"], env=env) as conn:
        faults.replace(error_rate=1.0)
        text = await conn.fails("list_agents")
        assert "HTTP 500 internal_error" in text and "retry later" in text

        faults.replace(malformed_rate=1.0)
        text = await conn.fails("list_agents")
        assert "not its JSON envelope" in text or "not its error envelope" in text

        faults.replace(burst_429=1, retry_after_s=7)
        text = await conn.fails("list_agents")
        assert "HTTP 429 too_many_requests" in text and "retry after 7 s" in text

        faults.replace(latency_s=1.5, only_paths="/workflows$")
        text = await conn.fails("create_workflow", {"name": "Slow", "system_prompt": "p"})
        assert "did not answer within 0.5s" in text
        key = text.split("idempotency_key='")[1].split("'")[0]
        faults.replace()
        await _wait_for_count(sandbox, "workflows.create", 1)
        retried = await conn.ok("create_workflow", {"name": "Slow", "system_prompt": "p", "idempotency_key": key})
        assert retried["name"] == "Slow"
        assert sandbox.store.counts["workflows.create"] == 1, "the retried write ran twice"

        assert (await conn.ok("list_agents"))["total_count"] == 1


async def _wait_for_count(sandbox: RunningSandbox, counter: str, value: int) -> None:
    await wait_until(lambda: sandbox.store.counts.get(counter, 0) >= value)


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_unreachable_console(kind: str, sandbox: RunningSandbox) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{closed_port}"
    async with connect(
        kind,
        None if kind == "stdio" else sandbox,
        args=["--base-url", url, "--max-retries", "0"],
        env={"BIMPE_API_KEY": "sk_test_x"},
    ) as conn:
        text = await conn.fails("list_agents")
    assert f"Could not reach the Console at {url}" in text and "Check BIMPE_BASE_URL" in text


async def test_unexpected_exception_is_reported_and_the_server_keeps_serving(
    sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(self: Any, agent_id: str, **kw: Any) -> Any:
        raise RuntimeError("boom inside the channel listing")

    monkeypatch.setattr("bimpe_mcp.console._client.Agents.channels", explode)
    async with connect("memory", sandbox) as conn:
        text = await conn.fails("list_agent_channels", {"agent_id": sandbox.store.demo_agent_id})
        assert text.startswith("list_agent_channels failed unexpectedly (mcp-")
        assert "boom" not in text and "the server keeps serving" in text
        assert (await conn.ok("get_agent", {"agent_id": sandbox.store.demo_agent_id}))["id"]
    assert "boom inside the channel listing" in caplog.text and "Traceback" in caplog.text


async def test_send_test_message_finds_the_conversation_when_the_console_omits_its_id(
    sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented Message carries no conversation_id; the tool then finds the tester's conversation."""
    from bimpe_mcp.console._client import Conversations

    original = Conversations.create_message

    async def without_conversation_id(self: Any, agent_id: str, body: Any, **kw: Any) -> Any:
        result = await original(self, agent_id, body, **kw)
        return type(result)(result.data.model_copy(update={"conversation_id": None}), result.request_id)

    monkeypatch.setattr(Conversations, "create_message", without_conversation_id)
    args = {"agent_id": sandbox.store.demo_agent_id, "message": "Anyone there?", "channel_user_id": "tester-7"}
    async with connect("memory", sandbox) as conn:
        exchange = await conn.ok("send_test_message", args)
        again = await conn.ok("send_test_message", {**args, "message": "Still here?"})
    assert exchange["sent"]["conversation_id"] is None and exchange["conversation_id"].startswith("conv_")
    assert again["conversation_id"] == exchange["conversation_id"]
    assert unfence(exchange)["reply"]["message"].endswith('"Anyone there?"')
    assert unfence(again)["reply"]["message"].endswith('"Still here?"')
