"""Keep credentials out of results, errors, progress messages and logs.

Two nets: the exact secret values a call carried (the API key, connector keys,
`auth_config`), and patterns that look like credentials whatever their origin, so an
upstream echo of a secret we never saw is caught too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["REDACTED", "RedactingFilter", "Redactor"]

REDACTED = "[redacted]"

_CREDENTIAL_PATTERNS = re.compile(
    r"\b(?:sk|pk|rk)_(?:test|live)_[A-Za-z0-9_]{4,}"
    r"|\bbb_sk_[A-Za-z0-9_]{4,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|://[^/\s:@]+:[^/\s@]+@"
)


def _mask_pattern(match: re.Match[str]) -> str:
    text = match.group(0)
    if text.startswith("://"):
        return f"://{REDACTED}@"
    if text[:6].lower() == "bearer":
        return f"Bearer {REDACTED}"
    return REDACTED


class Redactor:
    """Replaces known secret values and credential-shaped strings with `[redacted]`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def with_secrets(self, secrets: Iterable[str]) -> Redactor:
        return Redactor([*self._secrets, *secrets])

    def text(self, value: str) -> str:
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return _CREDENTIAL_PATTERNS.sub(_mask_pattern, value)

    def data(self, value: Any) -> Any:
        """The same for every string inside JSON-like data."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.data(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.data(item) for item in value]
        return value


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record's final message, arguments included."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = self.redactor.text(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redactor.text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
