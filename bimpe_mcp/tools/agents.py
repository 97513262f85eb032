"""[agents] Create, configure and launch agents; their actions and channels."""

from __future__ import annotations

from pydantic import Field

from bimpe_mcp.console import models as m
from bimpe_mcp.tools._runtime import deleting, listed, paged, request_body
from bimpe_mcp.tools._spec import (
    DELETE,
    READ,
    UPDATE,
    WRITE,
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
    enabled: bool = Field(description="true enables the actions, false disables them.")


TOOLS = (
    ToolSpec(
        "list_agents",
        "agents",
        "List agents",
        "List the team's agents (id, name, status, workflow_id). Start here to find an agent_id.",
        Paging,
        Page[m.Agent],
        paged(lambda call, query: call.client.agents.list(query)),
        READ,
        scope=Scope.ALL_AGENTS,
    ),
    ToolSpec(
        "get_agent",
        "agents",
        "Get agent",
        "One agent with its knowledge bases, integrations and channels.",
        AgentRef,
        m.AgentDetail,
        lambda call: call.client.agents.get(call.params.agent_id),
        READ,
    ),
    ToolSpec(
        "create_agent",
        "agents",
        "Create agent",
        "Create an agent driven by a workflow (list_workflows). Returns the agent with its workflow.",
        CreateAgent,
        m.AgentCreated,
        lambda call: call.client.agents.create(request_body(call.params, m.AgentCreate)),
        WRITE,
        scope=Scope.ALL_AGENTS,
    ),
    ToolSpec(
        "update_agent",
        "agents",
        "Update agent",
        "Change an agent's fields, e.g. attach a workflow with workflow_id. Only given fields change.",
        UpdateAgent,
        m.Agent,
        lambda call: call.client.agents.update(call.params.agent_id, request_body(call.params, m.AgentUpdate)),
        UPDATE,
    ),
    ToolSpec(
        "delete_agent",
        "agents",
        "Delete agent",
        "Permanently delete an agent and its configuration.",
        AgentRef,
        Deleted,
        deleting("agent_id", lambda call: call.client.agents.delete(call.params.agent_id)),
        DELETE,
        confirm="agent_id",
    ),
    ToolSpec(
        "set_agent_status",
        "agents",
        "Set agent status",
        "Move an agent between development, live and paused.",
        SetAgentStatus,
        m.LiveStatus,
        lambda call: call.client.agents.set_live_status(
            call.params.agent_id, request_body(call.params, m.LiveStatusUpdate)
        ),
        UPDATE,
    ),
    ToolSpec(
        "list_agent_channels",
        "agents",
        "List agent channels",
        "Channels (whatsapp, webchat, voice…) and whether each is connected. Channels are connected "
        "in the Console dashboard, not here.",
        AgentRef,
        Page[m.Channel],
        listed(lambda call: call.client.agents.channels(call.params.agent_id)),
        READ,
    ),
    ToolSpec(
        "list_agent_actions",
        "agents",
        "List agent actions",
        "Every action the agent's integrations offer, with ids and whether each is enabled.",
        AgentRef,
        Page[m.AgentAction],
        listed(lambda call: call.client.agents.actions(call.params.agent_id)),
        READ,
    ),
    ToolSpec(
        "set_agent_actions",
        "agents",
        "Enable or disable actions",
        "Enable or disable actions by id (list_agent_actions). Returns how many changed.",
        SetAgentActions,
        m.UpdatedCount,
        lambda call: call.client.agents.set_actions(
            call.params.agent_id, request_body(call.params, m.ActionIds), enabled=call.params.enabled
        ),
        UPDATE,
    ),
)
