"""Conversation rules: messages, AI pause, test-channel auto-replies and stream tickets.

Every appended message is published to live streams.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from ._errors import SandboxError, not_found
from ._records import Rules, iso, parse_iso, public
from ._validation import Fields

CHANNEL_TYPES = ("whatsapp", "webchat", "telephony")
CHANNEL_FILTERS = (*CHANNEL_TYPES, *(f"test_{c}" for c in CHANNEL_TYPES))
TICKET_TTL_S = 60


class ConversationRules(Rules):
    """Find-or-create conversations, append messages, pause the AI, issue stream tickets."""

    def _conversation(self, team_id: str, agent_id: str, conversation_id: str) -> dict[str, Any]:
        self.store.agent(team_id, agent_id)
        conv = self.store.conversations.get(conversation_id)
        if conv is None or conv["_agent"] != agent_id:
            raise not_found("Conversation")
        return conv

    def list_conversations(self, team_id: str, agent_id: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
        self.store.agent(team_id, agent_id)
        out = []
        channel = filters.get("channel")
        for conv in self.store.conversations.values():
            if conv["_agent"] != agent_id:
                continue
            if channel and (conv["channel_type"], conv["is_test_channel"]) != (
                channel.removeprefix("test_"),
                channel.startswith("test_"),
            ):
                continue
            if any(
                filters.get(k) is not None and conv[k] != filters[k]
                for k in ("is_test_channel", "is_ai_chat_paused", "needs_attention")
            ):
                continue
            out.append(public(conv))
        return out

    def get_conversation(self, team_id: str, agent_id: str, conversation_id: str) -> dict[str, Any]:
        conv = self._conversation(team_id, agent_id, conversation_id)
        by_phone = conv["channel_type"] in ("whatsapp", "telephony")
        return {
            **public(conv),
            "full_name": conv["channel_user_username"],
            "email": None,
            "phone_number": conv["channel_user_id"] if by_phone else None,
            "profile_picture": None,
        }

    def _message_body(self, body: dict[str, Any]) -> tuple[Fields, str, str]:
        f = Fields(body)
        text = f.text("message", required=True, max_len=4000)
        role = f.enum("role", ("user", "assistant"), default="user")
        return f, text, role

    def create_message(self, team_id: str, agent_id: str, body: dict[str, Any]) -> dict[str, Any]:
        f, text, role = self._message_body(body)
        conversation_id = f.text("conversation_id")
        if conversation_id is None:
            channel_type = f.enum("channel_type", CHANNEL_TYPES, required=True)
            user_id = f.text("channel_user_id", required=True, max_len=255)
        username = f.text("channel_username", max_len=255)
        is_test = f.flag("is_test_channel", default=False)
        f.check()
        if conversation_id is not None:
            conv = self._conversation(team_id, agent_id, conversation_id)
        else:
            conv = self._find_or_create(team_id, agent_id, channel_type, user_id, username, is_test)
        return self.append_message(conv, role, text)

    def _find_or_create(
        self, team_id: str, agent_id: str, channel_type: str, user_id: str, username: str | None, is_test: bool
    ) -> dict[str, Any]:
        self.store.agent(team_id, agent_id)
        key = (channel_type, user_id, is_test)
        for conv in self.store.conversations.values():
            if conv["_agent"] == agent_id and conv["_key"] == key:
                return conv
        channel = next(
            (c for c in self.store.channels.values() if c["_agent"] == agent_id and c["type"] == channel_type), None
        )
        now = iso()
        conv = {
            "id": self.store.new_id("conv"),
            "channel_type": channel_type,
            "channel_id": channel["id"] if channel else None,
            "channel_user_id": user_id,
            "channel_user_username": username,
            "is_test_channel": is_test,
            "is_ai_chat_paused": False,
            "needs_attention": False,
            "last_message_at": None,
            "last_seen": None,
            "last_message_preview": None,
            "created_at": now,
            "updated_at": now,
            "_agent": agent_id,
            "_key": key,
        }
        self.store.conversations[conv["id"]] = conv
        self.store.messages[conv["id"]] = []
        return conv

    def send_message(self, team_id: str, agent_id: str, conversation_id: str, body: dict[str, Any]) -> dict[str, Any]:
        f, text, role = self._message_body(body)
        f.check()
        return self.append_message(self._conversation(team_id, agent_id, conversation_id), role, text)

    def append_message(self, conv: dict[str, Any], role: str, text: str) -> dict[str, Any]:
        """Store, publish and (for a test-channel user message with the AI on) schedule the reply."""
        now = iso()
        message = {
            "id": self.store.next_message_id(),
            "conversation_id": conv["id"],
            "role": role,
            "message": text,
            "message_type": "text",
            "created_at": now,
            "attachments": [],
        }
        self.store.messages[conv["id"]].append(message)
        conv.update(last_message_at=now, last_message_preview=text[:100], updated_at=now)
        if role == "user" and conv["is_ai_chat_paused"]:
            conv["needs_attention"] = True
        self.store.publish(conv["id"], message)
        if role == "user" and conv["is_test_channel"] and not conv["is_ai_chat_paused"]:
            self.store.spawn(self._auto_reply(conv, text))
        return dict(message)

    async def _auto_reply(self, conv: dict[str, Any], text: str) -> None:
        await asyncio.sleep(self.store.reply_delay)
        agent = self.store.agents.get(conv["_agent"])
        if agent is None or conv["is_ai_chat_paused"] or conv["id"] not in self.store.conversations:
            return
        self.append_message(conv, "assistant", f'Hi, this is {agent["name"]}. You said: "{text}"')

    def list_messages(self, team_id: str, agent_id: str, conversation_id: str) -> list[dict[str, Any]]:
        self._conversation(team_id, agent_id, conversation_id)
        return [dict(m) for m in self.store.messages[conversation_id]]

    def get_message(self, team_id: str, agent_id: str, conversation_id: str, message_id: str) -> dict[str, Any]:
        for message in self.list_messages(team_id, agent_id, conversation_id):
            if message["id"] == message_id:
                return message
        raise not_found("Message")

    def messages_after(self, conversation_id: str, after: str | None) -> list[dict[str, Any]]:
        """Messages strictly after `after` (a message id, or an ISO time), in order."""
        items = self.store.messages.get(conversation_id, [])
        if not after:
            return []
        if after.startswith("msg_"):
            return [m for m in items if m["id"] > after]
        moment = parse_iso(after)
        if moment is None:
            raise SandboxError(
                "validation_error", "Validation failed", [("after", "must be a message id or an ISO time")]
            )
        return [m for m in items if (parse_iso(m["created_at"]) or 0) > moment]

    def set_ai_status(self, team_id: str, agent_id: str, conversation_id: str, body: dict[str, Any]) -> dict[str, Any]:
        f = Fields(body)
        paused = f.flag("is_ai_chat_paused", required=True)
        f.check()
        conv = self._conversation(team_id, agent_id, conversation_id)
        if conv["is_ai_chat_paused"] != paused:
            conv["is_ai_chat_paused"] = paused
            if not paused:
                conv["needs_attention"] = False
            self.append_message(conv, "system", "AI paused by a human operator." if paused else "AI resumed.")
        return {"is_ai_chat_paused": paused}

    def issue_ticket(self, team_id: str, agent_id: str, conversation_id: str, api_key: str) -> dict[str, Any]:
        self._conversation(team_id, agent_id, conversation_id)
        ticket = f"tkt_{secrets.token_urlsafe(24)}"
        self.store.tickets[ticket] = {
            "agent_id": agent_id,
            "conversation_id": conversation_id,
            "api_key": api_key,
            "expires_at": time.time() + TICKET_TTL_S,
            "used": False,
        }
        return {"ticket": ticket, "expires_in": TICKET_TTL_S}

    def redeem_ticket(self, ticket: str | None, agent_id: str, conversation_id: str) -> str:
        """Consume a single-use ticket for this conversation; returns the API key it was issued to."""
        record = self.store.tickets.get(ticket or "")
        if record is None or (record["agent_id"], record["conversation_id"]) != (agent_id, conversation_id):
            raise SandboxError("unauthorized", "A valid stream ticket is required.")
        if record["used"]:
            raise SandboxError("unauthorized", "This stream ticket has already been used.")
        if time.time() > record["expires_at"]:
            raise SandboxError("unauthorized", "This stream ticket has expired.")
        record["used"] = True
        api_key: str = record["api_key"]
        return api_key
