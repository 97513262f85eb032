"""The one seam with the SDK's `MCPServer` tool machinery: everything here leans on how it builds and calls tools.

`MCPServer` derives a tool's arguments model from the function signature and validates every call
against it. bimpe-mcp validates arguments itself, once, in a middleware that can name each field
(see `ToolFactory.check_arguments`), so the tool registered here gets:

- a forged signature naming only what the SDK injects (the context and the confirmation resolver),
  built twice per server (`ToolBuilder`), every tool a copy of one of the two;
- an arguments model that accepts anything and passes nothing on (`_Passthrough`), so the SDK's own
  validation costs nothing and the handler reads the middleware's result instead;
- the published input and output schemas set directly, and no output model, so results are not
  validated a second time after `contract.success_result` built them from the output model.

`tests/tools/test_sdk_seam.py` fails loudly when the SDK changes underneath any of this.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context, ElicitationResult, Resolve
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import ConfigDict

from bimpe_mcp.tools._confirmation import ConfirmForm
from bimpe_mcp.tools._spec import ToolSpec

__all__ = ["ArgModelBase", "ToolBuilder", "pre_parse_json"]


class _Passthrough(ArgModelBase):
    """Accepts any arguments and hands none to the handler: they were validated already."""

    model_config = ConfigDict(extra="allow")


class ToolBuilder:
    """Makes the SDK `Tool` of a spec: from one of two templates, built once by the SDK itself.

    `Tool.from_function` inspects a signature and generates a schema each time; every tool here
    has one of two signatures (with or without the confirmation resolver), so two calls suffice
    and each tool is a copy with its own handler, names and schemas.
    """

    def __init__(self, resolver: Any) -> None:
        self._templates = {confirmed: _template(confirmed, resolver) for confirmed in (False, True)}

    def build(
        self,
        spec: ToolSpec,
        handler: Callable[..., Any],
        *,
        confirmed: bool,
        description: str,
        input_schema: dict[str, Any],
        output_schema: dict[str, Any],
    ) -> Tool:
        """`spec` as the SDK's `Tool`, calling `handler(ctx=…, confirmation=…)`; `confirmed`: the
        confirmation resolver runs first."""
        hints = spec.hints
        tool = self._templates[confirmed].model_copy(
            update={
                "fn": handler,
                "name": spec.name,
                "title": spec.title,
                "description": description,
                "parameters": input_schema,
                "fn_metadata": FuncMetadata(arg_model=_Passthrough, output_schema=output_schema),
                "annotations": ToolAnnotations(
                    read_only_hint=hints.read_only,
                    destructive_hint=hints.destructive,
                    idempotent_hint=hints.idempotent,
                    open_world_hint=hints.open_world,
                ),
                "meta": {"toolset": spec.toolset},
            }
        )
        tool.__dict__.pop("output_schema", None)  # a cached_property: read it from this copy's metadata
        return tool


def _template(confirmed: bool, resolver: Any) -> Tool:
    parameters = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
    annotations: dict[str, Any] = {"ctx": Context, "return": CallToolResult}
    if confirmed:
        confirmation = Annotated[ElicitationResult[ConfirmForm], Resolve(resolver)]
        parameters.append(inspect.Parameter("confirmation", inspect.Parameter.KEYWORD_ONLY, annotation=confirmation))
        annotations["confirmation"] = confirmation

    async def template(ctx: Context, confirmation: Any = None) -> CallToolResult:
        raise NotImplementedError  # never called: every copy gets its own handler

    template.__signature__ = inspect.Signature(parameters, return_annotation=CallToolResult)  # type: ignore[attr-defined]
    template.__annotations__ = annotations
    return Tool.from_function(template, name="template", description="template", structured_output=False)


def pre_parse_json(arg_model: type[ArgModelBase], arguments: dict[str, Any]) -> dict[str, Any]:
    """The SDK's repair of list and object arguments sent as JSON strings (some clients do), for `arg_model`."""
    return FuncMetadata(arg_model=arg_model).pre_parse_json(arguments)
