"""The SDK seam (`tools/_sdk.py`): fails loudly when the SDK changes how it builds or calls a tool."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata

from bimpe_mcp.butterbase import ButterbaseTransport
from bimpe_mcp.console import ConsoleTransport
from bimpe_mcp.sandbox import RunningSandbox
from bimpe_mcp.server import build_server
from bimpe_mcp.settings import Settings
from bimpe_mcp.tools import ALL_TOOLS, Backend, ButterbaseAccess, ToolFactory


def backend() -> Backend:
    """A backend for the whole catalog: the butterbase toolset needs a Butterbase app."""
    butterbase = ButterbaseAccess(ButterbaseTransport(), "bb_sk_test_x", "app_x")
    return Backend(ConsoleTransport(), "sk_test_x", butterbase=butterbase)


def test_butterbase_tools_need_a_butterbase_app() -> None:
    with pytest.raises(ValueError, match="butterbase_list_toolkits"):
        ToolFactory(ALL_TOOLS, Backend(ConsoleTransport(), "sk_test_x"))


def test_the_sdk_still_offers_what_the_seam_uses() -> None:
    parameters = inspect.signature(Tool.from_function).parameters
    for name in ("fn", "name", "title", "description", "annotations", "meta", "structured_output"):
        assert name in parameters, f"Tool.from_function lost {name!r}"
    assert {"arg_model", "output_schema", "output_model"} <= set(FuncMetadata.model_fields)
    assert callable(getattr(FuncMetadata, "pre_parse_json", None))
    assert callable(getattr(ArgModelBase, "model_dump_one_level", None))
    assert "validate_arguments" in vars(FuncMetadata) and "call_fn" in vars(FuncMetadata)


def test_registered_tools_publish_our_schemas_and_take_no_arguments_from_the_sdk() -> None:
    factory = ToolFactory(ALL_TOOLS, backend())
    for tool in factory.tools:
        entry = factory.bound[tool.name]
        assert tool.fn_metadata.validate_arguments({"anything": 1, "agent_id": "x"}) == {}
        assert tool.fn_metadata.output_model is None, "results would be validated twice"
        assert tool.output_schema is not None and tool.output_schema["type"] == "object"
        assert set(tool.parameters["properties"]) == set(entry.parameter_names)
        assert ("confirmation" in tool.resolved_params) == entry.confirmed
        assert tool.context_kwarg == "ctx"


def test_json_strings_for_lists_are_repaired_as_the_sdk_does() -> None:
    factory = ToolFactory(ALL_TOOLS, backend())
    entry = factory.bound["set_agent_actions"]
    outcome = factory._validate(entry, {"agent_id": "agt_1", "action_ids": '["act_1"]', "enabled": True})
    assert not isinstance(outcome, Exception) and getattr(outcome, "action_ids", None) == ["act_1"]


async def test_arguments_are_validated_once_per_call(sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.load({}).with_backend(base_url=sandbox.base_url, api_key=sandbox.store.demo_api_key)
    server = build_server(settings)
    seen: list[str] = []
    original = ToolFactory._validate

    def counting(entry: Any, *args: Any) -> Any:
        seen.append(entry.spec.name)
        return original(entry, *args)

    monkeypatch.setattr(ToolFactory, "_validate", staticmethod(counting))
    try:
        assert isinstance(server.mcp, MCPServer)
        async with Client(server.mcp) as client:
            result = await client.call_tool("get_agent", {"agent_id": sandbox.store.demo_agent_id})
            bad = await client.call_tool("get_agent", {"agent_id": "../x"})
    finally:
        await server.aclose()
    assert not result.is_error and bad.is_error
    assert seen == ["get_agent", "get_agent"]
