"""Turn `ToolSpec`s into MCP tools: one arguments check, confirmation, the runner, the result contract.

Every call goes: argument check (`check_arguments`, a middleware, so a bad argument gets a
readable error naming the field; the only validation of the call) → confirmation for the
tools the `--confirm` policy covers → the spec's runner with a per-call `ConsoleClient` → a
structured result, its outside text fenced, or an `isError` result (see `_contract`). Secrets
never leave: results, errors and progress messages pass through a `Redactor` that knows the
call's secret values.

A server is built from `ToolFacts` and shipped schemas alone; the API clients, the tool's
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
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import pydantic
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    CallToolResult,
    InputRequiredResult,
    ListToolsResult,
)
from pydantic import BaseModel

from bimpe_mcp._metrics import Metrics
from bimpe_mcp._redact import Redactor
from bimpe_mcp.tools._catalog import Scope, ToolFacts, published_schemas, spec_of
from bimpe_mcp.tools._confirmation import (
    ConfirmPolicy,
    confirmation_refusal,
    confirmation_resolver,
    needs_confirmation,
    offer_url,
)
from bimpe_mcp.tools._contract import (
    describe_butterbase_error,
    describe_console_error,
    describe_invalid,
    error_result,
    success_result,
)
from bimpe_mcp.tools._fencing import FENCED_NOTE
from bimpe_mcp.tools._runtime import ApiKey, Limits, Refused, ToolCall, UrlOffer
from bimpe_mcp.tools._sdk import ArgModelBase, ToolBuilder, pre_parse_json
from bimpe_mcp.tools._secret_entry import SecretEntries
from bimpe_mcp.tools._secret_flow import LinkBase, SecretEntryFlow, secret_arguments, statuses_for
from bimpe_mcp.tools._selection import Narrowing, narrowed_reason

if TYPE_CHECKING:
    from bimpe_mcp.butterbase import ButterbaseTransport
    from bimpe_mcp.console import ConsoleTransport
    from bimpe_mcp.tools._spec import ToolSpec

__all__ = ["ApiKey", "Backend", "ButterbaseAccess", "KeyProvider", "LinkBase", "NarrowingProvider", "ToolFactory"]

logger = logging.getLogger("bimpe_mcp.tools")

R = TypeVar("R", CallToolResult, InputRequiredResult, CallToolResult | InputRequiredResult)

_VALIDATED: ContextVar[tuple[str, BaseModel] | None] = ContextVar("bimpe_validated_arguments", default=None)
"""The middleware's parsed arguments, handed to the tool handler of the same request."""


# Context[...] quoted: subscripting the SDK's pydantic Context builds a class, at import time.
KeyProvider = Callable[["Context[Any, Any]"], "ApiKey | None"]
"""The caller's key for one request, found by the transport (the HTTP layer reads its headers)."""

NarrowingProvider = Callable[[ServerRequestContext[Any, Any]], "Narrowing | None"]
"""What one request narrows the tools to, found by the transport (the HTTP layer reads its headers)."""


@dataclass
class ButterbaseAccess:
    """The server's one Butterbase app: its pool, admin key and app id (from BUTTERBASE_*, never a request).

    `open_transport` makes the pool on first use, as `Backend`'s does.
    """

    open_transport: Callable[[], ButterbaseTransport]
    api_key: str = field(repr=False)
    app_id: str

    @functools.cached_property
    def transport(self) -> ButterbaseTransport:
        return self.open_transport()


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
    confirm: ConfirmPolicy = "either"
    """How destructive and outward calls are confirmed (`--confirm`); no request changes it."""
    butterbase: ButterbaseAccess | None = None
    """Set when BUTTERBASE_API_KEY and BUTTERBASE_APP_ID are: what the butterbase toolset calls."""
    entries: SecretEntries | None = None
    """The secret-entry page's pending entries; None where there is no page (`bimpe-mcp call`)."""
    link_base: LinkBase | None = None
    secret_arguments: str = "allow"
    """allow: secrets may also be given as arguments (scripts); refuse: only through the page."""

    @functools.cached_property
    def transport(self) -> ConsoleTransport:
        return self.open_transport()

    @property
    def open_waits(self) -> int:
        """Message waits open now; none before a call has opened the pool."""
        return self.transport.open_waits if "transport" in self.__dict__ else 0

    async def aclose(self) -> None:
        """Close the pools a call opened."""
        if "transport" in self.__dict__:
            await self.transport.aclose()
        if self.butterbase is not None and "transport" in self.butterbase.__dict__:
            await self.butterbase.transport.aclose()

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
    confirmed: bool
    """The confirmation policy covers this tool: the resolver runs before it."""
    unlisted: frozenset[str]
    """Arguments its model has but the policy leaves out of the schema (`confirm` where it cannot confirm)."""
    tool: Tool = field(init=False)

    @property
    def spec(self) -> ToolSpec:
        """The full spec, its toolset module imported on the tool's first call."""
        return spec_of(self.facts)

    @property
    def args_model(self) -> type[ArgModelBase]:
        from bimpe_mcp.tools._schemas import args_model

        return args_model(self.spec)

    @functools.cached_property
    def id_sources(self) -> dict[str, str]:
        """Each id parameter and the tool that lists its values: read from the model once, on first use."""
        return self.spec.id_sources

    @property
    def parameter_names(self) -> list[str]:
        return list(self.tool.parameters["properties"])


def api_key_source(api_key: ApiKey | None) -> str:
    """Where the caller's BimpeAI key came from, for errors that name the place to fix."""
    return api_key.source if api_key is not None else "BIMPE_API_KEY"


class ToolFactory(SecretEntryFlow):
    """Builds the MCP `Tool` objects and the argument-checking middleware for one server."""

    def __init__(
        self, tools: Sequence[ToolFacts], backend: Backend, *, hidden: Mapping[str, str] | None = None
    ) -> None:
        """`tools`: the exposed tools (a `ToolSpec` is its own facts). `hidden`: the catalog's other
        tools, each with the reason it is hidden (see `hidden_reason`)."""
        self.backend = backend
        self.hidden = dict(hidden or {})
        self.bound: dict[str, _BoundTool] = {}
        if backend.butterbase is None and (needing := [facts.name for facts in tools if facts.api == "butterbase"]):
            raise ValueError(f"{', '.join(needing)} need a Butterbase app (Backend.butterbase)")
        self.fenced: set[str] = {facts.name for facts in tools if facts.untrusted}
        """The tools whose results can carry text written outside the team, fenced."""
        for facts in tools:
            confined = backend.agent_id is not None and facts.scope is Scope.AGENT
            injected = {"agent_id": backend.agent_id} if confined else {}
            confirmed = needs_confirmation(facts, backend.confirm)
            by_argument = confirmed and backend.confirm != "elicit"
            unlisted = frozenset({"confirm"} if facts.confirm and not by_argument else ())
            self.bound[facts.name] = _BoundTool(facts, injected, confirmed, unlisted)
        builder = ToolBuilder(confirmation_resolver(self._confirmed_target, backend.confirm))
        for entry in self.bound.values():
            inputs, outputs = published_schemas(entry.facts, hidden_inputs=entry.unlisted | frozenset(entry.injected))
            description = entry.facts.description
            if entry.facts.untrusted:
                description = f"{description} {FENCED_NOTE}"
            entry.tool = builder.build(
                entry.facts,
                self._handler(entry),
                confirmed=entry.confirmed,
                description=description,
                input_schema=inputs,
                output_schema=outputs,
            )

    @property
    def tools(self) -> list[Tool]:
        return [entry.tool for entry in self.bound.values()]

    @property
    def streaming(self) -> frozenset[str]:
        """The tools whose call may send something before its result: a question to the user (a confirmation,
        a page or link offered by URL elicitation), or keep-alive pings while it waits (a `timeout_s`
        parameter). Over HTTP they are answered as SSE streams."""
        return frozenset(
            name
            for name, entry in self.bound.items()
            if entry.confirmed or entry.facts.asks_user or "timeout_s" in entry.tool.parameters["properties"]
        )

    def _confirmed_target(self, name: str, ctx: Context[Any, Any]) -> tuple[ToolFacts, dict[str, Any]]:
        entry = self.bound[name]
        return entry.facts, self._injected(entry, ctx.request_context)

    def _injected(self, entry: _BoundTool, ctx: ServerRequestContext[Any, Any]) -> dict[str, Any]:
        """The arguments fixed for this call: the server's agent, else the agent the request is scoped to."""
        if entry.injected or entry.facts.scope is not Scope.AGENT:
            return entry.injected
        agent_id = self.backend.scope_agent_for(ctx)
        return {} if agent_id is None else {"agent_id": agent_id}

    def _lookups(self, entry: _BoundTool, ctx: ServerRequestContext[Any, Any] | None) -> dict[str, str]:
        """Each id parameter and the tool that lists its valid values, for not-found hints: only tools
        this request (`ctx`; None: the server alone) can call, and not what it fixes."""
        injected = entry.injected if ctx is None else self._injected(entry, ctx)
        return {
            name: tool
            for name, tool in entry.id_sources.items()
            if name not in injected
            and tool in self.bound
            and (ctx is None or self._narrowed(self.bound[tool], ctx) is None)
        }

    def _narrowed(self, entry: _BoundTool, ctx: ServerRequestContext[Any, Any]) -> str | None:
        """Why this request narrows away a tool the server exposes, or None."""
        return narrowed_reason(entry.facts, self.backend.narrowing_for(ctx), server_agent_id=self.backend.agent_id)

    def _handler(self, entry: _BoundTool) -> Any:
        backend = self.backend

        async def handler(ctx: Context, confirmation: Any = None) -> CallToolResult | InputRequiredResult:
            # The API clients and the tool's spec load on the first call, not when the server starts.
            from bimpe_mcp.console import models

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
            if backend.secret_arguments == "refuse" and (given := secret_arguments(params)):
                text = redactor.text(self._refused_secret_arguments(spec, given))
                return self._finish(spec, error_result(text), started, outcome="invalid")
            if entry.confirmed and (refusal := confirmation_refusal(spec, confirmation, backend.confirm)):
                return self._finish(spec, error_result(refusal), started, outcome="needs_confirmation")
            butterbase = backend.butterbase if spec.api == "butterbase" else None
            api_key = backend.api_key_for(ctx)
            if api_key is None and butterbase is None:
                text = (
                    f"{spec.name} failed: no BimpeAI API key. Set BIMPE_API_KEY for the server, "
                    "or send 'Authorization: Bearer sk_…' with each HTTP request. Nothing was sent."
                )
                return self._finish(spec, error_result(text), started)
            keys = (api_key.value if api_key else "", butterbase.api_key if butterbase else "")
            redactor = redactor.with_secrets(key for key in keys if key)
            if (answered := await self._answered_link(entry, ctx)) is not None:
                return self._finish(spec, answered, started)
            run = spec.run
            need = spec.secret_entry(params) if spec.secret_entry is not None else None
            if need is not None:
                if backend.entries is None or backend.link_base is None or api_key is None:
                    text = (
                        f"{spec.name} needs {need.names}: pass them as arguments (here there is no secret-entry "
                        "page to type them into). Nothing was sent."
                    )
                    return self._finish(spec, error_result(text), started, outcome="invalid")
                run = self._entry_opener(entry, need, api_key, ctx)

            async def progress(done: float, total: float | None, message: str | None) -> None:
                await ctx.report_progress(done, total, redactor.text(message) if message else None)

            async def offer(message: str, url: str, elicitation_id: str) -> str:
                return await offer_url(ctx, redactor.text(message), url, elicitation_id)

            idempotency_key = getattr(params, "idempotency_key", None)
            prefix = None if spec.hints.read_only else (idempotency_key or uuid.uuid4().hex[:16])
            result, request_ids = await self._execute(
                entry,
                params,
                api_key,
                redactor,
                run=run,
                progress=progress,
                started=started,
                prefix=prefix,
                scope_agent_id=backend.scope_agent_for(ctx.request_context),
                lookups=self._lookups(entry, ctx.request_context),
                reference=f"mcp-{ctx.request_id}",
                statuses=None if backend.entries is None else statuses_for(backend.entries, ctx),
                offer=offer,
            )
            if isinstance(result, CallToolResult) and need is None:
                result = await self._show_onboarding(entry, result, ctx)
            return self._finish(spec, result, started, request_ids)

        handler.__name__ = entry.facts.name
        return handler

    async def _execute(
        self,
        entry: _BoundTool,
        params: BaseModel,
        api_key: ApiKey | None,
        redactor: Redactor,
        *,
        run: Any,
        progress: Any,
        started: float,
        prefix: str | None,
        scope_agent_id: str | None,
        lookups: dict[str, str],
        reference: str,
        statuses: Any,
        offer: UrlOffer | None = None,
    ) -> tuple[CallToolResult | InputRequiredResult, list[str]]:
        """Run `run` for `params` with the caller's key: its result, or the error the contract names."""
        from bimpe_mcp.butterbase import (
            ButterbaseClient,
            ButterbaseError,
            ButterbaseIdError,
            ButterbaseKeyError,
            ButterbaseRequestError,
        )
        from bimpe_mcp.console import (
            ConsoleClient,
            ConsoleError,
            ConsoleRequestError,
            InvalidApiKeyError,
            InvalidIdError,
        )

        spec, backend = entry.spec, self.backend
        butterbase = backend.butterbase if spec.api == "butterbase" else None
        # A Butterbase tool never calls the Console: its Console client, keyless or not, stays unused.
        client = ConsoleClient(backend.transport, api_key.value if api_key else "", idempotency_prefix=prefix)
        bb_client = (
            ButterbaseClient(butterbase.transport, butterbase.api_key, butterbase.app_id, idempotency_prefix=prefix)
            if butterbase is not None
            else None
        )

        def request_ids() -> list[str]:
            return [*client.request_ids, *(bb_client.request_ids if bb_client else [])]

        def wrote() -> bool:
            return client.write_may_have_happened or (bb_client is not None and bb_client.write_may_have_happened)

        call = ToolCall(
            params,
            client,
            progress,
            backend.limits,
            scope_agent_id,
            spec.nullable,
            butterbase=bb_client,
            offer_url=offer,
            secret_entries=statuses,
        )
        result: CallToolResult | InputRequiredResult
        try:
            value = await run(call)
            if isinstance(value, CallToolResult | InputRequiredResult):
                result = value
            else:
                result = success_result(
                    spec.output,
                    value,
                    request_ids(),
                    redactor,
                    max_tokens=backend.limits.max_result_tokens,
                    full_lists=dict(spec.full_lists),
                )
        except anyio.get_cancelled_exc_class():
            self._cancelled(spec, started, prefix, request_ids())
            raise
        except Refused as refusal:
            result = error_result(redactor.text(f"{spec.name} refused: {refusal}"))
        except (InvalidApiKeyError, ButterbaseKeyError) as error:
            place = "BUTTERBASE_API_KEY" if isinstance(error, ButterbaseKeyError) else api_key_source(api_key)
            which = "Butterbase" if isinstance(error, ButterbaseKeyError) else "BimpeAI"
            text = f"{spec.name} failed: the {which} API key in {place} is unusable: {error.message}. "
            result = error_result(text + f"Fix {place} and call again. Nothing was sent.")
        except (InvalidIdError, ButterbaseIdError) as error:
            text = f"Invalid arguments for {spec.name}: {error.message}. Nothing was sent."
            result = error_result(redactor.text(text))
        except (ConsoleRequestError, ButterbaseRequestError) as error:
            result = error_result(redactor.text(f"{spec.name} failed: {error.message}. Nothing was sent."))
        except ButterbaseError as error:
            text = describe_butterbase_error(spec, error, prefix, wrote=wrote(), lookups=lookups)
            result = error_result(redactor.text(text))
        except ConsoleError as error:
            text = describe_console_error(
                spec,
                error,
                prefix,
                wrote=client.write_may_have_happened,
                lookups=lookups,
                key_source=api_key_source(api_key),
            )
            result = error_result(redactor.text(text))
        except Exception:
            logger.exception("%s raised unexpectedly (%s)", spec.name, reference)
            ids = ", ".join(request_ids()) or "none"
            text = (
                f"{spec.name} failed unexpectedly ({reference}; {'Butterbase' if bb_client else 'Console'} "
                f"requests: {ids}). The details are in the server log; the server keeps serving."
            )
            if wrote() and prefix:
                text += f" It may have been applied: retry only with idempotency_key='{prefix}'."
            result = error_result(text)
        return result, request_ids()

    def _cancelled(self, spec: ToolSpec, started: float, prefix: str | None, request_ids: Sequence[str]) -> None:
        """A cancelled call leaves a trace: a write may have landed before the cancellation did."""
        elapsed = time.monotonic() - started
        self.backend.metrics.record_tool(spec.name, "cancelled", elapsed)
        logger.warning(
            "tool %s cancelled after %.0fms (idempotency key %s; console requests: %s)",
            spec.name,
            elapsed * 1000,
            prefix or "none",
            ", ".join(request_ids) or "none",
        )

    def _finish(
        self,
        spec: ToolSpec,
        result: R,
        started: float,
        request_ids: Sequence[str] = (),
        *,
        outcome: str | None = None,
    ) -> R:
        """Count and log the call; `outcome` defaults to ok, error or input_required, as the result says."""
        elapsed = time.monotonic() - started
        if outcome is None:
            if isinstance(result, InputRequiredResult):
                outcome = "input_required"
            else:
                outcome = "error" if result.is_error else "ok"
        self.backend.metrics.record_tool(spec.name, outcome, elapsed)
        # A call that went well is a DEBUG line (the metrics count it): at INFO, building and redacting a
        # record for every call cost a noticeable share of a call's CPU. Anything else stays at INFO.
        level = logging.DEBUG if outcome == "ok" else logging.INFO
        if not logger.isEnabledFor(level):
            return result
        logger.log(
            level,
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
        import difflib  # only a mistyped tool name needs it

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
                inputs, _ = published_schemas(entry.facts, hidden_inputs=entry.unlisted | frozenset(injected))
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
        stray = set(arguments) & set(injected)
        if not entry.confirmed:
            stray |= set(arguments) & entry.unlisted  # a confirm where nothing is confirmed is a mistake
        if foreign := sorted(stray):
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
