"""What a tool is: a frozen `ToolSpec` (its toolset is one of `settings.TOOLSET_IDS`), and the shared shapes.

A toolset module lists `ToolSpec`s and nothing else. The registry turns them into MCP
tools (schemas, annotations, confirmation, errors), so a new Console operation costs one
request/response model and one entry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from bimpe_mcp.tools._runtime import ToolCall

__all__ = [
    "DELETE",
    "READ",
    "UPDATE",
    "WRITE",
    "AgentRef",
    "Deleted",
    "Hints",
    "Page",
    "Paging",
    "Runner",
    "ToolParams",
    "ToolSpec",
    "Traced",
]

P = TypeVar("P", bound=BaseModel)
T = TypeVar("T")

Runner = Callable[["ToolCall[Any]"], Awaitable[Any]]
"""Does the work: gets the parsed params and a Console client, returns a `Result`, model or dict."""


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


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One MCP tool. `confirm` names the parameter whose value the caller must echo in `confirm`."""

    name: str
    toolset: str
    title: str
    description: str
    params: type[BaseModel]
    output: type[BaseModel]
    run: Runner
    hints: Hints
    confirm: str | None = None

    @property
    def read_only(self) -> bool:
        return self.hints.read_only


class ToolParams(BaseModel):
    """Base of every tool's parameters: unknown names are rejected and values never echoed."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class AgentRef(ToolParams):
    agent_id: str = Field(min_length=1, description="Agent id (list_agents).")


class Paging(ToolParams):
    page: int = Field(1, ge=1, description="Page number, from 1.")
    limit: int = Field(20, ge=1, le=100, description="Items per page, up to 100.")
    search: str | None = Field(None, description="Text filter.")
    sort: str | None = Field(None, description="Field to sort by; prefix - for descending.")
    all_pages: bool = Field(False, description="Walk every page (capped) instead of one.")


class Traced(BaseModel):
    """Every tool result names the Console request(s) behind it, for support and log correlation."""

    request_id: str | None = None
    request_ids: list[str] = Field(default_factory=list)


class Deleted(Traced):
    deleted: bool = Field(description="true once the Console confirmed the removal.")
    id: str = Field(description="Id of what was removed.")


class Page(Traced, Generic[T]):
    items: list[T]
    page: int
    total_count: int
    has_next_page: bool
