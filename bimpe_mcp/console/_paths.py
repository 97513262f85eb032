"""The one way a Console path is built: a fixed template, each id one percent-encoded segment.

An id is data, never route: `../`, `/`, `\\`, `?`, `#`, `%` and control characters are either
encoded into the segment or refused, so no id can reach another resource than the template names.
httpx normalises dot segments, which is why `.` and `..` are refused rather than encoded.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import quote

from pydantic import Field

from bimpe_mcp.console._errors import InvalidIdError

__all__ = ["ID_MAX_LENGTH", "ID_PATTERN", "Id", "route", "segment"]

ID_PATTERN = r"^[A-Za-z0-9_-]+$"
ID_MAX_LENGTH = 128
"""The shape of every Console id (prefixed hex, UUIDs, cuids): what request models admit."""

Id = Annotated[str, Field(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH)]

_SEGMENT_MAX_LENGTH = 512
"""What the path builder itself accepts: laxer than `Id`, but short enough that no URL gets too long."""

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def segment(value: object, *, name: str = "id") -> str:
    """`value` as exactly one percent-encoded path segment, or `InvalidIdError` naming `name`."""
    if not isinstance(value, str) or not value:
        raise InvalidIdError(f"{name} must be a non-empty string", field=name)
    if len(value) > _SEGMENT_MAX_LENGTH:
        raise InvalidIdError(f"{name} is longer than {_SEGMENT_MAX_LENGTH} characters", field=name)
    if value.strip() in (".", "..") or value != value.strip():
        raise InvalidIdError(f"{name} must not be a dot segment or carry surrounding whitespace", field=name)
    if _CONTROL.search(value):
        raise InvalidIdError(f"{name} must not contain control characters", field=name)
    return quote(value, safe="")


def route(template: str, **ids: str) -> str:
    """Fill `template` (e.g. `/agents/{agent_id}/calls/{call_id}`) with encoded ids; every placeholder is required."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in ids:
            raise KeyError(f"route {template!r} needs {name}")
        return segment(ids[name], name=name)

    return _PLACEHOLDER.sub(fill, template)
