"""The secret-entry page's side of a tool call: opening an entry instead of sending a call that lacks
its secrets, offering the page (or an OAuth link) by URL elicitation on both protocol eras, waiting
for its outcome, and running the operation when the user submits the page.

`SecretEntryFlow` is mixed into `ToolFactory`, which supplies the bound tools, the backend, and the
one call path (`_execute`, `_finish`, `_lookups`) a page submission shares with every tool call.
The pending entries themselves, with no MCP or HTTP in them, are `_secret_entry`'s.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import pydantic
from mcp.server.elicitation import AcceptedUrlElicitation
from mcp.server.mcpserver import Context
from mcp.server.request_state import authenticated_principal
from mcp_types import (
    CallToolResult,
    ElicitRequest,
    ElicitRequestURLParams,
    ElicitResult,
    InputRequiredResult,
)
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, SecretStr

from bimpe_mcp._redact import Redactor
from bimpe_mcp.tools._contract import describe_invalid, error_result, success_result
from bimpe_mcp.tools._runtime import ApiKey, Refused, ToolCall, UrlOffer
from bimpe_mcp.tools._secret_entry import EntryRefused, PendingEntry, SecretEntries, SecretNeed

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext

    from bimpe_mcp.tools._registry import Backend, _BoundTool
    from bimpe_mcp.tools._spec import ToolSpec

    R = TypeVar("R", CallToolResult, InputRequiredResult, CallToolResult | InputRequiredResult)

__all__ = ["LinkBase", "SecretEntryFlow", "caller_of", "secret_arguments", "statuses_for"]

# Context[...] quoted: subscripting the SDK's pydantic Context builds a class, at import time.
LinkBase = Callable[["Context[Any, Any]"], Awaitable[str]]
"""Where the secret-entry page is served for this request (`http://127.0.0.1:PORT`, or the deployment's
own address), found by the transport; the link is that plus `/secrets/<token>`."""

_ENTRY_INPUT = "secret_entry"
"""The `input_requests` key of the URL elicitation (2026-07-28 era), for the page or an onboarding link."""
_INPUT_REQUIRED_VERSION = "2026-07-28"
_SECRET_ARGUMENTS_SETTING = "--secret-arguments / BIMPE_SECRET_ARGUMENTS"


class SecretEntryFlow:
    """What `ToolFactory` does for the secret-entry page (see the module docstring)."""

    bound: dict[str, _BoundTool]
    backend: Backend

    if TYPE_CHECKING:  # ToolFactory's, which every call shares

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
        ) -> tuple[CallToolResult | InputRequiredResult, list[str]]: ...

        def _finish(
            self,
            spec: ToolSpec,
            result: R,
            started: float,
            request_ids: Sequence[str] = (),
            *,
            outcome: str | None = None,
        ) -> R: ...

        def _lookups(self, entry: _BoundTool, ctx: ServerRequestContext[Any, Any] | None) -> dict[str, str]: ...

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
                caller=caller_of(ctx),
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
        result = await entries.wait(entry_id, self.backend.limits.max_wait_s, caller=caller_of(ctx))
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


def caller_of(ctx: Context[Any, Any]) -> str:
    """Who makes this call, short and secret-free: a digest of the authenticated HTTP principal, else local."""
    try:
        principal = authenticated_principal(ctx.request_context)
    except ValueError:
        principal = None
    return "local" if principal is None else hashlib.sha256(principal.encode()).hexdigest()[:32]


def statuses_for(entries: SecretEntries, ctx: Context[Any, Any]) -> Any:
    """The outcome of a secret entry this call's caller opened, by id; the caller is worked out only if asked."""
    return lambda entry_id: entries.status(entry_id, caller_of(ctx))


def secret_arguments(params: BaseModel) -> list[str]:
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
