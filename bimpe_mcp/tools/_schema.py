"""Shrink pydantic's JSON schemas to what a caller uses: a model reads every byte on every turn.

An input schema keeps each parameter's type, description, enum and default; it loses generated
titles, `default: null` and `default: false` (leaving the parameter out means the same), the null arm
of optional parameters,
string patterns and lengths, numeric bounds (a bound a caller needs is in the description), and
the fields of nested objects, which become `{"type": "object"}` (a list of them, `{"type":
"array"}`) with a description naming their fields, and `additionalProperties: true|false`.
Those rules still hold: the server checks every argument against the tool's model and names the
field and the fix (an unknown argument's error lists the valid ones).

An output schema is the result's top-level fields: a field that is never null has its type; one
the Console may leave empty (sent as null) has none. Nested objects and list items are typed as
such; their fields are in the tool's description and the Console API reference. The budget
(tests/snapshots/token_budget.json) has no room for the 373 nullable nested types they had.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compact_schema", "output_schema"]

_DROPPED = frozenset(
    {
        "title",
        "pattern",
        "maxLength",
        "minLength",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
    }
)
"""Keywords no input schema publishes: generated noise, or rules the server enforces and names (a bound
a caller needs to know is in the parameter's description)."""


def compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameters schema as published: see the module docstring."""
    compacted: dict[str, Any] = _compact(schema, in_properties=False)
    return compacted


def output_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A result schema as published: its top-level fields, typed when never null."""
    definitions = schema.get("$defs", {})
    fields: dict[str, Any] = {}
    for name, field in schema.get("properties", {}).items():
        if "$ref" in field:
            field = definitions[field["$ref"].rsplit("/", 1)[-1]]
        kind = field.get("type")
        fields[name] = {"type": kind} if isinstance(kind, str) else {}
    return {"type": "object", "properties": fields}


def _compact(node: Any, *, in_properties: bool) -> Any:
    if isinstance(node, list):
        return [_compact(item, in_properties=False) for item in node]
    if not isinstance(node, dict):
        return node
    if in_properties:
        return {name: _compact(value, in_properties=False) for name, value in node.items()}
    out: dict[str, Any] = {}
    for key, value in node.items():
        dropped = key in _DROPPED or key == "$defs"
        if (
            dropped
            or (key == "default" and (value is None or value is False))
            or (key == "additionalProperties" and isinstance(value, bool))
        ):
            continue
        if key == "$ref":
            out["type"] = "object"
            continue
        if key == "items" and isinstance(value, dict) and ("$ref" in value or value == {}):
            continue
        out[key] = _compact(value, in_properties=key == "properties")
    return _fold_nullable(out)


def _fold_nullable(node: dict[str, Any]) -> dict[str, Any]:
    branches = node.get("anyOf")
    if not isinstance(branches, list) or {"type": "null"} not in branches:
        return node
    others = [branch for branch in branches if branch != {"type": "null"}]
    if len(others) != 1:
        return node
    rest = {key: value for key, value in node.items() if key != "anyOf"}
    return {**others[0], **rest}
