"""Tiny helpers shared by the store's rule modules: timestamps and the public view of a record."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any


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


def rate_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(reset)}
