"""Deterministic fault injection for the console routes: latency, 5xx, 429 bursts, dropped connections,
malformed answers and truncated streams. Seeded, so a failing test replays exactly."""

from __future__ import annotations

import asyncio
import json
import random
import re
import uuid
from dataclasses import dataclass, field, fields
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._errors import error_envelope

_MALFORMED = (
    (502, b"text/html; charset=utf-8", b"<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"),
    (200, b"application/json", None),  # the real body, truncated
    (200, b"text/plain; charset=utf-8", b"\x1f\x8bGARBAGE upstream reset ~~~"),
)


class ConnectionDropped(Exception):
    """Raised after the response has started, so the server closes the connection mid-answer."""


@dataclass
class Faults:
    """Fault knobs, mutable at runtime. Every decision draws from `random.Random(seed)` in a fixed order."""

    seed: int = 0
    latency_s: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    burst_429: int = 0
    retry_after_s: int = 1
    malformed_rate: float = 0.0
    stream_drop_after: int | None = None
    only_paths: str | None = None
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _malformed_turn: int = field(init=False, default=0, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def replace(self, **values: Any) -> None:
        """Reset every knob to its default, apply `values`, reseed (what `PUT /_sandbox/faults` does)."""
        fresh = Faults(**values)
        for f in fields(self):
            setattr(self, f.name, getattr(fresh, f.name))

    def applies_to(self, path: str) -> bool:
        if path.startswith("/_sandbox") or path == "/healthz":
            return False
        return self.only_paths is None or re.search(self.only_paths, path) is not None

    def decide(self) -> str | None:
        """One of "burst", "error", "drop", "malformed" or None for this request."""
        if self.burst_429 > 0:
            self.burst_429 -= 1
            return "burst"
        error, drop, malformed = (self._rng.random() for _ in range(3))
        if error < self.error_rate:
            return "error"
        if drop < self.drop_rate:
            return "drop"
        if malformed < self.malformed_rate:
            return "malformed"
        return None

    def next_malformed(self) -> int:
        turn = self._malformed_turn % len(_MALFORMED)
        self._malformed_turn += 1
        return turn


class FaultsMiddleware:
    """Applies `Faults` to HTTP requests; streams only get latency, errors and bursts."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send_now: Send) -> None:
        faults = self.faults
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or not faults.applies_to(scope["path"]):
            await self.app(scope, receive, send_now)
            return
        latency = faults.latency_s

        async def send(message: Message) -> None:
            # Latency delays the answer, not the work: a client that gives up may leave a write behind.
            if message["type"] == "http.response.start" and latency > 0:
                await asyncio.sleep(latency)
            await send_now(message)

        decision = faults.decide()
        streaming = scope["path"].endswith("/stream")
        if decision == "burst":
            await _send_error(
                send, scope, "too_many_requests", "Too many requests.", {"retry-after": str(faults.retry_after_s)}
            )
        elif decision == "error":
            await _send_error(send, scope, "internal_error", "Internal server error.", {})
        elif decision in ("drop", "malformed") and not streaming:
            captured = await _capture(self.app, scope, receive)
            if decision == "drop":
                await send(
                    {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
                )
                await send({"type": "http.response.body", "body": b'{"mess', "more_body": True})
                raise ConnectionDropped("sandbox fault: connection dropped after executing the request")
            status, content_type, body = _MALFORMED[faults.next_malformed()]
            if body is None:
                real = captured["body"]
                body = real[: max(1, len(real) // 2)] if len(real) > 2 else b'{"message": "Succ'
            headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        else:
            await self.app(scope, receive, send)


async def _capture(app: ASGIApp, scope: Scope, receive: Receive) -> dict[str, Any]:
    """Run the request to completion and keep its answer instead of sending it."""
    captured: dict[str, Any] = {"status": 0, "body": b""}

    async def collect(message: Message) -> None:
        if message["type"] == "http.response.start":
            captured["status"] = message["status"]
        elif message["type"] == "http.response.body":
            captured["body"] += message.get("body", b"")

    await app(scope, receive, collect)
    return captured


async def _send_error(send: Send, scope: Scope, code: str, message: str, extra: dict[str, str]) -> None:
    request_id = scope.get("state", {}).get("request_id") or str(uuid.uuid4())
    body = json.dumps(error_envelope(code, message, request_id)).encode()
    status = error_envelope(code, message, request_id)["statusCode"]
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
