"""What a result costs a model, and how a result over the cap is cut to fit (docs/tool-responses.md, "Size").

A client may hand the model both a result's text block and its `structuredContent`, so a result
costs twice the tokens of its compact JSON: the text block is that JSON, or a rendering shorter
than it. Tokens are cl100k's, estimated without the tokenizer (`estimate_tokens`), erring high.

Over the cap, a list (`Listing`) keeps its leading items and its runner names the call that
continues after them. An object, or the one item a list cannot do without, has its longest texts
cut to a common length (down to `TEXT_FLOOR_CHARS`), then its longest inner lists cut to their
leading items; `next_step` says what was cut and where the rest can be read, if anywhere.

Loaded with a tool's first result, not when a server starts.
"""

from __future__ import annotations

import functools
import json
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel

from bimpe_mcp.tools._fencing import FENCE_FIELD, fence
from bimpe_mcp.tools._runtime import RESULT_MAX_TOKENS

__all__ = ["TEXT_FLOOR_CHARS", "Listing", "Room", "estimate_tokens", "fit", "result_tokens"]

TEXT_FLOOR_CHARS: Final = 1_000
"""Texts are never cut shorter than this; past it, an object's inner lists are cut instead."""

_NEXT_STEP: Final = "next_step"


@functools.cache
def _patterns() -> tuple[re.Pattern[str], ...]:
    """cl100k splits text into pieces before merging (letters with one leading mark, up to three digits,
    punctuation runs, spaces); each piece is at least one token. Long words, consonant clusters and
    case changes (random strings, camelCase), long punctuation runs (JSON's `":"` merge best) and a
    word led by a rarely merged mark (`|Item`, `*bold`) take more. Compiled on first use: a server
    starts without paying for them."""
    return (
        re.compile(r"(?:[^\r\n\w]|_)?[^\W\d_]+|\d{1,3}| ?(?:[^\s\w]|_)+[\r\n]*|\s+"),
        re.compile(r"[A-Za-z]{7,}"),
        re.compile(r"[bcdfghjklmnpqrstvwxz]{3,}"),
        re.compile(r"[a-z][A-Z]|[A-Z]{2}[a-z]"),
        re.compile(r"[^\s\w]{3,}"),
        re.compile(r"[|*#@$%^&~=+<>\\][^\W\d_]"),
    )


_JSON_MARKS = frozenset("\"',:{}[]\\")


def estimate_tokens(text: str) -> int:
    """cl100k tokens of `text`, estimated high: tests/tools/test_sizing.py holds it to tiktoken.

    Non-ASCII text counts one token more per two bytes past the first.
    """
    piece, long_word, cluster, case_change, punctuation, rare_lead = _patterns()
    count = len(piece.findall(text))
    count += sum((len(word) - 1) // 6 for word in long_word.findall(text))
    count += sum(len(run) - 1 for run in cluster.findall(text))
    count += 2 * len(case_change.findall(text))
    count += sum((len(run) - 1) // (3 if _JSON_MARKS.issuperset(run) else 2) for run in punctuation.findall(text))
    count += len(rare_lead.findall(text))
    size = len(text.encode())
    if size != len(text):
        count += (size - len(text.encode("ascii", "ignore")) + 1) // 2
    return count


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def result_tokens(structured: Any) -> int:
    """What a result costs a model: its JSON twice (as `structuredContent`, and as or over its text block)."""
    return 2 * estimate_tokens(_dumps(structured))


@dataclass(frozen=True, slots=True)
class Listing:
    """A list result before it is measured: every item the runner has, and how to go on after a part of them.

    `fields`: the output model's fields, the list under `key` among them. `cut(n)`, for the `n`
    leading items that fit (1 ≤ n < all): how many to show (at most `n`, at least 1: a page
    boundary may ask for fewer) and the fields that say how to go on (`has_next_page`, `next_step`).
    """

    fields: Mapping[str, Any]
    key: str
    cut: Callable[[int], tuple[int, dict[str, Any]]]


class Room:
    """The room left in a list result for items a runner collects one at a time (messages as they arrive),
    so it stops collecting once the next would pass the cap; `fit` still measures the result it builds."""

    def __init__(self, output: type[BaseModel], key: str, max_tokens: int) -> None:
        self._output, self._key = output, key
        self._left = max_tokens - 2 * (_ENVELOPE_TOKENS + _NOTE_TOKENS)
        self._taken = 0

    def take(self, item: BaseModel) -> bool:
        """Whether `item`, fenced as shown, still fits (then it is counted); the first always does."""
        shown = fence(self._output, {self._key: [item.model_dump(mode="json")]})[self._key][0]
        cost = 2 * (estimate_tokens(_dumps(shown)) + 1)
        if self._taken and cost > self._left:
            return False
        self._left -= cost
        self._taken += 1
        return True


_ENVELOPE_TOKENS: Final = 150
"""Room kept, per copy, for a list result's other fields and its fence notice."""


def fit(
    structured: dict[str, Any],
    *,
    listing: Listing | None = None,
    full_lists: Mapping[str, str] | None = None,
    max_tokens: int = RESULT_MAX_TOKENS,
) -> dict[str, Any]:
    """`structured` (fenced, as shown) within `max_tokens`: whole when it fits; else a list's leading items,
    and an object (or a list's one item) with its longest texts and inner lists cut.

    `full_lists`: for an inner list a cut may shorten (`knowledge_bases`, `items[].actions`), the
    tool that lists all of it.
    """
    text = _dumps(structured)
    if 2 * len(text.encode()) <= max_tokens:  # a token is at least a byte: no need to estimate
        return structured
    if listing is not None and len(structured[listing.key]) > 1:
        structured, fits = _fit_list(structured, listing, max_tokens)
        if fits:
            return structured
    elif 2 * estimate_tokens(text) <= max_tokens:
        return structured
    keep = {listing.key} if listing is not None else set()
    return _cut_object(structured, max_tokens, keep, full_lists or {})


def _fit_list(structured: dict[str, Any], listing: Listing, max_tokens: int) -> tuple[dict[str, Any], bool]:
    """The list whole if it fits, else its leading items that do (at least one) with the fields that say
    how to go on; and whether that fits. Each item is estimated once; a result costs its parts' sum."""
    key = listing.key
    items: list[Any] = structured[key]
    whole = result_tokens({**structured, key: []})
    going_on = listing.cut(len(items) - 1)[1]
    envelope = max(whole, result_tokens({**structured, key: [], **going_on}))
    costs: list[int] = []
    total = 0
    for item in items:
        costs.append(2 * (_item_tokens(_dumps(item)) + 1))
        total += costs[-1]
        if envelope + total > max_tokens:
            break
    else:
        if whole + total <= max_tokens:
            return structured, True
    fitting, used = 0, envelope
    for cost in costs:
        used += cost
        if used > max_tokens:
            break
        fitting += 1
    shown, going_on = listing.cut(min(max(fitting, 1), len(items) - 1))
    return {**structured, key: items[:shown], **going_on}, fitting > 0


_ITEM_ESTIMATES: OrderedDict[tuple[int, int], int] = OrderedDict()
_ITEM_ESTIMATES_KEPT: Final = 4_096


def _item_tokens(text: str) -> int:
    """`estimate_tokens` of a list item's JSON, remembered: the same items come back page after page and
    call after call, and estimating costs about 0.2 ms a kilobyte. Kept by the text's hash and length,
    so the cache holds numbers, not the texts."""
    key = (hash(text), len(text))
    if (known := _ITEM_ESTIMATES.get(key)) is not None:
        _ITEM_ESTIMATES.move_to_end(key)
        return known
    _ITEM_ESTIMATES[key] = estimate = estimate_tokens(text)
    if len(_ITEM_ESTIMATES) > _ITEM_ESTIMATES_KEPT:
        _ITEM_ESTIMATES.popitem(last=False)
    return estimate


_NOTE_TOKENS: Final = 150
"""Room kept, per copy, for the note a cut adds to `next_step`."""

_CHARS_PER_TOKEN_HIGH: Final = 4
"""Few texts average more characters per token: the search for the common length starts at this many
per token of the cap, so a megabyte text costs no more to cut than one just over it."""


def _cut_object(
    structured: dict[str, Any], max_tokens: int, keep: set[str], full_lists: Mapping[str, str]
) -> dict[str, Any]:
    """The longest texts cut to a common length that fits; under `TEXT_FLOOR_CHARS`, inner lists cut too."""
    fence = structured.get(FENCE_FIELD)
    marks = (fence["open"], fence["close"]) if isinstance(fence, dict) else ("", "")
    body = {key: value for key, value in structured.items() if key != FENCE_FIELD}
    budget = max_tokens - 2 * _NOTE_TOKENS - (result_tokens({FENCE_FIELD: fence}) if fence is not None else 0)
    lists: list[tuple[str, int, int]] = []
    if result_tokens(_cut_texts(body, TEXT_FLOOR_CHARS, marks)) <= budget:
        low = TEXT_FLOOR_CHARS
        high = min(max((len(text) for text in _texts(body)), default=low), _CHARS_PER_TOKEN_HIGH * max_tokens)
        while low < high:  # the longest common length that fits
            middle = (low + high + 1) // 2
            if result_tokens(_cut_texts(body, middle, marks)) <= budget:
                low = middle
            else:
                high = middle - 1
        length = low
        body = _cut_texts(body, length, marks)
    else:
        length = TEXT_FLOOR_CHARS
        body = _cut_lists(_cut_texts(body, length, marks), budget, keep, lists)
    cut_texts = sum(1 for text in _texts(body) if _CUT_MARK.search(text))
    if not cut_texts and not lists:  # nothing left that a cut can shorten
        return structured
    note = _note(cut_texts, length, lists, full_lists)
    earlier = body.get(_NEXT_STEP)
    if fence is not None:
        body = {FENCE_FIELD: fence, **body}
    return {**body, _NEXT_STEP: f"{earlier} {note}" if earlier else note}


_CUT_MARK = re.compile(r"…\[cut: [\d,]+ more characters\]")


def _texts(value: Any) -> Iterator[str]:
    """Every text a cut may shorten: all but `next_step`."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != _NEXT_STEP:
                yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def _cut_texts(value: Any, length: int, marks: tuple[str, str]) -> Any:
    """`value` with every text longer than `length` cut to it and marked; a fenced text keeps its fence."""
    if isinstance(value, str):
        opening, closing = marks
        fenced = bool(opening) and value.startswith(opening) and value.endswith(closing)
        inner = value[len(opening) : len(value) - len(closing)] if fenced else value
        if len(inner) <= length:
            return value
        cut = f"{inner[:length]}…[cut: {len(inner) - length:,} more characters]"
        return f"{opening}{cut}{closing}" if fenced else cut
    if isinstance(value, dict):
        return {key: item if key == _NEXT_STEP else _cut_texts(item, length, marks) for key, item in value.items()}
    if isinstance(value, list):
        return [_cut_texts(item, length, marks) for item in value]
    return value


Container = list[Any] | dict[str, Any]


def _containers(value: Any, path: str = "") -> Iterator[tuple[str, Container]]:
    """Every non-empty list and object inside `value`, with its path (`knowledge_bases`, `items[].actions`)."""
    if isinstance(value, dict):
        if value and path:
            yield path, value
        for key, item in value.items():
            yield from _containers(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        if value and path:
            yield path, value
        for item in value:
            yield from _containers(item, f"{path}[]")


def _cut_lists(body: dict[str, Any], budget: int, keep: set[str], cuts: list[tuple[str, int, int]]) -> dict[str, Any]:
    """Cut the costliest inner list to the leading items that fit, then the next, until `body` fits; when no
    list is left to cut, the costliest object to its leading entries (a map of thousands of keys).

    `keep`: lists never cut (a list result's own items); `cuts` gains (path, shown, total) per cut.
    """
    while (total := result_tokens(body)) > budget:
        found = [(path, part) for path, part in _containers(body) if path not in keep]
        candidates = [(path, part) for path, part in found if isinstance(part, list)] or found
        if not candidates:
            return body
        costs = [(result_tokens(part), path, part) for path, part in candidates]
        cost, path, part = max(costs, key=lambda candidate: candidate[0])
        entries = part if isinstance(part, list) else list(part.items())
        room = budget - (total - cost)
        shown = 0
        for entry in entries[: len(entries) - 1]:
            room -= result_tokens(entry) + 2
            if room < 0:
                break
            shown += 1
        body = _replace(body, part, entries[:shown] if isinstance(part, list) else dict(entries[:shown]))
        cuts.append((path, shown, len(entries)))
    return body


def _replace(value: Any, old: Container, new: Container) -> Any:
    """`value` with `old` (that very list or object) replaced by `new`."""
    if value is old:
        return new
    if isinstance(value, dict):
        return {key: _replace(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace(item, old, new) for item in value]
    return value


def _note(texts: int, length: int, lists: list[tuple[str, int, int]], full_lists: Mapping[str, str]) -> str:
    """What a cut left out, and where the rest can be read, if anywhere."""
    totals: dict[str, tuple[int, int]] = {}
    for path, shown, total in lists:  # a list cut twice keeps its first total
        totals[path] = (shown, totals[path][1] if path in totals else total)
    parts = [f"{path} to its first {shown} of {total} entries" for path, (shown, total) in totals.items()]
    if texts:
        which = "1 text to its" if texts == 1 else f"{texts} texts to their"
        parts.insert(0, f"{which} first {length:,} characters (marked …[cut: N more characters])")
    sentences = [f"Cut to fit the {RESULT_MAX_TOKENS:,}-token result cap: {'; '.join(parts)}."]
    sentences.extend(f"For all of {path}, call {full_lists[path]}." for path in totals if path in full_lists)
    if texts or any(path not in full_lists for path in totals):
        sentences.append("The API returns the rest only as part of this whole, so it cannot be shown here.")
    return " ".join(sentences)
