"""The tool catalog and what turns it into MCP tools.

Every module here is private; this package's `__all__` is its public face. The catalog is
`ALL_TOOLS`: every toolset's `ToolSpec`s, in the order `tools/list` shows them.
"""

from bimpe_mcp.tools import (
    _agents,
    _butterbase,
    _calls,
    _conversations,
    _integrations,
    _knowledge,
    _phone_numbers,
    _testing,
    _workflows,
)
from bimpe_mcp.tools._fencing import unfence
from bimpe_mcp.tools._registry import ApiKey, Backend, ButterbaseAccess, KeyProvider, NarrowingProvider, ToolFactory
from bimpe_mcp.tools._runtime import Limits, Refused, ToolCall
from bimpe_mcp.tools._secret_entry import EntryRefused, PendingEntry, SecretEntries, SecretNeed
from bimpe_mcp.tools._selection import Narrowing, hidden_reason, narrowed_reason, select_tools
from bimpe_mcp.tools._spec import Hints, Scope, ToolSpec

ALL_TOOLS: tuple[ToolSpec, ...] = (
    *_agents.TOOLS,
    *_knowledge.TOOLS,
    *_integrations.TOOLS,
    *_testing.TOOLS,
    *_workflows.TOOLS,
    *_conversations.TOOLS,
    *_calls.TOOLS,
    *_phone_numbers.TOOLS,
    *_butterbase.TOOLS,
)

__all__ = [
    "ALL_TOOLS",
    "ApiKey",
    "Backend",
    "ButterbaseAccess",
    "EntryRefused",
    "Hints",
    "KeyProvider",
    "Limits",
    "Narrowing",
    "NarrowingProvider",
    "PendingEntry",
    "Refused",
    "Scope",
    "SecretEntries",
    "SecretNeed",
    "ToolCall",
    "ToolFactory",
    "ToolSpec",
    "hidden_reason",
    "narrowed_reason",
    "select_tools",
    "unfence",
]
