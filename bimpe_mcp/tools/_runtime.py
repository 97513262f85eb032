"""What a runner gets (`ToolCall`) and the small helpers toolset modules share.

Imported when a server starts (for `Limits`), so the Console client is imported only for types here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from bimpe_mcp.butterbase import ButterbaseClient
    from bimpe_mcp.console import ConsoleClient, ListQuery, PageMeta, Result
    from bimpe_mcp.tools._secret_entry import EntryStatus
    from bimpe_mcp.tools._spec import Paging, Runner

__all__ = ["ApiKey", "Limits", "Refused", "ToolCall", "UrlOffer", "deleting", "listed", "paged", "request_body"]

P = TypeVar("P", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)

Progress = Callable[[float, float | None, str | None], Awaitable[None]]

UrlOffer = Callable[[str, str, str], Awaitable[str]]
"""(message, url, elicitation id) -> "accepted", "declined", "cancelled" or "not_offered": a URL offered
to the user through URL-mode elicitation, where the client supports it."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A caller's key and where it came from, so an error about it names the place to fix."""

    value: str
    source: str


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps that keep one tool call bounded."""

    max_items: int = 500
    max_wait_s: float = 300.0
    max_list_chars: int = 12_000
    """A page's items, as compact JSON, stay under this (about 3,500 cl100k tokens), so a list result
    with its text block stays under 8,000 tokens; the capped result names the call that continues."""


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

    from bimpe_mcp.console import ListQuery, walk_pages

    async def run(call: ToolCall[Any]) -> dict[str, Any]:
        p: Paging = call.params
        query = ListQuery(page=p.page, limit=p.limit, search=p.search, sort=p.sort)
        if not p.all_pages:
            result = await fetch(call, query)
            meta = result.meta
            current = meta.current_page if meta else p.page
            page: dict[str, Any] = {
                "items": result.data,
                "page": current,
                "total_count": meta.total_count if meta else len(result.data),
                "has_next_page": meta.has_next_page if meta else False,
            }
            return _cap_by_size(page, call.limits.max_list_chars, before=(current - 1) * p.limit)

        async def report(page: int, meta: PageMeta | None) -> None:
            total = float(meta.page_count) if meta else None
            await call.progress(page, total, f"Fetched page {page}" + (f" of {meta.page_count}" if meta else ""))

        walk = await walk_pages(
            lambda page: fetch(call, ListQuery(page=page, limit=_WALK_LIMIT, search=p.search, sort=p.sort)),
            max_items=call.limits.max_items,
            on_page=report,
        )
        page = {
            "items": walk.items,
            "page": walk.pages,
            "total_count": walk.total_count,
            "has_next_page": walk.truncated,
        }
        capped = _cap_by_size(page, call.limits.max_list_chars, before=0, walked=True)
        if walk.truncated and capped is page:
            page["next_step"] = _continue(len(walk.items), _WALK_LIMIT, walk.total_count, "the item cap")
        return capped

    return run


_WALK_LIMIT = 100
"""The page size `all_pages` walks with: the Console's largest."""


def _cap_by_size(page: dict[str, Any], max_chars: int, *, before: int, walked: bool = False) -> dict[str, Any]:
    """`page` whole when its items fit `max_chars` of compact JSON; else its first items and the call
    that continues exactly after them (`next_step`), with `has_next_page` true.

    `before`: the items ahead of this page. The kept count is chosen so that the offset after it is a
    whole number of pages of that size: page by hand, a divisor of `before`; walking, whole pages of
    100 (or the first page of fewer).
    """
    items: Sequence[Any] = page["items"]
    fitting = _fitting(items, max_chars)
    if fitting == len(items):
        return page
    if walked:
        keep = fitting if fitting < _WALK_LIMIT else fitting - fitting % _WALK_LIMIT
    else:
        keep = fitting if before == 0 else max(d for d in _divisors(before) if d <= fitting)
    shown = before + keep
    return {
        **page,
        "items": list(items[:keep]),
        "has_next_page": True,
        "next_step": _continue(shown, keep, page["total_count"], "the size cap"),
    }


def _continue(shown: int, size: int, total: int, cap: str) -> str:
    more = f"{total - shown} more" if total > shown else "More"
    return f"{more} past {cap}: call again with page={shown // size + 1}, limit={size}, all_pages=false."


def _fitting(items: Sequence[Any], max_chars: int) -> int:
    """How many leading items fit in `max_chars` of compact JSON: at least one."""
    used = 0
    for count, item in enumerate(items):
        dumped = item.model_dump(mode="json") if isinstance(item, BaseModel) else item
        used += len(json.dumps(dumped, separators=(",", ":"), ensure_ascii=False)) + 1
        if used > max_chars:
            return max(count, 1)
    return len(items)


def _divisors(number: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(number) + 1) if number % d == 0]
    return small + [number // d for d in small]


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
