"""What a runner gets (`ToolCall`) and the small helpers toolset modules share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from bimpe_mcp.butterbase import ButterbaseClient
from bimpe_mcp.console import ConsoleClient, ListQuery, PageMeta, Result, walk_pages
from bimpe_mcp.tools._secret_entry import EntryStatus
from bimpe_mcp.tools._spec import Paging, Runner

__all__ = ["Limits", "Refused", "ToolCall", "UrlOffer", "deleting", "listed", "paged", "request_body"]

P = TypeVar("P", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)

Progress = Callable[[float, float | None, str | None], Awaitable[None]]

UrlOffer = Callable[[str, str, str], Awaitable[str]]
"""(message, url, elicitation id) -> "accepted", "declined", "cancelled" or "not_offered": a URL offered
to the user through URL-mode elicitation, where the client supports it."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps that keep one tool call bounded."""

    max_items: int = 500
    max_wait_s: float = 300.0


@dataclass(slots=True)
class ToolCall(Generic[P]):
    params: P
    client: ConsoleClient
    progress: Progress
    limits: Limits
    scope_agent_id: str | None = None
    """The agent the server is confined to (`--agent-id`), for runners that enforce it themselves."""
    nullable: frozenset[str] = frozenset()
    """The spec's inputs where null means "clear it" (`ToolSpec.nullable`)."""
    butterbase: ButterbaseClient | None = None
    """The Butterbase client, for a spec with `api="butterbase"` (None for every other)."""
    offer_url: UrlOffer | None = None
    """Offers a URL to the user (URL-mode elicitation); None where nothing can be offered."""
    secret_entries: Callable[[str], EntryStatus] | None = None
    """What became of a secret entry the caller opened, by its pending id; None without a secret-entry page."""

    def body(self, model: type[R]) -> R:
        """The Console request model inside the flat params, built by `request_body`."""
        return request_body(self.params, model, keep_null=self.nullable)


class Refused(Exception):
    """A runner's own refusal, shown to the caller as the error text (say what was sent, if anything)."""


def request_body(params: BaseModel, model: type[R], *, keep_null: Iterable[str] = ()) -> R:
    """The Console request model inside flat tool params: the fields the caller gave.

    A null is treated as "not given" (models often fill every optional field with null),
    except for the fields in `keep_null`, where null means "clear it".
    """
    keep = set(keep_null)
    values = {
        name: getattr(params, name)
        for name in params.model_fields_set
        if name in model.model_fields and (getattr(params, name) is not None or name in keep)
    }
    return model.model_validate(values)


def paged(fetch: Callable[[ToolCall[Any], ListQuery], Awaitable[Result[list[Any]]]]) -> Runner:
    """A runner for a paginated list: one page, or every page up to the cap with progress."""

    async def run(call: ToolCall[Any]) -> dict[str, Any]:
        p: Paging = call.params
        query = ListQuery(page=p.page, limit=p.limit, search=p.search, sort=p.sort)
        if not p.all_pages:
            result = await fetch(call, query)
            meta = result.meta
            return {
                "items": result.data,
                "page": meta.current_page if meta else p.page,
                "total_count": meta.total_count if meta else len(result.data),
                "has_next_page": meta.has_next_page if meta else False,
            }

        async def report(page: int, meta: PageMeta | None) -> None:
            total = float(meta.page_count) if meta else None
            await call.progress(page, total, f"Fetched page {page}" + (f" of {meta.page_count}" if meta else ""))

        walk = await walk_pages(
            lambda page: fetch(call, ListQuery(page=page, limit=100, search=p.search, sort=p.sort)),
            max_items=call.limits.max_items,
            on_page=report,
        )
        return {
            "items": walk.items,
            "page": walk.pages,
            "total_count": walk.total_count,
            "has_next_page": walk.truncated,
        }

    return run


def listed(fetch: Callable[[ToolCall[Any]], Awaitable[Result[list[Any]]]]) -> Runner:
    """A runner for a list the Console returns whole."""

    async def run(call: ToolCall[Any]) -> dict[str, Any]:
        result = await fetch(call)
        return {"items": result.data, "page": 1, "total_count": len(result.data), "has_next_page": False}

    return run


def deleting(id_field: str, send: Callable[[ToolCall[Any]], Awaitable[Result[None]]]) -> Runner:
    """A runner for a DELETE: the Console answers with no data, so say what was removed."""

    async def run(call: ToolCall[Any]) -> dict[str, Any]:
        await send(call)
        return {"deleted": True, "id": getattr(call.params, id_field)}

    return run
