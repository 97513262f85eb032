"""Butterbase paths: the shared path builder, raising `ButterbaseIdError`; the toolkit slug's shape."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bimpe_mcp.butterbase._errors import ButterbaseIdError
from bimpe_mcp.upstream import PathBuilder

__all__ = ["TOOLKIT_PATTERN", "ConnectionId", "Toolkit", "route"]

TOOLKIT_PATTERN = r"^[a-z0-9_-]+$"
"""A toolkit slug (gmail, google-calendar): lower case, digits, `-` and `_`."""

Toolkit = Annotated[str, Field(pattern=TOOLKIT_PATTERN, max_length=64)]
ConnectionId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=128)]

route = PathBuilder(lambda message, name: ButterbaseIdError(message, field=name)).route
"""Fill a template such as `/{app_id}/integrations/connections/{connection_id}`; every id is one segment."""
