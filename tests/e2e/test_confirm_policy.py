"""`--confirm elicit|id|either`: who may confirm deletes, real calls and messages to contacts.

Each policy is driven through the SDK's real client, once with a client that supports elicitation
and once with one that does not. Nothing reaches the sandbox unless the policy's answer was given.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bimpe_mcp.cli import build_parser, settings_from_args
from bimpe_mcp.sandbox import RunningSandbox
from bimpe_mcp.settings import Settings, SettingsError
from tests.e2e.test_confirmation import Asker
from tests.harness import Connection, connect, http_server, server_env

CONTACT = {"channel_type": "whatsapp", "channel_user_id": "+2348000000009"}
ONLY_A_PERSON = "This server takes only a person's answer, asked through the client (--confirm elicit)"


async def _workflow(conn: Connection) -> str:
    return (await conn.ok("create_workflow", {"name": "Disposable", "system_prompt": "p"}))["id"]


async def _schemas(conn: Connection) -> dict[str, dict[str, Any]]:
    return {tool.name: tool.input_schema["properties"] for tool in (await conn.client.list_tools()).tools}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_elicit_with_a_client_that_asks_the_user(mode: str, sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id
    asker = Asker()
    async with connect("memory", sandbox, args=["--confirm", "elicit"], mode=mode, elicitation_callback=asker) as conn:
        schemas = await _schemas(conn)
        assert "confirm" not in schemas["delete_workflow"] and "confirm" not in schemas["send_message"]
        instructions = conn.client.instructions or ""
        assert "only when the user says yes when asked" in instructions

        workflow_id = await _workflow(conn)
        refused = await conn.fails("delete_workflow", {"workflow_id": workflow_id, "confirm": workflow_id})
        assert refused == (
            f"delete_workflow needs confirmation: nothing was sent. {ONLY_A_PERSON}, so it refuses confirm: "
            "a model can read the id and echo it. Call it again without confirm, and the user will be asked."
        )
        assert asker.questions == [], "a refused confirm asks nobody"

        asker.action = "decline"
        declined = await conn.fails("delete_workflow", {"workflow_id": workflow_id})
        assert declined == "delete_workflow was not confirmed by the user: nothing was sent."
        asker.action = "accept"
        await conn.ok("delete_workflow", {"workflow_id": workflow_id})
        assert asker.questions == [f"Delete workflow {workflow_id}? This cannot be undone."] * 2

        asker.questions.clear()
        sent = await conn.ok("send_message", {"agent_id": agent_id, **CONTACT, "message": "Your order shipped"})
        assert asker.questions == ['Send message +2348000000009: "Your order shipped"? This cannot be undone.']
        asker.action = "decline"
        conversation = {"agent_id": agent_id, "conversation_id": sent["conversation_id"]}
        await conn.fails("send_message", {**conversation, "message": "And another thing"})
        await conn.fails("make_call", {"agent_id": agent_id, "destination": "+2348011112222"})
        assert asker.questions[-1] == "Make a real call +2348011112222? This cannot be undone."
    assert sandbox.store.counts["workflows.delete"] == 1
    assert sandbox.store.counts["messages.create"] == 1, "only the message the user allowed was sent"
    assert sandbox.store.counts.get("calls.create", 0) == 0


async def test_elicit_with_a_client_that_cannot_ask_refuses_everything(sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id
    async with connect("memory", sandbox, args=["--confirm", "elicit"]) as conn:
        workflow_id = await _workflow(conn)
        cannot = await conn.fails("delete_workflow", {"workflow_id": workflow_id})
        assert cannot.startswith("delete_workflow needs confirmation: nothing was sent. " + ONLY_A_PERSON)
        assert "this client cannot ask (it does not support elicitation)" in cannot
        assert "Use an MCP client that supports elicitation" in cannot and "--confirm either or id" in cannot
        echoed = await conn.fails("delete_workflow", {"workflow_id": workflow_id, "confirm": workflow_id})
        assert "so it refuses confirm: a model can read the id and echo it" in echoed
        assert "Use an MCP client that supports elicitation" in echoed
        for name, arguments in (
            ("send_message", {"agent_id": agent_id, **CONTACT, "message": "Hi"}),
            ("make_call", {"agent_id": agent_id, "destination": "+2348011112222"}),
        ):
            assert ONLY_A_PERSON in await conn.fails(name, arguments)
            assert ONLY_A_PERSON in await conn.fails(name, {**arguments, "confirm": CONTACT["channel_user_id"]})
    assert not {"workflows.delete", "messages.create", "calls.create"} & set(sandbox.store.counts)


@pytest.mark.parametrize("asks", [True, False], ids=["eliciting-client", "plain-client"])
async def test_id_takes_only_the_target_id_and_never_asks(asks: bool, sandbox: RunningSandbox) -> None:
    agent_id = sandbox.store.demo_agent_id
    asker = Asker()
    options: dict[str, Any] = {"elicitation_callback": asker} if asks else {}
    async with connect("memory", sandbox, env={"BIMPE_CONFIRM": "id"}, **options) as conn:
        schemas = await _schemas(conn)
        assert "confirm" in schemas["delete_workflow"] and "confirm" in schemas["send_message"]
        assert "conversation_id (else channel_user_id)" in schemas["send_message"]["confirm"]["description"]

        workflow_id = await _workflow(conn)
        assert (await conn.fails("delete_workflow", {"workflow_id": workflow_id})).endswith(
            f"pass confirm equal to the workflow_id ('{workflow_id}')."
        )
        await conn.ok("delete_workflow", {"workflow_id": workflow_id, "confirm": workflow_id})

        message = {"agent_id": agent_id, **CONTACT, "message": "Hi"}
        refused = await conn.fails("send_message", message)
        assert refused == (
            "send_message needs confirmation: nothing was sent. To go ahead, pass confirm equal to the "
            "conversation_id (else channel_user_id) ('+2348000000009')."
        )
        await conn.fails("send_message", {**message, "confirm": "yes"})
        sent = await conn.ok("send_message", {**message, "confirm": CONTACT["channel_user_id"]})
        conversation = {"agent_id": agent_id, "conversation_id": sent["conversation_id"], "message": "More"}
        await conn.fails("send_message", {**conversation, "confirm": CONTACT["channel_user_id"]})
        await conn.ok("send_message", {**conversation, "confirm": sent["conversation_id"]})
    assert asker.questions == [], "under id nobody is asked"
    assert sandbox.store.counts["workflows.delete"] == 1 and sandbox.store.counts["messages.create"] == 2


@pytest.mark.parametrize("asks", [True, False], ids=["eliciting-client", "plain-client"])
async def test_either_leaves_messages_to_contacts_unconfirmed_as_before(asks: bool, sandbox: RunningSandbox) -> None:
    asker = Asker()
    options: dict[str, Any] = {"elicitation_callback": asker} if asks else {}
    async with connect("memory", sandbox, **options) as conn:
        assert "confirm" not in (await _schemas(conn))["send_message"]
        message = {"agent_id": sandbox.store.demo_agent_id, **CONTACT, "message": "Hi"}
        await conn.ok("send_message", message)
        stray = await conn.fails("send_message", {**message, "confirm": CONTACT["channel_user_id"]})
        assert "confirm: not a parameter of send_message" in stray
    assert asker.questions == [] and sandbox.store.counts["messages.create"] == 1


async def test_a_request_scoped_to_an_agent_cannot_confirm_by_its_id(sandbox: RunningSandbox) -> None:
    """Per-request narrowing fixes agent_id, the target of delete_agent: under elicit it still confirms nothing."""
    agent_id = sandbox.store.demo_agent_id
    assert agent_id is not None
    asker = Asker(action="decline")
    headers = {"X-Bimpe-Agent-Id": agent_id, "X-MCP-Toolsets": "agents"}
    async with connect(
        "http", sandbox, args=["--confirm", "elicit"], headers=headers, elicitation_callback=asker
    ) as conn:
        assert "confirm" not in (await _schemas(conn))["delete_agent"]
        assert ONLY_A_PERSON in await conn.fails("delete_agent", {"confirm": agent_id})
        await conn.fails("delete_agent", {})
        assert asker.questions == [f"Delete agent {agent_id}? This cannot be undone."]
        asker.action = "accept"
        await conn.ok("delete_agent", {})
    assert sandbox.store.counts["agents.delete"] == 1


class _Replicas(httpx2.AsyncBaseTransport):
    """Sends each call's first round to one replica and every answered round to the other."""

    def __init__(self, first: str, second: str) -> None:
        self.first, self.second = httpx2.URL(first), httpx2.URL(second)
        self.inner = httpx2.AsyncHTTPTransport()
        self.answered_by: list[int | None] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        answered = b'"requestState"' in request.content
        target = self.second if answered else self.first
        if answered:
            self.answered_by.append(target.port)
        request.url = request.url.copy_with(host=target.host, port=target.port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@contextmanager
def _replica(sandbox: RunningSandbox, state_key: str) -> Iterator[str]:
    args = build_parser().parse_args(["serve", "--stateless", "--confirm", "elicit"])
    settings = settings_from_args(args, server_env(sandbox, BIMPE_STATE_KEY=state_key))
    with http_server(settings) as base:
        yield base


@asynccontextmanager
async def _across(first: str, second: str, asker: Asker) -> AsyncIterator[tuple[Client, _Replicas]]:
    replicas = _Replicas(first, second)
    async with (
        httpx2.AsyncClient(transport=replicas, timeout=httpx2.Timeout(60)) as http,
        Client(streamable_http_client(f"{first}/mcp", http_client=http), elicitation_callback=asker) as client,
    ):
        yield client, replicas


async def test_a_confirmation_asked_by_one_replica_is_finished_by_another(sandbox: RunningSandbox) -> None:
    state_key = "k" * 48
    asker = Asker()
    with _replica(sandbox, state_key) as first, _replica(sandbox, state_key) as second:
        async with _across(first, second, asker) as (client, replicas):
            created = await client.call_tool("create_workflow", {"name": "Disposable", "system_prompt": "p"})
            assert created.structured_content is not None
            workflow_id = created.structured_content["id"]
            deleted = await client.call_tool("delete_workflow", {"workflow_id": workflow_id})
            assert not deleted.is_error and deleted.structured_content is not None
            assert deleted.structured_content["deleted"] is True
            assert asker.questions == [f"Delete workflow {workflow_id}? This cannot be undone."]
            assert replicas.answered_by == [httpx2.URL(second).port], "the answer went to the other replica"
    assert sandbox.store.counts["workflows.delete"] == 1


async def test_over_stdio_the_variable_sets_the_policy(sandbox: RunningSandbox) -> None:
    asker = Asker()
    async with connect("stdio", sandbox, env={"BIMPE_CONFIRM": "elicit"}, elicitation_callback=asker) as conn:
        workflow_id = await _workflow(conn)
        assert ONLY_A_PERSON in await conn.fails(
            "delete_workflow", {"workflow_id": workflow_id, "confirm": workflow_id}
        )
        await conn.ok("delete_workflow", {"workflow_id": workflow_id})
        assert asker.questions == [f"Delete workflow {workflow_id}? This cannot be undone."]
    assert sandbox.store.counts["workflows.delete"] == 1


def test_the_setting_names_its_choices() -> None:
    assert Settings.load({}).confirm == "either"
    assert Settings.load({"BIMPE_CONFIRM": "ELICIT"}).confirm == "elicit"
    assert Settings.load({"BIMPE_CONFIRM": "elicit"}, confirm="id").confirm == "id", "the flag wins"
    with pytest.raises(SettingsError, match="--confirm / BIMPE_CONFIRM must be elicit, id or either, not 'human'"):
        Settings.load({"BIMPE_CONFIRM": "human"})
