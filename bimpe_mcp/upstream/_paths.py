"""The one way a path is built: a fixed template, each id one percent-encoded segment.

An id is data, never route: `../`, `/`, `\\`, `?`, `#`, `%` and control characters are either
encoded into the segment or refused, so no id can reach another resource than the template names.
httpx normalises dot segments, which is why `.` and `..` are refused rather than encoded.
Each client binds a `PathBuilder` to its own "invalid id" error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

__all__ = ["PathBuilder"]

_SEGMENT_MAX_LENGTH = 512
"""What the path builder itself accepts: laxer than a client's id type, but short enough that no URL gets too long."""

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

InvalidId = Callable[[str, str], Exception]
"""(message, the id's name) -> the client's error for an id that cannot be one segment."""


class PathBuilder:
    """`segment` and `route` raising the client's own error for an id that cannot be one path segment."""

    def __init__(self, invalid: InvalidId) -> None:
        self._invalid = invalid

    def segment(self, value: object, *, name: str = "id") -> str:
        """`value` as exactly one percent-encoded path segment, or the client's error naming `name`."""
        if not isinstance(value, str) or not value:
            raise self._invalid(f"{name} must be a non-empty string", name)
        if len(value) > _SEGMENT_MAX_LENGTH:
            raise self._invalid(f"{name} is longer than {_SEGMENT_MAX_LENGTH} characters", name)
        if value.strip() in (".", "..") or value != value.strip():
            raise self._invalid(f"{name} must not be a dot segment or carry surrounding whitespace", name)
        if _CONTROL.search(value):
            raise self._invalid(f"{name} must not contain control characters", name)
        return quote(value, safe="")

    def route(self, template: str, **ids: str) -> str:
        """Fill `template` (e.g. `/agents/{agent_id}`) with encoded ids; every placeholder is required."""

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in ids:
                raise KeyError(f"route {template!r} needs {name}")
            return self.segment(ids[name], name=name)

        return _PLACEHOLDER.sub(fill, template)
