"""[knowledge] The knowledge bases an agent answers from."""

from __future__ import annotations

from pydantic import model_validator

from bimpe_mcp.console import models as m
from bimpe_mcp.tools._runtime import deleting, listed
from bimpe_mcp.tools._spec import (
    DELETE,
    READ,
    UPDATE,
    WRITE,
    AgentList,
    AgentRef,
    Deleted,
    KnowledgeBaseId,
    Page,
    ToolSpec,
)


class KnowledgeBaseRef(AgentRef):
    kb_id: KnowledgeBaseId


class AddKnowledgeBase(AgentRef, m.KnowledgeBaseCreate):
    @model_validator(mode="after")
    def _source_matches_type(self) -> AddKnowledgeBase:
        needed = "content" if self.type == "text" else "url"
        if getattr(self, needed) is None:
            raise ValueError(f"type={self.type} needs {needed}: give {needed}, or change type")
        return self


class UpdateKnowledgeBase(KnowledgeBaseRef, m.KnowledgeBaseUpdate):
    pass


TOOLS = (
    ToolSpec(
        name="list_knowledge_bases",
        toolset="knowledge",
        title="List knowledge bases",
        description="The agent's knowledge bases (id, type text|url, name).",
        params=AgentList,
        output=Page[m.KnowledgeBase],
        run=listed(lambda call: call.client.knowledge_bases.list(call.params.agent_id)),
        hints=READ,
    ),
    ToolSpec(
        name="add_knowledge_base",
        toolset="knowledge",
        title="Add knowledge base",
        description="Teach the agent from text (content) or a web page (url).",
        params=AddKnowledgeBase,
        output=m.KnowledgeBase,
        run=lambda call: call.client.knowledge_bases.create(call.params.agent_id, call.body(m.KnowledgeBaseCreate)),
        hints=WRITE,
    ),
    ToolSpec(
        name="update_knowledge_base",
        toolset="knowledge",
        title="Update knowledge base",
        description="Change a knowledge base's given fields.",
        params=UpdateKnowledgeBase,
        output=m.KnowledgeBase,
        run=lambda call: call.client.knowledge_bases.update(
            call.params.agent_id, call.params.kb_id, call.body(m.KnowledgeBaseUpdate)
        ),
        hints=UPDATE,
    ),
    ToolSpec(
        name="delete_knowledge_base",
        toolset="knowledge",
        title="Delete knowledge base",
        description="Permanently remove a knowledge base from the agent.",
        params=KnowledgeBaseRef,
        output=Deleted,
        run=deleting("kb_id", lambda call: call.client.knowledge_bases.delete(call.params.agent_id, call.params.kb_id)),
        hints=DELETE,
        confirm="kb_id",
    ),
)
