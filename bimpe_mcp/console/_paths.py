"""Console paths: the shared path builder (`bimpe_mcp.upstream.PathBuilder`) raising `InvalidIdError`.

An id is data, never route: each one is one percent-encoded segment of a fixed template, or refused.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bimpe_mcp.console._errors import InvalidIdError
from bimpe_mcp.upstream import PathBuilder

__all__ = ["ID_MAX_LENGTH", "ID_PATTERN", "Id", "route", "segment"]

ID_PATTERN = r"^[A-Za-z0-9_-]+$"
ID_MAX_LENGTH = 128
"""The shape of every Console id (prefixed hex, UUIDs, cuids): what request models admit."""

Id = Annotated[str, Field(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH)]

_PATHS = PathBuilder(lambda message, name: InvalidIdError(message, field=name))

segment = _PATHS.segment
"""`value` as exactly one percent-encoded path segment, or `InvalidIdError` naming `name`."""

route = _PATHS.route
"""Fill `template` (e.g. `/agents/{agent_id}/calls/{call_id}`) with encoded ids; every placeholder is required."""
