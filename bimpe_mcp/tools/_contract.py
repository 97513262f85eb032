"""The result and error contract of every tool (written down in docs/tool-responses.md).

A result is the output model's fields as `structuredContent`; its text block is the same JSON
when small, a compact rendering when large (`render_text`); the Console request ids are in `_meta`.
Text written outside the team is fenced in the payload first (`_fencing`), so both forms carry
the fence; then a result over the size cap is cut to fit (`_sizing`). An error is an `isError`
result whose text names the tool, what failed, the fix and, for a write, whether it may have
been applied and the key that retries it safely.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pydantic
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel

from bimpe_mcp._redact import Redactor
from bimpe_mcp.tools._catalog import ToolFacts
from bimpe_mcp.tools._fencing import fence
from bimpe_mcp.tools._runtime import RESULT_MAX_TOKENS

if TYPE_CHECKING:
    from bimpe_mcp.butterbase import ButterbaseError
    from bimpe_mcp.console import ConsoleAPIError, ConsoleError

__all__ = [
    "REQUEST_IDS_META",
    "TEXT_AS_JSON_MAX_CHARS",
    "console_fix",
    "describe_butterbase_error",
    "describe_console_error",
    "describe_invalid",
    "error_result",
    "render_text",
    "success_result",
]

REQUEST_IDS_META = "request_ids"
"""The key in a result's `_meta` listing the upstream requests behind it, in order (they are in the logs too)."""

TEXT_AS_JSON_MAX_CHARS = 2_000
"""Up to this size a result's text block is its compact JSON, as the specification suggests; past it, a rendering."""


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
    output_model: type[BaseModel],
    value: Any,
    request_ids: Sequence[str],
    redactor: Redactor,
    *,
    max_tokens: int = RESULT_MAX_TOKENS,
    full_lists: Mapping[str, str] | None = None,
) -> CallToolResult:
    """The runner's value as the output model, scrubbed of the call's secrets, fenced, cut to fit
    `max_tokens` (`_sizing.fit`; a `Listing` keeps its leading items), with the Console request ids
    in the result's `_meta` (not in what the model reads)."""
    from bimpe_mcp.tools._sizing import Listing, fit  # on the first result: a server starts without it

    listing = value if isinstance(value, Listing) else None
    data = listing.fields if listing is not None else getattr(value, "data", value)
    if not isinstance(data, output_model):  # the client's model is usually the output model already
        data = output_model.model_validate(data.model_dump() if isinstance(data, BaseModel) else dict(data or {}))
    structured = fence(output_model, redactor.data(data.model_dump(mode="json")))
    structured = fit(structured, listing=listing, full_lists=full_lists, max_tokens=max_tokens)
    return CallToolResult(
        content=[TextContent(type="text", text=render_text(structured))],
        structured_content=structured,
        _meta={REQUEST_IDS_META: list(request_ids)},
    )


def render_text(structured: Mapping[str, Any]) -> str:
    """The text block of a result: its compact JSON, or past `TEXT_AS_JSON_MAX_CHARS` a compact rendering.

    Clients that read only `content` (most do) get every value either way. A large result's
    rendering leaves out nulls, empty values and JSON's quoting, one `key: value` line per field
    and one `- ` line per list item, so it is not a second, equally long copy of `structuredContent`.
    """
    text = json.dumps(structured, separators=(",", ":"), ensure_ascii=False)
    if len(text) <= TEXT_AS_JSON_MAX_CHARS:
        return text
    return "\n".join(_render_lines(structured))


def _render_lines(structured: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for key, value in structured.items():
        if _empty(value):
            continue
        if isinstance(value, list) and all(isinstance(item, Mapping) for item in value):
            lines.append(f"{key}: {len(value)}")
            lines.extend(f"- {_render_inline(item)}" for item in value)
        else:
            lines.append(f"{key}: {_render_inline(value)}")
    return lines


def _render_inline(value: Any) -> str:
    """One value on one line: objects as `k=v` pairs less empty ones, strings as they are."""
    if isinstance(value, Mapping):
        return "; ".join(f"{key}={_render_inline(item)}" for key, item in value.items() if not _empty(item))
    if isinstance(value, list):
        return "[" + ", ".join(_render_inline(item) for item in value) + "]"
    if isinstance(value, str):
        return value.replace("\n", " ")
    return json.dumps(value)


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {} or value == ""


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
    spec: ToolFacts,
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
    from bimpe_mcp.console import (  # only a call that reached the Console gets here
        ConsoleAPIError,
        ConsoleConnectionError,
        ConsoleOverloadedError,
        ConsoleResponseError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
    )

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


_BUTTERBASE_FIXES: dict[str, str] = {
    "INTEGRATIONS_NOT_CONFIGURED": "The Butterbase platform has no integration service: its operator must set it up.",
    "INTEGRATIONS_TOOLKIT_NOT_ENABLED": "Enable the toolkit with butterbase_enable_toolkit, then call again.",
    "INTEGRATIONS_EXECUTION_FAILED": (
        "Check tool_name (butterbase_list_tools), params, and the user's connection (butterbase_list_connections)."
    ),
}
"""The fix when Butterbase's answer carries no `remediation` of its own."""


def describe_butterbase_error(
    spec: ToolFacts,
    error: ButterbaseError,
    idempotency_key: str | None,
    *,
    wrote: bool = False,
    lookups: Mapping[str, str] | None = None,
) -> str:
    """The isError text of a Butterbase failure: Butterbase's own message and `remediation` as the fix, and
    for a write, whether it may have happened (an execute that timed out may have sent its email)."""
    from bimpe_mcp.butterbase import (  # only a call that reached Butterbase gets here
        ButterbaseAPIError,
        ButterbaseAuthError,
        ButterbaseConnectionError,
        ButterbaseNotFoundError,
        ButterbaseRateLimitError,
        ButterbaseResponseError,
        ExecutionFailedError,
    )

    request = f" (request {error.request_id})" if error.request_id else ""
    if isinstance(error, ButterbaseAPIError):
        lines = [f"{spec.name} failed: HTTP {error.status} {error.code}: {error.message}{request}."]
        fix = error.remediation or _BUTTERBASE_FIXES.get(error.code, "Check the request and try again.")
        if isinstance(error, ExecutionFailedError) and not error.soft:
            lines.append("The network between Butterbase and the toolkit failed.")
        if isinstance(error, ButterbaseNotFoundError) and lookups:
            found = ", ".join(f"{name} ({tool} lists valid ones)" for name, tool in lookups.items())
            lines.append(f"Fix: check {found}.")
        elif isinstance(error, ButterbaseRateLimitError):
            wait = f"{error.retry_after:g} s" if error.retry_after is not None else "a few seconds"
            lines.append(f"Rate limited: retry after {wait}.")
        elif isinstance(error, ButterbaseAuthError):
            lines.append(f"Fix: check BUTTERBASE_API_KEY (bb_sk_…) and BUTTERBASE_APP_ID. {fix}")
        else:
            lines.append(f"Fix: {fix}")
    elif isinstance(error, ButterbaseResponseError):
        lines = [f"{spec.name} failed: {error.message}{request}. Butterbase or a proxy in front of it misbehaved."]
    elif isinstance(error, ButterbaseConnectionError):
        lines = [f"{spec.name} failed: {error.message}{request}. Check BUTTERBASE_BASE_URL and the network."]
    else:
        lines = [f"{spec.name} failed: {error.message}{request}."]
    refused = isinstance(error, ButterbaseAPIError) and error.status < 500
    lines.append(_write_outcome(spec, error, idempotency_key, wrote=wrote, refused=refused, service="Butterbase"))
    return "\n".join(line for line in lines if line)


def _write_outcome(
    spec: ToolFacts,
    error: ConsoleError | ButterbaseError,
    idempotency_key: str | None,
    *,
    wrote: bool,
    refused: bool | None = None,
    service: str = "the Console",
) -> str:
    """Whether the call may have changed anything, and the retry that cannot do it twice.

    `refused`: the API answered that it would not act (default: a Console error below 500).
    """
    from bimpe_mcp.console import ConsoleAPIError

    if refused is None:
        refused = isinstance(error, ConsoleAPIError) and error.status < 500
    if spec.hints.read_only:
        return "" if refused else "Retrying is safe."
    if (error.may_have_been_applied or wrote) and idempotency_key:
        return (
            f"It may have been applied. To retry without doing it twice, call {spec.name} again with the same "
            f"arguments and idempotency_key='{idempotency_key}': {service} then replays the first result."
        )
    return "Nothing was changed."
