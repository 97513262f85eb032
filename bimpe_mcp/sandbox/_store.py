"""All sandbox state, and the rule areas that act on it, with no HTTP in sight.

Records are plain dicts; keys starting with "_" are internal (owner, secrets, timing) and never rendered.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import random
import time
from collections.abc import Coroutine, Iterable
from typing import Any

from ._agents import AgentRules
from ._butterbase import ButterbaseRules
from ._calls import CallRules
from ._catalog import PLANS
from ._conversations import ConversationRules
from ._errors import SandboxError, not_found
from ._integrations import IntegrationRules
from ._knowledge_bases import KnowledgeBaseRules
from ._phone_numbers import PhoneNumberRules
from ._records import rate_headers
from ._workflows import WorkflowRules

ALL_SCOPES = (
    "agents:read",
    "agents:write",
    "workflows:read",
    "workflows:write",
    "integrations:read",
    "integrations:write",
    "conversations:read",
    "conversations:write",
    "calls:read",
    "calls:write",
    "phone_numbers:read",
    "phone_numbers:write",
)
DEFAULT_RATE_LIMIT = 1000
RATE_WINDOW_S = 60
MAX_STREAMS_PER_KEY = 5
SEEDED_AT = "2025-01-01T00:00:00.000Z"
"""When a seeded store made its demo data, so a seeded run's records match byte for byte."""

MessageQueue = asyncio.Queue[dict[str, Any] | None]
"""A live stream's inbox: each appended message, then None when the store shuts down."""


class SandboxStore:
    """One in-memory Console: teams, keys, agents and everything under them, plus the HTTP bookkeeping
    (rate windows, idempotency records, write counts) that must survive across requests.

    The store holds every table and what all areas share (ids, keys, the team-scoped agent lookup,
    message streams); each area's rules (`agent_rules`, `call_rules`, …) act on those tables.

    With `seed`, every id and key is drawn from `random.Random(seed)` and the demo data carries fixed
    timestamps, so two stores with the same seed that receive the same requests hold the same data:
    a script can reuse an id from one `--sandbox` run in the next. Without it, ids and keys come from
    the operating system's randomness, as `secrets` does.
    """

    def __init__(
        self,
        *,
        seed_demo: bool = True,
        demo_api_key: str | None = None,
        seed: int | None = None,
        admin_key: str | None = None,
        reply_delay: float = 0.2,
        heartbeat_interval: float = 20.0,
        call_step: float = 0.5,
    ) -> None:
        self.seed = seed
        self._random = random.Random(seed) if seed is not None else random.SystemRandom()
        self.reply_delay = reply_delay
        self.heartbeat_interval = heartbeat_interval
        self.call_step = call_step
        self.teams: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, dict[str, Any]] = {}
        self.workflows: dict[str, dict[str, Any]] = {}
        self.agents: dict[str, dict[str, Any]] = {}
        self.knowledge_bases: dict[str, dict[str, Any]] = {}
        self.integrations: dict[str, dict[str, Any]] = {}
        self.tools: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.conversations: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.calls: dict[str, dict[str, Any]] = {}
        self.phone_numbers: dict[str, dict[str, Any]] = {}
        self.phone_requests: dict[str, dict[str, Any]] = {}
        self.tickets: dict[str, dict[str, Any]] = {}
        self.counts: dict[str, int] = {}
        self.idempotency: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.rate_windows: dict[str, list[float]] = {}
        self.open_streams: dict[str, int] = {}
        self._subscribers: dict[str, set[MessageQueue]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._message_seq = itertools.count(1)
        self.workflow_rules = WorkflowRules(self)
        self.agent_rules = AgentRules(self)
        self.knowledge_base_rules = KnowledgeBaseRules(self)
        self.integration_rules = IntegrationRules(self)
        self.conversation_rules = ConversationRules(self)
        self.call_rules = CallRules(self)
        self.phone_number_rules = PhoneNumberRules(self)
        self.demo_api_key: str | None = None
        self.demo_team_id: str | None = None
        self.demo_agent_id: str | None = None
        self.demo_workflow_id: str | None = None
        self.demo_phone_number_id: str | None = None
        self._seed(seed_demo, demo_api_key)
        # Drawn even when given, and after the demo data, so a given key shifts no id.
        drawn_admin_key = f"sbx_admin_{self._token()}"
        self.admin_key = admin_key or drawn_admin_key
        """What the `/_sandbox/*` routes require in `X-Sandbox-Admin-Key`."""
        self.butterbase = ButterbaseRules(self._token, self.new_id, self.count)
        """The Butterbase app beside the Console: drawn last, so it shifts no Console id or key."""

    # ---- ids, teams, keys -------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{self._random.getrandbits(64):016x}"

    def next_message_id(self) -> str:
        """Sortable by creation: a sequence number, then random hex so ids are not guessable."""
        return f"msg_{next(self._message_seq):012d}{self._random.getrandbits(24):06x}"

    def _token(self) -> str:
        """32 url-safe characters (192 bits) without `-` or `_`, for keys."""
        raw = base64.urlsafe_b64encode(self._random.randbytes(24)).decode()
        return raw.replace("-", "x").replace("_", "y")

    def add_team(self, name: str, plan: str = "starter") -> tuple[str, str]:
        """Create a team and a full-scope key for it."""
        if plan not in PLANS:
            raise SandboxError("validation_error", "Validation failed", [("plan", "must be one of starter, free")])
        team_id = self.new_id("team")
        self.teams[team_id] = {"id": team_id, "name": name, "plan": plan}
        return team_id, self.add_key(team_id, ALL_SCOPES)

    def add_key(
        self,
        team_id: str,
        scopes: Iterable[str],
        *,
        expired: bool = False,
        rate_limit: int | None = None,
        api_key: str | None = None,
    ) -> str:
        if team_id not in self.teams:
            raise not_found("Team")
        # Drawn even when given, so a given key shifts no id that follows.
        drawn_key = f"sk_test_{self._token()}"
        key = api_key or drawn_key
        self.keys[key] = {
            "team_id": team_id,
            "scopes": frozenset(scopes),
            "expired": expired,
            "rate_limit": rate_limit or DEFAULT_RATE_LIMIT,
        }
        return key

    def authenticate(self, api_key: str | None) -> dict[str, Any]:
        if not api_key:
            raise SandboxError("api_key_missing", "API key is missing. Send Authorization: Bearer sk_… or X-Api-Key.")
        record = self.keys.get(api_key)
        if record is None:
            raise SandboxError("api_key_invalid", "Invalid API key.")
        if record["expired"]:
            raise SandboxError("api_key_expired", "API key has expired.")
        return record

    def hit_rate(self, api_key: str, now: float | None = None) -> tuple[int, int, int]:
        """Count one request in the key's fixed window: (limit, remaining, reset); 429 when over."""
        now = time.time() if now is None else now
        limit = self.keys[api_key]["rate_limit"]
        window = self.rate_windows.get(api_key)
        if window is None or now >= window[0] + RATE_WINDOW_S:
            window = self.rate_windows[api_key] = [now, 0]
        reset = int(window[0] + RATE_WINDOW_S)
        if window[1] >= limit:
            retry = max(1, int(reset - now + 0.999))
            raise SandboxError(
                "too_many_requests",
                "Rate limit exceeded. Retry later.",
                headers={**rate_headers(limit, 0, reset), "Retry-After": str(retry)},
            )
        window[1] += 1
        return limit, limit - int(window[1]), reset

    def count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def agent(self, team_id: str, agent_id: str) -> dict[str, Any]:
        """The team's agent, or 404: where nearly every rule starts, since everything hangs off an agent."""
        agent = self.agents.get(agent_id)
        if agent is None or agent["_team"] != team_id:
            raise not_found("Agent")
        return agent

    # ---- seeding ----------------------------------------------------------------------------------

    def _seed(self, seed_demo: bool, demo_api_key: str | None) -> None:
        team_id = self.new_id("team")
        self.teams[team_id] = {"id": team_id, "name": "Demo Team", "plan": "starter"}
        self.demo_team_id = team_id
        self.demo_api_key = self.add_key(team_id, ALL_SCOPES, api_key=demo_api_key)
        if not seed_demo:
            return
        wf = self.workflow_rules.create_workflow(
            team_id,
            {
                "name": "Customer Support",
                "description": "Answer customer questions and escalate when needed.",
                "category": "support",
                "system_prompt": "You are a helpful, friendly customer support agent.",
                "tags": ["support"],
            },
        )
        self.demo_workflow_id = wf["id"]
        bimpe_team = self.new_id("team")
        self.teams[bimpe_team] = {"id": bimpe_team, "name": "BimpeAI Templates", "plan": "starter"}
        self.workflow_rules.create_workflow(
            bimpe_team,
            {
                "name": "Restaurant Reservations",
                "description": "Take table bookings and answer menu questions.",
                "category": "hospitality",
                "system_prompt": "You take restaurant reservations politely and accurately.",
            },
            visibility="public",
        )
        agent = self.agent_rules.create_agent(
            team_id,
            {
                "workflow_id": wf["id"],
                "name": "Bimpe Demo Agent",
                "description": "A demo agent that answers customer support questions.",
                "persona": "friendly",
                "language": "en",
            },
        )
        self.demo_agent_id = agent["id"]
        for kind, name, connected in (("webchat", "Web chat", True), ("whatsapp", "WhatsApp", False)):
            channel_id = self.new_id("ch")
            self.channels[channel_id] = {
                "id": channel_id,
                "type": kind,
                "name": name,
                "status": "connected" if connected else "not_connected",
                "is_connected": connected,
                "_agent": agent["id"],
            }
        self.demo_phone_number_id = self.phone_number_rules.add_phone_number(team_id, "+2342017001234", "Lagos line")
        if self.seed is not None:
            for record in (*self.workflows.values(), *self.agents.values(), *self.phone_numbers.values()):
                record.update(created_at=SEEDED_AT, updated_at=SEEDED_AT)

    # ---- background work and message streams ------------------------------------------------------

    def subscribe(self, conversation_id: str) -> MessageQueue:
        queue: MessageQueue = asyncio.Queue()
        self._subscribers.setdefault(conversation_id, set()).add(queue)
        return queue

    def unsubscribe(self, conversation_id: str, queue: MessageQueue) -> None:
        self._subscribers.get(conversation_id, set()).discard(queue)

    def publish(self, conversation_id: str, message: dict[str, Any]) -> None:
        for queue in list(self._subscribers.get(conversation_id, ())):
            queue.put_nowait(message)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` on the running loop, keeping a reference so shutdown can cancel it."""
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close_streams(self) -> None:
        """End every open stream (app shutdown)."""
        for queues in self._subscribers.values():
            for queue in queues:
                queue.put_nowait(None)

    async def aclose(self) -> None:
        self.close_streams()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
