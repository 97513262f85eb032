"""What a tool is: a frozen `ToolSpec` (its toolset is one of `settings.TOOLSET_IDS`), and the shared shapes.

A toolset module lists `ToolSpec`s and nothing else. The registry turns them into MCP
tools (schemas, annotations, confirmation, errors), so a new Console operation costs one
request/response model and one entry.
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

from bimpe_mcp.console import Id
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
    "AgentRef",
    "CallId",
    "ConversationId",
    "Deleted",
    "Hints",
    "IntegrationId",
    "KnowledgeBaseId",
    "ListedBy",
    "Page",
    "Paging",
    "PhoneNumberId",
    "Runner",
    "Scope",
    "ToolParams",
    "ToolSpec",
    "Traced",
    "WorkflowId",
    "listed_by",
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


@dataclass(frozen=True, slots=True)
class ListedBy:
    """Marks an id parameter with the tool that lists valid values, for not-found hints."""

    tool: str


AgentId = Annotated[Id, ListedBy("list_agents"), Field(description="Agent id (list_agents).")]
KnowledgeBaseId = Annotated[
    Id, ListedBy("list_knowledge_bases"), Field(description="Knowledge base id (list_knowledge_bases).")
]
IntegrationId = Annotated[Id, ListedBy("list_integrations"), Field(description="Integration id (list_integrations).")]
ConversationId = Annotated[
    Id, ListedBy("list_conversations"), Field(description="Conversation id (list_conversations).")
]
CallId = Annotated[Id, ListedBy("list_calls"), Field(description="Call id (list_calls).")]
WorkflowId = Annotated[Id, ListedBy("list_workflows"), Field(description="Workflow id (list_workflows).")]
PhoneNumberId = Annotated[
    Id, ListedBy("list_phone_numbers"), Field(description="Phone number id (list_phone_numbers).")
]


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
class ToolSpec:
    """One MCP tool, and every fact about it: built by keyword, read by the registry, the docs and the tests.

    `confirm` names the parameter whose value confirms the call when echoed in `confirm` (or
    several: the first one given is the target). A destructive tool must have one. A tool is
    confirmed when it is destructive, or `outward` and the policy is not `either` (`_confirmation`).

    `outward`: the call reaches real people outside the team and cannot be recalled (a message
    to a contact, a real phone call).

    `scope` says how `--agent-id` confines the tool; a tool without an `agent_id` parameter must
    say it, so nothing reaches past the scoped agent by default.

    Which output fields hold text written outside the team is a fact of the output model: their
    type is `models.Untrusted` (`untrusted_fields` lists them).
    """

    name: str
    toolset: str
    title: str
    description: str
    params: type[BaseModel]
    output: type[BaseModel]
    run: Runner
    hints: Hints
    confirm: str | tuple[str, ...] | None = None
    scope: Scope | None = None
    nullable: frozenset[str] = frozenset()
    """Inputs where an explicit null means "clear it" (e.g. unassign), so their schema admits null."""
    api: Literal["console", "butterbase"] = "console"
    """Which API the runner calls: `ToolCall.client` (the Console) or `ToolCall.butterbase`."""
    outward: bool = False
    """Acts on real people as someone (sends email or messages, places a call): a confirmation policy
    may ask before it, as it asks before destructive tools."""
    secret_entry: Callable[[Any], SecretNeed | None] | None = None
    """For a tool that takes secrets: what a call without them lacks (the user types it into the
    secret-entry page), or None when the call needs no secret."""

    def __post_init__(self) -> None:
        if self.scope is None:
            if "agent_id" not in self.params.model_fields:
                raise TypeError(f"{self.name}: a tool without agent_id must declare its scope")
            object.__setattr__(self, "scope", Scope.AGENT)
        if self.hints.destructive and not self.confirm:
            raise TypeError(f"{self.name}: a destructive tool must name its confirm target")

    @property
    def confirm_targets(self) -> tuple[str, ...]:
        """The parameters whose value confirms the call, in order of preference."""
        return (self.confirm,) if isinstance(self.confirm, str) else (self.confirm or ())

    @property
    def confirm_target_text(self) -> str:
        """How errors and schemas name the target: `workflow_id`, `conversation_id (else channel_user_id)`."""
        first, *others = self.confirm_targets or ("target id",)
        return first + "".join(f" (else {other})" for other in others)

    @property
    def untrusted_fields(self) -> tuple[str, ...]:
        """The output fields holding text written outside the team, dotted (`items[].message`)."""
        paths = model_untrusted_paths(self.output)
        return tuple(".".join(path).replace(".[]", "[]") for path in paths)

    @property
    def read_only(self) -> bool:
        return self.hints.read_only

    @property
    def id_sources(self) -> dict[str, str]:
        """Each id parameter and the tool that lists its valid values."""
        return {name: tool for name, info in self.params.model_fields.items() if (tool := listed_by(info)) is not None}


class ToolParams(BaseModel):
    """Base of every tool's parameters: unknown names are rejected and values never echoed."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class AgentRef(ToolParams):
    agent_id: AgentId


class Paging(ToolParams):
    page: int = Field(1, ge=1, le=100_000, description="Page number, from 1.")
    limit: int = Field(20, ge=1, le=100, description="Items per page, up to 100.")
    search: str | None = Field(None, max_length=200, description="Text filter.")
    sort: str | None = Field(
        None, max_length=64, pattern=r"^-?[A-Za-z_]+$", description="Field to sort by; prefix - for descending."
    )
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
