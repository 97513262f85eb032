"""Confirming what cannot be undone: by a person asked through the client, by the `confirm` argument, or refused.

The policy (`--confirm`) says which answers count:

- `either` (the default): a person's yes, where the client can ask, or `confirm=<target id>`.
  It confirms destructive tools; outward ones (a message to a contact) go without asking.
- `id`: only `confirm=<target id>`, never a question; destructive and outward tools.
- `elicit`: only a person's yes, asked through the client (elicitation); `confirm` is refused,
  because a model can read the id and echo it. Destructive and outward tools.

One SDK resolver serves every confirmed tool. It runs before the tool body, on both protocol
eras (a 2025 elicitation request, or a 2026 multi-round `input_required`, whose answer rides the
sealed request state, so a confirmation asked by one replica can finish on another).

It also offers the user a URL (URL-mode elicitation), where the client declares it and the
connection can carry a server-initiated request; elsewhere the tool's result carries the URL alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from mcp.server.mcpserver import AcceptedElicitation, Context, Elicit
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, Field

from bimpe_mcp.tools._catalog import ToolFacts

__all__ = [
    "ConfirmForm",
    "ConfirmPolicy",
    "confirmation_refusal",
    "confirmation_resolver",
    "needs_confirmation",
    "offer_url",
]

ConfirmPolicy = Literal["elicit", "id", "either"]

_NOT_SENT: Final = frozenset({"confirm", "idempotency_key"})
_SHOWN_CHARS: Final = 400
_ONLY_A_PERSON: Final = "This server takes only a person's answer, asked through the client (--confirm elicit)"
_NO_ASKING: Final = (
    "Use an MCP client that supports elicitation, or ask the server's operator to accept confirm=<id> "
    "(--confirm either or id / BIMPE_CONFIRM)."
)


class ConfirmForm(BaseModel):
    confirm: bool = Field(title="Confirm", description="Yes, go ahead.")


@dataclass(frozen=True, slots=True)
class _Confirmed:
    how: str


@dataclass(frozen=True, slots=True)
class _NotConfirmed:
    target: str | None
    why: Literal["no_answer", "argument_refused", "cannot_ask"] = "no_answer"
    client_can_ask: bool = False


# Context[...] quoted: subscripting the SDK's pydantic Context builds a class, at import time.
ConfirmedTarget = Callable[[str, "Context[Any, Any]"], tuple[ToolFacts, dict[str, Any]]]
"""A tool name and the call's context -> its facts and the arguments fixed for the call (the scoped agent_id)."""


def needs_confirmation(spec: ToolFacts, policy: ConfirmPolicy) -> bool:
    """Destructive tools always; outward ones (reaching real people) under `elicit` and `id`."""
    return spec.hints.destructive or (spec.outward and policy != "either")


def confirmation_resolver(lookup: ConfirmedTarget, policy: ConfirmPolicy) -> Any:
    """The resolver for every confirmed tool, under the server's policy."""

    async def confirm_action(ctx: Context) -> _Confirmed | _NotConfirmed | Elicit[ConfirmForm]:
        raw = ctx.request_context.params or {}
        spec, injected = lookup(str(raw.get("name")), ctx)
        arguments = raw.get("arguments")
        arguments = arguments if isinstance(arguments, dict) else {}
        target = _target(spec, injected, arguments)
        given = arguments.get("confirm")
        can_ask = _client_supports_elicitation(ctx)
        if policy == "elicit":
            if given is not None:
                return _NotConfirmed(target, "argument_refused", can_ask)
            if can_ask:
                return Elicit(_question(spec, target, arguments), ConfirmForm)
            return _NotConfirmed(target, "cannot_ask")
        if target and given == target:
            return _Confirmed("argument")
        if policy == "either" and can_ask:
            return Elicit(_question(spec, target, arguments), ConfirmForm)
        return _NotConfirmed(target, "no_answer", can_ask)

    return confirm_action


def _target(spec: ToolFacts, injected: Mapping[str, Any], arguments: Mapping[str, Any]) -> str | None:
    """The first confirm target the call gives (an injected agent_id counts)."""
    for name in spec.confirm_targets:
        value = injected.get(name, arguments.get(name))
        if value:
            return str(value)
    return None


def _question(spec: ToolFacts, target: str | None, arguments: Mapping[str, Any]) -> str:
    """What the person is asked: the action, its target (or, without one, the arguments as sent) and,
    for a message, the words that would be sent."""
    if target:
        subject = f"{spec.title} {target}"
    else:
        sent = {k: v for k, v in arguments.items() if k not in _NOT_SENT and v is not None}
        shown = json.dumps(sent, ensure_ascii=False, default=str)
        subject = f"{spec.title} {shown if len(shown) <= _SHOWN_CHARS else shown[: _SHOWN_CHARS - 1] + '…'}"
    if isinstance(text := arguments.get("message"), str):
        subject += f': "{text}"'
    return f"{subject}? This cannot be undone."


def _client_supports_elicitation(ctx: Context[Any, Any]) -> bool:
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def confirmation_refusal(spec: ToolFacts, outcome: Any, policy: ConfirmPolicy) -> str | None:
    """None when confirmed; otherwise the isError text saying why and what would confirm it."""
    data = outcome.data if isinstance(outcome, AcceptedElicitation) else None
    if isinstance(data, _Confirmed) or (isinstance(data, ConfirmForm) and data.confirm):
        return None
    head = f"{spec.name} needs confirmation: nothing was sent."
    how = f"pass confirm equal to the {spec.confirm_target_text}"
    if isinstance(data, _NotConfirmed):
        if data.why == "argument_refused":
            then = "Call it again without confirm, and the user will be asked." if data.client_can_ask else _NO_ASKING
            return f"{head} {_ONLY_A_PERSON}, so it refuses confirm: a model can read the id and echo it. {then}"
        if data.why == "cannot_ask":
            cannot = "this client cannot ask (it does not support elicitation)"
            return f"{head} {_ONLY_A_PERSON}, and {cannot}. {_NO_ASKING}"
        if not spec.confirm_targets:
            return (
                f"{head} It has no id to confirm with, and this server takes only confirm=<id> (--confirm id): "
                "ask the server's operator for --confirm either or elicit."
            )
        target = f" ('{data.target}')" if data.target else ""
        return f"{head} To go ahead, {how}{target}."
    if policy == "either":
        return f"{spec.name} was not confirmed by the user: nothing was sent. To go ahead anyway, {how}."
    return f"{spec.name} was not confirmed by the user: nothing was sent."


async def offer_url(ctx: Context[Any, Any], message: str, url: str, elicitation_id: str) -> str:
    """Show `url` to the user through URL-mode elicitation, where the client declares it.

    "accepted", "declined" or "cancelled" as the user answered; "not_offered" when the client has no URL
    mode or the connection cannot carry the request (a 2026 or stateless exchange).
    """
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    if elicitation is None or elicitation.url is None:
        return "not_offered"
    try:
        answer = await ctx.elicit_url(message, url, elicitation_id)
    except MCPError:
        return "not_offered"
    return {"accept": "accepted", "decline": "declined"}.get(answer.action, "cancelled")
