"""[testing] Try an agent before it goes live: test code, test messages, test calls."""

from __future__ import annotations

from pydantic import Field

from bimpe_mcp.console import ConsoleError, ListQuery, MessageStream, wait_for_reply
from bimpe_mcp.console import models as m
from bimpe_mcp.tools._runtime import ToolCall
from bimpe_mcp.tools._spec import READ, WRITE, AgentRef, ConversationId, ToolSpec, Traced


class SendTestMessage(AgentRef):
    message: str = Field(min_length=1, max_length=4000, description="What the tester says.")
    conversation_id: ConversationId | None = Field(None, description="Continue this test conversation.")
    channel_type: m.ChannelType = Field("webchat", description="Test channel to simulate.")
    channel_user_id: str = Field("mcp-tester", min_length=1, max_length=200, description="Simulated tester address.")
    wait_for_reply: bool = Field(True, description="Wait for the agent's reply.")
    timeout_s: float = Field(30, gt=0, le=300, description="Longest wait for the reply, in seconds.")


class PlaceTestCall(AgentRef):
    destination: str = Field(pattern=r"^\+[1-9]\d{7,14}$", description="Tester's phone, E.164 (+234…).")


class TestExchange(Traced):
    conversation_id: str | None = Field(description="Test conversation, to continue it.")
    sent: m.SentMessage
    reply: m.Message | None = Field(description="The agent's reply, if it came in time.")
    timed_out: bool = Field(description="true if no reply came within timeout_s.")
    next_step: str | None = Field(default=None, description="What to do when the reply could not be awaited.")


async def _send_test_message(call: ToolCall[SendTestMessage]) -> TestExchange:
    p = call.params
    body = m.MessageCreate(
        message=p.message,
        role="user",
        conversation_id=p.conversation_id,
        channel_type=None if p.conversation_id else p.channel_type,
        channel_user_id=None if p.conversation_id else p.channel_user_id,
        channel_username=None,
        is_test_channel=True,
    )
    sent = (await call.client.conversations.create_message(p.agent_id, body)).data
    conversation_id = sent.conversation_id or p.conversation_id or await _tester_conversation(call)
    if not p.wait_for_reply or conversation_id is None:
        return TestExchange(conversation_id=conversation_id, sent=sent, reply=None, timed_out=False)
    await call.progress(0, 1, "Message sent; waiting for the agent's reply")
    stream = MessageStream(call.client, p.agent_id, conversation_id, after=sent.id)
    try:
        waited = await wait_for_reply(stream, timeout=min(p.timeout_s, call.limits.max_wait_s))
    except ConsoleError as error:
        # The message is sent: a failure now must not read as "not sent" and invite a duplicate.
        return TestExchange(
            conversation_id=conversation_id,
            sent=sent,
            reply=None,
            timed_out=False,
            next_step=(
                f"The message was sent, but the reply could not be awaited ({error.message}). Do not resend: "
                f"call wait_for_messages(conversation_id='{conversation_id}', after='{sent.id}')."
            ),
        )
    reply = waited.messages[0] if waited.messages else None
    await call.progress(1, 1, "Reply received" if reply else "No reply before the timeout")
    return TestExchange(conversation_id=conversation_id, sent=sent, reply=reply, timed_out=reply is None)


async def _tester_conversation(call: ToolCall[SendTestMessage]) -> str | None:
    """The tester's newest test conversation: the documented Message has no conversation_id to go by."""
    p = call.params
    query = ListQuery(limit=1, search=p.channel_user_id, sort="-last_message_at")
    found = await call.client.conversations.list(p.agent_id, query, channel=f"test_{p.channel_type}")
    return next((c.id for c in found.data if c.channel_user_id == p.channel_user_id), None)


TOOLS = (
    ToolSpec(
        name="get_test_code",
        toolset="testing",
        title="Get test code",
        description="The agent's test code with each channel's start message, destination and link, for human testers.",
        params=AgentRef,
        output=m.TestCode,
        run=lambda call: call.client.agents.test_code(call.params.agent_id),
        hints=READ,
    ),
    ToolSpec(
        name="send_test_message",
        toolset="testing",
        title="Send test message",
        description="Chat with the agent on a test channel: sends message and returns the agent's reply. "
        "Pass conversation_id to continue.",
        params=SendTestMessage,
        output=TestExchange,
        run=_send_test_message,
        hints=WRITE,
    ),
    ToolSpec(
        name="place_test_call",
        toolset="testing",
        title="Place test call",
        description="Have the agent call a tester's phone as a test call. Follow it with get_call.",
        params=PlaceTestCall,
        output=m.CallStarted,
        run=lambda call: call.client.calls.create(
            call.params.agent_id, m.CallCreate(destination=call.params.destination, is_test_call=True)
        ),
        hints=WRITE.reaching_out(),
    ),
)
