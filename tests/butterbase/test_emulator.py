"""The Butterbase emulator's own rules: auth, the signed OAuth state, idempotent replays, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bimpe_mcp.sandbox import SandboxStore, create_app


@pytest.fixture
async def http(store: SandboxStore) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(store)),
        base_url=f"http://sandbox/v1/{store.butterbase.app_id}/integrations",
        headers={"Authorization": f"Bearer {store.butterbase.api_key}"},
    ) as client:
        yield client


async def test_the_key_and_the_app_are_checked(store: SandboxStore, http: httpx.AsyncClient) -> None:
    anonymous = await http.get("/available", headers={"Authorization": ""})
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "UNAUTHORIZED"
    other_app = await http.get("http://sandbox/v1/app_other/integrations/available")
    assert other_app.status_code == 404
    console_key = await http.get("/available", headers={"Authorization": f"Bearer {store.demo_api_key}"})
    assert console_key.status_code == 401


async def test_only_a_signed_unused_state_connects(store: SandboxStore, http: httpx.AsyncClient) -> None:
    await http.post("/configure", json={"toolkit": "gmail"})
    started = (await http.post("/connect", json={"toolkit": "gmail", "userId": "u1"})).json()
    state = started["authUrl"].split("state=")[1]
    payload, mac = state.split(".")
    forged = await http.get("/callback", params={"state": f"{payload}.{'0' * len(mac)}"})
    assert forged.status_code == 400 and not store.butterbase.connections
    assert (await http.get("/callback", params={"state": state})).json() == {"connected": True}
    replayed = await http.get("/callback", params={"state": state})
    assert replayed.status_code == 400 and len(store.butterbase.connections) == 1
    missing_user = await http.post("/connect", json={"toolkit": "gmail"})
    assert missing_user.status_code == 400 and "userId" in missing_user.json()["error"]["message"]


async def test_a_keyed_write_is_replayed_not_repeated(store: SandboxStore, http: httpx.AsyncClient) -> None:
    body = {"toolkit": "slack"}
    first = await http.post("/configure", json=body, headers={"Idempotency-Key": "k1"})
    again = await http.post("/configure", json=body, headers={"Idempotency-Key": "k1"})
    assert first.json() == again.json() and again.headers["idempotent-replayed"] == "true"
    assert store.counts["butterbase.configure"] == 1


async def test_execution_faults_are_seeded(store: SandboxStore, http: httpx.AsyncClient) -> None:
    store.butterbase.configure({"toolkit": "gmail"})
    started = store.butterbase.connect({"toolkit": "gmail", "userId": "u1"}, "http://sandbox/callback")
    store.butterbase.callback(started["authUrl"].split("state=")[1])
    admin = {"X-Sandbox-Admin-Key": store.admin_key}
    knobs = {"soft_failure_rate": 0.5, "seed": 7}
    run = {"toolName": "GMAIL_LIST_EMAILS", "userId": "u1"}

    async def statuses() -> list[int]:
        assert (await http.put("http://sandbox/_sandbox/butterbase", json=knobs, headers=admin)).status_code == 200
        return [(await http.post("/execute", json=run)).status_code for _ in range(8)]

    first = await statuses()
    assert first == await statuses() and {200, 422} == set(first)
    refused = await http.put("http://sandbox/_sandbox/butterbase", json={"typo": 1}, headers=admin)
    assert refused.status_code == 400
    assert (await http.put("http://sandbox/_sandbox/butterbase", json={})).status_code == 401
