"""Turn `ToolSpec`s into MCP tools: one arguments check, confirmation, the runner, the result contract.

Every call goes: argument check (`check_arguments`, a middleware, so a bad argument gets a
readable error naming the field; the only validation of the call) → confirmation for
destructive tools → the spec's runner with a per-call `ConsoleClient` → a structured result,
or an `isError` result (see `_contract`). Secrets never leave: results, errors and progress
messages pass through a `Redactor` that knows the call's secret values.

A server is built from `ToolFacts` and shipped schemas alone; the Console client, the tool's
`ToolSpec` and its models are imported on the first call (`spec_of`), so start-up costs what
the SDK's own does.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import pydantic
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, ListToolsResult
from pydantic import BaseModel

from bimpe_mcp._metrics import Metrics
from bimpe_mcp._redact import Redactor
from bimpe_mcp.tools._catalog import Scope, ToolFacts, published_schemas, spec_of
from bimpe_mcp.tools._confirmation import confirmation_refusal, confirmation_resolver
from bimpe_mcp.tools._contract import describe_console_error, describe_invalid, error_result, success_result
from bimpe_mcp.tools._runtime import Limits, Refused, ToolCall
from bimpe_mcp.tools._sdk import ArgModelBase, ToolBuilder, pre_parse_json
from bimpe_mcp.tools._selection import Narrowing, narrowed_reason

if TYPE_CHECKING:
    from bimpe_mcp.console import ConsoleClient, ConsoleTransport
    from bimpe_mcp.tools._spec import ToolSpec

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

    `open_transport` makes the Console connection pool on first use (`transport`): building it
    imports the HTTP client, which a stdio server should not pay for before its first call.
    `key_provider`, set by a transport, finds a request's own key; without one (stdio) the
    server's key is used. `narrowing_provider`, likewise, finds what a request narrows the
    server's tools to; without one nothing is narrowed.
    """

    open_transport: Callable[[], ConsoleTransport]
    api_key: str | None
    agent_id: str | None = None
    limits: Limits = field(default_factory=Limits)
    metrics: Metrics = field(default_factory=Metrics)
    key_provider: KeyProvider | None = None
    narrowing_provider: NarrowingProvider | None = None

    @functools.cached_property
    def transport(self) -> ConsoleTransport:
        return self.open_transport()

    async def aclose(self) -> None:
        """Close the Console pool, if a call opened it."""
        if "transport" in self.__dict__:
            await self.transport.aclose()

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
    facts: ToolFacts
    injected: dict[str, Any]
    tool: Tool = field(init=False)

    @property
    def spec(self) -> ToolSpec:
        """The full spec, its toolset module imported on the tool's first call."""
        return spec_of(self.facts)

    @property
    def args_model(self) -> type[ArgModelBase]:
        from bimpe_mcp.tools._schemas import args_model

        return args_model(self.spec)

    @property
    def parameter_names(self) -> list[str]:
        return list(self.tool.parameters["properties"])


class ToolFactory:
    """Builds the MCP `Tool` objects and the argument-checking middleware for one server."""

    def __init__(
        self, tools: Sequence[ToolFacts], backend: Backend, *, hidden: Mapping[str, str] | None = None
    ) -> None:
        """`tools`: the exposed tools (a `ToolSpec` is its own facts). `hidden`: the catalog's other
        tools, each with the reason it is hidden (see `hidden_reason`)."""
        self.backend = backend
        self.hidden = dict(hidden or {})
        self.bound: dict[str, _BoundTool] = {}
        for facts in tools:
            confined = backend.agent_id is not None and facts.scope is Scope.AGENT
            injected = {"agent_id": backend.agent_id} if confined else {}
            self.bound[facts.name] = _BoundTool(facts, injected)
        builder = ToolBuilder(confirmation_resolver(self._confirmed_target))
        for entry in self.bound.values():
            inputs, outputs = published_schemas(entry.facts, hidden_inputs=frozenset(entry.injected))
            entry.tool = builder.build(entry.facts, self._handler(entry), input_schema=inputs, output_schema=outputs)

    @property
    def tools(self) -> list[Tool]:
        return [entry.tool for entry in self.bound.values()]

    def _confirmed_target(self, name: str, ctx: Context[Any, Any]) -> tuple[ToolFacts, dict[str, Any]]:
        entry = self.bound[name]
        return entry.facts, self._injected(entry, ctx.request_context)

    def _injected(self, entry: _BoundTool, ctx: ServerRequestContext[Any, Any]) -> dict[str, Any]:
        """The arguments fixed for this call: the server's agent, else the agent the request is scoped to."""
        if entry.injected or entry.facts.scope is not Scope.AGENT:
            return entry.injected
        agent_id = self.backend.scope_agent_for(ctx)
        return {} if agent_id is None else {"agent_id": agent_id}

    def _lookups(self, entry: _BoundTool, ctx: ServerRequestContext[Any, Any]) -> dict[str, str]:
        """Each id parameter and the tool that lists its valid values, for not-found hints: only tools
        this request can call, and not what it fixes."""
        injected = self._injected(entry, ctx)
        return {
            name: tool
            for name, tool in entry.spec.id_sources.items()
            if name not in injected and tool in self.bound and self._narrowed(self.bound[tool], ctx) is None
        }

    def _narrowed(self, entry: _BoundTool, ctx: ServerRequestContext[Any, Any]) -> str | None:
        """Why this request narrows away a tool the server exposes, or None."""
        return narrowed_reason(entry.facts, self.backend.narrowing_for(ctx), server_agent_id=self.backend.agent_id)

    def _handler(self, entry: _BoundTool) -> Any:
        facts, backend = entry.facts, self.backend

        async def handler(ctx: Context, confirmation: Any = None) -> CallToolResult:
            # The Console client and the tool's spec load on the first call, not when the server starts.
            from bimpe_mcp.console import (
                ConsoleClient,
                ConsoleError,
                ConsoleRequestError,
                InvalidApiKeyError,
                InvalidIdError,
                models,
            )

            started = time.monotonic()
            spec = entry.spec
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
                result = success_result(spec.output, value, client.request_ids, redactor)
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

        handler.__name__ = facts.name
        return handler

    def _cancelled(self, spec: ToolFacts, started: float, prefix: str | None, client: ConsoleClient) -> None:
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
        spec: ToolFacts,
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
        """Middleware: the one validation of a `tools/call`'s arguments; a bad one gets an error naming it."""
        if ctx.method != "tools/call" or not ctx.params:
            return await call_next(ctx)
        name = str(ctx.params.get("name"))
        entry = self.bound.get(name)
        if entry is None:
            if reason := self.hidden.get(name):
                self.backend.metrics.record_tool(name, "invalid", 0.0)
                return error_result(f"{name} is not available in this configuration: {reason}.")
            return await call_next(ctx)
        if reason := self._narrowed(entry, ctx):
            self.backend.metrics.record_tool(name, "invalid", 0.0)
            return error_result(f"{name} is not available in this configuration: {reason}.")
        outcome = self._validate(entry, ctx.params.get("arguments"), self._injected(entry, ctx))
        if isinstance(outcome, CallToolResult):
            self.backend.metrics.record_tool(name, "invalid", 0.0)
            return outcome
        token = _VALIDATED.set((name, outcome))
        try:
            return await call_next(ctx)
        finally:
            _VALIDATED.reset(token)

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
                inputs, _ = published_schemas(entry.facts, hidden_inputs=frozenset(injected))
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
        name = entry.facts.name
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
