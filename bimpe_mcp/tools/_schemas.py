"""Each tool's arguments and output models, and its published schemas shipped as data.

Generating 100 JSON schemas with pydantic cost a stdio server about half a second at every
launch. They are generated once, from the models, into `_schemas.json` (`UPDATE_SNAPSHOTS=1
pytest tests/test_catalog.py`), and a test fails when the file drifts from the models. The
models themselves are built on a tool's first call, not at start.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Annotated, Any, cast

from pydantic import BaseModel, Field, WithJsonSchema, create_model

from bimpe_mcp.tools._fencing import FENCE_FIELD, Fence, model_untrusted_paths
from bimpe_mcp.tools._schema import compact_schema
from bimpe_mcp.tools._sdk import ArgModelBase
from bimpe_mcp.tools._spec import ToolSpec, Traced

__all__ = ["SCHEMAS_FILE", "args_model", "generate_schemas", "output_model", "published_schemas"]

SCHEMAS_FILE = Path(__file__).with_name("_schemas.json")

_IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_.:-]+$"


@functools.cache
def args_model(spec: ToolSpec) -> type[ArgModelBase]:
    """The spec's params plus the server's control arguments (`confirm`, `idempotency_key`)."""
    controls: dict[str, Any] = {}
    if spec.confirm:
        controls["confirm"] = (
            str | None,
            Field(None, description=f"Set to the {spec.confirm_target_text} to confirm without a prompt."),
        )
    if not spec.hints.read_only:
        controls["idempotency_key"] = (
            str | None,
            Field(
                None,
                max_length=200,
                pattern=_IDEMPOTENCY_KEY_PATTERN,
                description="Reuse the key from a failed call to retry it safely.",
            ),
        )
    return cast(type[ArgModelBase], create_model(spec.name, __base__=(spec.params, ArgModelBase), **controls))


@functools.cache
def output_model(spec: ToolSpec) -> type[BaseModel]:
    """The spec's output with the request ids every result carries, and the fence opener where
    it holds text written outside the team (see `_fencing`)."""
    added: dict[str, Any] = {}
    if model_untrusted_paths(spec.output):
        added[FENCE_FIELD] = (Annotated[Fence | None, WithJsonSchema({"type": ["object", "null"]})], None)
    if issubclass(spec.output, Traced) and not added:
        return spec.output
    bases = (spec.output,) if issubclass(spec.output, Traced) else (spec.output, Traced)
    return create_model(f"{spec.output.__name__}Result", __base__=bases, **added)


def _generate(spec: ToolSpec) -> dict[str, Any]:
    inputs = compact_schema(args_model(spec).model_json_schema(), keep_null=False)
    for name in sorted(spec.nullable):
        if prop := inputs["properties"].get(name):
            prop["type"] = [prop["type"], "null"]
    return {"input": inputs, "output": compact_schema(output_model(spec).model_json_schema(), keep_null=True)}


def generate_schemas(specs: tuple[ToolSpec, ...]) -> dict[str, dict[str, Any]]:
    """What `_schemas.json` holds: each tool's input (unscoped) and output schema, from its models."""
    return {spec.name: _generate(spec) for spec in specs}


@functools.cache
def _shipped() -> dict[str, dict[str, Any]]:
    try:
        loaded: dict[str, dict[str, Any]] = json.loads(SCHEMAS_FILE.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return loaded


def published_schemas(
    spec: ToolSpec, *, hidden_inputs: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The input schema (less `hidden_inputs`, the arguments the server injects) and the output schema.

    From the shipped file; a spec it does not know (a new tool before regeneration) is generated.
    """
    schemas = _shipped().get(spec.name) or _generate(spec)
    inputs = json.loads(json.dumps(schemas["input"]))
    for name in hidden_inputs:
        inputs["properties"].pop(name, None)
        if name in inputs.get("required", []):
            inputs["required"].remove(name)
    return inputs, schemas["output"]
