"""Shrink pydantic's JSON schemas to what a model needs: every byte is read on every turn.

Drops generated titles and `default: null`, and folds `anyOf: [X, null]` into X. Inputs
lose the null arm (leaving an optional parameter out means the same thing); outputs keep
it as `type: [X, "null"]` so clients can still validate results that carry nulls.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compact_schema"]


def compact_schema(schema: dict[str, Any], *, keep_null: bool) -> dict[str, Any]:
    compacted: dict[str, Any] = _compact(schema, keep_null=keep_null, in_properties=False)
    return compacted


def _compact(node: Any, *, keep_null: bool, in_properties: bool) -> Any:
    if isinstance(node, list):
        return [_compact(item, keep_null=keep_null, in_properties=False) for item in node]
    if not isinstance(node, dict):
        return node
    if in_properties:
        return {name: _compact(value, keep_null=keep_null, in_properties=False) for name, value in node.items()}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" or (key == "default" and value is None):
            continue
        out[key] = _compact(value, keep_null=keep_null, in_properties=key in ("properties", "$defs"))
    return _fold_nullable(out, keep_null=keep_null)


def _fold_nullable(node: dict[str, Any], *, keep_null: bool) -> dict[str, Any]:
    branches = node.get("anyOf")
    if not isinstance(branches, list) or {"type": "null"} not in branches:
        return node
    others = [branch for branch in branches if branch != {"type": "null"}]
    if len(others) != 1:
        return node
    rest = {key: value for key, value in node.items() if key != "anyOf"}
    only = others[0]
    if not keep_null:
        return {**only, **rest}
    if isinstance(only.get("type"), str):
        return {**only, **rest, "type": [only["type"], "null"]}
    return node
