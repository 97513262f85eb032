"""[workflows] The workflows (system prompt, rules, flows) that drive agents."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bimpe_mcp.console import models as m
from bimpe_mcp.tools._runtime import deleting, paged
from bimpe_mcp.tools._spec import (
    DELETE,
    READ,
    UPDATE,
    WRITE,
    Deleted,
    Page,
    Paging,
    Scope,
    ToolParams,
    ToolSpec,
    WorkflowId,
)


class WorkflowRef(ToolParams):
    workflow_id: WorkflowId


class ListWorkflows(Paging):
    scope: Literal["owned", "public", "accessible"] | None = Field(
        None, description="owned, public, or accessible (both; default)."
    )


class UpdateWorkflow(WorkflowRef, m.WorkflowUpdate):
    pass


class CloneWorkflow(ToolParams):
    source_workflow_id: WorkflowId = Field(description="From list_workflows.")


TOOLS = (
    ToolSpec(
        name="list_workflows",
        toolset="workflows",
        title="List workflows",
        description="Workflows the team owns or can use; public ones can be cloned.",
        params=ListWorkflows,
        output=Page[m.Workflow],
        run=paged(lambda call, query: call.client.workflows.list(query, scope=call.params.scope)),
        hints=READ,
        scope=Scope.TEAM,
    ),
    ToolSpec(
        name="get_workflow",
        toolset="workflows",
        title="Get workflow",
        description="One workflow with its system prompt, rules, flows and FAQ.",
        params=WorkflowRef,
        output=m.Workflow,
        run=lambda call: call.client.workflows.get(call.params.workflow_id),
        hints=READ,
        scope=Scope.TEAM,
    ),
    ToolSpec(
        name="create_workflow",
        toolset="workflows",
        title="Create workflow",
        description="Create a team-owned workflow from a name and system prompt.",
        params=m.WorkflowCreate,
        output=m.Workflow,
        run=lambda call: call.client.workflows.create(call.body(m.WorkflowCreate)),
        hints=WRITE,
        scope=Scope.TEAM,
    ),
    ToolSpec(
        name="update_workflow",
        toolset="workflows",
        title="Update workflow",
        description="Change a team-owned workflow. Only given fields change.",
        params=UpdateWorkflow,
        output=m.Workflow,
        run=lambda call: call.client.workflows.update(call.params.workflow_id, call.body(m.WorkflowUpdate)),
        hints=UPDATE,
        scope=Scope.TEAM,
    ),
    ToolSpec(
        name="clone_workflow",
        toolset="workflows",
        title="Clone workflow",
        description="Copy a workflow (e.g. a public one) into an editable team one.",
        params=CloneWorkflow,
        output=m.Workflow,
        run=lambda call: call.client.workflows.clone(call.params.source_workflow_id),
        hints=WRITE,
        scope=Scope.TEAM,
    ),
    ToolSpec(
        name="delete_workflow",
        toolset="workflows",
        title="Delete workflow",
        description="Permanently delete a team-owned workflow that no agent uses.",
        params=WorkflowRef,
        output=Deleted,
        run=deleting("workflow_id", lambda call: call.client.workflows.delete(call.params.workflow_id)),
        hints=DELETE,
        confirm="workflow_id",
        scope=Scope.TEAM,
    ),
)
