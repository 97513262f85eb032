"""The tool catalog: every toolset's `ToolSpec`s, in the order `tools/list` shows them."""

from bimpe_mcp.tools import agents, calls, conversations, integrations, knowledge, phone_numbers, testing, workflows
from bimpe_mcp.tools._spec import ToolSpec

ALL_TOOLS: tuple[ToolSpec, ...] = (
    *agents.TOOLS,
    *knowledge.TOOLS,
    *integrations.TOOLS,
    *testing.TOOLS,
    *workflows.TOOLS,
    *conversations.TOOLS,
    *calls.TOOLS,
    *phone_numbers.TOOLS,
)

__all__ = ["ALL_TOOLS", "ToolSpec"]
