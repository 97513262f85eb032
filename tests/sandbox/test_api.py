"""Conventions and business rules over the in-process client."""

from __future__ import annotations

import asyncio

import httpx

from bimpe_mcp.sandbox import SandboxStore

from .conftest import PREFIX

A = f"{PREFIX}/agents"


def agent_path(store: SandboxStore, rest: str = "") -> str:
    return f"{A}/{store.demo_agent_id}{rest}"


async def test_auth_codes(client: httpx.AsyncClient, store: SandboxStore) -> None:
    r = await client.get(A, headers={"Authorization": ""})
    assert (r.status_code, r.json()["code"]) == (401, "api_key_missing")
    assert r.json()["error"] == "Unauthorized" and r.json()["statusCode"] == 401
    r = await client.get(A, headers={"Authorization": "Bearer sk_test_nope"})
    assert r.json()["code"] == "api_key_invalid"
    expired = store.add_key(store.demo_team_id, ["agents:read"], expired=True)
    r = await client.get(A, headers={"Authorization": "", "X-Api-Key": expired})
    assert r.json()["code"] == "api_key_expired"
    r = await client.get(A, headers={"Authorization": "", "X-Api-Key": store.demo_api_key})
    assert r.status_code == 200


async def test_scope_and_team_isolation(client: httpx.AsyncClient, store: SandboxStore) -> None:
    key = store.add_key(store.demo_team_id, ["agents:read"])
    r = await client.post(A, json={}, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 403
    assert r.json()["message"] == "This API key is missing the required scope: agents:write."
    r = await client.post(
        f"{agent_path(store)}/conversations/x/stream-ticket", headers={"Authorization": f"Bearer {key}"}
    )
    assert r.json()["message"].endswith("conversations:read.")
    _, other = store.add_team("Other")
    r = await client.get(agent_path(store), headers={"Authorization": f"Bearer {other}"})
    assert (r.status_code, r.json()["code"]) == (404, "not_found")


async def test_pagination_search_sort(client: httpx.AsyncClient, store: SandboxStore) -> None:
    wf = store.demo_workflow_id
    for name in ("Zed", "alpha", "Mid"):
        r = await client.post(A, json={"workflow_id": wf, "name": name, "description": "d"})
        assert r.status_code == 201
        assert r.json()["data"]["workflow"]["id"] == wf
    r = await client.get(A, params={"limit": 2, "page": 2, "sort": "name"})
    body = r.json()
    assert body["meta"] == {
        "total_count": 4,
        "page_count": 2,
        "current_page": 2,
        "limit": 2,
        "has_next_page": False,
        "has_previous_page": True,
    }
    assert [a["name"] for a in body["data"]] == ["Mid", "Zed"]
    r = await client.get(A, params={"sort": "-name", "search": "A"})
    assert [a["name"] for a in r.json()["data"]] == ["Bimpe Demo Agent", "alpha"]
    r = await client.get(A, params={"limit": 101})
    assert r.status_code == 400
    assert r.json()["message"] == ["limit: must not be greater than 100"]


async def test_rate_limit(client: httpx.AsyncClient, store: SandboxStore) -> None:
    key = store.add_key(store.demo_team_id, ["agents:read"], rate_limit=2)
    h = {"Authorization": f"Bearer {key}"}
    r1 = await client.get(A, headers=h)
    assert r1.headers["X-RateLimit-Limit"] == "2" and r1.headers["X-RateLimit-Remaining"] == "1"
    await client.get(A, headers=h)
    r = await client.get(A, headers=h)
    assert (r.status_code, r.json()["code"]) == (429, "too_many_requests")
    assert int(r.headers["Retry-After"]) >= 1 and r.headers["X-RateLimit-Remaining"] == "0"
    assert int(r.headers["X-RateLimit-Reset"]) > 0


async def test_idempotency(client: httpx.AsyncClient, store: SandboxStore) -> None:
    body = {"workflow_id": store.demo_workflow_id, "name": "Once", "description": "d"}
    h = {"Idempotency-Key": "k1"}
    r1 = await client.post(A, json=body, headers=h)
    r2 = await client.post(A, json=body, headers=h)
    assert r2.status_code == 201 and r2.json() == r1.json()
    assert r2.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in r1.headers
    assert store.counts["agents.create"] == 1
    r3 = await client.post(A, json={**body, "name": "Other"}, headers=h)
    assert (r3.status_code, r3.json()["code"]) == (409, "conflict")
    r4 = await client.post(A, json=body, headers={"Idempotency-Key": "x" * 256})
    assert r4.json()["code"] == "validation_error"
    assert store.counts["agents.create"] == 1


async def test_request_id_cors_and_errors(client: httpx.AsyncClient, store: SandboxStore) -> None:
    r = await client.get(f"{A}/agt_missing", headers={"X-Request-Id": "rid-1"})
    assert r.headers["X-Request-Id"] == "rid-1" and r.json()["request_id"] == "rid-1"
    assert "X-RateLimit-Limit" in r.headers
    r = await client.get(A)
    assert len(r.headers["X-Request-Id"]) == 36
    r = await client.options(
        A,
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "idempotency-key",
        },
    )
    assert r.status_code == 204
    for h in ("Authorization", "X-Api-Key", "Content-Type", "Idempotency-Key", "X-Request-Id"):
        assert h in r.headers["Access-Control-Allow-Headers"]
    r = await client.get(A, headers={"Origin": "https://app.example"})
    assert "X-RateLimit-Remaining" in r.headers["Access-Control-Expose-Headers"]
    r = await client.post(A, content=b"{nope", headers={"Content-Type": "application/json"})
    assert r.json()["code"] == "bad_request"
    r = await client.get(f"{PREFIX}/calls")
    assert (r.status_code, r.json()["code"]) == (501, "not_implemented")
    r = await client.get(f"{PREFIX}/nothing")
    assert r.json()["code"] == "not_found"


async def test_agent_rules(client: httpx.AsyncClient, store: SandboxStore) -> None:
    r = await client.post(A, json={"persona": "grumpy", "extra": 1})
    msgs = r.json()["message"]
    assert "name: is required" in msgs and "persona: must be one of professional, friendly, concise" in msgs
    r = await client.post(A, json={"workflow_id": "wf_nope", "name": "n", "description": "d"})
    assert r.status_code == 404
    _team, key = store.add_team("Free", plan="free")
    h = {"Authorization": f"Bearer {key}"}
    public_wf = next(w["id"] for w in (await client.get(f"{PREFIX}/workflows", headers=h)).json()["data"])
    assert (
        await client.post(A, json={"workflow_id": public_wf, "name": "a", "description": "d"}, headers=h)
    ).status_code == 201
    r = await client.post(A, json={"workflow_id": public_wf, "name": "b", "description": "d"}, headers=h)
    assert (r.status_code, r.json()["code"]) == (409, "agent_limit_reached")
    r = await client.patch(agent_path(store, "/live-status"), json={"status": "live", "status_reason": "go"})
    assert r.json()["data"] == {"status": "live", "status_reason": "go"}
    r = await client.patch(agent_path(store), json={"workflow_id": None, "name": "Renamed"})
    assert r.json()["data"]["workflow_id"] is None and r.json()["data"]["name"] == "Renamed"
    r = await client.post(agent_path(store, "/integrations/custom_api/configure"), json={"name": "X"})
    assert r.json() | {"request_id": ""} == {
        "message": "Agent must have a workflow before managing integrations",
        "error": "Bad Request",
        "code": "workflow_required",
        "statusCode": 400,
        "request_id": "",
    }
    r = await client.delete(agent_path(store))
    assert r.json() == {"message": "Deleted", "data": None}
    assert (await client.get(agent_path(store))).status_code == 404


async def test_bimpeai_connectors(client: httpx.AsyncClient, store: SandboxStore) -> None:
    url = agent_path(store, "/integrations/bimpeai/configure")
    r = await client.post(url, json={"type": "stripe", "public_key": "pk_test_abcdefgh"})
    assert r.json()["message"] == ["secret_key: is required"]
    r = await client.post(
        url, json={"type": "stripe", "public_key": "pk_test_abcdefgh", "secret_key": "sk_bad_SECRETVALUE1"}
    )
    assert (r.json()["code"], r.json()["message"]) == ("integration_connection_failed", "Invalid Stripe API keys")
    assert "SECRETVALUE1" not in r.text
    r = await client.post(url, json={"type": "paystack", "public_key": "x", "secret_key": "y"})
    assert r.json()["message"] == "Invalid Paystack API keys"
    r = await client.post(url, json={"type": "bumpa", "token": "short"})
    assert r.json()["message"] == "Invalid Bumpa token"
    good = {"type": "stripe", "public_key": "pk_test_abcdefgh", "secret_key": "sk_test_SECRETVALUE1", "currency": "NGN"}
    first = (await client.post(url, json=good)).json()["data"]
    assert first["success"] is True and first["channel_id"].startswith("int_")
    again = (await client.post(url, json=good)).json()["data"]
    assert again["channel_id"] == first["channel_id"]
    r = await client.post(url, json={"type": "google_calendar"})
    assert r.json()["data"] == {
        "onboarding_url": f"https://agent.bimpe.ai/agents/{store.demo_agent_id}/integrations?connect=google_calendar"
    }
    listed = {i["type"]: i for i in (await client.get(agent_path(store, "/integrations/bimpeai"))).json()["data"]}
    assert listed["stripe"]["status"] == "connected" and listed["stripe"]["is_connected"] is True
    assert listed["google_calendar"]["status"] == "pending" and listed["google_calendar"]["is_connected"] is False
    assert listed["bumpa"]["id"] is None
    everything = await client.get(agent_path(store, "/integrations"))
    assert "SECRETVALUE1" not in everything.text and "pk_test_abcdefgh" not in everything.text
    stripe = next(i for i in everything.json()["data"] if i["type"] == "stripe")
    assert {a["action_name"] for a in stripe["actions"]} == {"create_payment_link", "refund_payment"}
    assert store.counts["integrations.bimpeai.configure"] == 3
    r = await client.delete(agent_path(store, f"/integrations/bimpeai/{first['channel_id']}"))
    assert r.status_code == 200
    r = await client.delete(agent_path(store, f"/integrations/bimpeai/{first['channel_id']}"))
    assert r.status_code == 404


async def test_integration_limit_counts_every_family(client: httpx.AsyncClient, store: SandboxStore) -> None:
    _team, key = store.add_team("Free", plan="free")
    h = {"Authorization": f"Bearer {key}"}
    wf = (await client.post(f"{PREFIX}/workflows", json={"name": "W", "system_prompt": "p"}, headers=h)).json()["data"]
    agent = (await client.post(A, json={"workflow_id": wf["id"], "name": "a", "description": "d"}, headers=h)).json()[
        "data"
    ]
    base = f"{A}/{agent['id']}/integrations"
    assert (
        await client.post(f"{base}/bimpeai/configure", json={"type": "google_sheets"}, headers=h)
    ).status_code == 200
    assert (await client.post(f"{base}/pipedream/configure", json={"app_slug": "slack"}, headers=h)).status_code == 200
    r = await client.post(f"{base}/custom_api/configure", json={"name": "X"}, headers=h)
    assert (r.status_code, r.json()["code"]) == (409, "integration_limit_reached")
    assert r.json()["message"] == "Integration limit reached for your plan. Please upgrade to add more integrations."
    assert (
        await client.post(f"{base}/bimpeai/configure", json={"type": "google_sheets"}, headers=h)
    ).status_code == 200


async def test_custom_api_and_actions(client: httpx.AsyncClient, store: SandboxStore) -> None:
    base = agent_path(store, "/integrations/custom_api")
    body = {
        "name": "Orders",
        "base_url": "https://api.example.com",
        "auth_type": "bearer",
        "auth_config": {"token": "TOPSECRET"},
    }
    api = (await client.post(f"{base}/configure", json=body)).json()["data"]
    assert api["config"] == {"name": "Orders", "base_url": "https://api.example.com", "auth_type": "bearer"}
    again = (await client.post(f"{base}/configure", json={**body, "base_url": "https://v2.example.com"})).json()["data"]
    assert again["id"] == api["id"]
    r = await client.post(f"{base}/{api['id']}/tools", json={"name": "Create Order", "http_method": "POST"})
    assert r.json()["message"] == ["url_template: is required"]
    r = await client.post(
        f"{base}/{api['id']}/tools",
        json={"name": "x", "http_method": "GET", "url_template": "/", "url_params": [{"name": "q", "type": "blob"}]},
    )
    assert r.json()["message"] == ["url_params.0.type: must be one of string, number, integer, boolean, array, object"]
    tool_body = {
        "name": "Create Order",
        "http_method": "POST",
        "url_template": "/orders",
        "auth_config": {"token": "TOOLSECRET"},
    }
    tool = (await client.post(f"{base}/{api['id']}/tools", json=tool_body)).json()["data"]
    assert tool["action_name"] == "create_order" and tool["is_enabled"] is True and tool["id"].startswith("tool_")
    listed = await client.get(f"{base}/{api['id']}/tools")
    assert [t["id"] for t in listed.json()["data"]] == [tool["id"]] and "TOOLSECRET" not in listed.text
    assert "TOPSECRET" not in (await client.get(base)).text
    actions = (await client.get(agent_path(store, "/actions"))).json()["data"]
    assert actions[0]["integration_id"] == api["id"] and actions[0]["integration_type"] == "custom_api"
    r = await client.post(agent_path(store, "/actions/disable"), json={"action_ids": [tool["id"]]})
    assert r.json()["data"] == {"updated_count": 1}
    r = await client.post(agent_path(store, "/actions/disable"), json={"action_ids": [tool["id"]]})
    assert r.json()["data"] == {"updated_count": 0}
    r = await client.post(agent_path(store, "/actions/enable"), json={"action_ids": [tool["id"], "act_nope"]})
    assert r.status_code == 404 and "act_nope" in r.json()["message"]
    assert (await client.delete(f"{base}/{api['id']}/tools/{tool['id']}")).status_code == 200
    assert (await client.delete(f"{base}/{api['id']}/tools/{tool['id']}")).status_code == 404


async def test_mcp_server_discovery(client: httpx.AsyncClient, store: SandboxStore) -> None:
    base = agent_path(store, "/integrations/mcp_server")
    r = await client.post(f"{base}/configure", json={"name": "M", "server_url": "ftp://x"})
    assert r.json()["message"] == ["server_url: must be an http(s) URL"]
    mcp = (
        await client.post(
            f"{base}/configure",
            json={"name": "M", "server_url": "https://a.example.com/mcp", "auth_config": {"token": "S3"}},
        )
    ).json()["data"]
    assert mcp["config"]["transport"] == "streamable_http" and "S3" not in str(mcp)
    first = (await client.post(f"{base}/{mcp['id']}/discover")).json()["data"]
    assert 3 <= first["discovered"] <= 6 and first["created"] == first["discovered"]
    again = (await client.post(f"{base}/{mcp['id']}/discover")).json()["data"]
    assert again == {"discovered": first["discovered"], "created": 0, "updated": 0, "disabled": 0}
    test = (await client.post(f"{base}/{mcp['id']}/test")).json()["data"]
    assert test == {"success": True, "message": "Connected", "error": None, "tools_count": first["discovered"]}
    moved = (
        await client.post(f"{base}/configure", json={"name": "M", "server_url": "https://b.example.org/mcp"})
    ).json()["data"]
    assert moved["id"] == mcp["id"]
    third = (await client.post(f"{base}/{mcp['id']}/discover")).json()["data"]
    tools = (await client.get(f"{base}/{mcp['id']}/tools")).json()["data"]
    enabled = [t for t in tools if t["is_enabled"]]
    assert len(enabled) == third["discovered"]
    assert len(tools) - len(enabled) == third["disabled"]
    assert third["created"] + third["updated"] <= third["discovered"]
    bad = (await client.post(f"{base}/configure", json={"name": "L", "server_url": "http://localhost:9/mcp"})).json()[
        "data"
    ]
    assert (await client.post(f"{base}/{bad['id']}/discover")).json()["code"] == "bad_request"
    assert (await client.post(f"{base}/{bad['id']}/test")).json()["code"] == "integration_connection_failed"


async def test_pipedream_and_knowledge_bases(client: httpx.AsyncClient, store: SandboxStore) -> None:
    base = agent_path(store, "/integrations/pipedream")
    assert (await client.post(f"{base}/configure", json={"app_slug": "Google Sheets"})).json()[
        "code"
    ] == "validation_error"
    r = await client.post(f"{base}/configure", json={"app_slug": "google-sheets", "app_name": "Sheets"})
    assert r.json()["data"]["onboarding_url"].startswith("https://")
    item = (await client.get(base)).json()["data"][0]
    assert item["channel_type"] == "pipedream" and item["config"]["app_slug"] == "google-sheets"
    assert (await client.delete(f"{base}/{item['id']}")).status_code == 200
    kb = agent_path(store, "/knowledge_bases")
    r = await client.post(kb, json={"type": "text", "name": "FAQ"})
    assert r.json()["message"] == ["content: is required"]
    r = await client.post(kb, json={"type": "url", "name": "x" * 256, "url": "https://e.com"})
    assert r.json()["message"] == ["name: must be at most 255 characters"]
    item = (await client.post(kb, json={"type": "text", "name": "FAQ", "content": "Hours 9-5"})).json()["data"]
    item = (await client.patch(f"{kb}/{item['id']}", json={"name": "FAQ 2"})).json()["data"]
    assert item["name"] == "FAQ 2"
    detail = (await client.get(agent_path(store))).json()["data"]
    assert detail["knowledge_bases"][0]["name"] == "FAQ 2"
    assert (await client.delete(f"{kb}/{item['id']}")).status_code == 200
    assert (await client.get(kb)).json()["data"] == []


async def test_test_code_and_channels(client: httpx.AsyncClient, store: SandboxStore) -> None:
    first = (await client.get(agent_path(store, "/deployment/agent-test-code"))).json()["data"]
    code = first["code"]
    assert len(code) == 8 and code.isalnum() and code.isupper()
    assert first["channels"]["whatsapp"]["start_message"] == f"start {code}"
    assert set(first["channels"]["telephony"]) == {"is_enabled"}
    assert (await client.get(agent_path(store, "/deployment/agent-test-code"))).json()["data"]["code"] == code
    assert (await client.get(agent_path(store))).json()["data"]["test_channel_code"] == code
    channels = (await client.get(agent_path(store, "/channels"))).json()["data"]
    assert {(c["type"], c["is_connected"]) for c in channels} == {("webchat", True), ("whatsapp", False)}


async def test_conversations(client: httpx.AsyncClient, store: SandboxStore) -> None:
    url = agent_path(store, "/conversations/messages")
    m1 = (
        await client.post(
            url, json={"message": "hello", "channel_type": "webchat", "channel_user_id": "u1", "is_test_channel": True}
        )
    ).json()["data"]
    m2 = (
        await client.post(
            url, json={"message": "again", "channel_type": "webchat", "channel_user_id": "u1", "is_test_channel": True}
        )
    ).json()["data"]
    assert m1["conversation_id"] == m2["conversation_id"] and m1["id"] < m2["id"]
    cid = m1["conversation_id"]
    await client.post(url, json={"message": "live", "channel_type": "whatsapp", "channel_user_id": "+2348000000001"})
    assert (await client.post(url, json={"message": "x", "conversation_id": "conv_nope"})).status_code == 404
    await asyncio.sleep(0.2)
    msgs = (await client.get(agent_path(store, f"/conversations/{cid}/messages"))).json()["data"]
    replies = [m for m in msgs if m["role"] == "assistant"]
    assert replies and replies[0]["message"] == 'Hi, this is Bimpe Demo Agent. You said: "hello"'
    listed = await client.get(agent_path(store, "/conversations"), params={"channel": "test_webchat"})
    assert [c["id"] for c in listed.json()["data"]] == [cid]
    listed = await client.get(agent_path(store, "/conversations"), params={"is_test_channel": "false"})
    assert [c["channel_type"] for c in listed.json()["data"]] == ["whatsapp"]
    r = await client.patch(agent_path(store, f"/conversations/{cid}/ai-status"), json={"is_ai_chat_paused": True})
    assert r.json()["data"] == {"is_ai_chat_paused": True}
    await client.post(agent_path(store, f"/conversations/{cid}/messages"), json={"message": "human?"})
    await asyncio.sleep(0.15)
    msgs = (await client.get(agent_path(store, f"/conversations/{cid}/messages"), params={"limit": 100})).json()["data"]
    assert msgs[-2]["role"] == "system" and msgs[-2]["message"] == "AI paused by a human operator."
    assert msgs[-1]["message"] == "human?"
    detail = (await client.get(agent_path(store, f"/conversations/{cid}"))).json()["data"]
    assert detail["needs_attention"] is True and "full_name" in detail and "profile_picture" in detail
    one = (await client.get(agent_path(store, f"/conversations/{cid}/messages/{m1['id']}"))).json()["data"]
    assert one["message"] == "hello"
    paused = await client.get(agent_path(store, "/conversations"), params={"is_ai_chat_paused": "true"})
    assert paused.json()["meta"]["total_count"] == 1


async def test_calls(client: httpx.AsyncClient, store: SandboxStore) -> None:
    url = agent_path(store, "/calls")
    r = await client.post(url, json={"destination": "0803", "is_test_call": True})
    assert r.json()["message"] == ["destination: must be an E.164 phone number"]
    r = await client.post(url, json={"destination": "+2348031234567", "is_test_call": False})
    assert r.json()["code"] == "channel_not_configured"
    ok = (await client.post(url, json={"destination": "+2348031234567", "is_test_call": True})).json()["data"]
    busy = (await client.post(url, json={"destination": "+2348030000000", "is_test_call": True})).json()["data"]
    assert ok["status"] == "initiated" and busy["status"] == "busy"
    first = (await client.get(f"{url}/{ok['call_id']}")).json()["data"]
    assert first["status"] == "queued" and first["conversation_logs"] == []
    await asyncio.sleep(store.call_step * 3.5)
    done = (await client.get(f"{url}/{ok['call_id']}")).json()["data"]
    assert done["status"] == "ended" and len(done["conversation_logs"]) == 3 and done["answered_at"]
    assert (await client.get(f"{url}/{busy['call_id']}")).json()["data"]["status"] == "busy"
    listed = await client.get(url, params={"status": "busy"})
    assert [c["id"] for c in listed.json()["data"]] == [busy["call_id"]]
    await client.patch(f"{PREFIX}/phone-numbers/{store.demo_phone_number_id}", json={"agent_id": store.demo_agent_id})
    real = (await client.post(url, json={"destination": "+2348031234567", "is_test_call": False})).json()["data"]
    assert real["status"] == "initiated"
    assert (await client.get(url, params={"is_test_call": "false"})).json()["meta"]["total_count"] == 1


async def test_workflows(client: httpx.AsyncClient, store: SandboxStore) -> None:
    url = f"{PREFIX}/workflows"
    scopes = {
        s: [w["name"] for w in (await client.get(url, params={"scope": s})).json()["data"]]
        for s in ("owned", "public", "accessible")
    }
    assert scopes == {
        "owned": ["Customer Support"],
        "public": ["Restaurant Reservations"],
        "accessible": ["Customer Support", "Restaurant Reservations"],
    }
    public_wf = next(w for w in (await client.get(url, params={"scope": "public"})).json()["data"])
    assert public_wf["is_owner"] is False
    assert (await client.patch(f"{url}/{public_wf['id']}", json={"name": "x"})).json()["code"] == "forbidden"
    assert (await client.delete(f"{url}/{public_wf['id']}")).json()["code"] == "forbidden"
    assert (await client.post(url, json={"name": "N"})).json()["message"] == ["system_prompt: is required"]
    wf = (
        await client.post(url, json={"name": "N", "system_prompt": "p", "rules": [{"id": "r1", "name": "r"}]})
    ).json()["data"]
    assert wf["visibility"] == "private" and wf["is_owner"] is True
    clone = (await client.post(f"{url}/clone", json={"source_workflow_id": public_wf["id"]})).json()["data"]
    assert clone["name"] == "Restaurant Reservations (copy)" and clone["is_owner"] is True
    r = await client.delete(f"{url}/{store.demo_workflow_id}")
    assert (r.status_code, r.json()["code"]) == (409, "conflict")
    assert (await client.delete(f"{url}/{wf['id']}")).status_code == 200


async def test_phone_numbers(client: httpx.AsyncClient, store: SandboxStore) -> None:
    listed = (await client.get(f"{PREFIX}/phone-numbers")).json()
    assert listed["data"][0]["e164"] == "+2342017001234" and listed["meta"]["total_count"] == 1
    url = f"{PREFIX}/phone-numbers/{store.demo_phone_number_id}"
    detail = (await client.patch(url, json={"agent_id": store.demo_agent_id, "label": "Main"})).json()["data"]
    assert detail["agent_id"] == store.demo_agent_id and detail["label"] == "Main" and detail["inbound_enabled"] is True
    assert (await client.patch(url, json={"agent_id": "agt_nope"})).status_code == 404
    assert (await client.patch(url, json={"agent_id": None})).json()["data"]["agent_id"] is None
    req = f"{PREFIX}/phone-numbers/request"
    r = await client.post(
        req,
        json={"business_name": "B", "intended_use": "support", "region": "fr", "agent_count": 0, "outbound_minutes": 0},
    )
    assert set(r.json()["message"]) == {"region: must be one of us, uk, eu, ng", "agent_count: must not be less than 1"}
    body = {"business_name": "B", "intended_use": "support", "region": "ng", "agent_count": 1, "outbound_minutes": 0}
    created = (await client.post(req, json=body)).json()["data"]
    assert created["status"] == "pending" and created["id"].startswith("pnr_")
    assert (await client.get(req)).json()["data"][0]["id"] == created["id"]


async def test_admin_routes(client: httpx.AsyncClient, store: SandboxStore) -> None:
    admin = {"X-Sandbox-Admin-Key": store.admin_key}
    r = await client.post("/_sandbox/teams", json={"name": "T", "plan": "free"}, headers={"Authorization": "", **admin})
    team = r.json()
    assert store.teams[team["team_id"]]["plan"] == "free"
    r = await client.post("/_sandbox/keys", json={"team_id": team["team_id"], "scopes": ["agents:read"]}, headers=admin)
    key = r.json()["api_key"]
    assert (await client.get(A, headers={"Authorization": f"Bearer {key}"})).json()["data"] == []
    await client.post(A, json={"workflow_id": store.demo_workflow_id, "name": "n", "description": "d"})
    assert (await client.get("/_sandbox/state", headers=admin)).json()["counts"] == {"agents.create": 1}
    r = await client.put("/_sandbox/faults", json={"error_rate": 1.0, "only_paths": "/workflows"}, headers=admin)
    assert r.json()["error_rate"] == 1.0
    assert (await client.get(f"{PREFIX}/workflows")).status_code == 500
    assert (await client.get(A)).status_code == 200
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.put("/_sandbox/faults", json={"bogus": 1}, headers=admin)).status_code == 400


async def test_admin_routes_need_the_admin_key(client: httpx.AsyncClient, store: SandboxStore) -> None:
    """A team key is not enough: without the sandbox's admin key nothing is minted, read or injected."""
    attempts = [
        ("GET", "/_sandbox/state", None),
        ("PUT", "/_sandbox/faults", {"error_rate": 1.0}),
        ("POST", "/_sandbox/teams", {"name": "Intruder"}),
        ("POST", "/_sandbox/keys", {"team_id": store.demo_team_id}),
    ]
    for wrong in ({}, {"X-Sandbox-Admin-Key": ""}, {"X-Sandbox-Admin-Key": store.admin_key + "x"}):
        for method, path, body in attempts:
            r = await client.request(method, path, json=body, headers=wrong)
            assert (r.status_code, r.json()["code"]) == (401, "unauthorized"), (method, path, wrong)
            assert "X-Sandbox-Admin-Key" in r.json()["message"]
    assert len(store.teams) == 2 and len(store.keys) == 1
    assert (await client.get(f"{PREFIX}/workflows")).status_code == 200
    assert (await client.get("/healthz", headers={"Authorization": ""})).status_code == 200


def test_a_seed_makes_the_same_ids_keys_and_demo_data() -> None:
    first, second = SandboxStore(seed=7), SandboxStore(seed=7, demo_api_key="sk_test_given", admin_key="given")
    assert (first.demo_agent_id, first.demo_workflow_id, first.demo_phone_number_id) == (
        second.demo_agent_id,
        second.demo_workflow_id,
        second.demo_phone_number_id,
    )
    for table in ("teams", "workflows", "agents", "channels", "phone_numbers"):
        assert getattr(first, table) == getattr(second, table), table
    assert first.admin_key == SandboxStore(seed=7).admin_key and second.admin_key == "given"
    made = (first.add_team("T"), first.new_id("conv"), first.next_message_id())
    assert made == (second.add_team("T"), second.new_id("conv"), second.next_message_id())
    unseeded = SandboxStore(), SandboxStore()
    assert unseeded[0].demo_agent_id != unseeded[1].demo_agent_id
    assert unseeded[0].admin_key != unseeded[1].admin_key


def test_message_ids_sort_in_creation_order_with_or_without_a_seed() -> None:
    for store in (SandboxStore(seed=3), SandboxStore()):
        ids = [store.next_message_id() for _ in range(50)]
        assert ids == sorted(ids) and len(set(ids)) == 50
    assert SandboxStore(seed=3).next_message_id() == SandboxStore(seed=3).next_message_id()


def test_empty_store_has_key_but_no_data() -> None:
    store = SandboxStore(seed_demo=False, demo_api_key="sk_test_fixed")
    assert store.demo_api_key == "sk_test_fixed" and store.keys["sk_test_fixed"]["team_id"] == store.demo_team_id
    assert store.agents == {} and store.workflows == {} and store.demo_agent_id is None
    seeded = SandboxStore()
    agent = seeded.agents[seeded.demo_agent_id]
    assert (agent["name"], agent["persona"], agent["status"]) == ("Bimpe Demo Agent", "friendly", "development")
