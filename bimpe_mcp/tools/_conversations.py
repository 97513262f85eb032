"""[conversations] Conversations, messages, the AI pause switch and live message streams."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from bimpe_mcp.console import ID_MAX_LENGTH, ID_PATTERN, MessageStream, wait_for_messages
from bimpe_mcp.console import models as m
from bimpe_mcp.tools._runtime import ToolCall, paged
from bimpe_mcp.tools._sizing import Listing, Room
from bimpe_mcp.tools._spec import (
    READ,
    UPDATE,
    WRITE,
    AgentRef,
    ConversationId,
    ListedBy,
    Page,
    Paging,
    ToolSpec,
)

ConversationChannel = Literal["whatsapp", "webchat", "telephony", "test_whatsapp", "test_webchat", "test_telephony"]


class ListConversations(AgentRef, Paging):
    channel: ConversationChannel | None = Field(None, description="test_* are test chats.")
    is_test_channel: bool | None = Field(None, description="Test chats (true) or real.")
    is_ai_chat_paused: bool | None = Field(None, description="AI paused.")
    needs_attention: bool | None = Field(None, description="Flagged for a human.")


class ConversationRef(AgentRef):
    conversation_id: ConversationId


class ListMessages(ConversationRef, Paging):
    pass


class MessageRef(ConversationRef):
    message_id: Annotated[
        str,
        ListedBy("list_messages"),
        Field(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH, description="From list_messages."),
    ]


class SendMessage(AgentRef, m.MessageSend):
    conversation_id: ConversationId | None = Field(None, description="Reply in this conversation.")
    channel_type: m.ChannelType | None = Field(None, description="Or start one on this channel.")
    channel_user_id: str | None = Field(None, max_length=200, description="Recipient address.")
    channel_username: str | None = Field(None, description="Recipient display name.")

    @model_validator(mode="after")
    def _has_destination(self) -> SendMessage:
        if not self.conversation_id and not (self.channel_type and self.channel_user_id):
            raise ValueError("give conversation_id, or channel_type and channel_user_id")
        return self


class SetConversationAi(ConversationRef, m.AiStatusUpdate):
    pass


class WaitForMessages(ConversationRef):
    count: int = Field(1, ge=1, le=100, description="Up to 100 new messages.")
    timeout_s: float = Field(30, gt=0, le=300, description="Seconds, up to 300.")
    after: str | None = Field(
        None,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:+-]+$",
        description="After this message id or ISO time.",
    )


class Messages(BaseModel):
    messages: list[m.Message]
    timed_out: bool = Field(description="true if the timeout hit before count messages arrived.")
    next_step: str | None = None
    """Set when the size cap ended the wait or cut it: the call that resumes right after the last message shown."""


async def _send_message(call: ToolCall[SendMessage]) -> Any:
    p = call.params
    if p.conversation_id:
        body = call.body(m.MessageSend)
        return await call.client.conversations.send_message(p.agent_id, p.conversation_id, body)
    return await call.client.conversations.create_message(p.agent_id, call.body(m.MessageCreate))


async def _wait_for_messages(call: ToolCall[WaitForMessages]) -> Listing:
    """Collect until `count`, the timeout, or the size cap; past the cap, `next_step` resumes the stream
    after the last message shown, which replays what came after it, so nothing is lost or repeated."""
    p = call.params

    async def report(message: m.Message, received: int) -> None:
        await call.progress(received, p.count, f"{received} of {p.count} messages ({message.role})")

    room = Room(Messages, "messages", call.limits.max_result_tokens)
    stream = MessageStream(call.client, p.agent_id, p.conversation_id, after=p.after)
    waited = await wait_for_messages(
        stream, count=p.count, timeout=min(p.timeout_s, call.limits.max_wait_s), on_message=report, room=room.take
    )
    messages = waited.messages

    def cut(shown: int) -> tuple[int, dict[str, Any]]:
        step = (
            f"Stopped at the size cap after {shown} messages; more have arrived: call wait_for_messages again "
            f"with after='{messages[shown - 1].id}' and count={p.count - shown} for the rest."
        )
        return shown, {"timed_out": False, "next_step": step}

    fields: dict[str, Any] = {"messages": messages, "timed_out": waited.timed_out}
    if not waited.timed_out and len(messages) < p.count:  # the cap ended the wait
        fields.update(cut(len(messages))[1])
    return Listing(fields, "messages", cut)


TOOLS = (
    ToolSpec(
        name="list_conversations",
        toolset="conversations",
        title="List conversations",
        description="The agent's conversations, with filters.",
        params=ListConversations,
        output=Page[m.Conversation],
        run=paged(
            lambda call, query: call.client.conversations.list(
                call.params.agent_id,
                query,
                channel=call.params.channel,
                is_test_channel=call.params.is_test_channel,
                is_ai_chat_paused=call.params.is_ai_chat_paused,
                needs_attention=call.params.needs_attention,
            )
        ),
        hints=READ,
    ),
    ToolSpec(
        name="get_conversation",
        toolset="conversations",
        title="Get conversation",
        description="One conversation with the contact's name, email and phone number.",
        params=ConversationRef,
        output=m.ConversationDetail,
        run=lambda call: call.client.conversations.get(call.params.agent_id, call.params.conversation_id),
        hints=READ,
    ),
    ToolSpec(
        name="list_messages",
        toolset="conversations",
        title="List messages",
        description="Messages of one conversation.",
        params=ListMessages,
        output=Page[m.Message],
        run=paged(
            lambda call, query: call.client.conversations.list_messages(
                call.params.agent_id, call.params.conversation_id, query
            )
        ),
        hints=READ,
    ),
    ToolSpec(
        name="get_message",
        toolset="conversations",
        title="Get message",
        description="One message of a conversation, with its attachments.",
        params=MessageRef,
        output=m.Message,
        run=lambda call: call.client.conversations.get_message(
            call.params.agent_id, call.params.conversation_id, call.params.message_id
        ),
        hints=READ,
    ),
    ToolSpec(
        name="send_message",
        toolset="conversations",
        title="Send message",
        description="Message a real contact in conversation_id, or on channel_type + channel_user_id. "
        "Tests: send_test_message.",
        params=SendMessage,
        output=m.SentMessage,
        run=_send_message,
        hints=WRITE.reaching_out(),
        confirm=("conversation_id", "channel_user_id"),
        outward=True,
    ),
    ToolSpec(
        name="set_conversation_ai",
        toolset="conversations",
        title="Pause or resume AI",
        description="Pause the AI in a conversation so a human takes over, or resume it.",
        params=SetConversationAi,
        output=m.AiStatus,
        run=lambda call: call.client.conversations.set_ai_status(
            call.params.agent_id, call.params.conversation_id, call.body(m.AiStatusUpdate)
        ),
        hints=UPDATE,
    ),
    ToolSpec(
        name="wait_for_messages",
        toolset="conversations",
        title="Wait for messages",
        description="Wait for new messages of a conversation, up to count or timeout_s.",
        params=WaitForMessages,
        output=Messages,
        run=_wait_for_messages,
        hints=READ,
    ),
)
