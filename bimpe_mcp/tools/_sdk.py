"""The one seam with the SDK's `MCPServer` tool machinery: everything here leans on how it builds and calls tools.

`MCPServer` derives a tool's arguments model from the function signature and validates every call
against it. bimpe-mcp validates arguments itself, once, in a middleware that can name each field
(see `ToolFactory.check_arguments`), so the tool registered here gets:

- a forged signature naming only what the SDK injects (the context and the confirmation resolver);
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

__all__ = ["ArgModelBase", "pre_parse_json", "sdk_tool"]


class _Passthrough(ArgModelBase):
    """Accepts any arguments and hands none to the handler: they were validated already."""

    model_config = ConfigDict(extra="allow")


def sdk_tool(
    spec: ToolSpec,
    handler: Callable[..., Any],
    *,
    input_schema: dict[str, Any],
    output_schema: dict[str, Any],
    resolver: Any,
) -> Tool:
    """`spec` as the SDK's `Tool`, calling `handler(ctx, [confirmation])`."""
    parameters = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
    annotations: dict[str, Any] = {"ctx": Context, "return": CallToolResult}
    if spec.confirm:
        confirmation = Annotated[ElicitationResult[ConfirmForm], Resolve(resolver)]
        parameters.append(inspect.Parameter("confirmation", inspect.Parameter.KEYWORD_ONLY, annotation=confirmation))
        annotations["confirmation"] = confirmation
    handler.__signature__ = inspect.Signature(parameters, return_annotation=CallToolResult)  # type: ignore[attr-defined]
    handler.__annotations__ = annotations
    hints = spec.hints
    tool = Tool.from_function(
        handler,
        name=spec.name,
        title=spec.title,
        description=spec.description,
        annotations=ToolAnnotations(
            read_only_hint=hints.read_only,
            destructive_hint=hints.destructive,
            idempotent_hint=hints.idempotent,
            open_world_hint=hints.open_world,
        ),
        meta={"toolset": spec.toolset},
        structured_output=False,
    )
    tool.parameters = input_schema
    tool.fn_metadata = FuncMetadata(arg_model=_Passthrough, output_schema=output_schema)
    return tool


def pre_parse_json(arg_model: type[ArgModelBase], arguments: dict[str, Any]) -> dict[str, Any]:
    """The SDK's repair of list and object arguments sent as JSON strings (some clients do), for `arg_model`."""
    return FuncMetadata(arg_model=arg_model).pre_parse_json(arguments)
