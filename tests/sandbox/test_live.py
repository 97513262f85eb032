"""Behaviour that needs a real server: SSE streams, dropped connections, faults, `serve()`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import httpx
import pytest

from bimpe_mcp.sandbox import Faults, RunningSandbox, SandboxStore, create_app

from .conftest import PREFIX


async def _conversation(c: httpx.AsyncClient, store: SandboxStore, text: str = "one") -> tuple[str, str]:
    url = f"{PREFIX}/agents/{store.demo_agent_id}/conversations/messages"
    body = {"message": text, "channel_type": "webchat", "channel_user_id": "u1", "is_test_channel": True}
    m = (await c.post(url, json=body)).json()["data"]
    return m["conversation_id"], m["id"]


async def _ticket(c: httpx.AsyncClient, store: SandboxStore, cid: str) -> str:
    r = await c.post(f"{PREFIX}/agents/{store.demo_agent_id}/conversations/{cid}/stream-ticket")
    assert r.json()["data"]["expires_in"] == 60
    return r.json()["data"]["ticket"]


async def _events(response: httpx.Response, want: int) -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    event = None
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            out.append((event or "", json.loads(line[6:])))
            if len(out) >= want:
                break
    return out


async def test_stream_replay_then_live(live_client: httpx.AsyncClient, store: SandboxStore) -> None:
    cid, first_id = await _conversation(live_client, store)
    await asyncio.sleep(0.15)  # the auto-reply lands
    ticket = await _ticket(live_client, store, cid)
    url = f"{PREFIX}/agents/{store.demo_agent_id}/conversations/{cid}/stream"
    async with live_client.stream(
        "GET", url, params={"ticket": ticket, "after": first_id}, headers={"Authorization": ""}
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        send = asyncio.create_task(
            live_client.post(
                f"{PREFIX}/agents/{store.demo_agent_id}/conversations/{cid}/messages", json={"message": "two"}
            )
        )
        events = await asyncio.wait_for(_events(r, 5), 5)
        await send
    messages = [d for e, d in events if e == "message"]
    assert [m["message"] for m in messages][:3] == [
        'Hi, this is Bimpe Demo Agent. You said: "one"',
        "two",
        'Hi, this is Bimpe Demo Agent. You said: "two"',
    ]
    assert len({m["id"] for m in messages}) == len(messages)
    assert any(e == "heartbeat" and isinstance(d["ts"], int) for e, d in events)
    assert set(messages[0]) == {"id", "conversation_id", "role", "message", "message_type", "created_at"}
    reused = await live_client.get(url, params={"ticket": ticket})
    assert (reused.status_code, reused.json()["code"]) == (401, "unauthorized")


async def test_stream_last_event_id_and_limits(
    live_client: httpx.AsyncClient, live: RunningSandbox, store: SandboxStore
) -> None:
    cid, first_id = await _conversation(live_client, store)
    await asyncio.sleep(0.15)
    url = f"{PREFIX}/agents/{store.demo_agent_id}/conversations/{cid}/stream"
    async with live_client.stream(
        "GET", url, params={"ticket": await _ticket(live_client, store, cid)}, headers={"Last-Event-ID": first_id}
    ) as r:
        events = await asyncio.wait_for(_events(r, 1), 5)
    assert events[0][1]["role"] == "assistant"
    store.tickets[(t := await _ticket(live_client, store, cid))]["expires_at"] = 0
    assert (await live_client.get(url, params={"ticket": t})).status_code == 401
    store.open_streams[store.demo_api_key] = 5
    r = await live_client.get(url, params={"ticket": await _ticket(live_client, store, cid)})
    assert (r.status_code, r.json()["code"]) == (429, "too_many_requests") and r.headers["Retry-After"]
    store.open_streams[store.demo_api_key] = 0
    live.faults.replace(stream_drop_after=1)
    async with live_client.stream(
        "GET", url, params={"ticket": await _ticket(live_client, store, cid), "after": first_id}
    ) as r:
        body = await asyncio.wait_for(r.aread(), 5)
    assert body.count(b"event: message") == 1


async def test_drop_executes_then_closes(
    live_client: httpx.AsyncClient, live: RunningSandbox, store: SandboxStore
) -> None:
    live.faults.replace(drop_rate=1.0, only_paths=r"/agents$")
    body = {"workflow_id": store.demo_workflow_id, "name": "Dropped", "description": "d"}
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await live_client.post(f"{PREFIX}/agents", json=body, headers={"Idempotency-Key": "drop-1"})
    assert store.counts["agents.create"] == 1
    live.faults.replace()
    r = await live_client.post(f"{PREFIX}/agents", json=body, headers={"Idempotency-Key": "drop-1"})
    assert r.status_code == 201 and r.headers["Idempotent-Replayed"] == "true"
    assert store.counts["agents.create"] == 1
    state = await live_client.get("/_sandbox/state", headers={"X-Sandbox-Admin-Key": live.admin_key})
    assert state.json()["counts"]["agents.create"] == 1


async def test_faults_kinds_deterministic(store: SandboxStore, auth: dict[str, str]) -> None:
    async def run(faults: Faults) -> list[int]:
        app = create_app(store, faults=faults)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s", headers=auth) as c:
            return [(await c.get(f"{PREFIX}/workflows")).status_code for _ in range(20)]

    a = await run(Faults(seed=7, error_rate=0.5))
    assert a == await run(Faults(seed=7, error_rate=0.5)) and 500 in a and 200 in a
    burst = await run(Faults(burst_429=2, retry_after_s=3))
    assert burst[:3] == [429, 429, 200]
    app = create_app(store, faults=Faults(malformed_rate=1.0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s", headers=auth) as c:
        answers = [await c.get(f"{PREFIX}/workflows") for _ in range(3)]
        assert [r.status_code for r in answers] == [502, 200, 200]
        assert answers[0].headers["content-type"].startswith("text/html")
        with pytest.raises(ValueError):
            answers[1].json()
        assert answers[2].headers["content-type"].startswith("text/plain")
        assert (await c.get("/_sandbox/state", headers={"X-Sandbox-Admin-Key": store.admin_key})).status_code == 200
    app = create_app(store, faults=Faults(burst_429=1, retry_after_s=3))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s", headers=auth) as c:
        r = await c.get(f"{PREFIX}/agents", headers={"X-Request-Id": "rid-9"})
        assert (
            r.headers["Retry-After"] == "3" and r.json()["request_id"] == "rid-9" and "X-RateLimit-Limit" in r.headers
        )


def test_serve_prints_its_lines_and_answers() -> None:
    code = "from bimpe_mcp.sandbox import serve; serve(port=0, api_key='sk_test_cli', empty=True, admin_key='adm')"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().strip()
        key = proc.stdout.readline().strip()
        assert base.startswith("BIMPE_BASE_URL=http://127.0.0.1:") and key == "BIMPE_API_KEY=sk_test_cli"
        assert proc.stdout.readline().strip() == "BIMPE_SANDBOX_ADMIN_KEY=adm"
        url = base.split("=", 1)[1]
        assert proc.stdout.readline().strip() == f"BUTTERBASE_BASE_URL={url}"
        assert proc.stdout.readline().startswith("BUTTERBASE_API_KEY=bb_sk_test_")
        assert proc.stdout.readline().startswith("BUTTERBASE_APP_ID=app_")
        for _ in range(100):
            try:
                r = httpx.get(f"{url}{PREFIX}/agents", headers={"X-Api-Key": "sk_test_cli"})
                break
            except httpx.ConnectError:
                import time

                time.sleep(0.05)
        assert r.status_code == 200 and r.json()["data"] == []
    finally:
        proc.send_signal(2)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout is not None and proc.stdout.read() == ""
