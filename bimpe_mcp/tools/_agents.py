"""[agents] Create, configure and launch agents; their actions and channels."""

from __future__ import annotations

from pydantic import Field

from bimpe_mcp.console import models as m
from bimpe_mcp.tools._runtime import deleting, listed, paged
from bimpe_mcp.tools._spec import (
    DELETE,
    READ,
    UPDATE,
    WRITE,
    AgentList,
    AgentRef,
    Deleted,
    Page,
    Paging,
    Scope,
    ToolSpec,
    WorkflowId,
)


class CreateAgent(m.AgentCreate):
    workflow_id: WorkflowId


class UpdateAgent(AgentRef, m.AgentUpdate):
    workflow_id: WorkflowId | None = Field(None, description="Workflow that drives the agent.")


class SetAgentStatus(AgentRef, m.LiveStatusUpdate):
    pass


class SetAgentActions(AgentRef, m.ActionIds):
    enabled: bool = Field(description="true enables, false disables.")


TOOLS = (
    ToolSpec(
        name="list_agents",
        toolset="agents",
        title="List agents",
        description="The team's agents (id, name, status, workflow_id). Start here.",
        params=Paging,
        output=Page[m.Agent],
        run=paged(lambda call, query: call.client.agents.list(query)),
        hints=READ,
        scope=Scope.ALL_AGENTS,
    ),
    ToolSpec(
        name="get_agent",
        toolset="agents",
        title="Get agent",
        description="One agent with its knowledge bases, integrations and channels.",
        params=AgentRef,
        output=m.AgentDetail,
        run=lambda call: call.client.agents.get(call.params.agent_id),
        hints=READ,
        full_lists=(
            ("knowledge_bases", "list_knowledge_bases"),
            ("integrations", "list_integrations"),
            ("channels", "list_agent_channels"),
        ),
    ),
    ToolSpec(
        name="create_agent",
        toolset="agents",
        title="Create agent",
        description="Create an agent driven by a workflow (list_workflows).",
        params=CreateAgent,
        output=m.AgentCreated,
        run=lambda call: call.client.agents.create(call.body(m.AgentCreate)),
        hints=WRITE,
        scope=Scope.ALL_AGENTS,
    ),
    ToolSpec(
        name="update_agent",
        toolset="agents",
        title="Update agent",
        description="Change an agent's given fields, e.g. attach a workflow.",
        params=UpdateAgent,
        output=m.Agent,
        run=lambda call: call.client.agents.update(call.params.agent_id, call.body(m.AgentUpdate)),
        hints=UPDATE,
    ),
    ToolSpec(
        name="delete_agent",
        toolset="agents",
        title="Delete agent",
        description="Permanently delete an agent and its configuration.",
        params=AgentRef,
        output=Deleted,
        run=deleting("agent_id", lambda call: call.client.agents.delete(call.params.agent_id)),
        hints=DELETE,
        confirm="agent_id",
    ),
    ToolSpec(
        name="set_agent_status",
        toolset="agents",
        title="Set agent status",
        description="Move an agent between development, live and paused.",
        params=SetAgentStatus,
        output=m.LiveStatus,
        run=lambda call: call.client.agents.set_live_status(call.params.agent_id, call.body(m.LiveStatusUpdate)),
        hints=UPDATE,
    ),
    ToolSpec(
        name="list_agent_channels",
        toolset="agents",
        title="List agent channels",
        description="Channels and whether each is connected (connect them in the Console dashboard).",
        params=AgentList,
        output=Page[m.Channel],
        run=listed(lambda call: call.client.agents.channels(call.params.agent_id)),
        hints=READ,
    ),
    ToolSpec(
        name="list_agent_actions",
        toolset="agents",
        title="List agent actions",
        description="The actions the agent's integrations offer, with ids and enabled flags.",
        params=AgentList,
        output=Page[m.AgentAction],
        run=listed(lambda call: call.client.agents.actions(call.params.agent_id)),
        hints=READ,
    ),
    ToolSpec(
        name="set_agent_actions",
        toolset="agents",
        title="Enable or disable actions",
        description="Enable or disable actions by id (list_agent_actions).",
        params=SetAgentActions,
        output=m.UpdatedCount,
        run=lambda call: call.client.agents.set_actions(
            call.params.agent_id, call.body(m.ActionIds), enabled=call.params.enabled
        ),
        hints=UPDATE,
    ),
)
