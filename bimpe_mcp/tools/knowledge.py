"""[knowledge] The knowledge bases an agent answers from."""

from __future__ import annotations

from pydantic import model_validator

from bimpe_mcp.console import models as m
from bimpe_mcp.tools._runtime import deleting, listed, request_body
from bimpe_mcp.tools._spec import DELETE, READ, UPDATE, WRITE, AgentRef, Deleted, KnowledgeBaseId, Page, ToolSpec


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
