"""Many clients that follow each error's advice literally never duplicate or lose a write.

At least 16 MCP clients (most in memory against one server, a few over streamable HTTP against
another) share ONE sandbox with seeded faults: 5xx answers, connections dropped after the write
executed, malformed answers, and 429 bursts set from a background task. Each client performs a fixed
list of non-idempotent writes, each carrying a unique marker. On an error it does exactly what the
text says: with `idempotency_key='K'` it calls again with the same arguments plus that key; with
"retry after N s" / "Retrying is safe" / "retry later" it waits (capped) and repeats the same call;
otherwise it gives up. Afterwards, with faults off, the sandbox store is read directly: every
intended write must be there exactly once.

The `faults_off` case runs the same clients and reconciliation with no faults: it guards the test
itself (markers, store lookups) and must always pass.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bimpe_mcp.sandbox import PLANS, RunningSandbox, SandboxStore
from bimpe_mcp.server import build_server
from bimpe_mcp.settings import Settings
from tests.harness import http_server, text_of

MEMORY_CLIENTS = 14
HTTP_CLIENTS = 4
ROUNDS = 2
MAX_ATTEMPTS = 12
WAIT_CAP_S = 1.0
SEED = 20240611
FAULTS = dict(seed=SEED, error_rate=0.1, drop_rate=0.05, malformed_rate=0.05, retry_after_s=1)
BURST_SIZE = 3
BURST_EVERY_S = 0.5
BURST_GAP = 40
"""A 429 burst starts at most every BURST_EVERY_S, and only after BURST_GAP other requests: bursts
stay a small share of the traffic, so a client left alone at the end is not starved by them."""

KEY = re.compile(r"idempotency_key='([^']+)'")
RETRY_AFTER = re.compile(r"retry after (\d+(?:\.\d+)?) ?s", re.IGNORECASE)
RETRY_HINTS = ("retrying is safe", "retry later", "retry after")


@dataclass
class Intended:
    """One logical write: the tool, its arguments, and how to count it in the store."""

    client: str
    tool: str
    arguments: dict[str, Any]
    count: Callable[[SandboxStore], int]
    history: list[str] = field(default_factory=list)
    gave_up: bool = False
    succeeded: bool = False


@dataclass
class Setup:
    agent_id: str
    workflow_id: str
    integration_id: str
    sources: dict[str, str]
    conversations: dict[str, str]


# ---- store lookups (read the sandbox directly, never through the faulty API) ------------------------


def _named(table: str, key: str, value: str) -> Callable[[SandboxStore], int]:
    return lambda store: sum(1 for r in list(getattr(store, table).values()) if r.get(key) == value)


def _user_messages(text: str) -> Callable[[SandboxStore], int]:
    def count(store: SandboxStore) -> int:
        return sum(
            1
            for messages in list(store.messages.values())
            for m in list(messages)
            if m["message"] == text and m["role"] == "user"
        )

    return count


def _calls_to(destination: str) -> Callable[[SandboxStore], int]:
    return lambda store: sum(1 for c in list(store.calls.values()) if c["destination"] == destination)


def _plan(name: str, number: int, setup: Setup) -> list[Intended]:
    """The fixed list of writes of client `name` (the `number`-th client)."""
    agent = setup.agent_id
    out: list[Intended] = []
    for r in range(ROUNDS):
        marker = f"aw-{name}-r{r}"
        out += [
            Intended(
                name,
                "create_workflow",
                {"name": f"{marker}-wf", "system_prompt": "p"},
                _named("workflows", "name", f"{marker}-wf"),
            ),
            Intended(
                name,
                "create_agent",
                {"workflow_id": setup.workflow_id, "name": f"{marker}-agent", "description": "d"},
                _named("agents", "name", f"{marker}-agent"),
            ),
            Intended(
                name,
                "add_knowledge_base",
                {"agent_id": agent, "type": "text", "name": f"{marker}-kb", "content": "c"},
                _named("knowledge_bases", "name", f"{marker}-kb"),
            ),
            Intended(
                name,
                "add_custom_api_tool",
                {
                    "agent_id": agent,
                    "integration_id": setup.integration_id,
                    "name": f"{marker}-tool",
                    "http_method": "GET",
                    "url_template": "/orders/{id}",
                },
                _named("tools", "name", f"{marker}-tool"),
            ),
            Intended(
                name,
                "request_phone_number",
                {
                    "business_name": f"{marker}-pnr",
                    "intended_use": "support",
                    "region": "ng",
                    "agent_count": 1,
                    "outbound_minutes": 0,
                },
                _named("phone_requests", "business_name", f"{marker}-pnr"),
            ),
            Intended(
                name,
                "send_message",
                {
                    "agent_id": agent,
                    "channel_type": "webchat",
                    "channel_user_id": f"contact-{name}",
                    "message": f"{marker}-new-conv",
                },
                _user_messages(f"{marker}-new-conv"),
            ),
            Intended(
                name,
                "send_message",
                {"agent_id": agent, "conversation_id": setup.conversations[name], "message": f"{marker}-in-conv"},
                _user_messages(f"{marker}-in-conv"),
            ),
            Intended(
                name,
                "send_test_message",
                {
                    "agent_id": agent,
                    "message": f"{marker}-test-nowait",
                    "channel_user_id": f"tester-{name}",
                    "wait_for_reply": False,
                },
                _user_messages(f"{marker}-test-nowait"),
            ),
            Intended(
                name,
                "send_test_message",
                {
                    "agent_id": agent,
                    "message": f"{marker}-test-wait",
                    "channel_user_id": f"tester-wait-{name}",
                    "wait_for_reply": True,
                    "timeout_s": 5,
                },
                _user_messages(f"{marker}-test-wait"),
            ),
            Intended(
                name,
                "place_test_call",
                {"agent_id": agent, "destination": f"+23481{number:03d}{r:02d}11"},
                _calls_to(f"+23481{number:03d}{r:02d}11"),
            ),
            Intended(
                name,
                "make_call",
                {
                    "agent_id": agent,
                    "destination": f"+23482{number:03d}{r:02d}22",
                    "confirm": f"+23482{number:03d}{r:02d}22",
                },
                _calls_to(f"+23482{number:03d}{r:02d}22"),
            ),
        ]
    # clone_workflow has no name argument: each client clones its own source once, "<source> (copy)".
    source = f"aw-src-{name}"
    out.append(
        Intended(
            name,
            "clone_workflow",
            {"source_workflow_id": setup.sources[name]},
            _named("workflows", "name", f"{source} (copy)"),
        )
    )
    return out


# ---- the client that follows advice literally --------------------------------------------------------


async def perform(client: Client, write: Intended) -> None:
    arguments = dict(write.arguments)
    for _ in range(MAX_ATTEMPTS):
        result = await client.call_tool(write.tool, arguments)
        if not result.is_error:
            write.succeeded = True
            return
        text = text_of(result)
        write.history.append(f"[{'keyed' if 'idempotency_key' in arguments else 'fresh'}] {text}")
        waited = RETRY_AFTER.search(text)
        if key := KEY.search(text):
            arguments = {**write.arguments, "idempotency_key": key.group(1)}
            if waited:
                await anyio.sleep(min(float(waited.group(1)), WAIT_CAP_S))
            continue
        if waited:
            await anyio.sleep(min(float(waited.group(1)), WAIT_CAP_S))
            continue
        if any(hint in text.lower() for hint in RETRY_HINTS):
            await anyio.sleep(0.1)
            continue
        break  # no advice to retry: the caller gives up
    write.gave_up = True


async def run_client(
    open_client: Callable[[], Any], plan: list[Intended], ready: list[str], go: anyio.Event, done: anyio.Event
) -> None:
    async with open_client() as client:
        ready.append(plan[0].client)
        await go.wait()
        for write in plan:
            await perform(client, write)
        await done.wait()  # keep the connection open until every client is finished


async def burst_429s(faults: Any, fired: Counter[str]) -> None:
    """Set `burst_429` periodically (the next BURST_SIZE requests, any path, answer 429)."""
    last = 0
    while True:
        await anyio.sleep(BURST_EVERY_S)
        if fired["requests"] - last >= BURST_GAP:
            last = fired["requests"]
            faults.burst_429 = BURST_SIZE


# ---- the test --------------------------------------------------------------------------------------


async def _setup(server_mcp: Any, store: SandboxStore, names: list[str]) -> Setup:
    agent = store.demo_agent_id or ""
    async with Client(server_mcp) as client:

        async def ok(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, f"setup {tool} failed: {text_of(result)}"
            assert result.structured_content is not None
            return result.structured_content

        api = await ok(
            "configure_custom_api", {"agent_id": agent, "name": "AW API", "base_url": "https://api.example.com"}
        )
        await ok("update_phone_number", {"phone_number_id": store.demo_phone_number_id, "agent_id": agent})
        sources, conversations = {}, {}
        for name in names:
            sources[name] = (await ok("create_workflow", {"name": f"aw-src-{name}", "system_prompt": "p"}))["id"]
            opened = await ok(
                "send_message",
                {"agent_id": agent, "channel_type": "webchat", "channel_user_id": f"conv-{name}", "message": "open"},
            )
            conversations[name] = opened["conversation_id"]
    return Setup(agent, store.demo_workflow_id or "", api["id"], sources, conversations)


def _report(plan: list[Intended], store: SandboxStore, fired: Counter[str]) -> tuple[bool, str]:
    by_tool: dict[str, Counter[str]] = defaultdict(Counter)
    duplicated: list[tuple[Intended, int]] = []
    lost: list[Intended] = []
    for write in plan:
        applied = write.count(store)
        stats = by_tool[write.tool]
        stats["intended"] += 1
        if applied == 1:
            stats["once"] += 1
        elif applied == 0:
            stats["missing"] += 1
        else:
            stats["duplicated"] += 1
            stats["extra_copies"] += applied - 1
            duplicated.append((write, applied))
        if write.gave_up:
            stats["gave_up"] += 1
        if applied == 0 or write.gave_up:
            stats["lost"] += 1
            lost.append(write)
    totals = Counter[str]()
    for stats in by_tool.values():
        totals.update(stats)
    lines = [
        f"{len(plan)} intended writes; faults fired: {dict(fired)}",
        f"totals: once={totals['once']} duplicated={totals['duplicated']} (extra copies {totals['extra_copies']}) "
        f"missing={totals['missing']} gave_up={totals['gave_up']}",
        "duplicated by tool: " + str({t: s["duplicated"] for t, s in sorted(by_tool.items()) if s["duplicated"]}),
        "lost by tool (missing or gave up): " + str({t: s["lost"] for t, s in sorted(by_tool.items()) if s["lost"]}),
    ]
    for write, applied in duplicated[:6]:
        lines.append(f"-- DUPLICATED x{applied}: {write.tool} {write.arguments} after errors:")
        lines.extend(f"     {h!r}" for h in write.history)
    for write in lost[:4]:
        lines.append(f"-- LOST: {write.tool} {write.arguments} (gave_up={write.gave_up}) after errors:")
        lines.extend(f"     {h!r}" for h in write.history)
    clean = not duplicated and not lost and totals["once"] == len(plan)
    return clean, "\n".join(lines)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("faulty", [False, True], ids=["faults_off", "faults_on"])
async def test_clients_following_error_advice_apply_every_write_exactly_once(
    faulty: bool, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, faults = sandbox.store, sandbox.faults
    # Duplicated agents must show up as duplicates, not as a plan limit hiding them.
    monkeypatch.setitem(PLANS["starter"], "agents", 10_000)
    fired: Counter[str] = Counter()
    decide = faults.decide

    def counting_decide() -> str | None:
        decision = decide()
        fired["requests"] += 1
        if decision:
            fired[decision] += 1
        return decision

    monkeypatch.setattr(faults, "decide", counting_decide)

    settings = Settings.load({}).with_backend(base_url=sandbox.base_url, api_key=store.demo_api_key)
    # Without faults, three clients suffice to prove the reconciliation itself counts right.
    memory, over_http = (MEMORY_CLIENTS, HTTP_CLIENTS) if faulty else (2, 1)
    names = [f"m{i:02d}" for i in range(memory)] + [f"h{i:02d}" for i in range(over_http)]
    server = build_server(settings)
    try:
        with anyio.fail_after(150), http_server(settings) as base:
            setup = await _setup(server.mcp, store, names)
            plans = {name: _plan(name, number, setup) for number, name in enumerate(names)}
            ready: list[str] = []
            go, done = anyio.Event(), anyio.Event()

            def memory_client() -> Any:
                return Client(server.mcp, read_timeout_seconds=60)

            @asynccontextmanager
            async def http_client() -> AsyncIterator[Client]:
                async with (
                    httpx2.AsyncClient(timeout=httpx2.Timeout(60)) as http,
                    Client(streamable_http_client(f"{base}/mcp", http_client=http), read_timeout_seconds=60) as client,
                ):
                    yield client

            async with anyio.create_task_group() as clients:
                for name in names:
                    opener = http_client if name.startswith("h") else memory_client
                    clients.start_soon(run_client, opener, plans[name], ready, go, done)
                while len(ready) < len(names):
                    await anyio.sleep(0.02)
                async with anyio.create_task_group() as background:
                    if faulty:
                        faults.replace(**FAULTS)
                        background.start_soon(burst_429s, faults, fired)
                    go.set()

                    async def finish() -> None:
                        while not all(w.succeeded or w.gave_up for p in plans.values() for w in p):
                            await anyio.sleep(0.05)
                        background.cancel_scope.cancel()

                    background.start_soon(finish)
                faults.replace()
                done.set()
    finally:
        faults.replace()
        await server.aclose()

    await anyio.sleep(0.3)  # let the sandbox's auto-replies settle (they are not counted, but mutate dicts)
    everything = [w for p in plans.values() for w in p]
    clean, report = _report(everything, store, fired)
    if faulty:
        assert all(fired[k] > 0 for k in ("error", "drop", "malformed", "burst")), f"faults did not fire: {fired}"
    assert clean, report
