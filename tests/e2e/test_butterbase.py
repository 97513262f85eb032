"""The butterbase toolset end to end, through the SDK's client against the sandbox's Butterbase app.

Every tool runs over stdio and HTTP in `test_every_tool.py` (and through the secrets canary); this
file drives what is Butterbase's own: when the toolset is listed, narrowing, each error class and
its fix, confirmation, the OAuth URL offered by URL-mode elicitation, and execute's outcome after
a timeout. Most cases share one in-memory connection; HTTP where the transport is the point.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from mcp_types import ElicitResult

from bimpe_mcp.sandbox import RunningSandbox, request_log
from bimpe_mcp.tools import ALL_TOOLS
from tests.e2e.test_confirmation import Asker
from tests.harness import Connection, connect, run_cli, server_env

BUTTERBASE = [spec.name for spec in ALL_TOOLS if spec.toolset == "butterbase"]
READ_ONLY = [spec.name for spec in ALL_TOOLS if spec.toolset == "butterbase" and spec.read_only]
EMAIL = {"to": "ada@example.com", "subject": "Hi", "body": "Hello"}
USER = {"user_id": "user-1"}
NOT_AVAILABLE = "is not available in this configuration"


async def listed(conn: Connection) -> list[str]:
    return [tool.name for tool in (await conn.client.list_tools()).tools]


def admin(sandbox: RunningSandbox, path: str, body: dict[str, Any]) -> None:
    answer = httpx.put(f"{sandbox.base_url}{path}", json=body, headers={"X-Sandbox-Admin-Key": sandbox.admin_key})
    assert answer.status_code == 200, answer.text


async def connected_user(conn: Connection, sandbox: RunningSandbox, toolkit: str = "gmail") -> dict[str, Any]:
    """Enable `toolkit`, connect user-1 (who signs in), and return the connection."""
    await conn.ok("butterbase_enable_toolkit", {"toolkit": toolkit})
    started = await conn.ok("butterbase_connect_user", {"toolkit": toolkit, **USER})
    async with httpx.AsyncClient() as browser:
        assert (await browser.get(started["authUrl"])).status_code == 200
    return next(c for c in sandbox.store.butterbase.connections.values() if c["toolkit"] == toolkit)


def test_listed_only_when_the_key_and_the_app_id_are_set() -> None:
    def names(**env: str) -> list[str]:
        lines = run_cli("tools", env=server_env(None, **env)).stdout.splitlines()
        return [line.split()[0] for line in lines if line.startswith("butterbase_")]

    assert names() == [] and names(BUTTERBASE_API_KEY="bb_sk_test_x") == []
    assert names(BUTTERBASE_API_KEY="bb_sk_test_x", BUTTERBASE_APP_ID="app_x") == BUTTERBASE
    assert names(BIMPE_SANDBOX="true") == BUTTERBASE, "the sandbox brings its Butterbase app"


async def test_an_unconfigured_toolset_names_what_to_set(sandbox: RunningSandbox) -> None:
    async with connect("memory", sandbox, env={"BUTTERBASE_APP_ID": ""}) as conn:
        assert not set(BUTTERBASE) & set(await listed(conn))
        text = await conn.refused("butterbase_list_toolkits")
    assert f"butterbase_list_toolkits {NOT_AVAILABLE}" in text
    assert "set BUTTERBASE_API_KEY and BUTTERBASE_APP_ID" in text


async def test_server_settings_narrow_the_toolset(sandbox: RunningSandbox) -> None:
    async with connect("memory", sandbox, args=["--toolsets", "butterbase,calls", "--read-only"]) as conn:
        names = await listed(conn)
        refused = await conn.refused("butterbase_enable_toolkit", {"toolkit": "gmail"})
    assert names == ["list_calls", "get_call", *READ_ONLY]
    assert "--read-only / BIMPE_READ_ONLY" in refused and not sandbox.store.butterbase.enabled
    args = ["--toolsets", "butterbase", "--exclude-tools", "butterbase_execute_tool"]
    async with connect("memory", sandbox, args=args) as conn:
        assert await listed(conn) == [name for name in BUTTERBASE if name != "butterbase_execute_tool"]
        assert "--exclude-tools" in await conn.refused("butterbase_execute_tool", {"tool_name": "X_Y", **USER})
    async with connect("memory", sandbox, args=["--tools", "get_agent"]) as conn:
        assert await listed(conn) == ["get_agent"]
        assert "--tools / BIMPE_TOOLS" in await conn.refused("butterbase_list_tools")


async def test_request_headers_narrow_the_toolset(sandbox: RunningSandbox) -> None:
    key = {"Authorization": f"Bearer {sandbox.store.demo_api_key}"}
    headers = {**key, "X-MCP-Toolsets": "butterbase", "X-MCP-Readonly": "true"}
    async with connect("http", sandbox, headers=headers, server_key=False) as conn:
        names = await listed(conn)
        await conn.ok("butterbase_list_toolkits", {"search": "slack"})
        refused = await conn.refused("butterbase_execute_tool", {"tool_name": "GMAIL_SEND_EMAIL", **USER})
    assert names == READ_ONLY
    assert f"butterbase_execute_tool {NOT_AVAILABLE}" in refused and "X-MCP-Readonly" in refused
    assert sandbox.store.counts.get("butterbase.execute", 0) == 0


async def test_each_butterbase_error_reaches_the_model_with_its_fix(sandbox: RunningSandbox) -> None:
    butterbase = sandbox.store.butterbase
    async with connect("memory", sandbox, args=["--max-retries", "0"]) as conn:
        not_enabled = await conn.fails("butterbase_connect_user", {"toolkit": "notion", **USER})
        no_account = await conn.fails(
            "butterbase_execute_tool", {"tool_name": "SLACK_SEND_MESSAGE", "params": {"text": "x"}, **USER}
        )
        await conn.ok("butterbase_enable_toolkit", {"toolkit": "slack"})
        unconnected = await conn.fails(
            "butterbase_execute_tool", {"tool_name": "SLACK_SEND_MESSAGE", "params": {"text": "x"}, **USER}
        )
        unknown = await conn.fails("butterbase_disconnect", {"connection_id": "conn_nope", "confirm": "conn_nope"})
        admin(sandbox, "/_sandbox/butterbase", {"configured": False})
        unconfigured = await conn.fails("butterbase_list_toolkits")
        admin(sandbox, "/_sandbox/butterbase", {})
        admin(sandbox, "/_sandbox/faults", {"malformed_rate": 1.0, "only_paths": "^/v1/"})
        garbled = await conn.fails("butterbase_list_connections")
        admin(sandbox, "/_sandbox/faults", {})
    assert not_enabled.splitlines() == [
        "butterbase_connect_user failed: HTTP 400 INTEGRATIONS_TOOLKIT_NOT_ENABLED: Toolkit 'notion' is not enabled "
        f"for this app. (request {not_enabled.split('(request ')[1].split(')')[0]}).",
        "Fix: Toolkit not enabled for this app — call /configure first.",
        "Nothing was changed.",
    ]
    assert "HTTP 400 INTEGRATIONS_TOOLKIT_NOT_ENABLED" in no_account
    remediation = "Fix: Check the tool name and parameters. Ensure the user has a connected account."
    assert "HTTP 422 INTEGRATIONS_EXECUTION_FAILED" in unconnected and remediation in unconnected
    assert unconnected.endswith("Nothing was changed.")
    assert "HTTP 404 NOT_FOUND" in unknown and "connection_id (butterbase_list_connections lists valid ones)" in unknown
    assert "HTTP 400 INTEGRATIONS_NOT_CONFIGURED" in unconfigured
    assert "Fix: Integration service not configured on the platform." in unconfigured
    assert "Butterbase or a proxy in front of it misbehaved" in garbled and garbled.endswith("Retrying is safe.")
    assert butterbase.outbox == [] and sandbox.store.counts.get("butterbase.execute", 0) == 0


async def test_a_network_failure_after_sending_says_it_may_have_been_applied(sandbox: RunningSandbox) -> None:
    """502: the email went out but the answer was lost. The error says so; the key replays, never resends."""
    async with connect("memory", sandbox) as conn:
        await connected_user(conn, sandbox)
        admin(sandbox, "/_sandbox/butterbase", {"network_failure_rate": 1.0})
        run = {"tool_name": "GMAIL_SEND_EMAIL", "params": EMAIL, **USER}
        failed = await conn.fails("butterbase_execute_tool", run)
        key = failed.split("idempotency_key='")[1].split("'")[0]
        again = await conn.fails("butterbase_execute_tool", {**run, "idempotency_key": key})
    assert "HTTP 502 INTEGRATIONS_EXECUTION_FAILED" in failed
    assert "The network between Butterbase and the toolkit failed." in failed and "It may have been applied" in failed
    assert "HTTP 502" in again and len(sandbox.store.butterbase.outbox) == 1
    assert sandbox.store.counts["butterbase.execute"] == 1


async def test_execute_is_never_resent_after_a_timeout(sandbox: RunningSandbox) -> None:
    async with connect("memory", sandbox, args=["--timeout", "0.5", "--max-retries", "3"]) as conn:
        await connected_user(conn, sandbox)
        admin(sandbox, "/_sandbox/faults", {"latency_s": 1.5, "only_paths": "/execute$"})
        text = await conn.fails("butterbase_execute_tool", {"tool_name": "GMAIL_SEND_EMAIL", "params": EMAIL, **USER})
        admin(sandbox, "/_sandbox/faults", {})
    sent = [r for r in request_log(sandbox.app) if r.raw_path.endswith("/integrations/execute")]
    assert len(sent) == 1, "a timed-out execute may have sent its email: it must not be sent again"
    assert "Butterbase did not answer within 0.5s" in text and "It may have been applied" in text
    assert sandbox.store.counts["butterbase.execute"] == 1


async def test_a_refused_key_is_named_and_never_shown(sandbox: RunningSandbox) -> None:
    wrong = "bb_sk_test_WRONGkey0001"
    async with connect("memory", sandbox, env={"BUTTERBASE_API_KEY": wrong}) as conn:
        refused = await conn.fails("butterbase_list_enabled_toolkits")
    async with connect("memory", sandbox, env={"BUTTERBASE_API_KEY": "bb_sk_test x"}) as conn:
        unusable = await conn.fails("butterbase_list_enabled_toolkits")
    assert (
        "HTTP 401 UNAUTHORIZED" in refused
        and "Fix: check BUTTERBASE_API_KEY (bb_sk_…) and BUTTERBASE_APP_ID" in refused
    )
    assert wrong not in refused
    assert "the Butterbase API key in BUTTERBASE_API_KEY is unusable" in unusable and "Nothing was sent." in unusable
    assert not [r for r in request_log(sandbox.app) if r.api_key == "bb_sk_test x"]


async def test_an_unreachable_butterbase_names_its_url(sandbox: RunningSandbox) -> None:
    env = {"BUTTERBASE_BASE_URL": "http://127.0.0.1:9", "BIMPE_MAX_RETRIES": "0"}
    async with connect("memory", sandbox, env=env) as conn:
        text = await conn.fails("butterbase_list_tools")
    assert "Could not reach Butterbase at http://127.0.0.1:9" in text and "Check BUTTERBASE_BASE_URL" in text


class User:
    """An elicitation callback: answers a form (confirmation) and a URL (sign-in) as told, recording each."""

    def __init__(self, action: str = "accept") -> None:
        self.action = action
        self.asked: list[Any] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        self.asked.append(params)
        content = {"confirm": True} if self.action == "accept" and params.mode != "url" else None
        return ElicitResult(action=self.action, content=content)


@pytest.mark.parametrize("kind", ["memory", "http"])
async def test_destructive_tools_are_confirmed_and_the_oauth_url_is_offered(kind: str, sandbox: RunningSandbox) -> None:
    user = User()
    async with connect(kind, sandbox, mode="legacy", elicitation_callback=user) as conn:
        await conn.ok("butterbase_enable_toolkit", {"toolkit": "gmail"})
        started = await conn.ok("butterbase_connect_user", {"toolkit": "gmail", **USER})
        [offer] = user.asked
        async with httpx.AsyncClient() as browser:
            assert (await browser.get(offer.url)).status_code == 200
        [connection] = (await conn.ok("butterbase_list_connections"))["items"]
        user.action = "decline"
        declined = await conn.fails("butterbase_disconnect", {"connection_id": connection["id"]})
        user.action = "accept"
        await conn.ok("butterbase_disconnect", {"connection_id": connection["id"]})
    assert started["url_elicitation"] == "accepted" and "showed the user authUrl" in started["next_step"]
    assert offer.mode == "url" and offer.url == started["authUrl"]
    assert offer.elicitation_id == started["connectionRequestId"]
    assert "not confirmed by the user: nothing was sent" in declined
    assert user.asked[-1].message == f"Disconnect an account {connection['id']}? This cannot be undone."
    assert sandbox.store.counts["butterbase.disconnect"] == 1


async def test_without_elicitation_the_target_must_be_echoed(sandbox: RunningSandbox) -> None:
    async with connect("memory", sandbox) as conn:
        await conn.ok("butterbase_enable_toolkit", {"toolkit": "gmail"})
        text = await conn.fails("butterbase_disable_toolkit", {"toolkit": "gmail"})
        wrong = await conn.fails("butterbase_disable_toolkit", {"toolkit": "gmail", "confirm": "slack"})
        assert sandbox.store.butterbase.enabled
        await conn.ok("butterbase_disable_toolkit", {"toolkit": "gmail", "confirm": "gmail"})
    assert text == (
        "butterbase_disable_toolkit needs confirmation: nothing was sent. To go ahead, pass confirm equal to the "
        "toolkit ('gmail')."
    )
    assert "needs confirmation" in wrong and not sandbox.store.butterbase.enabled


async def test_under_confirm_elicit_execute_waits_for_a_person(sandbox: RunningSandbox) -> None:
    """Executing a tool sends as a real user: `--confirm elicit` asks a person first, and refuses alone."""
    asker = Asker(action="decline")
    args = ["--confirm", "elicit"]
    async with connect("memory", sandbox, args=args, elicitation_callback=asker) as conn:
        await connected_user(conn, sandbox)
        call = {"tool_name": "GMAIL_SEND_EMAIL", "params": EMAIL, **USER}
        declined = await conn.fails("butterbase_execute_tool", call)
        asker.action = "accept"
        await conn.ok("butterbase_execute_tool", call)
    assert "not confirmed by the user: nothing was sent" in declined
    question = 'Run a tool as a user {"tool_name": "GMAIL_SEND_EMAIL", "params": {"to": "ada@example.com", '
    assert (
        asker.questions
        == [question + '"subject": "Hi", "body": "Hello"}, "user_id": "user-1"}? This cannot be undone.'] * 2
    )
    async with connect("memory", sandbox, args=args) as conn:
        cannot = await conn.fails("butterbase_execute_tool", call)
    assert "this client cannot ask" in cannot
    assert sandbox.store.counts["butterbase.execute"] == 1, "only the call a person allowed was executed"


def test_demo_walks_the_butterbase_document() -> None:
    result = run_cli("demo", "--butterbase")
    assert result.returncode == 0, result.stderr + result.stdout
    for expected in (
        "Gmail (gmail), Mailchimp (mailchimp)",
        "Gmail enabled",
        "sent back to https://yourapp.example.com/settings",
        "gmail active (conn_",
        "GMAIL_SEND_EMAIL",
        "successful=True",
        "Done: Gmail enabled, a user connected, and an email sent as them.",
    ):
        assert expected in result.stdout, expected
