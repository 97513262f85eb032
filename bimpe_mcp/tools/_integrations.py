"""[integrations] First-party connectors, custom HTTP APIs, MCP servers and Pipedream apps."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp_types import CallToolResult
from pydantic import BaseModel, Field, model_validator

from bimpe_mcp.console import ID_MAX_LENGTH, ID_PATTERN, Family, Result
from bimpe_mcp.console import models as m
from bimpe_mcp.tools._runtime import Refused, ToolCall, deleting, listed, whole_list
from bimpe_mcp.tools._secret_entry import SecretField, SecretNeed
from bimpe_mcp.tools._sizing import Listing
from bimpe_mcp.tools._spec import (
    DELETE,
    READ,
    UPDATE,
    WRITE,
    AgentRef,
    Deleted,
    IntegrationId,
    ListedBy,
    Offset,
    Page,
    Scope,
    ToolParams,
    ToolSpec,
)

_BIMPEAI_TYPES = {"bumpa", "google_calendar", "google_sheets", "paystack", "stripe"}
_CONNECTOR_KEYS = {
    "stripe": ("public_key", "secret_key"),
    "paystack": ("public_key", "secret_key"),
    "bumpa": ("token",),
}
_SERVICE_NAMES = {
    "stripe": "Stripe",
    "paystack": "Paystack",
    "bumpa": "Bumpa",
    "google_calendar": "Google Calendar",
    "google_sheets": "Google Sheets",
}
_KEY_LABELS = {
    "public_key": "Publishable key (pk_…)",
    "secret_key": "Secret key (sk_…)",
    "token": "API token",
}
_AUTH_FIELDS: dict[str, tuple[SecretField, ...]] = {
    "bearer": (SecretField(path=("auth_config", "token"), label="Bearer token"),),
    "basic": (
        SecretField(path=("auth_config", "username"), label="Username", masked=False),
        SecretField(path=("auth_config", "password"), label="Password"),
    ),
    "api_key": (
        SecretField(path=("auth_config", "header_name"), label="Header name (e.g. X-Api-Key)", masked=False),
        SecretField(path=("auth_config", "api_key"), label="API key"),
    ),
    "custom": tuple(
        SecretField(path=("auth_config", name), label=label, masked=masked, optional=True)
        for name, label, masked in (
            ("header_name", "Header name", False),
            ("api_key", "API key", True),
            ("token", "Bearer token", True),
            ("username", "Username", False),
            ("password", "Password", True),
        )
    ),
}


class ListIntegrations(AgentRef, Offset):
    family: Family | None = Field(None, description="Only this family.")


class IntegrationRef(AgentRef):
    integration_id: IntegrationId


class IntegrationList(IntegrationRef, Offset):
    """An integration's list that the Console returns whole."""


class Disconnect(IntegrationRef):
    family: Family = Field(description="Family the integration belongs to.")


class ToolRef(IntegrationRef):
    tool_id: Annotated[
        str,
        ListedBy("list_custom_api_tools"),
        Field(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH, description="From list_custom_api_tools."),
    ]


class ConfigureBimpeai(AgentRef, m.BimpeaiConfigure):
    @model_validator(mode="after")
    def _keys_match_type(self) -> ConfigureBimpeai:
        needed = _CONNECTOR_KEYS.get(self.type, ())
        missing = [name for name in needed if getattr(self, name) is None]
        if missing and len(missing) < len(needed):
            raise ValueError(
                f"type={self.type} needs {' and '.join(needed)}: give {', '.join(missing)}, or leave all of them "
                "out and the user types them into the secret-entry page"
            )
        return self


def _connector_secrets(params: ConfigureBimpeai) -> SecretNeed | None:
    needed = _CONNECTOR_KEYS.get(params.type, ())
    if not needed or any(getattr(params, name) is not None for name in needed):
        return None
    fields = tuple(SecretField(path=(name,), label=_KEY_LABELS[name]) for name in needed)
    return SecretNeed(_SERVICE_NAMES[params.type], fields)


def _auth_secrets(kind: str) -> Any:
    def need(params: ConfigureCustomApi | ConfigureMcpServer) -> SecretNeed | None:
        fields = _AUTH_FIELDS.get(params.auth_type or "none")
        if not fields or params.auth_config is not None:
            return None
        where = params.base_url if isinstance(params, ConfigureCustomApi) else params.server_url
        service = f"{kind} '{params.name}'" + (f" ({where})" if where else "")
        return SecretNeed(service, fields)

    return need


class ConfigureCustomApi(AgentRef, m.CustomApiConfigure):
    pass


class AddCustomApiTool(IntegrationRef, m.CustomApiToolCreate):
    pass


class ConfigureMcpServer(AgentRef, m.McpServerConfigure):
    pass


class ConfigurePipedream(AgentRef, m.PipedreamConfigure):
    pass


class IntegrationItem(BaseModel):
    """One integration in any family, in one shape."""

    id: str | None = None
    family: str | None = None
    type: str
    name: str
    status: str | None = None
    is_connected: bool | None = None
    config: dict[str, Any] = Field(default_factory=dict, description="Non-secret settings.")
    actions: list[m.IntegrationAction] = Field(default_factory=list)


class Configured(BaseModel):
    id: str | None = Field(None, description="Its id, if given.")
    success: bool | None = None
    channel_id: str | None = None
    onboarding_url: str | None = None
    config: dict[str, Any] = Field(default_factory=dict, description="Non-secret settings.")
    pending_id: str | None = Field(default=None, description="For check_secret_entry.")
    entry_url: str | None = Field(default=None, description="Show the user: secrets go there.")
    next_step: str = Field(description="What to do next.")


class EntryRef(ToolParams):
    pending_id: str = Field(
        min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="pending_id from a configure_* result."
    )


class EntryStatusResult(BaseModel):
    status: Literal["pending", "submitted", "completed"] = Field(
        description="pending: not submitted; submitted: being sent; completed: see result."
    )
    result: dict[str, Any] | None = Field(None, description="The configure tool's result.")
    expires_in_s: int | None = Field(None, description="Seconds the link stays usable.")
    next_step: str = Field(description="What to do next.")


async def _entry_status(call: ToolCall[EntryRef]) -> EntryStatusResult | CallToolResult:
    if call.secret_entries is None:
        raise Refused("this server has no secret-entry page (secrets are passed as arguments here). Nothing was sent.")
    status = call.secret_entries(call.params.pending_id)
    if status.state == "completed" and status.result is not None:
        step = "Done: the secrets went from the page to the Console, never through this chat."
        return EntryStatusResult(
            status="completed", result=status.result.structured_content, expires_in_s=None, next_step=step
        )
    if status.state == "failed" and status.result is not None:
        return status.result
    if status.state in ("pending", "submitted"):
        step = "Ask the user to finish the page, then call check_secret_entry again."
        state: Literal["pending", "submitted"] = "pending" if status.state == "pending" else "submitted"
        return EntryStatusResult(status=state, result=None, expires_in_s=status.expires_in_s, next_step=step)
    reasons = {
        "expired": "the link expired unused (links last 10 minutes)",
        "cancelled": "the user declined the secret-entry page",
        "unknown": "no such pending entry for this caller here (with several server replicas, another may have "
        "served the page: list_integrations shows whether it connected)",
    }
    raise Refused(f"{reasons[status.state]}. Call the configure tool again for a new link. Nothing was sent.")


def _family_of(kind: str) -> str | None:
    if kind in _BIMPEAI_TYPES:
        return "bimpeai"
    return kind if kind in ("custom_api", "mcp_server", "pipedream") else None


def _item(family: str, raw: Any) -> IntegrationItem:
    """One shape for every family: the all-connected view has names and actions, the family lists a config."""
    if isinstance(raw, m.Integration | m.BimpeaiIntegration):
        data = raw.model_dump()
        data.setdefault("actions", [])
        return IntegrationItem(family=_family_of(raw.type) or family, **data)
    config: dict[str, Any] = raw.config.model_dump(exclude_none=True)
    name = config.get("name") or config.get("app_name") or config.get("app_slug") or family
    return IntegrationItem(id=raw.id, family=family, type=family, name=name, config=config)


async def _list_integrations(call: ToolCall[ListIntegrations]) -> Listing:
    agent_id, family = call.params.agent_id, call.params.family
    if family is None:
        result: Result[list[Any]] = await call.client.agents.integrations(agent_id)
    else:
        result = await call.client.integrations.list(agent_id, family)
    return whole_list([_item(family or "", raw) for raw in result.data], call.params.offset)


async def _configure_bimpeai(call: ToolCall[ConfigureBimpeai]) -> Configured:
    body = call.body(m.BimpeaiConfigure)
    data = (await call.client.integrations.configure_bimpeai(call.params.agent_id, body)).data
    if data.onboarding_url:
        step = f"Open onboarding_url to finish connecting {body.type} in the Console; it stays pending until then."
    else:
        step = f"{body.type} is connected: list_agent_actions shows its actions."
    return Configured(
        id=None, success=data.success, channel_id=data.channel_id, onboarding_url=data.onboarding_url, next_step=step
    )


async def _configure_custom_api(call: ToolCall[ConfigureCustomApi]) -> Configured:
    body = call.body(m.CustomApiConfigure)
    data = (await call.client.integrations.configure_custom_api(call.params.agent_id, body)).data
    step = f"Add callable endpoints with add_custom_api_tool(integration_id='{data.id}')."
    return Configured(id=data.id, config=data.config.model_dump(exclude_none=True), next_step=step)


async def _configure_mcp_server(call: ToolCall[ConfigureMcpServer]) -> Configured:
    body = call.body(m.McpServerConfigure)
    data = (await call.client.integrations.configure_mcp_server(call.params.agent_id, body)).data
    step = f"Run discover_mcp_server_tools(integration_id='{data.id}'), then test_mcp_server."
    return Configured(id=data.id, config=data.config.model_dump(exclude_none=True), next_step=step)


async def _configure_pipedream(call: ToolCall[ConfigurePipedream]) -> Configured:
    body = call.body(m.PipedreamConfigure)
    data = (await call.client.integrations.configure_pipedream(call.params.agent_id, body)).data
    step = "Open onboarding_url to authorise the app in the Console."
    return Configured(id=None, onboarding_url=data.onboarding_url, next_step=step)


async def _discover(call: ToolCall[IntegrationRef]) -> Result[m.DiscoverResult]:
    await call.progress(0, 1, "Asking the MCP server for its tools")
    result = await call.client.integrations.discover_mcp_server(call.params.agent_id, call.params.integration_id)
    found = result.data
    await call.progress(1, 1, f"Discovered {found.discovered} tools ({found.created} new, {found.disabled} disabled)")
    return result


def _disconnect(call: ToolCall[Disconnect]) -> Any:
    p = call.params
    return call.client.integrations.disconnect(p.agent_id, p.family, p.integration_id)


TOOLS = (
    ToolSpec(
        name="list_integrations",
        toolset="integrations",
        title="List integrations",
        description="Everything connected to the agent, with actions; or one family's integrations.",
        params=ListIntegrations,
        output=Page[IntegrationItem],
        run=_list_integrations,
        hints=READ,
        full_lists=(("items[].actions", "list_agent_actions"),),
    ),
    ToolSpec(
        name="configure_bimpeai_integration",
        toolset="integrations",
        title="Connect first-party service",
        description="Connect stripe/paystack, bumpa or google_calendar/google_sheets (returns an onboarding_url). "
        "Omit secrets: the user types them into a one-time page. Reconfiguring updates it.",
        params=ConfigureBimpeai,
        output=Configured,
        run=_configure_bimpeai,
        hints=UPDATE.reaching_out(),
        secret_entry=_connector_secrets,
    ),
    ToolSpec(
        name="configure_custom_api",
        toolset="integrations",
        title="Connect custom API",
        description="Register an HTTP API the agent can call. Omit auth_config: the user types it into a "
        "one-time page. Needs a workflow. Then add_custom_api_tool.",
        params=ConfigureCustomApi,
        output=Configured,
        run=_configure_custom_api,
        hints=UPDATE,
        secret_entry=_auth_secrets("custom API"),
    ),
    ToolSpec(
        name="add_custom_api_tool",
        toolset="integrations",
        title="Add custom API tool",
        description="Add an endpoint the agent can call to a custom API integration.",
        params=AddCustomApiTool,
        output=m.IntegrationTool,
        run=lambda call: call.client.integrations.add_custom_api_tool(
            call.params.agent_id, call.params.integration_id, call.body(m.CustomApiToolCreate)
        ),
        hints=WRITE,
    ),
    ToolSpec(
        name="list_custom_api_tools",
        toolset="integrations",
        title="List custom API tools",
        description="The endpoints defined on a custom API integration.",
        params=IntegrationList,
        output=Page[m.IntegrationTool],
        run=listed(
            lambda call: call.client.integrations.list_custom_api_tools(
                call.params.agent_id, call.params.integration_id
            )
        ),
        hints=READ,
    ),
    ToolSpec(
        name="delete_custom_api_tool",
        toolset="integrations",
        title="Delete custom API tool",
        description="Remove one endpoint from a custom API integration.",
        params=ToolRef,
        output=Deleted,
        run=deleting(
            "tool_id",
            lambda call: call.client.integrations.delete_custom_api_tool(
                call.params.agent_id, call.params.integration_id, call.params.tool_id
            ),
        ),
        hints=DELETE,
        confirm="tool_id",
    ),
    ToolSpec(
        name="configure_mcp_server",
        toolset="integrations",
        title="Connect MCP server",
        description="Register a remote MCP server. Omit auth_config: the user types it into a one-time page. "
        "Needs a workflow. Then discover_mcp_server_tools.",
        params=ConfigureMcpServer,
        output=Configured,
        run=_configure_mcp_server,
        hints=UPDATE,
        secret_entry=_auth_secrets("MCP server"),
    ),
    ToolSpec(
        name="discover_mcp_server_tools",
        toolset="integrations",
        title="Discover MCP server tools",
        description="Fetch the MCP server's tools into agent actions.",
        params=IntegrationRef,
        output=m.DiscoverResult,
        run=_discover,
        hints=UPDATE.reaching_out(),
    ),
    ToolSpec(
        name="test_mcp_server",
        toolset="integrations",
        title="Test MCP server",
        description="Check that BimpeAI can reach the MCP server.",
        params=IntegrationRef,
        output=m.McpTestResult,
        run=lambda call: call.client.integrations.test_mcp_server(call.params.agent_id, call.params.integration_id),
        hints=READ.reaching_out(),
    ),
    ToolSpec(
        name="list_mcp_server_tools",
        toolset="integrations",
        title="List MCP server tools",
        description="The tools discovered on an MCP server integration, with is_enabled.",
        params=IntegrationList,
        output=Page[m.McpServerTool],
        run=listed(
            lambda call: call.client.integrations.list_mcp_server_tools(
                call.params.agent_id, call.params.integration_id
            )
        ),
        hints=READ,
    ),
    ToolSpec(
        name="configure_pipedream_app",
        toolset="integrations",
        title="Connect Pipedream app",
        description=("Connect a Pipedream app (e.g. google-sheets); returns an onboarding_url. Needs a workflow."),
        params=ConfigurePipedream,
        output=Configured,
        run=_configure_pipedream,
        hints=UPDATE.reaching_out(),
        asks_user=True,
    ),
    ToolSpec(
        name="check_secret_entry",
        toolset="integrations",
        title="Check secret entry",
        description="The outcome of the secret-entry page a configure_* call opened.",
        params=EntryRef,
        output=EntryStatusResult,
        run=_entry_status,
        hints=READ,
        scope=Scope.TEAM,
    ),
    ToolSpec(
        name="disconnect_integration",
        toolset="integrations",
        title="Disconnect integration",
        description="Remove an integration (any family) and its actions from the agent.",
        params=Disconnect,
        output=Deleted,
        run=deleting("integration_id", _disconnect),
        hints=DELETE,
        confirm="integration_id",
    ),
)
