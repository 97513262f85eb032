"""Every ConsoleClient endpoint against the sandbox, in-process (ASGI) and over loopback HTTP."""

from __future__ import annotations

import inspect

import pytest

from bimpe_mcp.console import (
    ConsoleClient,
    ListQuery,
    NotFoundError,
    PageMeta,
    walk_pages,
)
from bimpe_mcp.console import (
    models as m,
)
from bimpe_mcp.console._client import (
    Agents,
    Calls,
    Conversations,
    Integrations,
    KnowledgeBases,
    PhoneNumbers,
    Workflows,
)
from bimpe_mcp.sandbox import SandboxStore

STRIPE = m.BimpeaiConfigure(
    type="stripe", public_key="pk_test_abcdefgh12", secret_key="sk_test_abcdefgh12", currency="NGN"
)

# Every public endpoint method, by area; the tests below call each of them at least once.
COVERED = {
    Agents: {
        "list",
        "get",
        "create",
        "update",
        "delete",
        "set_live_status",
        "test_code",
        "integrations",
        "channels",
        "actions",
        "set_actions",
    },
    KnowledgeBases: {"list", "create", "update", "delete"},
    Integrations: {
        "list",
        "disconnect",
        "configure_bimpeai",
        "configure_custom_api",
        "add_custom_api_tool",
        "list_custom_api_tools",
        "delete_custom_api_tool",
        "configure_mcp_server",
        "discover_mcp_server",
        "test_mcp_server",
        "list_mcp_server_tools",
        "configure_pipedream",
    },
    Conversations: {
        "list",
        "get",
        "create_message",
        "list_messages",
        "get_message",
        "send_message",
        "set_ai_status",
        "stream_ticket",
    },
    Calls: {"list", "get", "create"},
    Workflows: {"list", "get", "create", "update", "clone", "delete"},
    PhoneNumbers: {"list", "get", "update", "list_requests", "request"},
}


def test_every_endpoint_method_is_covered() -> None:
    for area, names in COVERED.items():
        public = {
            name
            for name, fn in inspect.getmembers(area, inspect.iscoroutinefunction)
            if not name.startswith("_") and fn.__qualname__.startswith(area.__name__)
        }
        assert public == names, area.__name__


def _assert_page(meta: PageMeta | None, total: int, *, limit: int = 20, page: int = 1) -> None:
    assert meta is not None
    assert (meta.total_count, meta.current_page, meta.limit) == (total, page, limit)
    assert meta.has_previous_page is (page > 1)


async def test_agents(client: ConsoleClient, store: SandboxStore) -> None:
    agents = client.agents
    listed = await agents.list(request_id="rid-agents-list")
    assert listed.request_id == "rid-agents-list"
    assert [a.id for a in listed.data] == [store.demo_agent_id]
    assert isinstance(listed.data[0], m.Agent)
    _assert_page(listed.meta, 1)
    assert listed.rate_limit.limit == 1000 and listed.rate_limit.remaining is not None

    created = await agents.create(
        m.AgentCreate(workflow_id=store.demo_workflow_id or "", name="Sales", description="Sells", persona="concise"),
        request_id="rid-create",
    )
    assert created.status == 201 and created.request_id == "rid-create"
    assert isinstance(created.data, m.AgentCreated)
    assert created.data.workflow is not None and created.data.workflow.id == store.demo_workflow_id
    assert created.data.persona == "concise" and created.data.status == "development"
    agent_id = created.data.id

    detail = await agents.get(agent_id)
    assert isinstance(detail.data, m.AgentDetail) and detail.data.name == "Sales"
    assert detail.data.knowledge_bases == [] and detail.data.channels == []

    updated = await agents.update(agent_id, m.AgentUpdate(name="Sales 2", logo=None))
    assert updated.data.name == "Sales 2" and updated.data.description == "Sells"

    live = await agents.set_live_status(agent_id, m.LiveStatusUpdate(status="paused", status_reason="holiday"))
    assert (live.data.status, live.data.status_reason) == ("paused", "holiday")
    assert (await agents.get(agent_id)).data.status == "paused"

    code = await agents.test_code(agent_id)
    assert isinstance(code.data, m.TestCode) and len(code.data.code) == 8
    assert code.data.channels.whatsapp.start_message == f"start {code.data.code}"
    assert code.data.channels.telephony.is_enabled is False

    channels = await agents.channels(store.demo_agent_id or "")
    assert {c.type for c in channels.data} == {"webchat", "whatsapp"} and channels.meta is None

    await client.integrations.configure_bimpeai(agent_id, STRIPE)
    integrations = await agents.integrations(agent_id)
    [stripe] = integrations.data
    assert stripe.type == "stripe" and stripe.is_connected
    assert {f.key for f in stripe.config_fields} == {"public_key", "secret_key", "currency"}
    assert {a.action_name for a in stripe.actions} == {"create_payment_link", "refund_payment"}

    actions = await agents.actions(agent_id)
    assert len(actions.data) == 2 and all(a.is_enabled for a in actions.data)
    ids = [a.id for a in actions.data]
    disabled = await agents.set_actions(agent_id, m.ActionIds(action_ids=ids), enabled=False)
    assert disabled.data.updated_count == 2
    assert not any(a.is_enabled for a in (await agents.actions(agent_id)).data)
    enabled = await agents.set_actions(agent_id, m.ActionIds(action_ids=ids[:1]), enabled=True)
    assert enabled.data.updated_count == 1

    deleted = await agents.delete(agent_id)
    assert deleted.data is None and deleted.status == 200
    with pytest.raises(NotFoundError):
        await agents.get(agent_id)
    assert store.counts["agents.create"] == 1 and store.counts["agents.delete"] == 1


async def test_knowledge_bases(client: ConsoleClient, store: SandboxStore) -> None:
    kbs, agent = client.knowledge_bases, store.demo_agent_id or ""
    text = await kbs.create(agent, m.KnowledgeBaseCreate(type="text", name="FAQ", content="We open at 9."))
    url = await kbs.create(agent, m.KnowledgeBaseCreate(type="url", name="Site", url="https://example.com"))
    assert isinstance(text.data, m.KnowledgeBase) and text.data.content == "We open at 9."
    assert url.data.url == "https://example.com" and url.data.content is None
    listed = await kbs.list(agent)
    assert [k.name for k in listed.data] == ["FAQ", "Site"] and listed.meta is None
    changed = await kbs.update(agent, text.data.id, m.KnowledgeBaseUpdate(description="Hours"))
    assert (changed.data.name, changed.data.description) == ("FAQ", "Hours")
    assert (await kbs.delete(agent, url.data.id)).data is None
    assert [k.id for k in (await kbs.list(agent)).data] == [text.data.id]
    detail = await client.agents.get(agent)
    assert [k.name for k in detail.data.knowledge_bases] == ["FAQ"]


async def test_bimpeai_configure_shapes(client: ConsoleClient, store: SandboxStore) -> None:
    """The SDK's defect 1: stripe/paystack/bumpa answer {success, channel_id}, the Google ones {onboarding_url}."""
    integrations, agent = client.integrations, store.demo_agent_id or ""
    stripe = await integrations.configure_bimpeai(agent, STRIPE)
    assert stripe.data.success is True and stripe.data.channel_id and stripe.data.onboarding_url is None
    bumpa = await integrations.configure_bimpeai(agent, m.BimpeaiConfigure(type="bumpa", token="tok_" + "x" * 20))
    assert bumpa.data.success is True and bumpa.data.channel_id
    calendar = await integrations.configure_bimpeai(agent, m.BimpeaiConfigure(type="google_calendar"))
    assert calendar.data.onboarding_url and "connect=google_calendar" in calendar.data.onboarding_url
    assert calendar.data.success is None and calendar.data.channel_id is None

    listed = await integrations.list(agent, "bimpeai")
    by_type = {i.type: i for i in listed.data}
    assert isinstance(by_type["stripe"], m.BimpeaiIntegration)
    assert by_type["stripe"].id == stripe.data.channel_id and by_type["stripe"].is_connected
    assert by_type["google_calendar"].status == "pending" and not by_type["google_calendar"].is_connected
    assert by_type["paystack"].id is None and by_type["paystack"].status == "not_connected"

    gone = await integrations.disconnect(agent, "bimpeai", stripe.data.channel_id or "")
    assert gone.data is None
    assert {i.type: i.id for i in (await integrations.list(agent, "bimpeai")).data}["stripe"] is None


async def test_custom_api_mcp_and_pipedream(client: ConsoleClient, store: SandboxStore) -> None:
    integrations, agent = client.integrations, store.demo_agent_id or ""
    custom = await integrations.configure_custom_api(
        agent,
        m.CustomApiConfigure(
            name="Orders",
            base_url="https://api.shop.test",
            auth_type="bearer",
            auth_config=m.AuthConfig(token="secret-token"),
        ),
    )
    assert isinstance(custom.data, m.CustomApiIntegration)
    assert (custom.data.config.name, custom.data.config.auth_type) == ("Orders", "bearer")
    assert "secret-token" not in custom.data.model_dump_json()
    assert [i.id for i in (await integrations.list(agent, "custom_api")).data] == [custom.data.id]

    tool = await integrations.add_custom_api_tool(
        agent,
        custom.data.id,
        m.CustomApiToolCreate(
            name="Create order",
            http_method="POST",
            url_template="/orders",
            body_params=[m.BodyParam(name="sku", type="string", required=True)],
        ),
    )
    assert isinstance(tool.data, m.IntegrationTool) and tool.data.action_name == "create_order"
    tools = await integrations.list_custom_api_tools(agent, custom.data.id)
    assert [t.id for t in tools.data] == [tool.data.id]
    assert (await integrations.delete_custom_api_tool(agent, custom.data.id, tool.data.id)).data is None
    assert (await integrations.list_custom_api_tools(agent, custom.data.id)).data == []

    mcp = await integrations.configure_mcp_server(
        agent, m.McpServerConfigure(name="Docs", server_url="https://mcp.example.com/mcp")
    )
    assert mcp.data.config.transport == "streamable_http"
    discovered = await integrations.discover_mcp_server(agent, mcp.data.id)
    assert isinstance(discovered.data, m.DiscoverResult)
    assert discovered.data.created == discovered.data.discovered >= 3
    again = await integrations.discover_mcp_server(agent, mcp.data.id)
    assert (again.data.created, again.data.updated, again.data.disabled) == (0, 0, 0)
    tested = await integrations.test_mcp_server(agent, mcp.data.id)
    assert tested.data.success and tested.data.tools_count == discovered.data.discovered
    mcp_tools = await integrations.list_mcp_server_tools(agent, mcp.data.id)
    assert len(mcp_tools.data) == discovered.data.discovered
    assert [i.config.server_url for i in (await integrations.list(agent, "mcp_server")).data] == [
        "https://mcp.example.com/mcp"
    ]

    pipedream = await integrations.configure_pipedream(agent, m.PipedreamConfigure(app_slug="google-sheets"))
    assert isinstance(pipedream.data, m.OnboardingUrl) and "app=google-sheets" in pipedream.data.onboarding_url
    [pd] = (await integrations.list(agent, "pipedream")).data
    assert isinstance(pd, m.PipedreamIntegration) and pd.config.app_slug == "google-sheets"

    for family, integration_id in (("custom_api", custom.data.id), ("mcp_server", mcp.data.id), ("pipedream", pd.id)):
        assert (await integrations.disconnect(agent, family, integration_id)).data is None  # type: ignore[arg-type]
        assert (await integrations.list(agent, family)).data == []  # type: ignore[arg-type]


async def test_conversations(client: ConsoleClient, store: SandboxStore) -> None:
    conv, agent = client.conversations, store.demo_agent_id or ""
    first = await conv.create_message(
        agent,
        m.MessageCreate(
            message="hello", channel_type="whatsapp", channel_user_id="+2348000000001", channel_username="Ade"
        ),
    )
    assert isinstance(first.data, m.Message) and first.data.role == "user" and first.status == 201
    cid = first.data.conversation_id or ""
    again = await conv.create_message(agent, m.MessageCreate(message="again", conversation_id=cid))
    assert again.data.conversation_id == cid
    sent = await conv.send_message(agent, cid, m.MessageSend(message="from staff", role="assistant"))
    assert sent.data.role == "assistant"

    listed = await conv.list(agent, channel="whatsapp", is_test_channel=False)
    assert [c.id for c in listed.data] == [cid]
    _assert_page(listed.meta, 1)
    assert (await conv.list(agent, channel="test_whatsapp")).data == []
    assert (await conv.list(agent, is_ai_chat_paused=True)).data == []

    detail = await conv.get(agent, cid)
    assert isinstance(detail.data, m.ConversationDetail)
    assert (detail.data.full_name, detail.data.phone_number) == ("Ade", "+2348000000001")

    messages = await conv.list_messages(agent, cid, ListQuery(limit=2))
    assert [x.message for x in messages.data] == ["hello", "again"]
    _assert_page(messages.meta, 3, limit=2)
    assert messages.meta is not None and messages.meta.has_next_page and messages.meta.page_count == 2
    newest = await conv.list_messages(agent, cid, ListQuery(sort="-created_at", search="staff"))
    assert [x.id for x in newest.data] == [sent.data.id]
    one = await conv.get_message(agent, cid, first.data.id)
    assert one.data.message == "hello"

    paused = await conv.set_ai_status(agent, cid, m.AiStatusUpdate(is_ai_chat_paused=True))
    assert paused.data.is_ai_chat_paused is True
    assert [c.id for c in (await conv.list(agent, is_ai_chat_paused=True)).data] == [cid]
    roles = [x.role for x in (await conv.list_messages(agent, cid)).data]
    assert roles[-1] == "system"  # an unknown-to-the-SDK role still validates

    ticket = await conv.stream_ticket(agent, cid)
    assert isinstance(ticket.data, m.StreamTicket) and ticket.data.ticket and ticket.data.expires_in == 60


async def test_calls(client: ConsoleClient, store: SandboxStore) -> None:
    calls, agent = client.calls, store.demo_agent_id or ""
    test_call = await calls.create(agent, m.CallCreate(destination="+2348011112222", is_test_call=True))
    assert isinstance(test_call.data, m.CallStarted) and test_call.data.status == "initiated"
    busy = await calls.create(agent, m.CallCreate(destination="+2348011110000", is_test_call=True))
    assert busy.data.status == "busy"
    await client.phone_numbers.update(store.demo_phone_number_id or "", m.PhoneNumberUpdate(agent_id=agent))
    real = await calls.create(agent, m.CallCreate(destination="+2348011113333", is_test_call=False))
    assert real.data.status == "initiated" and store.counts["calls.create"] == 3

    listed = await calls.list(agent)
    assert len(listed.data) == 3 and all(isinstance(c, m.Call) for c in listed.data)
    _assert_page(listed.meta, 3)
    only_real = await calls.list(agent, is_test_call=False)
    assert [c.id for c in only_real.data] == [real.data.call_id]
    assert only_real.data[0].source == "+2342017001234"

    detail = await calls.get(agent, test_call.data.call_id or "")
    assert isinstance(detail.data, m.CallDetail) and detail.data.destination == "+2348011112222"
    assert detail.data.status in ("queued", "ringing", "answered", "ended")


async def test_workflows(client: ConsoleClient, store: SandboxStore) -> None:
    wfs = client.workflows
    everything = await wfs.list()
    assert {w.name for w in everything.data} == {"Customer Support", "Restaurant Reservations"}
    _assert_page(everything.meta, 2)
    public = await wfs.list(scope="public")
    assert [w.name for w in public.data] == ["Restaurant Reservations"] and public.data[0].is_owner is False

    created = await wfs.create(
        m.WorkflowCreate(
            name="Bookings",
            system_prompt="Book tables.",
            rules=[{"id": "r1", "name": "greet"}],
            faq=[{"question": "Open?", "answer": "9-5"}],
            setup_time=5,
        )
    )
    assert isinstance(created.data, m.Workflow) and created.data.is_owner and created.data.visibility == "private"
    assert created.data.rules == [{"id": "r1", "name": "greet"}] and created.data.setup_time == 5
    got = await wfs.get(created.data.id)
    assert got.data.system_prompt == "Book tables."
    updated = await wfs.update(created.data.id, m.WorkflowUpdate(tags=["food"], description="Tables"))
    assert (updated.data.tags, updated.data.description, updated.data.name) == (["food"], "Tables", "Bookings")

    clone = await wfs.clone(public.data[0].id)
    assert clone.data.name == "Restaurant Reservations (copy)" and clone.data.is_owner
    assert clone.data.id != public.data[0].id
    owned = await wfs.list(scope="owned")
    assert {w.id for w in owned.data} == {store.demo_workflow_id, created.data.id, clone.data.id}

    assert (await wfs.delete(clone.data.id)).data is None
    with pytest.raises(NotFoundError):
        await wfs.get(clone.data.id)


async def test_phone_numbers(client: ConsoleClient, store: SandboxStore) -> None:
    numbers, number_id = client.phone_numbers, store.demo_phone_number_id or ""
    listed = await numbers.list()
    assert [n.e164 for n in listed.data] == ["+2342017001234"]
    _assert_page(listed.meta, 1)
    assigned = await numbers.update(number_id, m.PhoneNumberUpdate(agent_id=store.demo_agent_id, label="Main"))
    assert (assigned.data.agent_id, assigned.data.label, assigned.data.inbound_enabled) == (
        store.demo_agent_id,
        "Main",
        True,
    )
    unassigned = await numbers.update(number_id, m.PhoneNumberUpdate(agent_id=None))
    assert unassigned.data.agent_id is None and unassigned.data.label == "Main"  # explicit null sent, label kept
    got = await numbers.get(number_id)
    assert got.data.inbound_enabled is False

    request = await numbers.request(
        m.PhoneNumberRequestCreate(
            business_name="Ade Foods", intended_use="Support", region="ng", agent_count=1, outbound_minutes=100
        )
    )
    assert isinstance(request.data, m.PhoneNumberRequest) and request.data.status == "pending"
    requests = await numbers.list_requests()
    assert [r.id for r in requests.data] == [request.data.id]
    _assert_page(requests.meta, 1)


async def test_walk_pages_caps_and_finishes(client: ConsoleClient) -> None:
    for i in range(6):
        await client.workflows.create(m.WorkflowCreate(name=f"WF {i}", system_prompt="p"))
    seen: list[tuple[int, int | None]] = []

    async def on_page(page: int, meta: PageMeta | None) -> None:
        seen.append((page, meta.current_page if meta else None))

    capped = await walk_pages(
        lambda page: client.workflows.list(ListQuery(page=page, limit=3, sort="name"), scope="owned"),
        max_items=5,
        on_page=on_page,
    )
    assert [w.name for w in capped.items] == ["Customer Support", "WF 0", "WF 1", "WF 2", "WF 3"]
    assert (capped.total_count, capped.pages, capped.truncated) == (7, 2, True)
    assert len(capped.request_ids) == 2 and len(set(capped.request_ids)) == 2
    assert seen == [(1, 1), (2, 2)]

    full = await walk_pages(
        lambda page: client.workflows.list(ListQuery(page=page, limit=3), scope="owned"), max_items=100
    )
    assert (len(full.items), full.total_count, full.pages, full.truncated) == (7, 7, 3, False)
    assert len({w.id for w in full.items}) == 7

    exact = await walk_pages(
        lambda page: client.workflows.list(ListQuery(page=page, limit=7), scope="owned"), max_items=7
    )
    assert (len(exact.items), exact.truncated, exact.pages) == (7, False, 1)
