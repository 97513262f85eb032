"""Confirmation of destructive tools: by the `confirm` argument, by asking the user, or refused.

One SDK resolver serves every confirmed tool. It runs before the tool body, on both protocol
eras (a 2025 elicitation request, or a 2026 multi-round `input_required`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import AcceptedElicitation, Context, Elicit
from pydantic import BaseModel, Field

from bimpe_mcp.tools._catalog import ToolFacts

__all__ = ["ConfirmForm", "confirmation_refusal", "confirmation_resolver"]


class ConfirmForm(BaseModel):
    confirm: bool = Field(title="Confirm", description="Yes, go ahead.")


@dataclass(frozen=True, slots=True)
class _Confirmed:
    how: str


@dataclass(frozen=True, slots=True)
class _NotConfirmed:
    target: str | None


ConfirmedTarget = Callable[[str, Context[Any, Any]], tuple[ToolFacts, dict[str, Any]]]
"""A tool name and the call's context -> its facts and the arguments fixed for the call (the scoped agent_id)."""


def confirmation_resolver(lookup: ConfirmedTarget) -> Any:
    """The resolver for every confirmed tool: confirm by argument, by asking, or not at all."""

    async def confirm_destructive_action(ctx: Context) -> _Confirmed | _NotConfirmed | Elicit[ConfirmForm]:
        raw = ctx.request_context.params or {}
        spec, injected = lookup(str(raw.get("name")), ctx)
        arguments = raw.get("arguments") or {}
        target_field = spec.confirm or ""
        target = injected.get(target_field, arguments.get(target_field))
        if target and arguments.get("confirm") == target:
            return _Confirmed("argument")
        if _client_supports_elicitation(ctx):
            return Elicit(f"{spec.title} {target}? This cannot be undone.", ConfirmForm)
        return _NotConfirmed(target)

    return confirm_destructive_action


def _client_supports_elicitation(ctx: Context[Any, Any]) -> bool:
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def confirmation_refusal(spec: ToolFacts, outcome: Any) -> str | None:
    """None when confirmed; otherwise the isError text saying how to confirm."""
    data = outcome.data if isinstance(outcome, AcceptedElicitation) else None
    if isinstance(data, _Confirmed) or (isinstance(data, ConfirmForm) and data.confirm):
        return None
    how = f"pass confirm equal to the {spec.confirm}"
    if isinstance(data, _NotConfirmed):
        target = f" ('{data.target}')" if data.target else ""
        return f"{spec.name} needs confirmation: nothing was sent. To go ahead, {how}{target}."
    return f"{spec.name} was not confirmed by the user: nothing was sent. To go ahead anyway, {how}."
