"""Search, sort and paginate in-memory records the way the Console's list endpoints do."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def search_sort_page(
    items: list[dict[str, Any]],
    *,
    page: int,
    limit: int,
    search: str | None,
    sort: str | None,
    search_fields: Iterable[str],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Filter by case-insensitive substring on `search_fields`, stable-sort by `sort`, slice one page."""
    fields = tuple(search_fields)
    if search:
        needle = search.lower()
        items = [it for it in items if any(needle in str(it.get(f) or "").lower() for f in fields)]
    if sort:
        key = sort.lstrip("-")
        present = [it for it in items if it.get(key) is not None]
        missing = [it for it in items if it.get(key) is None]
        present.sort(key=lambda it: _sortable(it[key]), reverse=sort.startswith("-"))
        items = present + missing
    total = len(items)
    page_count = math.ceil(total / limit) if total else 0
    start = (page - 1) * limit
    meta = {
        "total_count": total,
        "page_count": page_count,
        "current_page": page,
        "limit": limit,
        "has_next_page": page < page_count,
        "has_previous_page": page > 1,
    }
    return items[start : start + limit], meta


def _sortable(value: Any) -> Any:
    if isinstance(value, str):
        return (1, value.lower())
    if isinstance(value, bool | int | float):
        return (0, value)
    return (2, str(value))
