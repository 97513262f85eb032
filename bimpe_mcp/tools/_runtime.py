"""What a runner gets (`ToolCall`) and the small helpers toolset modules share.

Imported when a server starts (for `Limits`), so the Console client is imported only for types here.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from bimpe_mcp.butterbase import ButterbaseClient
    from bimpe_mcp.console import ConsoleClient, ListQuery, PageMeta, Result
    from bimpe_mcp.tools._secret_entry import EntryStatus
    from bimpe_mcp.tools._sizing import Listing
    from bimpe_mcp.tools._spec import Paging, Runner

__all__ = [
    "RESULT_MAX_TOKENS",
    "ApiKey",
    "Limits",
    "Refused",
    "ToolCall",
    "UrlOffer",
    "deleting",
    "listed",
    "paged",
    "request_body",
    "whole_list",
]

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


RESULT_MAX_TOKENS: Final = 8_000
"""Issue #9: no single result may cost a model more, its text block and `structuredContent` together."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps that keep one tool call bounded."""

    max_items: int = 500
    max_wait_s: float = 300.0
    max_result_tokens: int = RESULT_MAX_TOKENS
    """What one result may cost a model, its text block and `structuredContent` together, in cl100k tokens
    as `_sizing` estimates them: a list past it shows its leading items and names the call that
    continues, an object has its longest texts and inner lists cut."""


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
    """A runner for a paginated list: one page, or every page up to the item cap with progress.

    Measured against the size cap when the result is built (`_sizing.fit`): a page that does not
    fit shows its leading items, and `next_step` names the page and limit that start right after them.
    """

    from bimpe_mcp.console import ListQuery, walk_pages
    from bimpe_mcp.tools._sizing import Listing

    async def run(call: ToolCall[Any]) -> Listing:
        p: Paging = call.params
        query = ListQuery(page=p.page, limit=p.limit, search=p.search, sort=p.sort)
        if not p.all_pages:
            result = await fetch(call, query)
            meta = result.meta
            current = meta.current_page if meta else p.page
            total = meta.total_count if meta else len(result.data)
            page: dict[str, Any] = {
                "items": result.data,
                "page": current,
                "total_count": total,
                "has_next_page": meta.has_next_page if meta else False,
            }
            before = (current - 1) * p.limit
            return Listing(page, "items", lambda fitting: _page_cut(fitting, before, total))

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
        if walk.truncated:
            page["next_step"] = _continue(len(walk.items), _WALK_LIMIT, walk.total_count, "the item cap")
        return Listing(page, "items", lambda fitting: _walk_cut(fitting, walk.total_count))

    return run


_WALK_LIMIT = 100
"""The page size `all_pages` walks with: the Console's largest."""


def _page_cut(fitting: int, before: int, total: int) -> tuple[int, dict[str, Any]]:
    """A page cut to its first `fitting` items or fewer, so the offset after them is a whole number of
    pages of the kept size (a divisor of `before`, the items ahead of this page), and the call after them."""
    keep = fitting if before == 0 else max(d for d in _divisors(before) if d <= fitting)
    return keep, _going_on(before + keep, keep, total)


def _walk_cut(fitting: int, total: int) -> tuple[int, dict[str, Any]]:
    """A walk cut to whole pages of 100 (or the first page, cut), and the call after them."""
    keep = fitting if fitting < _WALK_LIMIT else fitting - fitting % _WALK_LIMIT
    return keep, _going_on(keep, min(keep, _WALK_LIMIT), total)


def _going_on(shown: int, size: int, total: int) -> dict[str, Any]:
    return {"has_next_page": True, "next_step": _continue(shown, size, total, "the size cap")}


def _continue(shown: int, size: int, total: int, cap: str) -> str:
    more = f"{total - shown} more" if total > shown else "More"
    return f"{more} past {cap}: call again with page={shown // size + 1}, limit={size}, all_pages=false."


def _divisors(number: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(number) + 1) if number % d == 0]
    return small + [number // d for d in small]


def listed(fetch: Callable[[ToolCall[Any]], Awaitable[Result[list[Any]]]]) -> Runner:
    """A runner for a list the Console returns whole, shown from the call's `offset` (`whole_list`)."""

    async def run(call: ToolCall[Any]) -> Listing:
        return whole_list((await fetch(call)).data, call.params.offset)

    return run


def whole_list(items: Sequence[Any], offset: int | None) -> Listing:
    """A list an API returns whole, shown from `offset`: as much as fits, then the offset that goes on.

    Each call fetches the whole list again; `offset` only chooses the part shown, so the wording says so.
    """
    from bimpe_mcp.tools._sizing import Listing

    start = offset or 0
    total = len(items)

    def cut(fitting: int) -> tuple[int, dict[str, Any]]:
        after = start + fitting
        step = (
            f"{total - after} more past the size cap: call again with offset={after} "
            "(the list is fetched whole and shown from there)."
        )
        return fitting, {"has_next_page": True, "next_step": step}

    shown = {"items": list(items[start:]), "page": 1, "total_count": total, "has_next_page": False}
    return Listing(shown, "items", cut)


def deleting(id_field: str, send: Callable[[ToolCall[Any]], Awaitable[Result[None]]]) -> Runner:
    """A runner for a DELETE: the Console answers with no data, so say what was removed."""

    async def run(call: ToolCall[Any]) -> dict[str, Any]:
        await send(call)
        return {"deleted": True, "id": getattr(call.params, id_field)}

    return run
