"""Turn `ToolSpec`s into MCP tools: selection, schemas, confirmation, errors and secrets.

Selection (`hidden_reason`): toolsets, then read-only (drops every spec whose `read_only`
hint is false), then agent scoping (drops the specs whose `scope` reaches across agents).
The catalog order is kept, so `tools/list` is stable; a hidden tool that is called says
which setting hides it.

Every call goes: argument check (middleware, so a bad argument gets a readable error
naming the field) → confirmation for destructive tools → the spec's runner with a
per-call `ConsoleClient` → a structured result, or an `isError` result naming the
operation, status, code, request id and the fix. Secrets never leave: results, errors
and progress messages pass through a `Redactor` that knows the call's secret values.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import anyio
import pydantic
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import AcceptedElicitation, Context, Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, create_model

from bimpe_mcp._metrics import Metrics
from bimpe_mcp._redact import Redactor
from bimpe_mcp.console import (
    ConsoleAPIError,
    ConsoleClient,
    ConsoleConnectionError,
    ConsoleError,
    ConsoleRequestError,
    ConsoleResponseError,
    ConsoleTransport,
    InvalidApiKeyError,
    InvalidIdError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from bimpe_mcp.console._models import secret_values
from bimpe_mcp.tools._runtime import Limits, Refused, ToolCall
from bimpe_mcp.tools._schema import compact_schema
from bimpe_mcp.tools._spec import Scope, ToolSpec, Traced

__all__ = ["ApiKey", "Backend", "ToolFactory", "api_key_from_headers", "hidden_reason", "select_tools"]

logger = logging.getLogger("bimpe_mcp.tools")

_CONTROL_ARGUMENTS = frozenset({"confirm", "idempotency_key"})
"""Arguments the server itself consumes; they never reach a Console request."""

_IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_.:-]+$"


def hidden_reason(
    spec: ToolSpec,
    *,
    toolsets: Sequence[str] | None = None,
    read_only: bool = False,
    agent_id: str | None = None,
) -> str | None:
    """Why a server with these settings hides `spec` (naming the setting), or None when it exposes it."""
    if toolsets and spec.toolset not in toolsets:
        return f"its toolset {spec.toolset} is not enabled (--toolsets / BIMPE_TOOLSETS)"
    if read_only and not spec.read_only:
        return "the server is read-only (--read-only / BIMPE_READ_ONLY)"
    if agent_id and spec.scope is Scope.ALL_AGENTS:
        return "the server is scoped to one agent (--agent-id / BIMPE_AGENT_ID)"
    return None


def select_tools(
    catalog: Sequence[ToolSpec],
    *,
    toolsets: Sequence[str] | None = None,
    read_only: bool = False,
    agent_id: str | None = None,
) -> list[ToolSpec]:
    """The specs a server with these settings exposes, in catalog order."""
    return [
        spec
        for spec in catalog
        if hidden_reason(spec, toolsets=toolsets, read_only=read_only, agent_id=agent_id) is None
    ]


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A caller's key and where it came from, so an error about it names the place to fix."""

    value: str
    source: str


@dataclass
class Backend:
    """What every tool call needs from the server: the pool, the default key and the limits."""

    transport: ConsoleTransport
    api_key: str | None
    agent_id: str | None = None
    limits: Limits = field(default_factory=Limits)
    metrics: Metrics = field(default_factory=Metrics)

    def api_key_for(self, ctx: Context[Any, Any]) -> ApiKey | None:
        """The caller's key: an HTTP request's own header wins over the server's key."""
        if from_request := api_key_from_headers(_headers(ctx) or {}):
            return from_request
        return ApiKey(self.api_key, "BIMPE_API_KEY") if self.api_key else None


def api_key_from_headers(headers: Mapping[str, str]) -> ApiKey | None:
    """A team key sent as `X-Bimpe-Api-Key` or `Authorization: Bearer` (lower-case header names).

    A header that is present but blank still counts, so it is reported, not replaced by the server's key.
    """
    if "x-bimpe-api-key" in headers:
        return ApiKey(headers["x-bimpe-api-key"], "the X-Bimpe-Api-Key header")
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return ApiKey(token, "the Authorization header")


def _headers(ctx: Context[Any, Any]) -> Any:
    try:
        return ctx.headers
    except ValueError:
        return None


class _StrictArgs(ArgModelBase):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, arbitrary_types_allowed=True)


class ConfirmForm(BaseModel):
    confirm: bool = Field(title="Confirm", description="Yes, go ahead.")


@dataclass(frozen=True, slots=True)
class _Confirmed:
    how: str


@dataclass(frozen=True, slots=True)
class _NotConfirmed:
    target: str | None


@dataclass
class _BoundTool:
    spec: ToolSpec
    arg_model: type[ArgModelBase]
    output_model: type[BaseModel]
    injected: dict[str, Any]
    tool: Tool = field(init=False)
    lookups: dict[str, str] = field(init=False, default_factory=dict)
    """Each id parameter and the exposed tool that lists its valid values, for not-found hints."""


def _output_model(spec: ToolSpec) -> type[BaseModel]:
    if issubclass(spec.output, Traced):
        return spec.output
    return create_model(f"{spec.output.__name__}Result", __base__=(spec.output, Traced))


def _arg_fields(spec: ToolSpec, injected: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in spec.params.model_fields.items() if name not in injected
    }
    if spec.confirm:
        fields["confirm"] = (
            str | None,
            Field(None, description=f"Set to the {spec.confirm} to confirm without a prompt."),
        )
    if not spec.hints.read_only:
        fields["idempotency_key"] = (
            str | None,
            Field(
                None,
                max_length=200,
                pattern=_IDEMPOTENCY_KEY_PATTERN,
                description="Reuse the key from a failed call to retry it safely.",
            ),
        )
    return fields


def _describe_invalid(tool_name: str, error: pydantic.ValidationError, valid: Sequence[str]) -> str:
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


def _error_result(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def describe_console_error(
    spec: ToolSpec,
    error: ConsoleError,
    idempotency_key: str | None,
    *,
    wrote: bool = False,
    lookups: Mapping[str, str] | None = None,
) -> str:
    """The isError text: what failed, the Console's own words, what to do next and, for a write,
    whether it may have happened and how to retry it without doing it twice.

    `wrote`: an earlier request of the same call already changed something. `lookups`: the
    visible tools that list valid ids, by parameter.
    """
    request = f" (request {error.request_id})" if error.request_id else ""
    if isinstance(error, ConsoleAPIError):
        lines = [f"{spec.name} failed: HTTP {error.status} {error.code}: {error.message}{request}."]
        lines.extend(f"- {field_error}" for field_error in error.field_errors if field_error.path)
        if isinstance(error, NotFoundError) and lookups:
            found = ", ".join(f"{name} ({tool} lists valid ones)" for name, tool in lookups.items())
            lines.append(f"Fix: check {found}.")
        elif isinstance(error, PermissionDeniedError) and error.missing_scope:
            lines.append(f"Missing scope: {error.missing_scope}. {error.remediation}")
        elif isinstance(error, RateLimitError):
            wait = f"{error.retry_after:g} s" if error.retry_after is not None else "a few seconds"
            lines.append(f"Rate limited: retry after {wait}.")
        else:
            lines.append(f"Fix: {error.remediation}")
    elif isinstance(error, ConsoleResponseError):
        lines = [f"{spec.name} failed: {error.message}{request}. The Console or a proxy in front of it misbehaved."]
    elif isinstance(error, ConsoleConnectionError):
        lines = [f"{spec.name} failed: {error.message}{request}. Check BIMPE_BASE_URL and the network."]
    else:
        lines = [f"{spec.name} failed: {error.message}{request}."]
    lines.append(_write_outcome(spec, error, idempotency_key, wrote=wrote))
    return "\n".join(line for line in lines if line)


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


def _confirmation_resolver(bound: dict[str, _BoundTool]) -> Any:
    """One resolver for every destructive tool: confirm by argument, by asking, or not at all."""

    async def confirm_destructive_action(ctx: Context) -> _Confirmed | _NotConfirmed | Elicit[ConfirmForm]:
        raw = ctx.request_context.params or {}
        entry = bound[str(raw.get("name"))]
        arguments = raw.get("arguments") or {}
        target_field = entry.spec.confirm or ""
        target = entry.injected.get(target_field, arguments.get(target_field))
        if target and arguments.get("confirm") == target:
            return _Confirmed("argument")
        if _client_supports_elicitation(ctx):
            return Elicit(f"{entry.spec.title} {target}? This cannot be undone.", ConfirmForm)
        return _NotConfirmed(target)

    return confirm_destructive_action


def _client_supports_elicitation(ctx: Context[Any, Any]) -> bool:
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def _confirmation_refusal(spec: ToolSpec, outcome: Any) -> str | None:
    """None when confirmed; otherwise the isError text saying how to confirm."""
    data = outcome.data if isinstance(outcome, AcceptedElicitation) else None
    if isinstance(data, _Confirmed) or (isinstance(data, ConfirmForm) and data.confirm):
        return None
    how = f"pass confirm equal to the {spec.confirm}"
    if isinstance(data, _NotConfirmed):
        target = f" ('{data.target}')" if data.target else ""
        return f"{spec.name} needs confirmation: nothing was sent. To go ahead, {how}{target}."
    return f"{spec.name} was not confirmed by the user: nothing was sent. To go ahead anyway, {how}."


class ToolFactory:
    """Builds the MCP `Tool` objects and the argument-checking middleware for one server."""

    def __init__(self, specs: Sequence[ToolSpec], backend: Backend, *, hidden: Mapping[str, str] | None = None) -> None:
        """`hidden`: the catalog's other tools, each with the reason it is hidden (see `hidden_reason`)."""
        self.backend = backend
        self.hidden = dict(hidden or {})
        self.bound: dict[str, _BoundTool] = {}
        for spec in specs:
            confined = backend.agent_id is not None and spec.scope is Scope.AGENT
            injected = {"agent_id": backend.agent_id} if confined else {}
            arg_model = create_model(spec.name, __base__=_StrictArgs, **_arg_fields(spec, injected))
            self.bound[spec.name] = _BoundTool(spec, arg_model, _output_model(spec), injected)
        for entry in self.bound.values():
            entry.lookups = {
                name: tool
                for name, tool in entry.spec.id_sources.items()
                if name not in entry.injected and tool in self.bound
            }
        self._resolver = _confirmation_resolver(self.bound)
        for entry in self.bound.values():
            entry.tool = self._tool(entry)

    @property
    def tools(self) -> list[Tool]:
        return [entry.tool for entry in self.bound.values()]

    def _tool(self, entry: _BoundTool) -> Tool:
        spec = entry.spec
        handler = self._handler(entry)
        # The signature names only what the SDK injects; the arguments model is swapped in below, so the
        # SDK never builds (and throws away) a model of its own for the tool's parameters.
        parameters = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
        annotations: dict[str, Any] = {"ctx": Context}
        if spec.confirm:
            confirmation = Annotated[ElicitationResult[ConfirmForm], Resolve(self._resolver)]
            parameters.append(
                inspect.Parameter("confirmation", inspect.Parameter.KEYWORD_ONLY, annotation=confirmation)
            )
            annotations["confirmation"] = confirmation
        returns = Annotated[CallToolResult, entry.output_model]
        annotations["return"] = returns
        handler.__signature__ = inspect.Signature(parameters, return_annotation=returns)
        handler.__annotations__ = annotations
        hints = spec.hints
        tool = Tool.from_function(
            handler,
            name=spec.name,
            title=spec.title,
            description=spec.description,
            annotations=ToolAnnotations(
                read_only_hint=hints.read_only,
                destructive_hint=hints.destructive,
                idempotent_hint=hints.idempotent,
                open_world_hint=hints.open_world,
            ),
            meta={"toolset": spec.toolset},
            structured_output=True,
        )
        tool.fn_metadata.arg_model = entry.arg_model
        tool.parameters = compact_schema(entry.arg_model.model_json_schema(), keep_null=False)
        for name in sorted(spec.nullable):
            if prop := tool.parameters["properties"].get(name):
                prop["type"] = [prop["type"], "null"]
        tool.fn_metadata.output_schema = compact_schema(tool.fn_metadata.output_schema or {}, keep_null=True)
        return tool

    def _handler(self, entry: _BoundTool) -> Any:
        spec, backend = entry.spec, self.backend

        async def handler(ctx: Context, confirmation: Any = None, **arguments: Any) -> CallToolResult:
            started = time.monotonic()
            idempotency_key = arguments.pop("idempotency_key", None)
            # Arguments were checked by `check_arguments`; this second parse fills the spec's own model
            # (with the injected agent_id), which the SDK's flat argument model cannot be.
            given = _given(arguments, ctx.request_context.params)
            try:
                params = spec.params.model_validate({**given, **entry.injected})
            except pydantic.ValidationError as error:
                return self._finish(spec, _error_result(_describe_invalid(spec.name, error, [])), started)
            redactor = Redactor(secret_values(params))
            if spec.confirm and (refusal := _confirmation_refusal(spec, confirmation)):
                return self._finish(spec, _error_result(refusal), started)
            api_key = backend.api_key_for(ctx)
            if api_key is None:
                text = (
                    f"{spec.name} failed: no BimpeAI API key. Set BIMPE_API_KEY for the server, "
                    "or send 'Authorization: Bearer sk_…' with each HTTP request. Nothing was sent."
                )
                return self._finish(spec, _error_result(text), started)
            redactor = redactor.with_secrets([api_key.value])
            prefix = None if spec.hints.read_only else (idempotency_key or uuid.uuid4().hex[:16])
            client = ConsoleClient(backend.transport, api_key.value, idempotency_prefix=prefix)

            async def progress(done: float, total: float | None, message: str | None) -> None:
                await ctx.report_progress(done, total, redactor.text(message) if message else None)

            call = ToolCall(params, client, progress, backend.limits, backend.agent_id, spec.nullable)
            try:
                value = await spec.run(call)
                result = self._success(entry, value, client, redactor)
            except anyio.get_cancelled_exc_class():
                self._cancelled(spec, started, prefix, client)
                raise
            except Refused as refusal:
                result = _error_result(redactor.text(f"{spec.name} refused: {refusal}"))
            except InvalidApiKeyError as error:
                text = f"{spec.name} failed: the BimpeAI API key in {api_key.source} is unusable: {error.message}. "
                result = _error_result(text + f"Fix {api_key.source} and call again. Nothing was sent.")
            except InvalidIdError as error:
                text = f"Invalid arguments for {spec.name}: {error.message}. Nothing was sent."
                result = _error_result(redactor.text(text))
            except ConsoleRequestError as error:
                result = _error_result(redactor.text(f"{spec.name} failed: {error.message}. Nothing was sent."))
            except ConsoleError as error:
                text = describe_console_error(
                    spec, error, prefix, wrote=client.write_may_have_happened, lookups=entry.lookups
                )
                result = _error_result(redactor.text(text))
            except Exception:
                reference = f"mcp-{ctx.request_id}"
                logger.exception("%s raised unexpectedly (%s)", spec.name, reference)
                ids = ", ".join(client.request_ids) or "none"
                text = (
                    f"{spec.name} failed unexpectedly ({reference}; Console requests: {ids}). "
                    "The details are in the server log; the server keeps serving."
                )
                if client.write_may_have_happened and prefix:
                    text += f" It may have been applied: retry only with idempotency_key='{prefix}'."
                result = _error_result(text)
            return self._finish(spec, result, started, client.request_ids)

        handler.__name__ = spec.name
        return handler

    def _cancelled(self, spec: ToolSpec, started: float, prefix: str | None, client: ConsoleClient) -> None:
        """A cancelled call leaves a trace: a write may have landed before the cancellation did."""
        elapsed = time.monotonic() - started
        self.backend.metrics.record_tool(spec.name, "cancelled", elapsed)
        logger.warning(
            "tool %s cancelled after %.0fms (idempotency key %s; console requests: %s)",
            spec.name,
            elapsed * 1000,
            prefix or "none",
            ", ".join(client.request_ids) or "none",
        )

    def _success(self, entry: _BoundTool, value: Any, client: ConsoleClient, redactor: Redactor) -> CallToolResult:
        data = getattr(value, "data", value)
        if isinstance(data, BaseModel):
            data = data.model_dump(mode="json")
        data = dict(data or {})
        data["request_ids"] = list(client.request_ids)
        data["request_id"] = client.request_ids[-1] if client.request_ids else None
        structured = redactor.data(entry.output_model.model_validate(data).model_dump(mode="json"))
        text = json.dumps(structured, separators=(",", ":"), ensure_ascii=False)
        return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)

    def _finish(
        self, spec: ToolSpec, result: CallToolResult, started: float, request_ids: Sequence[str] = ()
    ) -> CallToolResult:
        elapsed = time.monotonic() - started
        outcome = "error" if result.is_error else "ok"
        self.backend.metrics.record_tool(spec.name, outcome, elapsed)
        logger.info(
            "tool %s %s in %.0fms (console requests: %s)",
            spec.name,
            outcome,
            elapsed * 1000,
            ", ".join(request_ids) or "none",
        )
        return result

    async def check_arguments(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Middleware: reject bad `tools/call` arguments with an error that names the field and the rule."""
        if ctx.method != "tools/call" or not ctx.params:
            return await call_next(ctx)
        name = str(ctx.params.get("name"))
        entry = self.bound.get(name)
        if entry is None:
            if reason := self.hidden.get(name):
                self.backend.metrics.record_tool(name, "invalid", 0.0)
                return _error_result(f"{name} is not available in this configuration: {reason}.")
            return await call_next(ctx)
        arguments = ctx.params.get("arguments") or {}
        if not isinstance(arguments, dict):
            return _error_result(f"Invalid arguments for {entry.spec.name}: arguments must be an object.")
        arguments = entry.tool.fn_metadata.pre_parse_json(dict(arguments))
        valid = list(entry.arg_model.model_fields)
        try:
            checked = entry.arg_model.model_validate(arguments).model_dump_one_level()
            entry.spec.params.model_validate({**_given(checked, ctx.params), **entry.injected})
        except pydantic.ValidationError as error:
            self.backend.metrics.record_tool(entry.spec.name, "invalid", 0.0)
            return _error_result(_describe_invalid(entry.spec.name, error, valid))
        return await call_next(ctx)


def _given(validated: dict[str, Any], raw_params: Any) -> dict[str, Any]:
    """The validated values of the arguments the caller actually sent, explicit nulls included."""
    sent = (raw_params or {}).get("arguments") or {}
    return {name: value for name, value in validated.items() if name in sent and name not in _CONTROL_ARGUMENTS}
