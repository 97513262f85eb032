"""The server's and the tools' icons: small SVGs shipped in `bimpe_mcp/icons/`, sent as `data:` URIs.

A `data:` URI needs no network, neither here nor in the client. Each tool shows its toolset's
icon, and every tool's icon travels in `tools/list`, so the SVGs are tiny, percent-encoded (a
valid RFC 3986 URI, as the schema's `format: uri` asks) rather than base64, which is longer.
"""

from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import quote

from mcp_types import Icon

__all__ = ["server_icons", "toolset_icons"]

_ICONS = Path(__file__).with_name("icons")

_URI_SAFE = "!$&'()*+,;=:@/"
"""RFC 3986 sub-delims and path characters, left as they are; everything else is percent-encoded."""


@functools.cache
def _icons(name: str) -> list[Icon]:
    svg = (_ICONS / f"{name}.svg").read_text(encoding="utf-8").strip()
    return [Icon(src="data:image/svg+xml," + quote(svg, safe=_URI_SAFE))]


def server_icons() -> list[Icon]:
    return _icons("server")


def toolset_icons(toolset: str) -> list[Icon]:
    """The icon of a toolset (`_toolsets.TOOLSETS`), shown on each of its tools."""
    return _icons(toolset)
