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

import difflib
import functools
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import pydantic
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.elicitation import AcceptedUrlElicitation
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.server.request_state import authenticated_principal
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    CallToolResult,
    ElicitRequest,
    ElicitRequestURLParams,
    ElicitResult,
    InputRequiredResult,
    ListToolsResult,
)
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, SecretStr

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
from bimpe_mcp.tools._runtime import Limits, Refused, ToolCall, UrlOffer
from bimpe_mcp.tools._sdk import ArgModelBase, ToolBuilder, pre_parse_json
from bimpe_mcp.tools._secret_entry import EntryRefused, PendingEntry, SecretEntries, SecretNeed
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


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A caller's key and where it came from, so an error about it names the place to fix."""

    value: str
    source: str


KeyProvider = Callable[[Context[Any, Any]], "ApiKey | None"]
"""The caller's key for one request, found by the transport (the HTTP layer reads its headers)."""

NarrowingProvider = Callable[[ServerRequestContext[Any, Any]], "Narrowing | None"]
"""What one request narrows the tools to, found by the transport (the HTTP layer reads its headers)."""

LinkBase = Callable[[Context[Any, Any]], Awaitable[str]]
"""Where the secret-entry page is served for this request (`http://127.0.0.1:PORT`, or the deployment's
own address), found by the transport; the link is that plus `/secrets/<token>`."""

_ENTRY_INPUT = "secret_entry"
"""The `input_requests` key of the URL elicitation (2026-07-28 era), for the page or an onboarding link."""
_INPUT_REQUIRED_VERSION = "2026-07-28"
_SECRET_ARGUMENTS_SETTING = "--secret-arguments / BIMPE_SECRET_ARGUMENTS"


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

    @property
    def parameter_names(self) -> list[str]:
        return list(self.tool.parameters["properties"])


def api_key_source(api_key: ApiKey | None) -> str:
    """Where the caller's BimpeAI key came from, for errors that name the place to fix."""
    return api_key.source if api_key is not None else "BIMPE_API_KEY"


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
            for name, tool in entry.spec.id_sources.items()
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
            if backend.secret_arguments == "refuse" and (given := _secret_arguments(params)):
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
            caller = _caller(ctx)
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
                statuses=None if backend.entries is None else _statuses(backend.entries, caller),
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
                result = success_result(spec.output, value, request_ids(), redactor)
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

    # ---- the secret-entry page --------------------------------------------------------------------------

    @staticmethod
    def _refused_secret_arguments(spec: ToolSpec, given: list[str]) -> str:
        names = ", ".join(given)
        if spec.secret_entry is not None:
            how = f"call it again without {names}: the user then types them into a one-time secret-entry page"
        else:
            how = (
                f"leave {names} out: the tool then uses its integration's auth, which configure_custom_api sets "
                "through the secret-entry page"
            )
        return (
            f"{spec.name} refused: this server takes no secrets as arguments ({_SECRET_ARGUMENTS_SETTING} is "
            f"refuse), so they never pass through the chat; {how}. Nothing was sent."
        )

    def _entry_opener(self, entry: _BoundTool, need: SecretNeed, api_key: ApiKey, ctx: Context[Any, Any]) -> Any:
        """The runner that opens a secret entry for this call instead of sending it, and shows its link."""
        backend = self.backend
        entries, link_base = backend.entries, backend.link_base
        assert entries is not None and link_base is not None

        async def open_entry(call: ToolCall[Any]) -> Any:
            agent_id = getattr(call.params, "agent_id", None)
            agent_name = (await call.client.agents.get(agent_id)).data.name if agent_id else None
            arguments = call.params.model_dump(mode="json", exclude_unset=True)
            pending = entries.new(
                tool=entry.spec.name,
                arguments={key: value for key, value in arguments.items() if key != "idempotency_key"},
                agent_name=agent_name,
                caller=_caller(ctx),
                api_key=None if api_key.source == "BIMPE_API_KEY" else api_key.value,
                api_key_source=api_key.source,
                scope_agent_id=call.scope_agent_id,
            )
            url = f"{(await link_base(ctx)).rstrip('/')}/secrets/{entries.open(pending)}"
            whom = f" to agent {agent_name!r}" if agent_name else ""
            message = (
                f"Connect {need.service}{whom}: type the secrets into this one-time page from bimpe-mcp "
                "(it expires in 10 minutes). They go straight to BimpeAI, never through the chat."
            )
            pending_result = {
                "pending_id": pending.id,
                "entry_url": url,
                "next_step": (
                    f"Show the user entry_url: they type {need.names} there (never in this chat). Then call "
                    f"check_secret_entry(pending_id='{pending.id}') for the outcome."
                ),
            }
            if not _supports_url_elicitation(ctx):
                return pending_result
            if _input_required_era(ctx):
                request = ElicitRequest(params=ElicitRequestURLParams(message=message, url=url))
                state = json.dumps({"entry": pending.id})
                return InputRequiredResult(input_requests={_ENTRY_INPUT: request}, request_state=state)
            answer = await ctx.elicit_url(message, url, pending.id)
            if not isinstance(answer, AcceptedUrlElicitation):
                entries.cancel(pending.id)
                raise Refused("the user declined the secret-entry page. Nothing was sent.")
            return await self._entry_result(pending.id, ctx, pending_result)

        return open_entry

    async def _entry_result(self, entry_id: str, ctx: Context[Any, Any], pending_result: dict[str, Any]) -> Any:
        """The entry's outcome once the user submits the page (bounded wait), else the pending result."""
        entries = self.backend.entries
        assert entries is not None
        result = await entries.wait(entry_id, self.backend.limits.max_wait_s, caller=_caller(ctx))
        if result is None:
            pending_result["next_step"] = (
                f"The user has not finished the page yet: call check_secret_entry(pending_id='{entry_id}') later."
            )
            return pending_result
        if not _input_required_era(ctx):
            await ctx.request_context.session.send_elicit_complete(entry_id, related_request_id=ctx.request_id)
        return result

    async def _answered_link(self, entry: _BoundTool, ctx: Context[Any, Any]) -> CallToolResult | None:
        """Round two of a 2026-07-28 URL elicitation: the client's answer to the page or the onboarding link.

        `request_state` is the SDK's, sealed and bound to this call's tool and arguments.
        """
        if not _input_required_era(ctx) or not ctx.request_state or not ctx.input_responses:
            return None
        answer = ctx.input_responses.get(_ENTRY_INPUT)
        try:
            state = json.loads(ctx.request_state)
        except ValueError:
            return None
        if not isinstance(answer, ElicitResult) or not isinstance(state, dict):
            return None
        entries = self.backend.entries
        if "onboarding" in state:
            result = state["onboarding"]
            if answer.action == "accept":
                result["next_step"] = "The user was shown onboarding_url; " + result["next_step"]
            return _restored(entry, result)
        if entries is None or not isinstance(entry_id := state.get("entry"), str):
            return None
        if answer.action != "accept":
            entries.cancel(entry_id)
            text = f"{entry.spec.name} refused: the user declined the secret-entry page. Nothing was sent."
            return error_result(text)
        pending = {
            "pending_id": entry_id,
            "next_step": f"Call check_secret_entry(pending_id='{entry_id}') for the outcome.",
        }
        result = await self._entry_result(entry_id, ctx, pending)
        return result if isinstance(result, CallToolResult) else _restored(entry, result)

    async def _show_onboarding(
        self, entry: _BoundTool, result: CallToolResult, ctx: Context[Any, Any]
    ) -> CallToolResult | InputRequiredResult:
        """An OAuth onboarding_url goes to the user through URL elicitation where the client supports it."""
        data = result.structured_content or {}
        url = data.get("onboarding_url")
        if result.is_error or not isinstance(url, str) or not _supports_url_elicitation(ctx):
            return result
        message = "Authorise BimpeAI in this page to finish connecting the service."
        if _input_required_era(ctx):
            request = ElicitRequest(params=ElicitRequestURLParams(message=message, url=url))
            state = json.dumps({"onboarding": data})
            return InputRequiredResult(input_requests={_ENTRY_INPUT: request}, request_state=state)
        answer = await ctx.elicit_url(message, url, uuid.uuid4().hex)
        if isinstance(answer, AcceptedUrlElicitation):
            data = {**data, "next_step": "The user was shown onboarding_url; " + str(data.get("next_step", ""))}
            return _restored(entry, data)
        return result

    def describe_entry(self, pending: PendingEntry) -> SecretNeed:
        """What a secret entry asks for: derived again from its sealed tool and arguments."""
        entry = self.bound.get(pending.tool)
        describe = None if entry is None else entry.spec.secret_entry
        try:
            need = (
                None
                if entry is None or describe is None
                else describe(entry.args_model.model_validate(pending.arguments))
            )
        except pydantic.ValidationError:
            need = None
        if need is None:  # a link from a server configured otherwise (another replica, before a restart)
            raise EntryRefused(404, "Link not found", "This server cannot complete this link. Ask for a new one.")
        return need

    async def complete_entry(self, pending: PendingEntry, values: Mapping[tuple[str, ...], str]) -> CallToolResult:
        """The operation a secret entry holds, run with the values the user typed: the page's submit."""
        started = time.monotonic()
        entry = self.bound[pending.tool]
        spec = entry.spec
        arguments: dict[str, Any] = json.loads(json.dumps(pending.arguments))
        for path, value in values.items():
            target = arguments
            for key in path[:-1]:
                target = target.setdefault(key, {})
            target[path[-1]] = value
        redactor = Redactor(values.values())
        try:
            params = entry.args_model.model_validate(arguments)
        except pydantic.ValidationError as error:
            return self._finish(spec, error_result(redactor.text(describe_invalid(spec.name, error, []))), started)
        if pending.api_key is not None:
            api_key = ApiKey(pending.api_key, pending.api_key_source or "the caller's key")
        elif self.backend.api_key:
            api_key = ApiKey(self.backend.api_key, "BIMPE_API_KEY")
        else:
            return self._finish(
                spec, error_result(f"{spec.name} failed: no BimpeAI API key. Nothing was sent."), started
            )
        from bimpe_mcp.console import models

        redactor = redactor.with_secrets([*models.secret_values(params), api_key.value])

        async def progress(done: float, total: float | None, message: str | None) -> None:
            return None

        result, request_ids = await self._execute(
            entry,
            params,
            api_key,
            redactor,
            run=spec.run,
            progress=progress,
            started=started,
            # Derived from the entry: the same link submitted on another replica replays, not writes twice.
            prefix=f"entry-{pending.id}",
            scope_agent_id=pending.scope_agent_id,
            lookups=self._lookups(entry, None),
            reference=f"entry-{pending.id[:8]}",
            statuses=None,
        )
        assert isinstance(result, CallToolResult)
        return self._finish(spec, result, started, request_ids)

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


def _caller(ctx: Context[Any, Any]) -> str:
    """Who makes this call, short and secret-free: a digest of the authenticated HTTP principal, else local."""
    try:
        principal = authenticated_principal(ctx.request_context)
    except ValueError:
        principal = None
    return "local" if principal is None else hashlib.sha256(principal.encode()).hexdigest()[:32]


def _statuses(entries: SecretEntries, caller: str) -> Any:
    return lambda entry_id: entries.status(entry_id, caller)


def _secret_arguments(params: BaseModel) -> list[str]:
    """The arguments of a call that carry a secret (connector keys, `auth_config`)."""
    from bimpe_mcp.console import models

    given = []
    for name in params.model_fields_set:
        value = getattr(params, name)
        if isinstance(value, SecretStr) or (isinstance(value, BaseModel) and models.secret_values(value)):
            given.append(name)
    return sorted(given)


def _supports_url_elicitation(ctx: Context[Any, Any]) -> bool:
    """Whether the client declared URL-mode elicitation and this call can ask it (a stateless legacy-era
    HTTP request has no channel back to the client)."""
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    if elicitation is None or elicitation.url is None:
        return False
    return _input_required_era(ctx) or ctx.request_context.session.can_send_request


def _input_required_era(ctx: Context[Any, Any]) -> bool:
    """Whether this call asks the client through `InputRequiredResult` (2026-07-28) rather than a request."""
    version = ctx.protocol_version
    return version is not None and is_version_at_least(version, _INPUT_REQUIRED_VERSION)


def _restored(entry: _BoundTool, data: dict[str, Any]) -> CallToolResult:
    """A result built earlier in the call (or carried in its sealed request_state), as the contract shapes it."""
    return success_result(entry.spec.output, data, (), Redactor())


def _unknown_tool(message: str) -> MCPError:
    """A call to a tool the caller cannot see: a protocol error (-32602), as the specification asks."""
    return MCPError(code=INVALID_PARAMS, message=message)
