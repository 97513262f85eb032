"""What serving `tools/list` needs to know of each tool, shipped as data, so a server starts at the SDK's floor.

A tool's `ToolSpec` (in its toolset module) is the one place its facts are written. Importing
those modules means building every argument model and the Console models behind them, which
cost a stdio server more than its own tools/list. So `_schemas.json` ships each tool's
`ToolFacts` (name, toolset, title, description, hints, confirmation, scope) and its published
schemas, generated from the specs (`UPDATE_SNAPSHOTS=1 pytest tests/test_catalog.py`, which
also fails when the file drifts). The server registers its tools from `CATALOG`; a tool's
`ToolSpec`, models and Console client load on its first call (`spec_of`).

This module imports nothing but the standard library.
"""

from __future__ import annotations

import enum
import functools
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bimpe_mcp.tools._spec import ToolSpec

__all__ = [
    "CATALOG",
    "DELETE",
    "READ",
    "SCHEMAS_FILE",
    "TOOLSET_MODULES",
    "UPDATE",
    "WRITE",
    "Hints",
    "Scope",
    "ToolFacts",
    "all_tools",
    "published_schemas",
    "spec_of",
]

SCHEMAS_FILE = Path(__file__).with_name("_schemas.json")

TOOLSET_MODULES: dict[str, str] = {
    "agents": "bimpe_mcp.tools._agents",
    "knowledge": "bimpe_mcp.tools._knowledge",
    "integrations": "bimpe_mcp.tools._integrations",
    "testing": "bimpe_mcp.tools._testing",
    "workflows": "bimpe_mcp.tools._workflows",
    "conversations": "bimpe_mcp.tools._conversations",
    "calls": "bimpe_mcp.tools._calls",
    "phone_numbers": "bimpe_mcp.tools._phone_numbers",
    "butterbase": "bimpe_mcp.tools._butterbase",
}
"""Each toolset and the module whose `TOOLS` it is, in the order `tools/list` shows them."""


@dataclass(frozen=True, slots=True)
class Hints:
    """The MCP tool annotations, all explicit. `open_world`: the call reaches outside BimpeAI."""

    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool = False

    def reaching_out(self) -> Hints:
        return Hints(self.read_only, self.destructive, self.idempotent, True)


READ = Hints(read_only=True, destructive=False, idempotent=True)
WRITE = Hints(read_only=False, destructive=False, idempotent=False)
UPDATE = Hints(read_only=False, destructive=False, idempotent=True)
DELETE = Hints(read_only=False, destructive=True, idempotent=True)


class Scope(enum.Enum):
    """How `--agent-id` confines a tool."""

    AGENT = "agent"
    """Acts inside one agent: its `agent_id` is fixed to the scoped agent and leaves the schema."""
    TEAM = "team"
    """Team-wide data that belongs to no agent (workflows, the number inventory): unchanged."""
    ROUTED = "routed"
    """Team data routed to an agent (a phone number): only what is routed to the scoped agent, or to none."""
    ALL_AGENTS = "all_agents"
    """Reaches across agents (list or create them): hidden."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolFacts:
    """A tool as `tools/list`, selection and confirmation see it; `ToolSpec` adds its models and runner.

    `confirm` names the parameter whose value confirms the call when echoed in `confirm` (or
    several: the first one given is the target). A destructive tool must have one. A tool is
    confirmed when it is destructive, or `outward` and the policy is not `either` (`_confirmation`).
    `outward`: the call reaches real people outside the team and cannot be recalled (a message
    to a contact, a real phone call, an email sent as a user). `scope` says how `--agent-id`
    confines the tool (a `ToolSpec` without one defaults to `Scope.AGENT`). `api`: the API its
    runner calls. `untrusted`: the output fields holding text written outside the team, dotted
    (`items[].message`), derived from the output model (see `_fencing`). `asks_user`: the call may
    offer the user a page or link through URL elicitation before its result (a secret-entry page,
    an OAuth link), so over HTTP its answer is a stream.
    """

    name: str
    toolset: str
    title: str
    description: str
    hints: Hints
    confirm: str | tuple[str, ...] | None = None
    scope: Scope | None = None
    outward: bool = False
    api: str = "console"
    untrusted: tuple[str, ...] = ()
    asks_user: bool = False

    @property
    def read_only(self) -> bool:
        return self.hints.read_only

    @property
    def confirm_targets(self) -> tuple[str, ...]:
        """The parameters whose value confirms the call, in order of preference."""
        return (self.confirm,) if isinstance(self.confirm, str) else (self.confirm or ())

    @property
    def confirm_target_text(self) -> str:
        """How errors and schemas name the target: `workflow_id`, `conversation_id (else channel_user_id)`."""
        first, *others = self.confirm_targets or ("target id",)
        return first + "".join(f" (else {other})" for other in others)

    def as_data(self) -> dict[str, Any]:
        """The shipped form of these facts (`_schemas.json`)."""
        hints = self.hints
        return {
            "name": self.name,
            "toolset": self.toolset,
            "title": self.title,
            "description": self.description,
            "hints": [hints.read_only, hints.destructive, hints.idempotent, hints.open_world],
            "confirm": list(self.confirm) if isinstance(self.confirm, tuple) else self.confirm,
            "scope": None if self.scope is None else self.scope.value,
            "outward": self.outward,
            "api": self.api,
            "untrusted": list(self.untrusted),
            "asks_user": self.asks_user,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ToolFacts:
        return cls(
            name=data["name"],
            toolset=data["toolset"],
            title=data["title"],
            description=data["description"],
            hints=Hints(*data["hints"]),
            confirm=tuple(data["confirm"]) if isinstance(data["confirm"], list) else data["confirm"],
            scope=None if data["scope"] is None else Scope(data["scope"]),
            outward=data["outward"],
            api=data["api"],
            untrusted=tuple(data["untrusted"]),
            asks_user=data["asks_user"],
        )


def all_tools() -> tuple[ToolSpec, ...]:
    """Every `ToolSpec`, in catalog order. Imports every toolset module, and so the Console models."""
    return tuple(spec for module in TOOLSET_MODULES.values() for spec in importlib.import_module(module).TOOLS)


def spec_of(facts: ToolFacts) -> ToolSpec:
    """The full spec behind `facts`: imports its toolset module on a tool's first call."""
    from bimpe_mcp.tools._spec import ToolSpec

    if isinstance(facts, ToolSpec):
        return facts
    return _toolset_specs(facts.toolset)[facts.name]


@functools.cache
def _toolset_specs(toolset: str) -> dict[str, ToolSpec]:
    return {spec.name: spec for spec in importlib.import_module(TOOLSET_MODULES[toolset]).TOOLS}


@functools.cache
def _shipped() -> dict[str, dict[str, Any]]:
    """The shipped catalog by tool name, in catalog order; generated from the specs when it is missing."""
    try:
        tools: list[dict[str, Any]] = json.loads(SCHEMAS_FILE.read_text(encoding="utf-8"))["tools"]
    except FileNotFoundError:
        from bimpe_mcp.tools._schemas import generate_catalog

        tools = generate_catalog(all_tools())["tools"]
    return {tool["name"]: tool for tool in tools}


def published_schemas(
    facts: ToolFacts, *, hidden_inputs: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The input schema (less `hidden_inputs`, the arguments the server injects) and the output schema.

    From the shipped file, shared and never modified (a schema less hidden inputs is a new dict); a tool
    it does not know (a new one before regeneration) is generated.
    """
    shipped = _shipped().get(facts.name)
    if shipped is None:
        from bimpe_mcp.tools._schemas import generate_tool

        shipped = generate_tool(spec_of(facts))
    inputs: dict[str, Any] = shipped["input"]
    if hidden := hidden_inputs & inputs["properties"].keys():
        properties = {name: schema for name, schema in inputs["properties"].items() if name not in hidden}
        inputs = {**inputs, "properties": properties}
        if "required" in inputs:
            inputs["required"] = [name for name in inputs["required"] if name not in hidden]
    return inputs, shipped["output"]


def _catalog() -> tuple[ToolFacts, ...]:
    return tuple(ToolFacts.from_data(tool) for tool in _shipped().values())


CATALOG: tuple[ToolFacts, ...] = _catalog()
"""Every tool's facts, in the order `tools/list` shows them, read from the shipped file."""
