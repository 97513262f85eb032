"""Every tool, through a real MCP client, over stdio (a subprocess) and streamable HTTP (uvicorn)."""

from __future__ import annotations

import httpx
import pytest

from bimpe_mcp.sandbox import RunningSandbox
from bimpe_mcp.tools import ALL_TOOLS, unfence
from tests.harness import TRANSPORTS, Connection, connect


async def exercise_every_tool(conn: Connection, sandbox: RunningSandbox) -> None:
    store = sandbox.store
    agent_id = store.demo_agent_id

    # agents
    agents = await conn.ok("list_agents", {"limit": 5})
    assert [a["id"] for a in agents["items"]] == [agent_id]
    assert agents["total_count"] == 1 and agents["has_next_page"] is False and agents["request_id"]
    detail = await conn.ok("get_agent", {"agent_id": agent_id})
    assert detail["name"] == "Bimpe Demo Agent" and detail["workflow_id"] == store.demo_workflow_id
    created = await conn.ok(
        "create_agent",
        {"workflow_id": store.demo_workflow_id, "name": "Scratch", "description": "temp", "persona": "concise"},
    )
    assert created["workflow"]["id"] == store.demo_workflow_id and created["persona"] == "concise"
    updated = await conn.ok("update_agent", {"agent_id": created["id"], "name": "Scratch 2"})
    assert updated["name"] == "Scratch 2" and updated["description"] == "temp"
    status = await conn.ok("set_agent_status", {"agent_id": agent_id, "status": "paused", "status_reason": "tests"})
    assert status == {**status, "status": "paused", "status_reason": "tests"}
    channels = await conn.ok("list_agent_channels", {"agent_id": agent_id})
    assert {c["type"] for c in channels["items"]} >= {"webchat"}
    deleted = await conn.ok("delete_agent", {"agent_id": created["id"], "confirm": created["id"]})
    assert deleted["deleted"] is True and deleted["id"] == created["id"]
    assert store.counts["agents.delete"] == 1

    # knowledge
    kb = await conn.ok(
        "add_knowledge_base", {"agent_id": agent_id, "type": "text", "name": "Hours", "content": "9 to 5"}
    )
    kb = await conn.ok("update_knowledge_base", {"agent_id": agent_id, "kb_id": kb["id"], "name": "Opening hours"})
    assert kb["name"] == "Opening hours"
    kbs = await conn.ok("list_knowledge_bases", {"agent_id": agent_id})
    assert [k["name"] for k in kbs["items"]] == ["Opening hours"]
    await conn.ok("delete_knowledge_base", {"agent_id": agent_id, "kb_id": kb["id"], "confirm": kb["id"]})
    assert (await conn.ok("list_knowledge_bases", {"agent_id": agent_id}))["total_count"] == 0

    # integrations
    stripe = await conn.ok(
        "configure_bimpeai_integration",
        {"agent_id": agent_id, "type": "stripe", "public_key": "pk_test_abcdefgh1", "secret_key": "sk_test_abcdefgh2"},
    )
    assert stripe["success"] is True and stripe["channel_id"] and stripe["onboarding_url"] is None
    google = await conn.ok("configure_bimpeai_integration", {"agent_id": agent_id, "type": "google_sheets"})
    assert google["onboarding_url"].endswith("connect=google_sheets") and google["channel_id"] is None
    paystack = await conn.ok("configure_bimpeai_integration", {"agent_id": agent_id, "type": "paystack"})
    assert "/secrets/" in paystack["entry_url"] and paystack["channel_id"] is None
    waiting = await conn.ok("check_secret_entry", {"pending_id": paystack["pending_id"]})
    assert waiting["status"] == "pending" and waiting["result"] is None
    api = await conn.ok(
        "configure_custom_api",
        {"agent_id": agent_id, "name": "Orders", "base_url": "https://api.example.com", "auth_type": "none"},
    )
    assert api["config"]["name"] == "Orders" and "add_custom_api_tool" in api["next_step"]
    tool = await conn.ok(
        "add_custom_api_tool",
        {
            "agent_id": agent_id,
            "integration_id": api["id"],
            "name": "Track order",
            "http_method": "GET",
            "url_template": "/orders/{id}",
            "url_params": [{"name": "id", "type": "string", "required": True}],
        },
    )
    assert tool["action_name"] == "track_order" and tool["is_enabled"] is True
    api_tools = await conn.ok("list_custom_api_tools", {"agent_id": agent_id, "integration_id": api["id"]})
    assert [t["id"] for t in api_tools["items"]] == [tool["id"]]
    actions = await conn.ok("list_agent_actions", {"agent_id": agent_id})
    action_ids = [a["id"] for a in actions["items"] if a["action_name"] == "track_order"]
    assert len(action_ids) == 1
    changed = await conn.ok("set_agent_actions", {"agent_id": agent_id, "action_ids": action_ids, "enabled": False})
    assert changed["updated_count"] == 1
    await conn.ok(
        "delete_custom_api_tool",
        {"agent_id": agent_id, "integration_id": api["id"], "tool_id": tool["id"], "confirm": tool["id"]},
    )
    mcp = await conn.ok(
        "configure_mcp_server", {"agent_id": agent_id, "name": "Guild", "server_url": "https://mrguild.com/api/mcp"}
    )
    ref = {"agent_id": agent_id, "integration_id": mcp["id"]}
    found = await conn.ok("discover_mcp_server_tools", ref)
    assert found["discovered"] == found["created"] > 0 and found["disabled"] == 0
    tested = await conn.ok("test_mcp_server", ref)
    assert tested["success"] is True and tested["tools_count"] == found["discovered"]
    mcp_tools = await conn.ok("list_mcp_server_tools", ref)
    assert mcp_tools["total_count"] == found["discovered"]
    pipedream = await conn.ok("configure_pipedream_app", {"agent_id": agent_id, "app_slug": "google-sheets"})
    assert pipedream["onboarding_url"].startswith("https://")
    everything = await conn.ok("list_integrations", {"agent_id": agent_id})
    families = {item["family"] for item in everything["items"]}
    assert families == {"bimpeai", "custom_api", "mcp_server", "pipedream"}
    custom = await conn.ok("list_integrations", {"agent_id": agent_id, "family": "custom_api"})
    assert [i["id"] for i in custom["items"]] == [api["id"]]
    await conn.ok(
        "disconnect_integration",
        {"agent_id": agent_id, "family": "custom_api", "integration_id": api["id"], "confirm": api["id"]},
    )
    assert (await conn.ok("list_integrations", {"agent_id": agent_id, "family": "custom_api"}))["items"] == []

    # testing
    code = await conn.ok("get_test_code", {"agent_id": agent_id})
    assert code["channels"]["whatsapp"]["start_message"] == f"start {code['code']}"
    exchange = await conn.ok("send_test_message", {"agent_id": agent_id, "message": "Do you open on Sunday?"})
    assert exchange["timed_out"] is False and "Do you open on Sunday?" in exchange["reply"]["message"]
    assert exchange["reply"]["role"] == "assistant" and len(exchange["request_ids"]) >= 2
    test_call = await conn.ok("place_test_call", {"agent_id": agent_id, "destination": "+2348012345678"})
    assert test_call["status"] == "initiated" and test_call["call_id"]

    # workflows
    workflows = await conn.ok("list_workflows", {"scope": "public"})
    public = workflows["items"][0]
    assert public["visibility"] == "public" and public["is_owner"] is False
    assert (await conn.ok("get_workflow", {"workflow_id": public["id"]}))["name"] == public["name"]
    clone = await conn.ok("clone_workflow", {"source_workflow_id": public["id"]})
    assert clone["is_owner"] is True and clone["name"].endswith("(copy)")
    mine = await conn.ok("create_workflow", {"name": "Support", "system_prompt": "Be kind.", "tags": ["a"]})
    mine = await conn.ok("update_workflow", {"workflow_id": mine["id"], "description": "Helps"})
    assert mine["description"] == "Helps" and mine["tags"] == ["a"]
    await conn.ok("delete_workflow", {"workflow_id": mine["id"], "confirm": mine["id"]})

    # conversations
    conversation_id = exchange["conversation_id"]
    listed = await conn.ok("list_conversations", {"agent_id": agent_id, "channel": "test_webchat"})
    assert [c["id"] for c in listed["items"]] == [conversation_id]
    assert (await conn.ok("get_conversation", {"agent_id": agent_id, "conversation_id": conversation_id}))["id"]
    messages = await conn.ok("list_messages", {"agent_id": agent_id, "conversation_id": conversation_id})
    assert [m["role"] for m in messages["items"]] == ["user", "assistant"]
    first = messages["items"][0]
    one = await conn.ok(
        "get_message", {"agent_id": agent_id, "conversation_id": conversation_id, "message_id": first["id"]}
    )
    assert (one["id"], unfence(one)["message"]) == (first["id"], unfence(messages)["items"][0]["message"])
    paused = await conn.ok(
        "set_conversation_ai", {"agent_id": agent_id, "conversation_id": conversation_id, "is_ai_chat_paused": True}
    )
    assert paused["is_ai_chat_paused"] is True
    sent = await conn.ok(
        "send_message",
        {"agent_id": agent_id, "conversation_id": conversation_id, "message": "A human here", "role": "assistant"},
    )
    waited = await conn.ok(
        "wait_for_messages",
        {"agent_id": agent_id, "conversation_id": conversation_id, "after": messages["items"][-1]["id"], "count": 2},
    )
    assert [m["role"] for m in waited["messages"]] == ["system", "assistant"]
    assert waited["messages"][-1]["id"] == sent["id"] and waited["timed_out"] is False
    fresh = await conn.ok(
        "send_message",
        {"agent_id": agent_id, "channel_type": "whatsapp", "channel_user_id": "+2348000000002", "message": "Hello"},
    )
    assert fresh["conversation_id"] != conversation_id

    # calls and phone numbers
    calls = await conn.ok("list_calls", {"agent_id": agent_id, "is_test_call": True})
    assert [c["id"] for c in calls["items"]] == [test_call["call_id"]]
    call = await conn.ok("get_call", {"agent_id": agent_id, "call_id": test_call["call_id"]})
    assert call["is_test_call"] is True and call["destination"] == "+2348012345678"
    numbers = await conn.ok("list_phone_numbers")
    number_id = numbers["items"][0]["id"]
    assert (await conn.ok("get_phone_number", {"phone_number_id": number_id}))["agent_id"] is None
    assigned = await conn.ok("update_phone_number", {"phone_number_id": number_id, "agent_id": agent_id})
    assert assigned["agent_id"] == agent_id
    real_call = await conn.ok(
        "make_call", {"agent_id": agent_id, "destination": "+2348011112222", "confirm": "+2348011112222"}
    )
    assert real_call["status"] == "initiated"
    unassigned = await conn.ok("update_phone_number", {"phone_number_id": number_id, "agent_id": None})
    assert unassigned["agent_id"] is None
    request = await conn.ok(
        "request_phone_number",
        {"business_name": "Demo", "intended_use": "support", "region": "ng", "agent_count": 1, "outbound_minutes": 10},
    )
    assert request["status"] == "pending"
    requests = await conn.ok("list_phone_number_requests")
    assert [r["id"] for r in requests["items"]] == [request["id"]]

    await exercise_butterbase(conn, sandbox)


async def exercise_butterbase(conn: Connection, sandbox: RunningSandbox) -> None:
    """The document's scenario and the rest: catalog, enable, connect (the user signs in), tools, execute."""
    butterbase = sandbox.store.butterbase
    curated = await conn.ok("butterbase_list_toolkits")
    assert curated["total_count"] == 10 and all(toolkit["curated"] for toolkit in curated["items"])
    found = await conn.ok("butterbase_list_toolkits", {"search": "sales"})
    assert found["items"] == [{"toolkit": "salesforce", "displayName": "Salesforce", "curated": False}]
    enabled = await conn.ok("butterbase_enable_toolkit", {"toolkit": "gmail", "scopes": ["gmail.send"]})
    assert enabled == {**enabled, "toolkit": "gmail", "displayName": "Gmail", "scopes": ["gmail.send"]}
    await conn.ok("butterbase_enable_toolkit", {"toolkit": "slack", "display_name": "Team chat"})
    listed = await conn.ok("butterbase_list_enabled_toolkits")
    assert [(t["toolkit"], t["displayName"]) for t in listed["items"]] == [("gmail", "Gmail"), ("slack", "Team chat")]
    user = {"user_id": "user-1"}
    started = await conn.ok(
        "butterbase_connect_user", {"toolkit": "gmail", **user, "redirect_url": "https://app.example.com/done"}
    )
    assert started["url_elicitation"] == "not_offered" and "butterbase_list_connections" in started["next_step"]
    assert (await conn.ok("butterbase_list_connections", user))["items"] == []
    async with httpx.AsyncClient() as browser:  # the user opens authUrl and signs in
        signed_in = await browser.get(started["authUrl"])
    assert signed_in.status_code == 302 and signed_in.headers["location"] == "https://app.example.com/done"
    [connection] = (await conn.ok("butterbase_list_connections", user))["items"]
    assert connection == {**connection, "toolkit": "gmail", "userId": "user-1", "status": "active"}
    tools = await conn.ok("butterbase_list_tools", {"toolkit": "gmail"})
    assert {"GMAIL_SEND_EMAIL", "GMAIL_LIST_EMAILS"} <= {tool["name"] for tool in tools["items"]}
    email = {"to": "ada@example.com", "subject": "Hi", "body": "Hello"}
    sent = await conn.ok("butterbase_execute_tool", {"tool_name": "GMAIL_SEND_EMAIL", "params": email, **user})
    assert sent["successful"] is True and butterbase.outbox[-1]["params"] == email
    removed = await conn.ok("butterbase_disconnect", {"connection_id": connection["id"], "confirm": connection["id"]})
    assert removed == {**removed, "deleted": True, "id": connection["id"]}
    disabled = await conn.ok("butterbase_disable_toolkit", {"toolkit": "slack", "confirm": "slack"})
    assert disabled["deleted"] is True and list(butterbase.enabled) == ["gmail"]
    assert sandbox.store.counts["butterbase.execute"] == 1 and not butterbase.connections


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_every_tool_end_to_end(kind: str, sandbox: RunningSandbox) -> None:
    async with connect(kind, sandbox) as conn:
        listed = {tool.name for tool in (await conn.client.list_tools()).tools}
        await exercise_every_tool(conn, sandbox)
    assert len(listed) == len(ALL_TOOLS)
    assert listed == set(conn.calls), f"not exercised: {sorted(listed - set(conn.calls))}"
