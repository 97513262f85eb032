"""What a tool is: a frozen `ToolSpec` (its toolset is one of `settings.TOOLSET_IDS`), and the shared shapes.

A toolset module lists `ToolSpec`s and nothing else. The registry turns them into MCP
tools (schemas, annotations, confirmation, errors), so a new Console operation costs one
request/response model and one entry.
"""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

from bimpe_mcp.console import Id
from bimpe_mcp.tools._catalog import DELETE, READ, UPDATE, WRITE, Hints, Scope, ToolFacts
from bimpe_mcp.tools._fencing import model_untrusted_paths

if TYPE_CHECKING:
    from bimpe_mcp.tools._runtime import ToolCall
    from bimpe_mcp.tools._secret_entry import SecretNeed

__all__ = [
    "DELETE",
    "READ",
    "UPDATE",
    "WRITE",
    "AgentId",
    "AgentList",
    "AgentRef",
    "CallId",
    "ConversationId",
    "Deleted",
    "Hints",
    "IntegrationId",
    "KnowledgeBaseId",
    "ListedBy",
    "Offset",
    "Page",
    "Paging",
    "PhoneNumberId",
    "Runner",
    "Scope",
    "ToolParams",
    "ToolSpec",
    "WorkflowId",
    "listed_by",
]

P = TypeVar("P", bound=BaseModel)
T = TypeVar("T")

Runner = Callable[["ToolCall[Any]"], Awaitable[Any]]
"""Does the work: gets the parsed params and a Console client, returns a `Result`, model or dict."""


@dataclass(frozen=True, slots=True)
class ListedBy:
    """Marks an id parameter with the tool that lists valid values, for not-found hints."""

    tool: str


AgentId = Annotated[Id, ListedBy("list_agents"), Field(description="From list_agents.")]
KnowledgeBaseId = Annotated[Id, ListedBy("list_knowledge_bases"), Field(description="From list_knowledge_bases.")]
IntegrationId = Annotated[Id, ListedBy("list_integrations"), Field(description="From list_integrations.")]
ConversationId = Annotated[Id, ListedBy("list_conversations"), Field(description="From list_conversations.")]
CallId = Annotated[Id, ListedBy("list_calls"), Field(description="From list_calls.")]
WorkflowId = Annotated[Id, ListedBy("list_workflows"), Field(description="From list_workflows.")]
PhoneNumberId = Annotated[Id, ListedBy("list_phone_numbers"), Field(description="From list_phone_numbers.")]


def listed_by(info: FieldInfo) -> str | None:
    """The tool that lists valid values of an id parameter, also inside `X | None`."""
    stack: list[Any] = [*info.metadata, info.annotation]
    while stack:
        item = stack.pop()
        if isinstance(item, ListedBy):
            return item.tool
        if isinstance(item, FieldInfo):
            stack.extend(item.metadata)
        stack.extend(getattr(item, "__metadata__", ()))
        stack.extend(typing.get_args(item) if getattr(item, "__metadata__", None) is None else ())
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolSpec(ToolFacts):
    """One MCP tool, and every fact about it: built by keyword, read by the registry, the docs and the tests.

    Its `ToolFacts` (name, toolset, title, description, hints, `confirm`, `scope`) ship as data so
    a server starts without building models (see `_catalog`); the rest loads on a tool's first call.

    `scope` says how `--agent-id` confines the tool; a tool without an `agent_id` parameter must
    say it, so nothing reaches past the scoped agent by default.

    Which output fields hold text written outside the team is a fact of the output model: their
    type is `models.Untrusted`; `untrusted` is derived from it.
    """

    params: type[BaseModel]
    output: type[BaseModel]
    run: Runner
    nullable: frozenset[str] = frozenset()
    """Inputs where an explicit null means "clear it" (e.g. unassign), so their schema admits null."""
    secret_entry: Callable[[Any], SecretNeed | None] | None = None
    """For a tool that takes secrets: what a call without them lacks (the user types it into the
    secret-entry page), or None when the call needs no secret."""
    full_lists: tuple[tuple[str, str], ...] = ()
    """Lists inside a result that a cut to the size cap may shorten, each with the tool that lists all of
    it: `("knowledge_bases", "list_knowledge_bases")` (see `_sizing`)."""

    def __post_init__(self) -> None:
        if self.api not in ("console", "butterbase"):
            raise TypeError(f"{self.name}: api must be console or butterbase")
        if self.secret_entry is not None:  # without its secrets, the call offers the secret-entry page
            object.__setattr__(self, "asks_user", True)
        paths = model_untrusted_paths(self.output)
        object.__setattr__(self, "untrusted", tuple(".".join(path).replace(".[]", "[]") for path in paths))
        if self.scope is None:
            if "agent_id" not in self.params.model_fields:
                raise TypeError(f"{self.name}: a tool without agent_id must declare its scope")
            object.__setattr__(self, "scope", Scope.AGENT)
        if self.hints.destructive and not self.confirm:
            raise TypeError(f"{self.name}: a destructive tool must name its confirm target")

    @property
    def untrusted_fields(self) -> tuple[str, ...]:
        """The output fields holding text written outside the team, dotted (`items[].message`)."""
        return self.untrusted

    @property
    def facts(self) -> ToolFacts:
        """What ships in `_schemas.json` for this tool."""
        return ToolFacts(
            name=self.name,
            toolset=self.toolset,
            title=self.title,
            description=self.description,
            hints=self.hints,
            confirm=self.confirm,
            scope=self.scope,
            outward=self.outward,
            api=self.api,
            untrusted=self.untrusted,
            asks_user=self.asks_user,
        )

    @property
    def id_sources(self) -> dict[str, str]:
        """Each id parameter and the tool that lists its valid values."""
        return {name: tool for name, info in self.params.model_fields.items() if (tool := listed_by(info)) is not None}


class ToolParams(BaseModel):
    """Base of every tool's parameters: unknown names are rejected and values never echoed."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, defer_build=True)


class AgentRef(ToolParams):
    agent_id: AgentId


class Paging(ToolParams):
    """The paging parameters of every list tool: the server's instructions explain them once."""

    page: int = Field(1, ge=1, le=100_000, description="From 1.")
    limit: int = Field(20, ge=1, le=100, description="Up to 100.")
    search: str | None = Field(None, max_length=200, description="Text filter.")
    sort: str | None = Field(None, max_length=64, pattern=r"^-?[A-Za-z_]+$", description="Field or -field.")
    all_pages: bool = Field(False, description="All pages, capped.")


class Offset(ToolParams):
    """For a list an API returns whole: where the part shown starts (a list cut to the size cap names it)."""

    offset: int | None = Field(None, ge=0, le=100_000, description="Items to skip.")


class AgentList(AgentRef, Offset):
    """One agent's list that the Console returns whole."""


class Deleted(BaseModel):
    deleted: bool = Field(description="true once the Console confirmed the removal.")
    id: str = Field(description="Id of what was removed.")


class Page(BaseModel, Generic[T]):
    items: list[T]
    page: int
    total_count: int
    has_next_page: bool
    next_step: str | None = None
    """Set when a cap (size or item count) cut the list: how many more, and the call that continues."""
