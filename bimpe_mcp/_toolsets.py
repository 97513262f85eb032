"""The toolsets, as data: help, the README, settings and the server's instructions derive from them."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TOOLSETS", "TOOLSET_IDS", "Toolset"]


@dataclass(frozen=True, slots=True)
class Toolset:
    """A group of tools a server can expose or leave out (`--toolsets`)."""

    id: str
    description: str
    default: bool = True
    """Exposed when `--toolsets` is not given."""
    guidance: tuple[str, ...] = ()
    """Lines for the server's instructions; a line naming a tool the server hides is left out."""


TOOLSETS: tuple[Toolset, ...] = (
    Toolset(
        "agents",
        "Create, configure and launch agents; their actions and channels.",
        guidance=("Find an agent_id with list_agents.",),
    ),
    Toolset("knowledge", "The knowledge bases an agent answers from."),
    Toolset(
        "integrations",
        "First-party connectors, custom HTTP APIs, MCP servers and Pipedream apps.",
        guidance=(
            "An agent needs a workflow before custom_api, mcp_server or pipedream integrations; "
            "update_agent(workflow_id=…) attaches one.",
            "Payments: configure_bimpeai_integration(type=stripe|paystack) without keys: the user types them into "
            "the one-time page it opens (never ask for secrets in chat; check_secret_entry gives the outcome). "
            "Google connectors and Pipedream return an onboarding_url the user must open.",
            "Custom API: configure_custom_api, then add_custom_api_tool.",
            "MCP server: configure_mcp_server, discover_mcp_server_tools, test_mcp_server.",
        ),
    ),
    Toolset(
        "testing",
        "Try an agent before it goes live: test code, test messages, test calls.",
        guidance=(
            "Test before going live: send_test_message (returns the agent's reply), get_test_code, "
            "place_test_call; then set_agent_status(status=live).",
        ),
    ),
    Toolset(
        "workflows",
        "The workflows (system prompt, rules, flows) that drive agents.",
        guidance=("Find a workflow_id with list_workflows.",),
    ),
    Toolset("conversations", "Conversations, messages, the AI pause switch and live message streams."),
    Toolset("calls", "Call history and real outbound calls."),
    Toolset("phone_numbers", "The team's phone numbers and requests for new ones."),
    Toolset(
        "butterbase",
        "A Butterbase app's integrations (Gmail, Slack, Notion… on Composio): toolkits, user connections, "
        "tool runs. Listed only when BUTTERBASE_API_KEY and BUTTERBASE_APP_ID are set.",
        guidance=(
            "Butterbase: butterbase_enable_toolkit, then butterbase_connect_user gives an authUrl the user must "
            "open; butterbase_execute_tool then acts as that user (real email and messages).",
        ),
    ),
)

TOOLSET_IDS: tuple[str, ...] = tuple(toolset.id for toolset in TOOLSETS)
