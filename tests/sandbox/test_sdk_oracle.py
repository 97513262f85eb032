"""The official `bimpeai` SDK against the sandbox: every endpoint it covers, its models validating the answers.

The SDK appends /api/v1/console itself, so `base_url` is the sandbox root. Documented SDK defects are
asserted as failures (defect 1: bimpeai.configure for stripe/paystack/bumpa).
"""

from __future__ import annotations

import time

import pytest
from bimpeai import BimpeAI, NotFoundError, PermissionDeniedError
from pydantic import ValidationError as PydanticValidationError

from bimpe_mcp.sandbox import RunningSandbox, SandboxStore


@pytest.fixture
def sdk(live: RunningSandbox, store: SandboxStore) -> BimpeAI:
    return BimpeAI(api_key=store.demo_api_key, base_url=live.base_url, max_retries=0)


def test_agents_and_sub_resources(sdk: BimpeAI, store: SandboxStore) -> None:
    aid = store.demo_agent_id
    page = sdk.agents.list(limit=1)
    assert page.meta is not None and page.data[0].id == aid
    created = sdk.agents.create(workflow_id=store.demo_workflow_id, name="SDK", description="d", persona="concise")
    assert created.workflow is not None and created.workflow.id == store.demo_workflow_id
    assert [a.name for a in sdk.agents.list(limit=1)] == ["Bimpe Demo Agent", "SDK"]
    assert sdk.agents.update(created.id, name="SDK 2").name == "SDK 2"
    assert sdk.agents.update_live_status(created.id, status="paused", status_reason="r").status == "paused"
    code = sdk.agents.get_test_code(aid)
    assert code.channels.whatsapp.start_message == f"start {code.code}"
    assert {c.type for c in sdk.agents.channels.list(aid)} == {"webchat", "whatsapp"}
    kb = sdk.agents.knowledge_bases.create(aid, {"type": "url", "name": "Site", "url": "https://example.com"})
    assert sdk.agents.knowledge_bases.update(aid, kb.id, description="x").description == "x"
    assert [k.id for k in sdk.agents.knowledge_bases.list(aid)] == [kb.id]
    sdk.agents.knowledge_bases.delete(aid, kb.id)
    detail = sdk.agents.retrieve(aid)
    assert detail.knowledge_bases == [] and len(detail.channels) == 2
    sdk.agents.delete(created.id)
    with pytest.raises(NotFoundError):
        sdk.agents.retrieve(created.id)


def test_integrations(sdk: BimpeAI, store: SandboxStore) -> None:
    aid = store.demo_agent_id
    integ = sdk.agents.integrations
    with pytest.raises(PydanticValidationError):  # SDK defect 1: validates {success, channel_id} as {onboarding_url}
        integ.bimpeai.configure(aid, type="stripe", public_key="pk_test_abcdefgh", secret_key="sk_test_abcdefgh")
    stripe = next(i for i in integ.bimpeai.list(aid) if i.type == "stripe")
    assert stripe.is_connected and stripe.id is not None
    assert integ.bimpeai.configure(aid, type="google_sheets").onboarding_url.endswith("connect=google_sheets")
    api = integ.custom_api.configure(
        aid, name="Orders", base_url="https://api.example.com", auth_type="bearer", auth_config={"token": "t"}
    )
    tool = integ.custom_api.tools.add(
        aid, api.id, {"name": "Create order", "http_method": "POST", "url_template": "/orders", "timeout": 5}
    )
    assert [t.id for t in integ.custom_api.tools.list(aid, api.id)] == [tool.id]
    assert integ.custom_api.list(aid)[0].config.auth_type == "bearer"
    mcp = integ.mcp_server.configure(
        aid, name="MR Guild", server_url="https://mrguild.com/api/mcp", transport="streamable_http"
    )
    found = integ.mcp_server.discover(aid, mcp.id)
    assert integ.mcp_server.test(aid, mcp.id).tools_count == found.discovered
    assert len(integ.mcp_server.tools.list(aid, mcp.id)) == found.discovered
    assert integ.mcp_server.list(aid)[0].config.transport == "streamable_http"
    assert integ.pipedream.configure(aid, app_slug="google-sheets").onboarding_url
    pd = integ.pipedream.list(aid)[0]
    everything = integ.list(aid)
    assert {i.type for i in everything} == {"stripe", "google_sheets", "custom_api", "mcp_server", "pipedream"}
    actions = sdk.agents.actions.list(aid)
    assert sdk.agents.actions.disable(aid, action_ids=[actions[0].id]).updated_count == 1
    assert sdk.agents.actions.enable(aid, action_ids=[actions[0].id]).updated_count == 1
    integ.custom_api.tools.delete(aid, api.id, tool.id)
    integ.custom_api.disconnect(aid, api.id)
    integ.mcp_server.disconnect(aid, mcp.id)
    integ.pipedream.disconnect(aid, pd.id)
    integ.bimpeai.disconnect(aid, stripe.id)
    assert {i.type for i in integ.list(aid)} == {"google_sheets"}


def test_conversations_and_stream(sdk: BimpeAI, store: SandboxStore) -> None:
    aid = store.demo_agent_id
    first = sdk.conversations.send(
        aid, message="hello", channel_type="webchat", channel_user_id="u9", is_test_channel=True
    )
    cid = first.conversation_id  # type: ignore[attr-defined]
    conv = sdk.conversations.list(aid, channel="test_webchat").data[0]
    assert conv.id == cid and sdk.conversations.retrieve(aid, cid).id == cid
    sent = sdk.conversations.messages.send(aid, cid, message="more")
    assert sdk.conversations.messages.retrieve(aid, cid, sent.id).message == "more"
    stream = sdk.conversations.messages.stream(aid, cid, after=first.id, reconnect=False, timeout=5)
    seen = [next(stream).message for _ in range(3)]
    assert 'Hi, this is Bimpe Demo Agent. You said: "hello"' in seen and "more" in seen
    stream.close()
    assert sdk.conversations.set_ai_status(aid, cid, is_ai_chat_paused=True).is_ai_chat_paused is True
    roles = [m.role for m in sdk.conversations.messages.list(aid, cid, limit=100)]
    assert roles[-1] == "system"
    reader = store.add_key(store.demo_team_id, ["conversations:write"])
    with pytest.raises(PermissionDeniedError):
        BimpeAI(api_key=reader, base_url=sdk._base_url, max_retries=0).conversations.messages.stream_ticket(aid, cid)


def test_calls_workflows_phone_numbers(sdk: BimpeAI, store: SandboxStore) -> None:
    aid = store.demo_agent_id
    made = sdk.calls.make(aid, {"destination": "+2348031234567", "is_test_call": True})
    assert made.status == "initiated" and made.call_id
    time.sleep(store.call_step * 3.5)
    call = sdk.calls.retrieve(aid, made.call_id)
    assert call.status == "ended" and call.conversation_logs
    assert sdk.calls.list(aid, is_test_call=True).data[0].id == made.call_id
    wf = sdk.workflows.create(
        name="Flow", system_prompt="p", faq=[{"question": "q", "answer": "a"}], guide={"steps": ["s"]}
    )
    assert sdk.workflows.update(wf.id, description="d").description == "d"
    assert sdk.workflows.retrieve(wf.id).is_owner
    public_wf = sdk.workflows.list(scope="public").data[0]
    assert sdk.workflows.clone(source_workflow_id=public_wf.id).name.endswith("(copy)")
    assert len(list(sdk.workflows.list(limit=1))) == 4
    sdk.workflows.delete(wf.id)
    number = sdk.phone_numbers.list().data[0]
    assert sdk.phone_numbers.retrieve(number.id).e164 == "+2342017001234"
    assert sdk.phone_numbers.update(number.id, agent_id=aid).agent_id == aid
    sdk.phone_numbers.requests.create(
        business_name="B", intended_use="u", region="ng", agent_count=1, outbound_minutes=10
    )
    assert sdk.phone_numbers.requests.list().data[0].status == "pending"
