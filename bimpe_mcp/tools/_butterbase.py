"""[butterbase] A Butterbase app's integrations: toolkits, end-user connections and tool runs.

Listed only when the server has BUTTERBASE_API_KEY and BUTTERBASE_APP_ID (or runs the sandbox).
Results keep the API's own field names (`displayName`, `authUrl`…).
"""

from __future__ import annotations

from collections.abc import Awaitable
from functools import partial
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from bimpe_mcp.butterbase import TOOLKIT_PATTERN, ButterbaseClient, ButterbaseResult
from bimpe_mcp.butterbase import models as m
from bimpe_mcp.tools._runtime import ToolCall, whole_list
from bimpe_mcp.tools._sizing import Listing
from bimpe_mcp.tools._spec import (
    READ,
    UPDATE,
    WRITE,
    Deleted,
    Hints,
    ListedBy,
    Offset,
    Page,
    Scope,
    ToolParams,
    ToolSpec,
)

ToolkitSlug = Annotated[
    str,
    ListedBy("butterbase_list_toolkits"),
    Field(pattern=TOOLKIT_PATTERN, max_length=64, description="Toolkit slug, e.g. gmail."),
]
EnabledToolkitSlug = Annotated[
    str,
    ListedBy("butterbase_list_enabled_toolkits"),
    Field(pattern=TOOLKIT_PATTERN, max_length=64, description="Enabled toolkit, e.g. gmail."),
]
ConnectionRef = Annotated[
    str,
    ListedBy("butterbase_list_connections"),
    Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=128, description="Connection id."),
]
UserId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@:+-]+$", max_length=128, description="Your app's end-user id.")]


class ListToolkits(Offset):
    search: str | None = Field(None, max_length=100, description="Search the full catalog.")


class EnableToolkit(ToolParams):
    toolkit: ToolkitSlug
    display_name: str | None = Field(None, max_length=100, description="Dashboard name.")
    scopes: list[Annotated[str, Field(max_length=200)]] | None = Field(
        None, max_length=50, description="OAuth scopes (default: platform-managed)."
    )


class DisableToolkit(ToolParams):
    toolkit: EnabledToolkitSlug


class ConnectUser(ToolParams):
    toolkit: EnabledToolkitSlug
    user_id: UserId
    redirect_url: str | None = Field(
        None, max_length=2000, pattern=r"^https?://", description="Where the user returns after sign-in."
    )


class ListConnections(Offset):
    user_id: UserId | None = Field(None, description="Only this end user's.")


class Disconnect(ToolParams):
    connection_id: ConnectionRef


class ListTools(Offset):
    toolkit: EnabledToolkitSlug | None = Field(None, description="Only this toolkit's.")


class ExecuteTool(ToolParams):
    tool_name: str = Field(
        pattern=r"^[A-Z0-9_]+$",
        max_length=128,
        description="e.g. GMAIL_SEND_EMAIL (butterbase_list_tools).",
    )
    params: dict[str, Any] = Field(default_factory=dict, description="The tool's arguments.")
    user_id: UserId


class ConnectStarted(BaseModel):
    authUrl: str = Field(description="The user opens this to sign in and grant access.")
    connectionRequestId: str = Field(description="Id of this connection request.")
    url_elicitation: Literal["accepted", "declined", "cancelled", "not_offered"] = Field(
        description="Whether the client showed the user authUrl."
    )
    next_step: str


def _butterbase(call: ToolCall[Any]) -> ButterbaseClient:
    """The call's Butterbase client: the registry builds one for every spec with `api="butterbase"`."""
    client = call.butterbase
    if client is None:
        raise RuntimeError("a Butterbase tool ran without a Butterbase client")
    return client


async def _listed(call: ToolCall[Any], fetching: Awaitable[ButterbaseResult]) -> Listing:
    """A list Butterbase returns whole, shown from the call's `offset`."""
    return whole_list((await fetching).data, call.params.offset)


async def _connect(call: ToolCall[ConnectUser]) -> dict[str, Any]:
    p = call.params
    started: m.ConnectRequest = (await _butterbase(call).connect(p.toolkit, p.user_id, p.redirect_url)).data
    offered = "not_offered"
    if call.offer_url is not None:
        message = f"Connect your {p.toolkit} account: sign in to grant access."
        offered = await call.offer_url(message, started.authUrl, started.connectionRequestId)
    shown = "The client showed the user authUrl" if offered == "accepted" else "Give the user authUrl to open"
    return {
        **started.model_dump(),
        "url_elicitation": offered,
        "next_step": f"{shown}; once they sign in, butterbase_list_connections shows the connection.",
    }


async def _deleted(removed_id: str, sending: Awaitable[ButterbaseResult]) -> dict[str, Any]:
    await sending
    return {"deleted": True, "id": removed_id}


_butterbase_tool = partial(ToolSpec, toolset="butterbase", scope=Scope.TEAM, api="butterbase")
"""A Butterbase tool: in the butterbase toolset, app-wide (no agent to scope it to), calling Butterbase."""

TOOLS = (
    _butterbase_tool(
        name="butterbase_list_toolkits",
        title="List Butterbase toolkits",
        description="The 10 curated toolkits (Gmail, Slack…), or catalog matches for search.",
        params=ListToolkits,
        output=Page[m.AvailableToolkit],
        run=lambda call: _listed(call, _butterbase(call).available(call.params.search)),
        hints=READ.reaching_out(),
    ),
    _butterbase_tool(
        name="butterbase_list_enabled_toolkits",
        title="List enabled toolkits",
        description="Toolkits enabled for the Butterbase app.",
        params=Offset,
        output=Page[m.EnabledToolkit],
        run=lambda call: _listed(call, _butterbase(call).config()),
        hints=READ,
    ),
    _butterbase_tool(
        name="butterbase_enable_toolkit",
        title="Enable toolkit",
        description="Enable a toolkit so users can connect it; again: update it.",
        params=EnableToolkit,
        output=m.EnabledToolkit,
        run=lambda call: _butterbase(call).configure(call.params.toolkit, call.params.display_name, call.params.scopes),
        hints=UPDATE,
    ),
    _butterbase_tool(
        name="butterbase_disable_toolkit",
        title="Disable toolkit",
        description="Disable a toolkit: its tools stop working for every user.",
        params=DisableToolkit,
        output=Deleted,
        run=lambda call: _deleted(call.params.toolkit, _butterbase(call).disable(call.params.toolkit)),
        hints=Hints(read_only=False, destructive=True, idempotent=True),
        confirm="toolkit",
    ),
    _butterbase_tool(
        name="butterbase_connect_user",
        title="Connect a user's account",
        description="OAuth URL for an end user to connect an enabled toolkit; shown to the user if the client can.",
        params=ConnectUser,
        output=ConnectStarted,
        run=_connect,
        hints=WRITE.reaching_out(),
        asks_user=True,
    ),
    _butterbase_tool(
        name="butterbase_list_connections",
        title="List connections",
        description="End users' connected accounts (id, toolkit, userId, status).",
        params=ListConnections,
        output=Page[m.Connection],
        run=lambda call: _listed(call, _butterbase(call).connections(call.params.user_id)),
        hints=READ,
    ),
    _butterbase_tool(
        name="butterbase_disconnect",
        title="Disconnect an account",
        description="Remove an end user's connected account.",
        params=Disconnect,
        output=Deleted,
        run=lambda call: _deleted(call.params.connection_id, _butterbase(call).disconnect(call.params.connection_id)),
        hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=True),
        confirm="connection_id",
    ),
    _butterbase_tool(
        name="butterbase_list_tools",
        title="List Butterbase tools",
        description="Tools of the enabled toolkits, for butterbase_execute_tool.",
        params=ListTools,
        output=Page[m.IntegrationTool],
        run=lambda call: _listed(call, _butterbase(call).tools(call.params.toolkit)),
        hints=READ,
    ),
    _butterbase_tool(
        name="butterbase_execute_tool",
        title="Run a tool as a user",
        description="Run a tool as a connected end user: really sends email or messages.",
        params=ExecuteTool,
        output=m.ExecuteResult,
        run=lambda call: _butterbase(call).execute(call.params.tool_name, call.params.params, call.params.user_id),
        hints=WRITE.reaching_out(),
        outward=True,
    ),
)
