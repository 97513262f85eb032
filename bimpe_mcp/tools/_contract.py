"""The result and error contract of every tool (written down in docs/tool-responses.md).

A result is the output model's fields as `structuredContent`, with the same JSON as its text
block. An error is an `isError` result whose text names the tool, what failed, the fix and,
for a write, whether it may have been applied and the key that retries it safely.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel

from bimpe_mcp._redact import Redactor
from bimpe_mcp.console import (
    ConsoleAPIError,
    ConsoleConnectionError,
    ConsoleError,
    ConsoleOverloadedError,
    ConsoleResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from bimpe_mcp.tools._spec import ToolSpec

__all__ = ["console_fix", "describe_console_error", "describe_invalid", "error_result", "success_result"]


_FIXES: dict[str, str] = {
    "validation_error": "Fix the named fields and call again.",
    "bad_request": "Fix the request and call again.",
    "unauthorized": "Set {key} to a valid team API key (sk_…).",
    "api_key_missing": "Set {key} to a team API key (sk_…).",
    "api_key_invalid": "Check {key}: the key is unknown or revoked. Create a new key in the Console.",
    "api_key_expired": "{key} has expired: create a new key in the Console.",
    "insufficient_scope": "Use a key that has the missing scope, or ask a team admin to add it.",
    "forbidden": "This key's team may not do this.",
    "not_found": "Check the id; list the parent collection to find valid ids.",
    "conflict": "Read the current state, then retry with a change.",
    "agent_limit_reached": "Delete an unused agent with delete_agent, or upgrade the plan.",
    "integration_limit_reached": "Disconnect an integration with disconnect_integration, or upgrade the plan.",
    "workflow_required": "Attach a workflow first with update_agent(workflow_id=…); list_workflows shows the choices.",
    "integration_connection_failed": (
        "The service rejected the credentials or was unreachable: check the keys or URL and retry."
    ),
    "channel_not_configured": (
        "Assign a phone number to the agent with update_phone_number(agent_id=…), or place a test call."
    ),
    "rate_limited": "Wait, then retry.",
    "too_many_requests": "Wait, then retry.",
    "not_implemented": "This endpoint is not active yet; use the agent-scoped variant.",
    "internal_error": "A Console failure: retry later.",
}
"""What to do about each Console error code, in one sentence; `{key}` is where the caller's key came from."""


def console_fix(error: ConsoleAPIError, key_source: str = "BIMPE_API_KEY") -> str:
    """The fix for a Console error, naming the place the key came from (the variable or a header)."""
    return _FIXES.get(error.code, "Check the request and try again.").format(key=key_source)


def error_result(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def success_result(
    output_model: type[BaseModel], value: Any, request_ids: Sequence[str], redactor: Redactor
) -> CallToolResult:
    """The runner's value as the output model, with the Console request ids, scrubbed of the call's secrets."""
    data = getattr(value, "data", value)
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    data = dict(data or {})
    data["request_ids"] = list(request_ids)
    data["request_id"] = request_ids[-1] if request_ids else None
    structured = redactor.data(output_model.model_validate(data).model_dump(mode="json"))
    text = json.dumps(structured, separators=(",", ":"), ensure_ascii=False)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


def describe_invalid(tool_name: str, error: pydantic.ValidationError, valid: Sequence[str]) -> str:
    """Every rejected argument by name, with its rule, and what the tool accepts instead."""
    problems: list[str] = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "arguments"
        kind = item["type"]
        if kind == "extra_forbidden":
            problems.append(f"{where}: not a parameter of {tool_name} (valid: {', '.join(valid)})")
        elif kind == "missing":
            problems.append(f"{where}: required")
        else:
            message = item["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if item["loc"] else message)
    return f"Invalid arguments for {tool_name}: " + "; ".join(problems) + ". Fix them and call again."


def describe_console_error(
    spec: ToolSpec,
    error: ConsoleError,
    idempotency_key: str | None,
    *,
    wrote: bool = False,
    lookups: Mapping[str, str] | None = None,
    key_source: str = "BIMPE_API_KEY",
) -> str:
    """The isError text: what failed, the Console's own words, what to do next and, for a write,
    whether it may have happened and how to retry it without doing it twice.

    `wrote`: an earlier request of the same call already changed something. `lookups`: the
    visible tools that list valid ids, by parameter. `key_source`: where the caller's key came from.
    """
    request = f" (request {error.request_id})" if error.request_id else ""
    if isinstance(error, ConsoleAPIError):
        lines = [f"{spec.name} failed: HTTP {error.status} {error.code}: {error.message}{request}."]
        lines.extend(f"- {field_error}" for field_error in error.field_errors if field_error.path)
        if isinstance(error, NotFoundError) and lookups:
            found = ", ".join(f"{name} ({tool} lists valid ones)" for name, tool in lookups.items())
            lines.append(f"Fix: check {found}.")
        elif isinstance(error, PermissionDeniedError) and error.missing_scope:
            lines.append(f"Missing scope: {error.missing_scope}. {console_fix(error, key_source)}")
        elif isinstance(error, RateLimitError):
            wait = f"{error.retry_after:g} s" if error.retry_after is not None else "a few seconds"
            lines.append(f"Rate limited: retry after {wait}.")
        else:
            lines.append(f"Fix: {console_fix(error, key_source)}")
    elif isinstance(error, ConsoleOverloadedError):
        lines = [
            f"{spec.name} failed: this MCP server is at its own limit: {error.message}. Nothing was sent to the "
            f"Console, which is not at fault. {_OVERLOAD_FIX[error.limit]}"
        ]
    elif isinstance(error, ConsoleResponseError):
        lines = [f"{spec.name} failed: {error.message}{request}. The Console or a proxy in front of it misbehaved."]
    elif isinstance(error, ConsoleConnectionError):
        lines = [f"{spec.name} failed: {error.message}{request}. Check BIMPE_BASE_URL and the network."]
    else:
        lines = [f"{spec.name} failed: {error.message}{request}."]
    lines.append(_write_outcome(spec, error, idempotency_key, wrote=wrote))
    return "\n".join(line for line in lines if line)


_OVERLOAD_FIX = {
    "connections": "Retry in a few seconds; the operator can raise BIMPE_MAX_CONNECTIONS or BIMPE_POOL_TIMEOUT.",
    "waits": "Retry once another wait has ended; the operator can raise BIMPE_MAX_WAITS.",
    "waits_per_key": "End one of this key's other waits first; the operator can raise BIMPE_MAX_WAITS_PER_KEY.",
}
"""What to do about each local limit, naming the setting that moves it (README: Settings)."""


def _write_outcome(spec: ToolSpec, error: ConsoleError, idempotency_key: str | None, *, wrote: bool) -> str:
    """Whether the call may have changed anything, and the retry that cannot do it twice."""
    if spec.hints.read_only:
        return "" if isinstance(error, ConsoleAPIError) and error.status < 500 else "Retrying is safe."
    if (error.may_have_been_applied or wrote) and idempotency_key:
        return (
            f"It may have been applied. To retry without doing it twice, call {spec.name} again with the same "
            f"arguments and idempotency_key='{idempotency_key}': the Console then replays the first result."
        )
    return "Nothing was changed."
