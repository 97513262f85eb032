"""Request and response models for every Console endpoint.

Request models forbid unknown fields, never echo input in validation errors, and mark
write-only credentials as `Secret`: hidden in every repr, revealed only when the body is
serialised for the wire. Response models keep the documented fields and ignore the rest,
so an upstream addition can neither break a call nor leak through a tool result.
The field descriptions double as the MCP tools' parameter docs: keep them short.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, PlainSerializer, SecretStr
from pydantic.json_schema import JsonSchemaValue

from bimpe_mcp.console._paths import Id

__all__ = [
    "UNTRUSTED_KEYWORD",
    "ActionIds",
    "Agent",
    "AgentAction",
    "AgentCreate",
    "AgentCreated",
    "AgentDetail",
    "AgentUpdate",
    "AiStatus",
    "AiStatusUpdate",
    "AuthConfig",
    "BimpeaiConfigure",
    "BimpeaiConfigureResult",
    "BimpeaiIntegration",
    "BodyParam",
    "Call",
    "CallCreate",
    "CallDetail",
    "CallStarted",
    "Channel",
    "Conversation",
    "ConversationDetail",
    "CustomApiConfig",
    "CustomApiConfigure",
    "CustomApiIntegration",
    "CustomApiToolCreate",
    "DiscoverResult",
    "Integration",
    "IntegrationAction",
    "IntegrationTool",
    "KnowledgeBase",
    "KnowledgeBaseCreate",
    "KnowledgeBaseUpdate",
    "LiveStatus",
    "LiveStatusUpdate",
    "McpServerConfig",
    "McpServerConfigure",
    "McpServerIntegration",
    "McpServerTool",
    "McpTestResult",
    "Message",
    "MessageCreate",
    "MessageSend",
    "OnboardingUrl",
    "PhoneNumber",
    "PhoneNumberRequest",
    "PhoneNumberRequestCreate",
    "PhoneNumberUpdate",
    "PipedreamConfig",
    "PipedreamConfigure",
    "PipedreamIntegration",
    "RequestModel",
    "ResponseMapping",
    "ResponseModel",
    "Secret",
    "SentMessage",
    "StreamTicket",
    "TestCode",
    "Untrusted",
    "UpdatedCount",
    "Workflow",
    "WorkflowCreate",
    "WorkflowUpdate",
    "secret_values",
]


def _reveal(value: SecretStr) -> str:
    return value.get_secret_value()


Secret = Annotated[SecretStr, PlainSerializer(_reveal, return_type=str, when_used="json")]
"""A write-only credential: `**********` in reprs and logs, plain text only on the wire."""


class _WrittenOutside:
    """Marks text people outside the team write (contacts, third-party MCP servers): `x-untrusted` in the schema."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema[UNTRUSTED_KEYWORD] = True
        return schema


UNTRUSTED_KEYWORD = "x-untrusted"
"""The JSON Schema keyword that marks a field whose text is written outside the team."""

Untrusted = Annotated[str, _WrittenOutside()]
"""Text written outside the team: a contact's message, name or email, a third-party tool's name.
A field with it may carry instructions aimed at whoever reads it; the tools fence it as data."""


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, defer_build=True)

    def body(self) -> dict[str, Any]:
        """The JSON body: unset and null fields left out, secrets revealed."""
        return self.model_dump(mode="json", exclude_none=True)

    def patch(self) -> dict[str, Any]:
        """The JSON body of a PATCH: only what the caller set, explicit nulls kept."""
        return self.model_dump(mode="json", exclude_unset=True)


def secret_values(model: BaseModel) -> list[str]:
    """Every secret a model carries, at any depth, so callers can scrub echoes of them."""
    found: list[str] = []
    _collect_secrets(model, found)
    return found


def _collect_secrets(value: Any, found: list[str]) -> None:
    if isinstance(value, SecretStr):
        if secret := value.get_secret_value():
            found.append(secret)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _collect_secrets(getattr(value, name), found)
    elif isinstance(value, dict):
        for item in value.values():
            _collect_secrets(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_secrets(item, found)


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


Persona = Literal["professional", "friendly", "concise"]
AgentStatus = Literal["development", "live", "paused"]
BimpeaiType = Literal["bumpa", "google_calendar", "google_sheets", "paystack", "stripe"]
AuthType = Literal["none", "bearer", "basic", "api_key", "custom"]
HttpMethod = Literal["GET", "POST", "PUT", "DELETE", "PATCH"]
ParamType = Literal["string", "number", "integer", "boolean", "array", "object"]
McpTransport = Literal["http_sse", "streamable_http"]
ChannelType = Literal["whatsapp", "webchat", "telephony"]
Role = Literal["user", "assistant"]
Region = Literal["us", "uk", "eu", "ng"]

# --- agents -------------------------------------------------------------------------------


class AgentUpdate(RequestModel):
    workflow_id: Id | None = Field(None, description="Workflow that drives the agent.")
    name: str | None = Field(None, min_length=1, max_length=255, description="Agent name.")
    description: str | None = Field(None, max_length=2000, description="What the agent does.")
    language: str | None = Field(None, description="e.g. en.")
    persona: Persona | None = Field(None, description="Tone of voice.")
    timezone: str | None = Field(None, description="IANA, e.g. Africa/Lagos.")
    logo: str | None = Field(None, description="Logo URL.")
    business_name: str | None = Field(None, description="Business name.")
    business_address: str | None = Field(None, description="Address.")
    business_email: str | None = Field(None, description="Email.")
    business_description: str | None = Field(None, description="What the business does.")
    escalation_email: str | None = Field(None, description="For escalations.")


class AgentCreate(AgentUpdate):
    workflow_id: Id = Field(description="From list_workflows.")
    name: str = Field(min_length=1, max_length=255, description="Agent name.")
    description: str = Field(min_length=1, max_length=2000, description="What the agent does.")


class Agent(ResponseModel):
    id: str
    name: str
    description: str | None = None
    language: str | None = None
    persona: str | None = None
    workflow_id: str | None = None
    timezone: str | None = None
    logo: str | None = None
    business_name: str | None = None
    business_address: str | None = None
    business_email: str | None = None
    business_description: str | None = None
    test_channel_code: str | None = None
    status: str | None = None
    status_reason: str | None = None
    escalation_email: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class IntegrationSummary(ResponseModel):
    id: str | None = None
    type: str
    name: str
    status: str
    is_connected: bool


class Channel(ResponseModel):
    id: str
    type: str
    name: str
    status: str
    is_connected: bool


class KnowledgeBase(ResponseModel):
    id: str
    type: str
    name: str
    description: str | None = None
    url: str | None = None
    content: str | None = None


class AgentDetail(Agent):
    knowledge_bases: list[KnowledgeBase] = []
    integrations: list[IntegrationSummary] = []
    channels: list[Channel] = []


class Workflow(ResponseModel):
    id: str
    name: str
    description: str | None = None
    category: str | None = None
    visibility: str | None = None
    is_owner: bool | None = None
    system_prompt: str | None = None
    rules: list[dict[str, Any]] = []
    flows: list[dict[str, Any]] = []
    tags: list[str] | None = None
    integrations: list[str] | None = None
    channels: list[str] | None = None
    actions: list[str] | None = None
    guide: dict[str, Any] | None = None
    faq: list[dict[str, Any]] | None = None
    setup_steps: list[Any] = []
    setup_time: int | None = None
    video_url: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class AgentCreated(Agent):
    workflow: Workflow | None = None


class LiveStatusUpdate(RequestModel):
    status: AgentStatus = Field(description="development, live or paused.")
    status_reason: str | None = Field(None, max_length=1000, description="Why, shown in the Console.")


class LiveStatus(ResponseModel):
    status: str
    status_reason: str | None = None


class MessagingTestChannel(ResponseModel):
    is_enabled: bool
    start_message: str | None = None
    phone_number: str | None = None
    username: str | None = None
    page: str | None = None
    url: str | None = None


class TelephonyTestChannel(ResponseModel):
    is_enabled: bool


class TestChannels(ResponseModel):
    whatsapp: MessagingTestChannel
    instagram: MessagingTestChannel
    messenger: MessagingTestChannel
    telephony: TelephonyTestChannel


class TestCode(ResponseModel):
    code: str
    channels: TestChannels


class ConfigField(ResponseModel):
    key: str
    label: str
    type: str
    required: bool


class IntegrationAction(ResponseModel):
    action_name: str
    name: Untrusted
    description: Untrusted | None = None
    category: str | None = None
    is_enabled: bool
    require_human_approval: bool | None = None


class Integration(ResponseModel):
    id: str | None = None
    type: str
    name: str
    status: str
    is_connected: bool
    config_fields: list[ConfigField] = []
    actions: list[IntegrationAction] = []


class AgentAction(ResponseModel):
    id: str
    integration_id: str | None = None
    integration_type: str | None = None
    integration_name: str | None = None
    name: Untrusted
    action_name: str
    description: Untrusted | None = None
    is_enabled: bool


class ActionIds(RequestModel):
    action_ids: list[Id] = Field(min_length=1, max_length=500, description="Action ids from list_agent_actions.")


class UpdatedCount(ResponseModel):
    updated_count: int


# --- knowledge bases ------------------------------------------------------------------------


class KnowledgeBaseUpdate(RequestModel):
    name: str | None = Field(None, min_length=1, max_length=255, description="Name.")
    description: str | None = Field(None, max_length=1000, description="What it covers.")
    content: str | None = Field(None, description="Text content (type text).")
    url: str | None = Field(None, pattern=r"^https?://\S+$", description="Page to ingest (type url).")


class KnowledgeBaseCreate(KnowledgeBaseUpdate):
    type: Literal["text", "url"] = Field(description="text (give content) or url (give url).")
    name: str = Field(min_length=1, max_length=255, description="Name.")


# --- integrations ---------------------------------------------------------------------------


class BimpeaiIntegration(ResponseModel):
    id: str | None = None
    type: str
    name: str
    status: str
    is_connected: bool


class BimpeaiConfigure(RequestModel):
    type: BimpeaiType = Field(description="Connector to configure.")
    public_key: Secret | None = Field(None, min_length=1, description="stripe/paystack pk_….")
    secret_key: Secret | None = Field(None, min_length=1, description="stripe/paystack sk_….")
    token: Secret | None = Field(None, min_length=1, description="bumpa API token.")
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$", description="ISO currency, e.g. NGN.")


class BimpeaiConfigureResult(ResponseModel):
    """`{success, channel_id}` for stripe, paystack and bumpa; `{onboarding_url}` for the Google ones."""

    success: bool | None = None
    channel_id: str | None = None
    onboarding_url: str | None = None


class AuthConfig(RequestModel):
    token: Secret | None = Field(None, description="Bearer token.")
    api_key: Secret | None = Field(None, description="API key value.")
    header_name: Secret | None = Field(None, description="Header carrying the API key.")
    username: Secret | None = Field(None, description="Basic-auth user.")
    password: Secret | None = Field(None, description="Basic-auth password.")


class CustomApiConfigure(RequestModel):
    name: str = Field(min_length=1, max_length=255, description="Integration name; reusing one updates it.")
    description: str | None = Field(None, max_length=1000, description="What the API is for.")
    base_url: str | None = Field(None, pattern=r"^https?://\S+$", description="Base URL of the API.")
    auth_type: AuthType | None = Field(None, description="How to authenticate.")
    auth_config: AuthConfig | None = Field(
        None, description="Write-only {token}, {username, password} or {api_key, header_name}."
    )
    test_endpoint: str | None = Field(None, description="Path used to test the connection.")


class CustomApiConfig(ResponseModel):
    name: str
    base_url: str | None = None
    auth_type: str | None = None


class CustomApiIntegration(ResponseModel):
    id: str
    config: CustomApiConfig


class BodyParam(RequestModel):
    name: str = Field(min_length=1, max_length=255, description="Parameter name.")
    type: ParamType = Field(description="JSON type.")
    description: str | None = Field(None, description="What it means.")
    required: bool | None = Field(None, description="Whether the agent must supply it.")
    items: dict[str, Any] | None = Field(None, description="Item schema, for arrays.")
    properties: dict[str, Any] | None = Field(None, description="Property schemas, for objects.")


class ResponseMapping(RequestModel):
    path: str | None = Field(None, description="JSON path of the answer.")
    success_message: str | None = Field(None, description="Said on success.")
    error_message: str | None = Field(None, description="Said on failure.")


class CustomApiToolCreate(RequestModel):
    name: str = Field(min_length=1, max_length=255, description="Name.")
    http_method: HttpMethod = Field(description="HTTP method.")
    url_template: str = Field(min_length=1, description="e.g. /orders/{order_id}.")
    description: str | None = Field(None, max_length=1000, description="When to call it.")
    url_params: list[BodyParam] | None = Field(None, description="[{name, type, description, required}].")
    body_params: list[BodyParam] | None = Field(None, description="Body parameters, as url_params.")
    headers_template: dict[str, str] | None = Field(None, description="Headers.")
    body_template: dict[str, Any] | None = Field(None, description="Fixed body.")
    auth_type: AuthType | None = Field(None, description="Default: the API's.")
    auth_config: AuthConfig | None = Field(
        None, description="Write-only {token}, {username, password} or {api_key, header_name}."
    )
    response_mapping: ResponseMapping | None = Field(None, description="{path, success_message, error_message}.")
    category: str | None = Field(None, description="Label.")
    require_human_approval: bool | None = Field(None, description="Human approval per call.")
    timeout: int | None = Field(None, ge=1, le=300, description="Seconds, up to 300.")


class IntegrationTool(ResponseModel):
    id: str
    action_name: str
    name: str
    description: str | None = None
    category: str | None = None
    is_enabled: bool


class McpServerTool(IntegrationTool):
    """A tool discovered on a third-party MCP server: its name and description are that server's words."""

    name: Untrusted
    description: Untrusted | None = None


class McpServerConfigure(RequestModel):
    name: str = Field(min_length=1, max_length=255, description="Integration name; reusing one updates it.")
    server_url: str = Field(pattern=r"^https?://\S+$", description="MCP endpoint URL.")
    transport: McpTransport | None = Field(None, description="Default streamable_http.")
    auth_type: AuthType | None = Field(None, description="How to authenticate.")
    auth_config: AuthConfig | None = Field(
        None, description="Write-only {token}, {username, password} or {api_key, header_name}."
    )


class McpServerConfig(ResponseModel):
    name: str
    server_url: str
    transport: str | None = None
    auth_type: str | None = None


class McpServerIntegration(ResponseModel):
    id: str
    config: McpServerConfig


class DiscoverResult(ResponseModel):
    discovered: int
    created: int
    updated: int
    disabled: int


class McpTestResult(ResponseModel):
    success: bool
    message: str | None = None
    error: str | None = None
    tools_count: int | None = None


class PipedreamConfigure(RequestModel):
    app_slug: str = Field(
        max_length=100, pattern=r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$", description="Pipedream app slug, e.g. google-sheets."
    )
    app_name: str | None = Field(None, max_length=255, description="Display name.")
    app_icon: str | None = Field(None, description="Icon URL.")


class PipedreamConfig(ResponseModel):
    app_slug: str
    app_name: str | None = None
    app_icon: str | None = None
    server_url: str | None = None


class PipedreamIntegration(ResponseModel):
    id: str
    channel_type: str | None = None
    config: PipedreamConfig


class OnboardingUrl(ResponseModel):
    onboarding_url: str


# --- conversations --------------------------------------------------------------------------


class Conversation(ResponseModel):
    id: str
    channel_type: str | None = None
    channel_id: str | None = None
    channel_user_id: str | None = None
    channel_user_username: Untrusted | None = None
    is_test_channel: bool | None = None
    is_ai_chat_paused: bool | None = None
    needs_attention: bool | None = None
    last_message_at: str | None = None
    last_seen: str | None = None
    last_message_preview: Untrusted | None = None
    created_at: str | None = None
    updated_at: str | None = None


class ConversationDetail(Conversation):
    full_name: Untrusted | None = None
    email: Untrusted | None = None
    phone_number: str | None = None
    profile_picture: str | None = None


class Attachment(ResponseModel):
    type: str
    url: str


class Message(ResponseModel):
    """A message. `role` is kept as sent: new roles must never be dropped."""

    id: str
    role: str
    message: Untrusted | None = None
    message_type: str | None = None
    created_at: str | None = None
    conversation_id: str | None = None
    attachments: list[Attachment] | None = None


class SentMessage(Message):
    """The Console's answer to a message this team sent: its text is the sender's own, so it is trusted."""

    message: str | None = None


class MessageSend(RequestModel):
    message: str = Field(min_length=1, max_length=4000, description="Message text.")
    role: Role | None = Field(None, description="user (default) or assistant.")


class MessageCreate(MessageSend):
    conversation_id: Id | None = Field(None, description="Append to this conversation.")
    channel_type: ChannelType | None = Field(None, description="Channel, when no conversation_id.")
    channel_user_id: str | None = Field(None, description="Sender address on that channel.")
    channel_username: str | None = Field(None, description="Sender display name.")
    is_test_channel: bool | None = Field(None, description="Mark as a test conversation.")


class AiStatusUpdate(RequestModel):
    is_ai_chat_paused: bool = Field(description="true pauses the AI so a human can reply.")


class AiStatus(ResponseModel):
    is_ai_chat_paused: bool | None = None


class StreamTicket(ResponseModel):
    ticket: str
    expires_in: int


# --- calls ----------------------------------------------------------------------------------


class CallCreate(RequestModel):
    destination: str = Field(pattern=r"^\+[1-9]\d{7,14}$", description="Number to call, E.164 (+234…).")
    is_test_call: bool = Field(description="true for a test call.")


class CallStarted(ResponseModel):
    status: str
    call_id: str | None = None
    detail: str | None = None


class Call(ResponseModel):
    id: str
    source: str | None = None
    destination: str | None = None
    status: str
    direction: str | None = None
    created_on: str | None = None
    duration_seconds: int | None = None
    is_test_call: bool | None = None
    error_reason: str | None = None
    end_reason: str | None = None
    ringing_at: str | None = None
    ended_at: str | None = None


class CallDetail(Call):
    started_at: str | None = None
    answered_at: str | None = None
    conversation_logs: list[Message] = []


# --- workflows ------------------------------------------------------------------------------


class WorkflowRule(RequestModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1)


class WorkflowFlow(RequestModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1)


class WorkflowFaq(RequestModel):
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)


class WorkflowUpdate(RequestModel):
    name: str | None = Field(None, min_length=1, max_length=255, description="Workflow name.")
    system_prompt: str | None = Field(None, min_length=1, description="The agent's instructions.")
    description: str | None = Field(None, description="What it is for.")
    category: str | None = Field(None, description="Category label.")
    rules: list[WorkflowRule] | None = Field(None, description="[{id, name, trigger, response, enabled}].")
    flows: list[WorkflowFlow] | None = Field(None, description="[{name, …}].")
    tags: list[str] | None = Field(None, description="Tags.")
    integrations: list[str] | None = Field(None, description="Integration types.")
    channels: list[str] | None = Field(None, description="Channel types.")
    actions: list[str] | None = Field(None, description="Action names.")
    guide: dict[str, Any] | None = Field(None, description="{steps, youtube_url}.")
    faq: list[WorkflowFaq] | None = Field(None, description="[{question, answer}].")
    setup_steps: list[Any] | None = Field(None, description="Setup steps.")
    setup_time: int | None = Field(None, ge=0, description="Minutes.")
    video_url: str | None = Field(None, description="Video URL.")


class WorkflowCreate(WorkflowUpdate):
    name: str = Field(min_length=1, max_length=255, description="Workflow name.")
    system_prompt: str = Field(min_length=1, description="The agent's instructions.")


# --- phone numbers --------------------------------------------------------------------------


class PhoneNumberUpdate(RequestModel):
    agent_id: Id | None = Field(None, description="Agent to route to; null unassigns.")
    label: str | None = Field(None, max_length=255, description="Label.")


class PhoneNumber(ResponseModel):
    id: str
    agent_id: str | None = None
    label: str | None = None
    e164: str
    created_at: str | None = None
    updated_at: str | None = None
    inbound_enabled: bool | None = None


class PhoneNumberRequestCreate(RequestModel):
    business_name: str = Field(min_length=1, max_length=255, description="Business the number is for.")
    intended_use: str = Field(min_length=1, max_length=1000, description="What calls it will carry.")
    region: Region = Field(description="us, uk, eu or ng.")
    agent_count: int = Field(ge=1, description="Agents that will use it.")
    outbound_minutes: int = Field(ge=0, description="Expected outbound minutes a month.")
    submitted_by_agent_id: Id | None = Field(None, description="Agent asking for it.")


class PhoneNumberRequest(ResponseModel):
    id: str
    status: str | None = None
    business_name: str | None = None
    intended_use: str | None = None
    region: str | None = None
    agent_count: int | None = None
    outbound_minutes: int | None = None
    submitted_by_agent_id: str | None = None
    e164: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
