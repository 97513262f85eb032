"""Secrets never pass through the model: configure tools without their secrets open a one-time page.

The page is driven here with plain HTTP (cheap); `test_secret_entry_browser.py` drives it in a
real browser. Every test checks what the model saw, what the page said, what the server logged and
what reached the sandbox.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, ElicitResult

from bimpe_mcp._secret_page import LoopbackPage
from bimpe_mcp.sandbox import RunningSandbox
from bimpe_mcp.server import BimpeServer, build_server
from bimpe_mcp.settings import Settings
from bimpe_mcp.tools import SecretEntries
from tests.e2e.test_auth import bearer, client, serving
from tests.harness import run_cli, server_env, text_of, wait_until

CANARIES = {
    "public_key": "pk_test_CANARYentryPage0101",
    "secret_key": "sk_test_CANARYentryPage0102",
    "password": "CANARY-entry-password-0103",
    "bad_token": "CANARY bad token 0104",
}
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def leaks(text: str) -> list[str]:
    return [name for name, value in CANARIES.items() if value in text]


def dump(result: CallToolResult) -> str:
    return json.dumps(result.model_dump(mode="json", by_alias=True))


@asynccontextmanager
async def in_memory(sandbox: RunningSandbox, **options: Any) -> AsyncIterator[tuple[Client, BimpeServer]]:
    """An in-memory client of a server whose settings are `options`, with its server (for its entries)."""
    client_options = {key: options.pop(key) for key in ("elicitation_callback", "mode") if key in options}
    settings = Settings.load({}, **options).with_backend(base_url=sandbox.base_url, api_key=sandbox.store.demo_api_key)
    server = build_server(settings)
    try:
        async with Client(server.mcp, read_timeout_seconds=60, **client_options) as mcp_client:
            yield mcp_client, server
    finally:
        await server.aclose()


async def submit(
    web: httpx.AsyncClient, url: str, values: list[str], *, csrf: bool = True, **headers: str
) -> httpx.Response:
    """Fill the form at `url` the way a browser does: read it, then post its fields with the CSRF token."""
    page = await web.get(url)
    assert page.status_code == 200, page.text
    form = {f"field-{index}": value for index, value in enumerate(values)}
    if csrf:
        form["csrf"] = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    own_origin = url.split("/secrets/")[0]
    return await web.post(url, data=form, headers={"Origin": own_origin, **headers})


def stripe_record(sandbox: RunningSandbox) -> dict[str, Any] | None:
    return next((i for i in sandbox.store.integrations.values() if i.get("type") == "stripe"), None)


async def test_without_keys_a_one_time_page_takes_them_and_only_the_outcome_reaches_the_model(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    agent_id = sandbox.store.demo_agent_id
    agent_name = sandbox.store.agents[agent_id]["name"]
    pages: list[str] = []
    async with in_memory(sandbox) as (mcp, _), httpx.AsyncClient() as web:
        opened = await mcp.call_tool(
            "configure_bimpeai_integration", {"agent_id": agent_id, "type": "stripe", "currency": "NGN"}
        )
        assert not opened.is_error, text_of(opened)
        pending = opened.structured_content or {}
        url, pending_id = pending["entry_url"], pending["pending_id"]
        assert url.startswith("http://127.0.0.1:") and "/secrets/" in url
        assert "check_secret_entry" in pending["next_step"] and pending.get("channel_id") is None
        assert sandbox.store.counts.get("integrations.bimpeai.configure", 0) == 0, "nothing is sent before the page"
        status = await mcp.call_tool("check_secret_entry", {"pending_id": pending_id})
        assert (status.structured_content or {})["status"] == "pending"
        assert 0 < (status.structured_content or {})["expires_in_s"] <= 600

        form = await web.get(url)
        pages.append(form.text)
        assert form.status_code == 200
        assert form.headers["cache-control"] == "no-store"
        policy = form.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "form-action 'self'" in policy and "http" not in policy
        assert "Stripe" in form.text and agent_name in form.text
        assert "<script" not in form.text and not re.search(r'(src|href)="?https?:', form.text)
        assert 'type="password"' in form.text and 'name="viewport"' in form.text

        keys = [CANARIES["public_key"], CANARIES["secret_key"]]
        refused = [
            await submit(web, url, keys, csrf=False),
            await web.post(url, data={"csrf": "0" * 64, "field-0": keys[0], "field-1": keys[1]}),
            await submit(web, url, keys, Origin="http://evil.example"),
            await submit(web, url, keys, Origin="null"),
        ]
        assert [answer.status_code for answer in refused] == [403, 403, 403, 403]
        incomplete = await submit(web, url, [keys[0], ""])
        assert incomplete.status_code == 400 and "Fill in Secret key" in incomplete.text
        pages += [answer.text for answer in [*refused, incomplete]]
        assert sandbox.store.counts.get("integrations.bimpeai.configure", 0) == 0

        done = await submit(web, url, keys)
        pages.append(done.text)
        assert done.status_code == 200 and "is connected" in done.text, done.text
        assert done.headers["cache-control"] == "no-store"
        replayed = [await web.get(url), await web.post(url, data={"field-0": keys[0], "field-1": keys[1]})]
        assert [answer.status_code for answer in replayed] == [410, 410]
        assert "already used" in replayed[0].text
        pages += [answer.text for answer in replayed]

        finished = await mcp.call_tool("check_secret_entry", {"pending_id": pending_id})
        again = await mcp.call_tool(
            "configure_bimpeai_integration", {"agent_id": agent_id, "type": "paystack", "currency": "NGN"}
        )
    record = stripe_record(sandbox)
    assert record is not None and record["is_connected"] and record["status"] == "connected"
    assert record["_secrets"] == {"public_key": keys[0], "secret_key": keys[1]}
    assert sandbox.store.counts["integrations.bimpeai.configure"] == 1
    outcome = finished.structured_content or {}
    assert outcome["status"] == "completed" and outcome["result"]["channel_id"] == record["id"]
    assert (again.structured_content or {})["pending_id"] != pending_id
    for result in (opened, status, finished, again):
        assert leaks(dump(result)) == []
    assert leaks("\n".join(pages)) == []
    log = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore")))
    assert "check_secret_entry" in log and leaks(log) == []


async def test_expired_links_console_refusals_and_auth_config_pages(sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id
    async with in_memory(sandbox) as (mcp, server), httpx.AsyncClient() as web:
        entries = server.entries
        assert entries is not None
        stale = await mcp.call_tool("configure_bimpeai_integration", {"agent_id": agent_id, "type": "bumpa"})
        stale_url, stale_id = (
            (stale.structured_content or {})["entry_url"],
            (stale.structured_content or {})["pending_id"],
        )
        entries.clock = lambda: time.time() + 601
        expired = await web.get(stale_url)
        expired_status = await mcp.call_tool("check_secret_entry", {"pending_id": stale_id})
        entries.clock = time.time

        bumpa = await mcp.call_tool("configure_bimpeai_integration", {"agent_id": agent_id, "type": "bumpa"})
        bumpa_url, bumpa_id = (
            (bumpa.structured_content or {})["entry_url"],
            (bumpa.structured_content or {})["pending_id"],
        )
        rejected = await submit(web, bumpa_url, [CANARIES["bad_token"]])
        rejected_status = await mcp.call_tool("check_secret_entry", {"pending_id": bumpa_id})

        api = await mcp.call_tool(
            "configure_custom_api",
            {"agent_id": agent_id, "name": "Orders", "base_url": "https://api.example.com", "auth_type": "basic"},
        )
        api_url = (api.structured_content or {})["entry_url"]
        form = (await web.get(api_url)).text
        created = await submit(web, api_url, ["orders-bot", CANARIES["password"]])
        api_status = await mcp.call_tool(
            "check_secret_entry", {"pending_id": (api.structured_content or {})["pending_id"]}
        )
        unknown = await mcp.call_tool("check_secret_entry", {"pending_id": "A" * 22})
    assert expired.status_code == 410 and "expired" in expired.text
    assert expired_status.is_error and "expired" in text_of(expired_status)

    assert rejected.status_code == 422 and "Not connected" in rejected.text
    assert "integration_connection_failed" in rejected.text and "Fix:" in rejected.text
    assert rejected_status.is_error and "integration_connection_failed" in text_of(rejected_status)

    assert "custom API &#x27;Orders&#x27; (https://api.example.com)" in form
    assert 'name="field-0" type="text"' in form and 'name="field-1" type="password"' in form
    assert created.status_code == 200 and "is connected" in created.text
    integration_id = (api_status.structured_content or {})["result"]["id"]
    assert sandbox.store.integrations[integration_id]["_secrets"] == {
        "username": "orders-bot",
        "password": CANARIES["password"],
    }
    assert unknown.is_error and "no such pending entry" in text_of(unknown)
    for result in (expired_status, rejected_status, api_status):
        assert leaks(dump(result)) == []
    assert leaks(rejected.text + created.text) == []


class Browserless:
    """An elicitation callback for a client that supports URL mode: it accepts, then a person
    (here plain HTTP) fills the page while the tool call waits."""

    def __init__(
        self,
        tasks: anyio.abc.TaskGroup,
        values: list[str],
        action: str = "accept",
        replica: str | None = None,
        ready: Any = None,
    ) -> None:
        self.tasks = tasks
        self.values = values
        self.action = action
        self.replica = replica
        """Where the person's browser ends up (behind a balancer, maybe not the replica that made the link)."""
        self.ready = ready
        """What to wait for before filling the form."""
        self.asked: list[Any] = []
        self.pages: list[httpx.Response] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        self.asked.append(params)
        if params.mode == "url" and "/secrets/" in params.url and self.action == "accept":
            self.tasks.start_soon(self._fill, params.url)
        return ElicitResult(action=self.action)

    async def _fill(self, url: str) -> None:
        if self.ready is not None:
            await wait_until(self.ready, timeout=30)
        if self.replica is not None:
            url = f"{self.replica}/secrets/{url.split('/secrets/')[1]}"
        async with httpx.AsyncClient() as web:
            self.pages.append(await submit(web, url, self.values))


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_url_elicitation_waits_for_the_page_on_both_eras(mode: str, sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id
    keys = [CANARIES["public_key"], CANARIES["secret_key"]]
    async with anyio.create_task_group() as tasks:
        person = Browserless(tasks, keys)
        async with in_memory(sandbox, mode=mode, elicitation_callback=person) as (mcp, _):
            connected = await mcp.call_tool(
                "configure_bimpeai_integration", {"agent_id": agent_id, "type": "stripe", "currency": "NGN"}
            )
            google = await mcp.call_tool(
                "configure_bimpeai_integration", {"agent_id": agent_id, "type": "google_calendar"}
            )
            person.action = "decline"
            declined = await mcp.call_tool("configure_bimpeai_integration", {"agent_id": agent_id, "type": "bumpa"})
            async with httpx.AsyncClient() as web:
                cancelled = await web.get(person.asked[-1].url)
    assert not connected.is_error, text_of(connected)
    result = connected.structured_content or {}
    record = stripe_record(sandbox)
    assert record is not None and result["channel_id"] == record["id"] and result.get("pending_id") is None
    assert record["_secrets"] == {"public_key": keys[0], "secret_key": keys[1]}
    assert [page.status_code for page in person.pages] == [200]
    assert [params.mode for params in person.asked] == ["url", "url", "url"]
    assert "Stripe" in person.asked[0].message and "never through the chat" in person.asked[0].message
    onboarding = (google.structured_content or {})["onboarding_url"]
    assert (
        person.asked[1].url == onboarding and "shown onboarding_url" in (google.structured_content or {})["next_step"]
    )
    assert sandbox.store.counts["integrations.bimpeai.configure"] == 2, "the OAuth call is made once, on both eras"
    assert declined.is_error and "declined the secret-entry page. Nothing was sent" in text_of(declined)
    assert cancelled.status_code == 410
    assert leaks(dump(connected)) == []


async def test_refusing_secret_arguments_points_to_the_page(sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id
    keys = {"public_key": CANARIES["public_key"], "secret_key": CANARIES["secret_key"]}
    async with in_memory(sandbox, secret_arguments="refuse") as (mcp, _):
        refused = await mcp.call_tool("configure_bimpeai_integration", {"agent_id": agent_id, "type": "stripe", **keys})
        api = await mcp.call_tool("configure_custom_api", {"agent_id": agent_id, "name": "Open", "auth_type": "none"})
        tool = {
            "agent_id": agent_id,
            "integration_id": (api.structured_content or {}).get("id"),
            "name": "Pay",
            "http_method": "POST",
            "url_template": "/pay",
            "auth_type": "bearer",
            "auth_config": {"token": CANARIES["password"]},
        }
        refused_tool = await mcp.call_tool("add_custom_api_tool", tool)
        pending = await mcp.call_tool("configure_bimpeai_integration", {"agent_id": agent_id, "type": "stripe"})
    text = text_of(refused)
    assert refused.is_error and "public_key, secret_key" in text and "--secret-arguments" in text
    assert "secret-entry page" in text and text.endswith("Nothing was sent.")
    assert refused_tool.is_error and "auth_config" in text_of(refused_tool)
    assert "configure_custom_api sets through the secret-entry page" in text_of(refused_tool)
    assert not api.is_error and (pending.structured_content or {})["entry_url"]
    assert sandbox.store.counts.get("integrations.bimpeai.configure", 0) == 0
    assert sandbox.store.counts.get("integrations.custom_api.tools.add", 0) == 0
    assert leaks(dump(refused) + dump(refused_tool)) == []


def test_scripts_pass_secrets_as_arguments_unless_refused(sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id
    keys = {"public_key": CANARIES["public_key"], "secret_key": CANARIES["secret_key"]}
    env = server_env(sandbox)
    script = run_cli(
        "call", "configure_bimpeai_integration", "--args", json.dumps({"agent_id": agent_id, "type": "stripe"}), env=env
    )
    assert script.returncode == 1 and "needs public_key, secret_key: pass them as arguments" in script.stderr
    env["BIMPE_SECRET_ARGUMENTS"] = "refuse"
    args = json.dumps({"agent_id": agent_id, "type": "stripe", **keys})
    assert "refuse" in run_cli("call", "configure_bimpeai_integration", "--args", args, env=env).stderr
    env.pop("BIMPE_SECRET_ARGUMENTS")
    assert run_cli("call", "configure_bimpeai_integration", "--args", args, env=env).returncode == 0


async def test_over_http_the_page_is_a_route_of_the_deployment_tied_to_its_caller(sandbox: RunningSandbox) -> None:
    team_id, key = sandbox.store.add_team("Page team")
    other_team, other_key = sandbox.store.add_team("Other team")
    state_key = "k" * 40
    with serving(sandbox, state_key=state_key) as first, serving(sandbox, state_key=state_key) as second:
        async with (
            client(f"{first.base}/mcp", bearer(key)) as mcp,
            client(f"{first.base}/mcp", bearer(other_key)) as other,
        ):
            workflow = ((await mcp.call_tool("list_workflows", {})).structured_content or {})["items"][0]["id"]
            shop = {"name": "Shop assistant", "description": "Sells", "workflow_id": workflow}
            agent = await mcp.call_tool("create_agent", shop)
            agent_id = (agent.structured_content or {})["id"]
            opened = await mcp.call_tool("configure_bimpeai_integration", {"agent_id": agent_id, "type": "stripe"})
            url, pending_id = (
                (opened.structured_content or {})["entry_url"],
                (opened.structured_content or {})["pending_id"],
            )
            token = url.split("/secrets/")[1]
            async with httpx.AsyncClient() as web:
                foreign_host = await web.get(url, headers={"Host": "evil.example"})
                foreign_origin = await submit(web, url, ["a", "b"], Origin="http://evil.example")
                # Another replica sharing BIMPE_STATE_KEY serves the same link.
                done = await submit(
                    web, f"{second.base}/secrets/{token}", [CANARIES["public_key"], CANARIES["secret_key"]]
                )
                replay = await web.get(f"{second.base}/secrets/{token}")
            stranger = await other.call_tool("check_secret_entry", {"pending_id": pending_id})
    assert url.startswith(f"{first.base}/secrets/")
    assert foreign_host.status_code == 421 and foreign_origin.status_code == 403
    assert done.status_code == 200 and "Shop assistant" in done.text and "is connected" in done.text
    assert replay.status_code == 410
    record = stripe_record(sandbox)
    assert record is not None and record["_secrets"]["secret_key"] == CANARIES["secret_key"]
    assert sandbox.store.agents[agent_id]["_team"] == team_id != other_team
    assert stranger.is_error and "no such pending entry" in text_of(stranger)


async def test_the_loopback_page_starts_on_first_use_and_closes_when_idle() -> None:
    async def unused(*args: Any) -> Any:
        raise AssertionError("nothing is submitted here")

    entries = SecretEntries(unused, unused)
    page = LoopbackPage(entries, idle_s=0.2)
    async with page.running(), httpx.AsyncClient() as web:
        assert page.url is None, "nothing listens before the first entry"
        first = await page.base_url()
        entry = entries.new(tool="configure_bimpeai_integration", arguments={}, caller="local")
        entries.open(entry)
        entries.last_activity -= 60
        assert not page.idle, "a pending entry keeps the page up"
        assert (await web.get(f"{first}/secrets/not-a-token")).status_code == 404
        entries.cancel(entry.id)
        await wait_until(lambda: page.url is None)
        with pytest.raises(httpx.ConnectError):
            await web.get(f"{first}/secrets/not-a-token")
        second = await page.base_url()
        assert (await web.get(f"{second}/secrets/not-a-token")).status_code == 404


class RoundRobin(httpx2.AsyncBaseTransport):
    """A balancer in the client: each `tools/call` goes to the next replica, everything else to the first."""

    def __init__(self, replicas: list[str]) -> None:
        self.replicas = replicas
        self.calls = 0
        self.wire = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        target = self.replicas[0]
        if request.method == "POST" and b'"tools/call"' in request.content:
            target = self.replicas[self.calls % len(self.replicas)]
            self.calls += 1
        request.url = request.url.copy_with(netloc=target.removeprefix("http://").encode())
        return await self.wire.handle_async_request(request)


async def test_a_second_round_on_another_replica_gets_the_outcome_of_a_form_sent_there(
    sandbox: RunningSandbox,
) -> None:
    """2026-07-28 across stateless replicas sharing BIMPE_STATE_KEY: replica A opens the entry and asks
    the client; the client's second round and the form both reach replica B, whose call returns the outcome."""
    key = sandbox.store.demo_api_key
    agent_id = sandbox.store.demo_agent_id
    options = {"state_key": "s" * 40, "stateless": True}
    with serving(sandbox, **options) as first, serving(sandbox, **options) as second:
        balancer = RoundRobin([first.base, second.base])
        async with anyio.create_task_group() as tasks:
            # The person sends the form only once replica B's second round is waiting for it.
            waiting = second.server.entries
            assert waiting is not None
            keys = [CANARIES["public_key"], CANARIES["secret_key"]]
            person = Browserless(tasks, keys, replica=second.base, ready=lambda: waiting.busy)
            http = httpx2.AsyncClient(transport=balancer, headers=bearer(key), timeout=httpx2.Timeout(60))
            async with (
                http,
                Client(
                    streamable_http_client(f"{first.base}/mcp", http_client=http), elicitation_callback=person
                ) as mcp,
            ):
                result = await mcp.call_tool("configure_bimpeai_integration", {"agent_id": agent_id, "type": "stripe"})
    assert balancer.calls == 2 and person.asked[0].url.startswith(f"{first.base}/secrets/")
    assert [page.status_code for page in person.pages] == [200] and second.base in str(person.pages[0].url)
    record = stripe_record(sandbox)
    assert not result.is_error, text_of(result)
    assert record is not None and (result.structured_content or {})["channel_id"] == record["id"]
