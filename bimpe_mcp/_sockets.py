"""Listening sockets for the HTTP servers (MCP and the sandbox), bound before anything claims to serve.

Binding first lets a command report a busy port, a bad port or an unknown host in one line, instead
of logging that it serves and then failing inside uvicorn.
"""

from __future__ import annotations

import errno
import socket

__all__ = ["ListenError", "base_url", "listen"]


class ListenError(OSError):
    """The address cannot be listened on; the message names the host, the port and why."""


def listen(host: str, port: int) -> socket.socket:
    """A non-blocking TCP socket listening on `host:port` (port 0 picks a free one)."""
    # proto must say TCP: asyncio sets TCP_NODELAY only on accepted sockets whose proto is IPPROTO_TCP,
    # and they inherit it from this one. With proto 0, Nagle held each response's body behind its
    # headers until the client's delayed ACK, about 40 ms per request on a kept-alive connection.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except (OSError, OverflowError) as error:
        sock.close()
        raise ListenError(f"cannot listen on {_shown(host)}:{port}: {_reason(error)}") from None
    sock.setblocking(False)
    return sock


def base_url(sock: socket.socket, host: str) -> str:
    """The `http://host:port` a listening socket answers on, with the port it really got."""
    return f"http://{_shown(host)}:{sock.getsockname()[1]}"


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _reason(error: OSError | OverflowError) -> str:
    if isinstance(error, OverflowError):
        return "the port must be between 0 and 65535"
    if isinstance(error, socket.gaierror):
        return "unknown host"
    if error.errno == errno.EADDRINUSE:
        return "the port is in use"
    if error.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    if error.errno == errno.EADDRNOTAVAIL:
        return "no network interface here has that address"
    return error.strerror or str(error)
