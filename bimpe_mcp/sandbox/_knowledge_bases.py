"""Knowledge base rules: text or URL sources attached to one agent."""

from __future__ import annotations

from typing import Any

from ._errors import not_found
from ._records import Rules, of_agent, public
from ._validation import Fields


class KnowledgeBaseRules(Rules):
    """List, add, change and remove an agent's knowledge bases."""

    def list_knowledge_bases(self, team_id: str, agent_id: str) -> list[dict[str, Any]]:
        self.store.agent(team_id, agent_id)
        return [public(kb) for kb in of_agent(self.store.knowledge_bases, agent_id)]

    def create_knowledge_base(self, team_id: str, agent_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self.store.agent(team_id, agent_id)
        f = Fields(body)
        kind = f.enum("type", ("text", "url"), required=True)
        name = f.text("name", required=True, max_len=255)
        content = f.text("content", required=kind == "text")
        url = f.text("url", required=kind == "url", pattern=r"https?://\S+", pattern_msg="must be an http(s) URL")
        description = f.text("description", max_len=1000)
        f.check()
        kb = {
            "id": self.store.new_id("kb"),
            "type": kind,
            "name": name,
            "description": description,
            "content": content if kind == "text" else None,
            "url": url if kind == "url" else None,
            "_agent": agent_id,
        }
        self.store.knowledge_bases[kb["id"]] = kb
        return public(kb)

    def _knowledge_base(self, team_id: str, agent_id: str, kb_id: str) -> dict[str, Any]:
        self.store.agent(team_id, agent_id)
        kb = self.store.knowledge_bases.get(kb_id)
        if kb is None or kb["_agent"] != agent_id:
            raise not_found("Knowledge base")
        return kb

    def update_knowledge_base(self, team_id: str, agent_id: str, kb_id: str, body: dict[str, Any]) -> dict[str, Any]:
        kb = self._knowledge_base(team_id, agent_id, kb_id)
        f = Fields(body)
        changes = {}
        if f.has("name"):
            changes["name"] = f.text("name", required=True, max_len=255)
        if f.has("description"):
            changes["description"] = f.text("description", max_len=1000)
        for name in ("content", "url"):
            if f.has(name):
                changes[name] = f.text(name)
        f.check()
        kb.update(changes)
        return public(kb)

    def delete_knowledge_base(self, team_id: str, agent_id: str, kb_id: str) -> None:
        self._knowledge_base(team_id, agent_id, kb_id)
        del self.store.knowledge_bases[kb_id]
