"""Turn `ToolSpec`s into MCP tools: one arguments check, confirmation, the runner, the result contract.

Every call goes: argument check (`check_arguments`, a middleware, so a bad argument gets a
readable error naming the field; the only validation of the call) → confirmation for
destructive tools → the spec's runner with a per-call `ConsoleClient` → a structured result,
or an `isError` result (see `_contract`). Secrets never leave: results, errors and progress
messages pass through a `Redactor` that knows the call's secret values.
"""

from __future__ import annotations

import difflib
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import anyio
import pydantic
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult, ListToolsResult
from pydantic import BaseModel

from bimpe_mcp._metrics import Metrics
from bimpe_mcp._redact import Redactor
from bimpe_mcp.console import (
    ConsoleClient,
    ConsoleError,
    ConsoleRequestError,
    ConsoleTransport,
    InvalidApiKeyError,
    InvalidIdError,
    models,
)
from bimpe_mcp.tools._confirmation import confirmation_refusal, confirmation_resolver
from bimpe_mcp.tools._contract import describe_console_error, describe_invalid, error_result, success_result
from bimpe_mcp.tools._runtime import Limits, Refused, ToolCall
from bimpe_mcp.tools._schemas import args_model, output_model, published_schemas
from bimpe_mcp.tools._sdk import ArgModelBase, ToolBuilder, pre_parse_json
from bimpe_mcp.tools._selection import Narrowing, narrowed_reason
from bimpe_mcp.tools._spec import Scope, ToolSpec

__all__ = ["ApiKey", "Backend", "KeyProvider", "NarrowingProvider", "ToolFactory"]

logger = logging.getLogger("bimpe_mcp.tools")

_VALIDATED: ContextVar[tuple[str, BaseModel] | None] = ContextVar("bimpe_validated_arguments", default=None)
"""The middleware's parsed arguments, handed to the tool handler of the same request."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A caller's key and where it came from, so an error about it names the place to fix."""

    value: str
    source: str


KeyProvider = Callable[[Context[Any, Any]], "ApiKey | None"]
"""The caller's key for one request, found by the transport (the HTTP layer reads its headers)."""

NarrowingProvider = Callable[[ServerRequestContext[Any, Any]], "Narrowing | None"]
"""What one request narrows the tools to, found by the transport (the HTTP layer reads its headers)."""


@dataclass
class Backend:
    """What every tool call needs from the server: the pool, the server's key, scope, limits and metrics.

    `key_provider`, set by a transport, finds a request's own key; without one (stdio) the
    server's key is used. `narrowing_provider`, likewise, finds what a request narrows the
    server's tools to; without one nothing is narrowed.
    """

    transport: ConsoleTransport
    api_key: str | None
    agent_id: str | None = None
    limits: Limits = field(default_factory=Limits)
    metrics: Metrics = field(default_factory=Metrics)
    key_provider: KeyProvider | None = None
    narrowing_provider: NarrowingProvider | None = None

    def api_key_for(self, ctx: Context[Any, Any]) -> ApiKey | None:
        if self.key_provider is not None and (from_request := self.key_provider(ctx)) is not None:
            return from_request
        return ApiKey(self.api_key, "BIMPE_API_KEY") if self.api_key else None

    def narrowing_for(self, ctx: ServerRequestContext[Any, Any]) -> Narrowing | None:
        return None if self.narrowing_provider is None else self.narrowing_provider(ctx)

    def scope_agent_for(self, ctx: ServerRequestContext[Any, Any]) -> str | None:
        """The one agent this request may reach: the server's (`--agent-id`), else the request's own."""
        if self.agent_id is not None:
            return self.agent_id
        narrowing = self.narrowing_for(ctx)
        return None if narrowing is None else narrowing.agent_id


@dataclass
class _BoundTool:
    spec: ToolSpec
    injected: dict[str, Any]
    tool: Tool = field(init=False)
    lookups: dict[str, str] = field(init=False, default_factory=dict)
    """Each id parameter and the exposed tool that lists its valid values, for not-found hints."""

    @property
    def args_model(self) -> type[ArgModelBase]:
        return args_model(self.spec)

    @property
    def output_model(self) -> type[BaseModel]:
        return output_model(self.spec)

    @property
    def parameter_names(self) -> list[str]:
        return list(self.tool.parameters["properties"])


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
            self.bound[spec.name] = _BoundTool(spec, injected)
        builder = ToolBuilder(confirmation_resolver(self._confirmed_target))
        for entry in self.bound.values():
            entry.lookups = {
                name: tool
                for name, tool in entry.spec.id_sources.items()
                if name not in entry.injected and tool in self.bound
            }
            inputs, outputs = published_schemas(entry.spec, hidden_inputs=frozenset(entry.injected))
            entry.tool = builder.build(entry.spec, self._handler(entry), input_schema=inputs, output_schema=outputs)

    @property
    def tools(self) -> list[Tool]:
        return [entry.tool for entry in self.bound.values()]

    def _confirmed_target(self, name: str, ctx: Context[Any, Any]) -> tuple[ToolSpec, dict[str, Any]]:
        entry = self.bound[name]
        return entry.spec, self._injected(entry, ctx.request_context)

    def _injected(self, entry: _BoundTool, ctx: ServerRequestContext[Any, Any]) -> dict[str, Any]:
        """The arguments fixed for this call: the server's agent, else the agent the request is scoped to."""
        if entry.injected or entry.spec.scope is not Scope.AGENT:
            return entry.injected
        agent_id = self.backend.scope_agent_for(ctx)
        return {} if agent_id is None else {"agent_id": agent_id}

    def _lookups(self, entry: _BoundTool, ctx: ServerRequestContext[Any, Any]) -> dict[str, str]:
        """`entry.lookups` less what this request fixes or narrows away, so a hint names only tools it can call."""
        if (narrowing := self.backend.narrowing_for(ctx)) is None or not narrowing.narrows:
            return entry.lookups
        injected = self._injected(entry, ctx)
        return {
            name: tool
            for name, tool in entry.lookups.items()
            if name not in injected and self._narrowed(self.bound[tool], ctx) is None
        }

    def _narrowed(self, entry: _BoundTool, ctx: ServerRequestContext[Any, Any]) -> str | None:
        """Why this request narrows away a tool the server exposes, or None."""
        return narrowed_reason(entry.spec, self.backend.narrowing_for(ctx), server_agent_id=self.backend.agent_id)

    def _handler(self, entry: _BoundTool) -> Any:
        spec, backend = entry.spec, self.backend

        async def handler(ctx: Context, confirmation: Any = None) -> CallToolResult:
            started = time.monotonic()
            checked = _VALIDATED.get()
            if checked is None or checked[0] != spec.name:  # a server built without the middleware
                arguments = (ctx.request_context.params or {}).get("arguments")
                outcome = self._validate(entry, arguments, self._injected(entry, ctx.request_context))
                if isinstance(outcome, CallToolResult):
                    return self._finish(spec, outcome, started)
                checked = (spec.name, outcome)
            params = checked[1]
            redactor = Redactor(models.secret_values(params))
            if spec.confirm and (refusal := confirmation_refusal(spec, confirmation)):
                return self._finish(spec, error_result(refusal), started, outcome="needs_confirmation")
            api_key = backend.api_key_for(ctx)
            if api_key is None:
                text = (
                    f"{spec.name} failed: no BimpeAI API key. Set BIMPE_API_KEY for the server, "
                    "or send 'Authorization: Bearer sk_…' with each HTTP request. Nothing was sent."
                )
                return self._finish(spec, error_result(text), started)
            redactor = redactor.with_secrets([api_key.value])
            idempotency_key = getattr(params, "idempotency_key", None)
            prefix = None if spec.hints.read_only else (idempotency_key or uuid.uuid4().hex[:16])
            client = ConsoleClient(backend.transport, api_key.value, idempotency_prefix=prefix)

            async def progress(done: float, total: float | None, message: str | None) -> None:
                await ctx.report_progress(done, total, redactor.text(message) if message else None)

            scope_agent_id = backend.scope_agent_for(ctx.request_context)
            call = ToolCall(params, client, progress, backend.limits, scope_agent_id, spec.nullable)
            try:
                value = await spec.run(call)
                result = success_result(entry.output_model, value, client.request_ids, redactor)
            except anyio.get_cancelled_exc_class():
                self._cancelled(spec, started, prefix, client)
                raise
            except Refused as refusal:
                result = error_result(redactor.text(f"{spec.name} refused: {refusal}"))
            except InvalidApiKeyError as error:
                text = f"{spec.name} failed: the BimpeAI API key in {api_key.source} is unusable: {error.message}. "
                result = error_result(text + f"Fix {api_key.source} and call again. Nothing was sent.")
            except InvalidIdError as error:
                text = f"Invalid arguments for {spec.name}: {error.message}. Nothing was sent."
                result = error_result(redactor.text(text))
            except ConsoleRequestError as error:
                result = error_result(redactor.text(f"{spec.name} failed: {error.message}. Nothing was sent."))
            except ConsoleError as error:
                text = describe_console_error(
                    spec,
                    error,
                    prefix,
                    wrote=client.write_may_have_happened,
                    lookups=self._lookups(entry, ctx.request_context),
                    key_source=api_key.source,
                )
                result = error_result(redactor.text(text))
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
                result = error_result(text)
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

    def _finish(
        self,
        spec: ToolSpec,
        result: CallToolResult,
        started: float,
        request_ids: Sequence[str] = (),
        *,
        outcome: str | None = None,
    ) -> CallToolResult:
        """Count and log the call; `outcome` defaults to ok or error, as the result says."""
        elapsed = time.monotonic() - started
        outcome = outcome or ("error" if result.is_error else "ok")
        self.backend.metrics.record_tool(spec.name, outcome, elapsed)
        logger.info(
            "tool %s %s in %.0fms (console requests: %s)",
            spec.name,
            outcome,
            elapsed * 1000,
            ", ".join(request_ids) or "none",
            extra={
                "tool": spec.name,
                "outcome": outcome,
                "duration_ms": round(elapsed * 1000),
                "console_request_ids": list(request_ids),
            },
        )
        return result

    async def check_arguments(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Middleware: the one validation of a `tools/call`'s arguments; a bad one gets an error naming it.

        A tool this request cannot see (unknown, hidden by the server's settings or narrowed away by
        the request) is a protocol error, -32602, whose message says which setting hides it.
        """
        if ctx.method != "tools/call" or not ctx.params:
            return await call_next(ctx)
        name = str(ctx.params.get("name"))
        entry = self.bound.get(name)
        if entry is None:
            if reason := self.hidden.get(name):
                self.backend.metrics.record_tool(name, "invalid", 0.0)
                raise _unknown_tool(f"{name} is not available in this configuration: {reason}.")
            raise _unknown_tool(f"Unknown tool: {name}.{self._suggestion(name, ctx)}")
        if reason := self._narrowed(entry, ctx):
            self.backend.metrics.record_tool(name, "invalid", 0.0)
            raise _unknown_tool(f"{name} is not available in this configuration: {reason}.")
        outcome = self._validate(entry, ctx.params.get("arguments"), self._injected(entry, ctx))
        if isinstance(outcome, CallToolResult):
            self.backend.metrics.record_tool(name, "invalid", 0.0)
            return outcome
        token = _VALIDATED.set((name, outcome))
        try:
            return await call_next(ctx)
        finally:
            _VALIDATED.reset(token)

    def _suggestion(self, name: str, ctx: ServerRequestContext[Any, Any]) -> str:
        """' Did you mean …?' naming the closest tools this request can call, or nothing."""
        callable_here = [tool for tool, entry in self.bound.items() if self._narrowed(entry, ctx) is None]
        close = difflib.get_close_matches(name, callable_here, n=3)
        return f" Did you mean {' or '.join(close)}?" if close else " tools/list shows the tools this server offers."

    async def narrow_listing(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Middleware: a `tools/list` shows only what this request's narrowing leaves, each schema less
        the arguments the request's agent scope fixes."""
        if ctx.method != "tools/list":
            return await call_next(ctx)
        narrowing = self.backend.narrowing_for(ctx)
        result = await call_next(ctx)
        if narrowing is None or not narrowing.narrows:
            return result
        listing = result if isinstance(result, ListToolsResult) else ListToolsResult.model_validate(result)
        shown = []
        for tool in listing.tools:
            entry = self.bound.get(tool.name)
            if entry is not None and self._narrowed(entry, ctx) is not None:
                continue
            if entry is not None and (injected := self._injected(entry, ctx)).keys() != entry.injected.keys():
                inputs, _ = published_schemas(entry.spec, hidden_inputs=frozenset(injected))
                tool = tool.model_copy(update={"input_schema": inputs})
            shown.append(tool)
        return listing.model_copy(update={"tools": shown})

    @staticmethod
    def _validate(
        entry: _BoundTool, arguments: Any, injected: Mapping[str, Any] | None = None
    ) -> BaseModel | CallToolResult:
        """The call's arguments as the tool's model (injected agent_id included), or the error naming each one.

        `injected`: the arguments fixed for this call (default: the server's, `entry.injected`).
        """
        name = entry.spec.name
        injected = entry.injected if injected is None else injected
        arguments = {} if arguments is None else arguments
        if not isinstance(arguments, dict):
            return error_result(f"Invalid arguments for {name}: arguments must be an object.")
        valid = [parameter for parameter in entry.parameter_names if parameter not in injected]
        if foreign := sorted(set(arguments) & set(injected)):
            problems = "; ".join(f"{key}: not a parameter of {name} (valid: {', '.join(valid)})" for key in foreign)
            return error_result(f"Invalid arguments for {name}: {problems}. Fix them and call again.")
        arguments = pre_parse_json(entry.args_model, dict(arguments))
        try:
            return entry.args_model.model_validate({**arguments, **injected})
        except pydantic.ValidationError as error:
            return error_result(describe_invalid(name, error, valid))


def _unknown_tool(message: str) -> MCPError:
    """A call to a tool the caller cannot see: a protocol error (-32602), as the specification asks."""
    return MCPError(code=INVALID_PARAMS, message=message)
