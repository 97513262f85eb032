"""Each tool's arguments and output models, and what `_schemas.json` ships: its facts and published schemas.

Generating 100 JSON schemas with pydantic cost a stdio server about half a second at every
launch. They are generated once, from the models, into `_schemas.json` (`UPDATE_SNAPSHOTS=1
pytest tests/test_catalog.py`), and a test fails when the file drifts from the models. The
models themselves are built on a tool's first call, not at start (see `_catalog`).
"""

from __future__ import annotations

import functools
from typing import Any, cast

from pydantic import Field, create_model

from bimpe_mcp.tools._schema import compact_schema, output_schema
from bimpe_mcp.tools._sdk import ArgModelBase
from bimpe_mcp.tools._spec import ToolSpec

__all__ = ["args_model", "generate_catalog", "generate_tool"]

_IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_.:-]+$"


@functools.cache
def args_model(spec: ToolSpec) -> type[ArgModelBase]:
    """The spec's params plus the server's control arguments (`confirm`, `idempotency_key`)."""
    controls: dict[str, Any] = {}
    if spec.confirm:
        controls["confirm"] = (
            str | None,
            Field(None, description=f"Repeat {spec.confirm_target_text} to skip the prompt."),
        )
    if not spec.hints.read_only:
        controls["idempotency_key"] = (
            str | None,
            Field(
                None,
                max_length=200,
                pattern=_IDEMPOTENCY_KEY_PATTERN,
                description="Retry key.",
            ),
        )
    return cast(type[ArgModelBase], create_model(spec.name, __base__=(spec.params, ArgModelBase), **controls))


def generate_tool(spec: ToolSpec) -> dict[str, Any]:
    """One tool's shipped entry: its facts, its input schema (unscoped) and its output schema."""
    inputs = compact_schema(args_model(spec).model_json_schema())
    for name in sorted(spec.nullable):
        if prop := inputs["properties"].get(name):
            prop["type"] = [prop["type"], "null"]
    output = output_schema(spec.output.model_json_schema())
    if spec.untrusted:
        from bimpe_mcp.console import models

        # Where the fenced text lies; the result's `untrusted` field opens the fence (docs/tool-responses.md).
        output[models.UNTRUSTED_KEYWORD] = list(spec.untrusted)
    return {**spec.facts.as_data(), "input": inputs, "output": output}


def generate_catalog(specs: tuple[ToolSpec, ...]) -> dict[str, list[dict[str, Any]]]:
    """What `_schemas.json` holds: every tool's entry, in catalog order."""
    return {"tools": [generate_tool(spec) for spec in specs]}
