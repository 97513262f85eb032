"""Logging to stderr only (stdout carries the stdio protocol), redacted, as text or JSON lines.

A JSON line carries its context as fields, so a log pipeline can search by them: the MCP request
being served (`mcp_request_id`, on every line logged while serving it), and on a tool call's line
`tool`, `outcome`, `duration_ms` and `console_request_ids`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from bimpe_mcp._redact import RedactingFilter, Redactor

__all__ = ["LOG_FIELDS", "configure_logging", "serving_mcp_request"]

LOG_FIELDS = ("mcp_request_id", "tool", "outcome", "duration_ms", "console_request_ids")
"""The context a record may carry as attributes (`extra=`), emitted as JSON fields."""

_MCP_REQUEST_ID: ContextVar[str | int | None] = ContextVar("bimpe_mcp_request_id", default=None)


@contextmanager
def serving_mcp_request(request_id: str | int | None) -> Iterator[None]:
    """Tag every record logged inside with this MCP request's id."""
    token = _MCP_REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        _MCP_REQUEST_ID.reset(token)


class _McpRequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request_id = _MCP_REQUEST_ID.get()
        if request_id is not None and not hasattr(record, "mcp_request_id"):
            record.mcp_request_id = request_id
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record; its context fields pass through the same redactor as the message."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in LOG_FIELDS:
            if (value := getattr(record, name, None)) is not None:
                entry[name] = self.redactor.data(value)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", *, json_lines: bool = False, secrets: list[str] | None = None) -> None:
    """Send every log record to stderr through the redactor; quiet the chatty libraries."""
    redactor = Redactor(secrets or [])
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_McpRequestIdFilter())
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(
        JsonFormatter(redactor) if json_lines else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # mcp.server.streamable_http logs every stateless request's end at INFO.
    for noisy in ("httpx", "httpcore", "uvicorn.access", "sse_starlette", "mcp.server.streamable_http"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
