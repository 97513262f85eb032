"""[workflows] The workflows (system prompt, rules, flows) that drive agents."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bimpe_mcp.console import models as m
from bimpe_mcp.tools._runtime import deleting, paged, request_body
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
    source_workflow_id: WorkflowId = Field(description="Workflow to copy, e.g. a public one (list_workflows).")


TOOLS = (
    ToolSpec(
        "list_workflows",
        "workflows",
        "List workflows",
        "Workflows the team owns or can use (public ones can be cloned). Gives workflow_id for agents.",
        ListWorkflows,
        Page[m.Workflow],
        paged(lambda call, query: call.client.workflows.list(query, scope=call.params.scope)),
        READ,
        scope=Scope.TEAM,
    ),
    ToolSpec(
        "get_workflow",
        "workflows",
        "Get workflow",
        "One workflow with its system prompt, rules, flows and FAQ.",
        WorkflowRef,
        m.Workflow,
        lambda call: call.client.workflows.get(call.params.workflow_id),
        READ,
        scope=Scope.TEAM,
    ),
    ToolSpec(
        "create_workflow",
        "workflows",
        "Create workflow",
        "Create a team-owned workflow from a name and system prompt.",
        m.WorkflowCreate,
        m.Workflow,
        lambda call: call.client.workflows.create(request_body(call.params, m.WorkflowCreate)),
        WRITE,
        scope=Scope.TEAM,
    ),
    ToolSpec(
        "update_workflow",
        "workflows",
        "Update workflow",
        "Change a team-owned workflow. Only given fields change.",
        UpdateWorkflow,
        m.Workflow,
        lambda call: call.client.workflows.update(call.params.workflow_id, request_body(call.params, m.WorkflowUpdate)),
        UPDATE,
        scope=Scope.TEAM,
    ),
    ToolSpec(
        "clone_workflow",
        "workflows",
        "Clone workflow",
        "Copy a workflow (e.g. a public template) into a new team-owned one you can edit.",
        CloneWorkflow,
        m.Workflow,
        lambda call: call.client.workflows.clone(call.params.source_workflow_id),
        WRITE,
        scope=Scope.TEAM,
    ),
    ToolSpec(
        "delete_workflow",
        "workflows",
        "Delete workflow",
        "Permanently delete a team-owned workflow that no agent uses.",
        WorkflowRef,
        Deleted,
        deleting("workflow_id", lambda call: call.client.workflows.delete(call.params.workflow_id)),
        DELETE,
        confirm="workflow_id",
        scope=Scope.TEAM,
    ),
)
