"""[knowledge] The knowledge bases an agent answers from."""

from __future__ import annotations

from pydantic import Field

from bimpe_mcp.console import models as m
from bimpe_mcp.tools._runtime import deleting, listed, request_body
from bimpe_mcp.tools._spec import DELETE, READ, UPDATE, WRITE, AgentRef, Deleted, Page, ToolSpec


class KnowledgeBaseRef(AgentRef):
    kb_id: str = Field(min_length=1, description="Knowledge base id (list_knowledge_bases).")


class AddKnowledgeBase(AgentRef, m.KnowledgeBaseCreate):
    pass


class UpdateKnowledgeBase(KnowledgeBaseRef, m.KnowledgeBaseUpdate):
    pass


TOOLS = (
    ToolSpec(
        "list_knowledge_bases",
        "knowledge",
        "List knowledge bases",
        "The agent's knowledge bases (id, type text|url, name).",
        AgentRef,
        Page[m.KnowledgeBase],
        listed(lambda call: call.client.knowledge_bases.list(call.params.agent_id)),
        READ,
    ),
    ToolSpec(
        "add_knowledge_base",
        "knowledge",
        "Add knowledge base",
        "Teach the agent from text (type=text, content) or a web page (type=url, url).",
        AddKnowledgeBase,
        m.KnowledgeBase,
        lambda call: call.client.knowledge_bases.create(
            call.params.agent_id, request_body(call.params, m.KnowledgeBaseCreate)
        ),
        WRITE,
    ),
    ToolSpec(
        "update_knowledge_base",
        "knowledge",
        "Update knowledge base",
        "Change a knowledge base's name, description, content or url. Only given fields change.",
        UpdateKnowledgeBase,
        m.KnowledgeBase,
        lambda call: call.client.knowledge_bases.update(
            call.params.agent_id, call.params.kb_id, request_body(call.params, m.KnowledgeBaseUpdate)
        ),
        UPDATE,
    ),
    ToolSpec(
        "delete_knowledge_base",
        "knowledge",
        "Delete knowledge base",
        "Permanently remove a knowledge base from the agent.",
        KnowledgeBaseRef,
        Deleted,
        deleting("kb_id", lambda call: call.client.knowledge_bases.delete(call.params.agent_id, call.params.kb_id)),
        DELETE,
        confirm="kb_id",
    ),
)
