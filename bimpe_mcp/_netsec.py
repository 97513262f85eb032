"""Network security of the HTTP service: Host and Origin allow-lists, the body limit, CORS.

The SDK checks Host and Origin on `/mcp` only, and only when it serves on a loopback address:
bound to `0.0.0.0` its check switches off and a DNS-rebinding page can run tools. Here one
outermost ASGI middleware (`NetworkGuard`) checks every route (`/mcp`, `/healthz`, `/readyz`,
`/metrics`, `/.well-known/…`) against explicit allow-lists, and the SDK gets the same lists as a
second line (`transport_security`). A server bound off loopback without `--allowed-hosts`
refuses to start (`bind_refusal`): there is no silent fallback.

- Host entries are `host`, `host:port` or `host:*` (any port, or none). The loopback names are
  always allowed: a rebinding page makes the browser send the attacker's name, never these, and
  the container's own health check asks for `127.0.0.1`.
- Origin entries are `scheme://host[:port]`, `scheme://host:*`, or `*` (any). A request without
  an Origin is not a browser's cross-origin request and passes. The default, when neither
  `--allowed-origins` nor `--cors-origins` is set, is the loopback origins.
- CORS is off unless `--cors-origins` names origins; those are allowed origins too.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import Final

from mcp.server.transport_security import TransportSecuritySettings
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bimpe_mcp._frames import send_error, too_large
from bimpe_mcp.settings import Settings

__all__ = [
    "CORS_ALLOWED_HEADERS",
    "LOOPBACK_HOSTS",
    "LOOPBACK_ORIGINS",
    "AllowList",
    "NetworkGuard",
    "bind_refusal",
    "is_loopback",
    "network_middleware",
    "transport_security",
]

LOOPBACK_HOSTS: Final = ("127.0.0.1:*", "localhost:*", "[::1]:*")
LOOPBACK_ORIGINS: Final = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")

CORS_ALLOWED_HEADERS: Final = (
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "authorization",
    "x-bimpe-api-key",
    "content-type",
    "x-mcp-toolsets",
    "x-mcp-tools",
    "x-mcp-readonly",
    "x-bimpe-agent-id",
)
_CORS_EXPOSED_HEADERS: Final = ("mcp-session-id",)

_HOSTS_LABEL: Final = "--allowed-hosts / BIMPE_ALLOWED_HOSTS"
_ORIGINS_LABEL: Final = "--allowed-origins / BIMPE_ALLOWED_ORIGINS"
_HOST_ENTRY: Final = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?)(:([0-9]{1,5}|\*))?$")
_SHOWN_CHARS: Final = 100


def is_loopback(host: str) -> bool:
    """Whether `host` (a bind address) is reachable from this machine only: 127.0.0.0/8, ::1 or localhost."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def bind_refusal(settings: Settings) -> str | None:
    """Why an HTTP server with these settings must not start (one line naming the setting), or None."""
    if bad := [entry for entry in settings.allowed_hosts if not _HOST_ENTRY.match(entry.lower())]:
        return f"{_HOSTS_LABEL}: {bad[0]!r} is not host, host:port or host:* (e.g. mcp.example.com:*)"
    if settings.allowed_hosts or is_loopback(settings.host):
        return None
    return (
        f"--host {settings.host} is reachable from the network: set {_HOSTS_LABEL} to the names clients "
        "reach this server by (e.g. mcp.example.com,mcp.example.com:*), so requests for any other name are refused"
    )


class AllowList:
    """Header values matched against entries: exact, or `base:*` for `base` on any port (or none)."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = tuple(dict.fromkeys(_normal(entry) for entry in entries if entry.strip()))
        self.any = "*" in self.entries
        self._exact = frozenset(entry for entry in self.entries if not entry.endswith(":*"))
        self._any_port = tuple(entry[:-2] for entry in self.entries if entry.endswith(":*"))

    def allows(self, value: str) -> bool:
        value = _normal(value)
        if self.any or value in self._exact:
            return True
        for base in self._any_port:
            if value == base or (value.startswith(base + ":") and value[len(base) + 1 :].isdigit()):
                return True
        return False

    def for_sdk(self) -> list[str]:
        """The entries as the SDK matches them: its `base:*` needs a port, so each base is listed bare too."""
        return list(dict.fromkeys([*self.entries, *self._any_port]))


def _normal(entry: str) -> str:
    """Hosts and origins compare case-insensitively, and an origin has no path, not even `/`."""
    return entry.strip().lower().rstrip("/")


def _allowed_hosts(settings: Settings) -> AllowList:
    return AllowList([*settings.allowed_hosts, *LOOPBACK_HOSTS])


def _allowed_origins(settings: Settings) -> AllowList:
    configured = [*settings.allowed_origins, *settings.cors_origins]
    return AllowList(configured or LOOPBACK_ORIGINS)


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """The SDK's own Host and Origin check on `/mcp`, with the lists `NetworkGuard` enforces.

    With `*` among the origins the SDK (exact matches only) would refuse every Origin, so its
    check is left to `NetworkGuard` alone: that is a choice the operator wrote down.
    """
    origins = _allowed_origins(settings)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=not origins.any,
        allowed_hosts=_allowed_hosts(settings).for_sdk(),
        allowed_origins=origins.for_sdk(),
    )


class NetworkGuard:
    """The outermost middleware: 421 to a foreign Host, 403 to a foreign Origin, 413 to a body
    declared larger than the limit, on every route, before anything else reads the request."""

    def __init__(self, app: ASGIApp, *, hosts: AllowList, origins: AllowList, max_body_bytes: int) -> None:
        self.app = app
        self.hosts = hosts
        self.origins = origins
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope["headers"])
        host = headers.get("host", "")
        if not self.hosts.allows(host):
            shown = f"Host {_shown(host)}" if host else "A request without a Host header"
            body = {"error": "misdirected_request", "message": f"{shown} is not served here: see {_HOSTS_LABEL}."}
            await JSONResponse(body, status_code=421)(scope, receive, send)
            return
        origin = headers.get("origin")
        if origin is not None and not self.origins.allows(origin):
            message = f"Origin {_shown(origin)} is not allowed: see {_ORIGINS_LABEL}."
            await JSONResponse({"error": "origin_not_allowed", "message": message}, status_code=403)(
                scope, receive, send
            )
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await send_error(send, 413, too_large(self.max_body_bytes))
            return
        await self.app(scope, receive, send)


def _headers(raw: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """The first value of each header; a repeated Host or Origin is answered by its first value."""
    headers: dict[str, str] = {}
    for name, value in raw:
        headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return headers


def _shown(value: str) -> str:
    return repr(value[:_SHOWN_CHARS] + ("…" if len(value) > _SHOWN_CHARS else ""))


def network_middleware(settings: Settings) -> list[Middleware]:
    """The app's middleware, outermost first: the guard, then CORS when `--cors-origins` is set.

    CORS sits outside the routes, so a browser's preflight OPTIONS is answered before the key check.
    """
    middleware = [
        Middleware(
            NetworkGuard,
            hosts=_allowed_hosts(settings),
            origins=_allowed_origins(settings),
            max_body_bytes=settings.max_body_bytes,
        )
    ]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=[_normal(origin) for origin in settings.cors_origins],
                allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                allow_headers=list(CORS_ALLOWED_HEADERS),
                expose_headers=list(_CORS_EXPOSED_HEADERS),
                max_age=600,
            )
        )
    return middleware
