"""Secret entry: the user types a configure tool's secrets into a page, so they never pass through the model.

A configure tool called without its secret fields opens a `PendingEntry` for that exact
operation (tool, agent, non-secret arguments, the caller and the key it acts with) and shows
the user a link to it. The entry travels sealed in the link (AES-GCM under BIMPE_STATE_KEY, or
a key held only by this process), so any replica that shares the key can serve the form. On
submit, `SecretEntries.submit` runs the operation once, with the typed values, and keeps only
its (redacted) result for the model; the values themselves are dropped when the call returns.

This module knows nothing of HTTP: the page (`bimpe_mcp._secret_page`) renders entries and hands
submissions here. Single use is enforced by the replica that serves the form, and the Console
write carries an idempotency key derived from the entry, so a link replayed on another replica
is not applied twice.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp.server.request_state import AESGCMRequestStateCodec, InvalidRequestState
from mcp_types import CallToolResult
from pydantic import BaseModel, Field, ValidationError

__all__ = [
    "ENTRY_TTL_S",
    "EntryRefused",
    "PendingEntry",
    "SecretEntries",
    "SecretField",
    "SecretNeed",
]

logger = logging.getLogger("bimpe_mcp.secret_entry")

ENTRY_TTL_S = 600.0
"""How long a link stays usable: ten minutes."""
_FORGET_AFTER_S = 3600.0
"""How long a finished entry's outcome is kept for a status lookup."""


class SecretField(BaseModel):
    """One value the page asks for: where it goes in the tool's arguments, and how it is labelled."""

    path: tuple[str, ...] = Field(description="Where the value goes, e.g. ('auth_config', 'password').")
    label: str
    masked: bool = True
    """Typed into a password field (a header name is not)."""
    optional: bool = False


@dataclass(frozen=True, slots=True)
class SecretNeed:
    """What a call lacks: the service it connects (shown on the page) and the fields to type."""

    service: str
    fields: tuple[SecretField, ...]

    @property
    def names(self) -> str:
        return ", ".join(".".join(f.path) for f in self.fields)


class PendingEntry(BaseModel):
    """One operation waiting for its secrets; sealed into the link, so it carries all it needs."""

    id: str
    tool: str
    arguments: dict[str, Any] = Field(description="The validated non-secret arguments, agent_id included.")
    agent_name: str | None = None
    caller: str
    """Who opened it (stable, secret-free): only they can look up its outcome."""
    api_key: str | None = Field(None, repr=False)
    """The pass-through caller's Console key; None: the server's own key (stdio, gateway)."""
    api_key_source: str | None = None
    scope_agent_id: str | None = None
    expires_at: float


class EntryRefused(Exception):
    """Why a link or a submission is refused, said to the person at the browser (nothing secret)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


Completer = Callable[[PendingEntry, Mapping[tuple[str, ...], str]], Awaitable[CallToolResult]]
"""Runs the entry's operation with the typed values; returns the (redacted) tool result."""

Describer = Callable[[PendingEntry], SecretNeed]
"""What an entry asks for (service and fields), derived again from its tool and arguments."""


@dataclass
class _Slot:
    caller: str
    expires_at: float
    done: anyio.Event = field(default_factory=anyio.Event)
    used: bool = False
    cancelled: bool = False
    result: CallToolResult | None = None


@dataclass(frozen=True, slots=True)
class EntryStatus:
    state: str
    """pending, completed, failed, expired, cancelled or unknown."""
    result: CallToolResult | None = None
    expires_in_s: int | None = None


class SecretEntries:
    """The pending entries of one server: open, read, submit once, wait for, look up."""

    def __init__(
        self,
        complete: Completer,
        describe: Describer,
        *,
        state_key: str | None = None,
        ttl: float = ENTRY_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        secret = (state_key or secrets.token_hex(32)).encode()
        self._codec = AESGCMRequestStateCodec([hashlib.sha256(b"bimpe-mcp/secret-entry/seal:" + secret).digest()])
        self._csrf_key = hashlib.sha256(b"bimpe-mcp/secret-entry/csrf:" + secret).digest()
        self._complete = complete
        self.describe = describe
        self.ttl = ttl
        self.clock = clock
        self._slots: dict[str, _Slot] = {}
        self.last_activity = time.monotonic()

    # ---- the tool side ----------------------------------------------------------------------------------

    def new(self, **values: Any) -> PendingEntry:
        """A fresh entry (unguessable id, expiry `ttl` from now), not yet open."""
        return PendingEntry(id=secrets.token_urlsafe(16), expires_at=self.clock() + self.ttl, **values)

    def open(self, entry: PendingEntry) -> str:
        """Open `entry` here and return its link token: the entry sealed."""
        self._forget_old()
        self._slots[entry.id] = _Slot(entry.caller, entry.expires_at)
        self.last_activity = time.monotonic()
        return self._codec.seal(entry.model_dump_json(exclude_none=True).encode())

    async def wait(self, entry_id: str, timeout: float, *, caller: str) -> CallToolResult | None:
        """The entry's result once submitted here, or None after `timeout` seconds (or once it expires).

        An entry another replica opened (a 2026-07-28 call's second round may land here) is watched
        from now on, for `caller`: a form submitted to this replica then reaches the waiting call.
        """
        slot = self._slots.get(entry_id)
        if slot is None:
            slot = self._slots[entry_id] = _Slot(caller, self.clock() + self.ttl)
        with anyio.move_on_after(max(0.0, min(timeout, slot.expires_at - self.clock()))):
            await slot.done.wait()
        return slot.result

    def cancel(self, entry_id: str) -> None:
        """The user declined: the link stops working."""
        if (slot := self._slots.get(entry_id)) is not None and not slot.used:
            slot.cancelled = True
            slot.done.set()

    def status(self, entry_id: str, caller: str) -> EntryStatus:
        """What became of an entry, for the caller that opened it (anyone else: unknown)."""
        slot = self._slots.get(entry_id)
        if slot is None or not hmac.compare_digest(slot.caller, caller):
            return EntryStatus("unknown")
        if slot.result is not None:
            return EntryStatus("failed" if slot.result.is_error else "completed", slot.result)
        if slot.cancelled:
            return EntryStatus("cancelled")
        left = slot.expires_at - self.clock()
        if left <= 0:
            return EntryStatus("expired")
        return EntryStatus("submitted" if slot.used else "pending", expires_in_s=int(left))

    @property
    def busy(self) -> bool:
        """Whether any entry here may still be opened or is being submitted."""
        now = self.clock()
        return any(not slot.done.is_set() and slot.expires_at > now for slot in self._slots.values())

    # ---- the page side ----------------------------------------------------------------------------------

    def read(self, token: str) -> PendingEntry:
        """The entry a link names, if it may still be used. Raises EntryRefused."""
        try:
            entry = PendingEntry.model_validate_json(self._codec.unseal(token))
        except (InvalidRequestState, ValidationError, ValueError):
            raise EntryRefused(
                404, "Link not found", "This link is not valid. Ask your assistant for a new one."
            ) from None
        slot = self._slots.get(entry.id)
        if slot is not None and (slot.used or slot.result is not None):
            raise EntryRefused(410, "Link already used", "This link was used already; each link works once.")
        if slot is not None and slot.cancelled:
            raise EntryRefused(410, "Link cancelled", "This link was cancelled. Ask your assistant for a new one.")
        if entry.expires_at <= self.clock():
            raise EntryRefused(410, "Link expired", "This link has expired (links last 10 minutes). Ask again.")
        return entry

    def csrf_token(self, entry: PendingEntry) -> str:
        return hmac.new(self._csrf_key, entry.id.encode(), hashlib.sha256).hexdigest()

    async def submit(self, token: str, csrf: str | None, values: Mapping[tuple[str, ...], str]) -> CallToolResult:
        """Run the entry's operation once with `values`; its result is kept for the model.

        Raises EntryRefused for a bad, used or expired link, or a missing or wrong CSRF token;
        then nothing was sent.
        """
        entry = self.read(token)
        if not csrf or not hmac.compare_digest(csrf, self.csrf_token(entry)):
            raise EntryRefused(403, "Form refused", "The form's security token is missing or wrong. Reload the page.")
        slot = self._slots.get(entry.id)
        if slot is None:  # opened by another replica that shares BIMPE_STATE_KEY
            slot = self._slots[entry.id] = _Slot(entry.caller, entry.expires_at)
        slot.used = True
        self.last_activity = time.monotonic()
        try:
            result = await self._complete(entry, values)
        except BaseException:
            slot.used = False  # not sent, or cancelled: the link may be used again
            raise
        slot.result = result
        slot.done.set()
        logger.info("secret entry %s for %s: %s", entry.id[:8], entry.tool, "error" if result.is_error else "done")
        return result

    def _forget_old(self) -> None:
        horizon = self.clock() - _FORGET_AFTER_S
        for entry_id in [i for i, slot in self._slots.items() if slot.expires_at < horizon]:
            del self._slots[entry_id]
