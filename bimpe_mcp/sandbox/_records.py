"""What every rule area shares: timestamps, the public view of a record, and the `Rules` base."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._store import SandboxStore


class Rules:
    """One area of the Console's business rules (agents, calls, …).

    The store owns every table, so an area keeps no state of its own: it reads and writes the store's
    tables and reaches the other areas through it.
    """

    def __init__(self, store: SandboxStore) -> None:
        self.store = store


def iso(ts: float | None = None) -> str:
    """ISO-8601 UTC with milliseconds and a `Z`, as the Console writes timestamps."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def public(record: dict[str, Any]) -> dict[str, Any]:
    """The record without its internal ("_"-prefixed) keys: owners, secrets, timing."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def of_agent(table: dict[str, dict[str, Any]], agent_id: str) -> list[dict[str, Any]]:
    """The records of `table` that hang off `agent_id` (knowledge bases, channels)."""
    return [item for item in table.values() if item["_agent"] == agent_id]


def rate_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(reset)}
