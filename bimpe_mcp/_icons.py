"""The server's and the tools' icons: small SVGs shipped in `bimpe_mcp/icons/`, sent as `data:` URIs.

A `data:` URI needs no network, neither here nor in the client. Each tool shows its toolset's
icon, and every tool's icon travels in `tools/list`, so the SVGs are tiny and encoded as the
widely used "mini SVG data URI" does: only `%`, `#`, `<`, `>` and `"` are escaped.
"""

from __future__ import annotations

import functools
from importlib import resources

from mcp_types import Icon

__all__ = ["server_icons", "toolset_icons"]

_ESCAPES = str.maketrans({"%": "%25", "#": "%23", "<": "%3C", ">": "%3E", '"': "'", "\n": ""})


@functools.cache
def _icons(name: str) -> list[Icon]:
    svg = (resources.files("bimpe_mcp") / "icons" / f"{name}.svg").read_text().strip()
    return [Icon(src="data:image/svg+xml," + svg.translate(_ESCAPES))]


def server_icons() -> list[Icon]:
    return _icons("server")


def toolset_icons(toolset: str) -> list[Icon]:
    """The icon of a toolset (`_toolsets.TOOLSETS`), shown on each of its tools."""
    return _icons(toolset)
