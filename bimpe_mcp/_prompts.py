"""The prompts: guided workflows a user picks in their assistant, each rendered from its arguments.

Each prompt is a plain function of string arguments. It is registered as the SDK's `Prompt`
with the arguments its signature names (required when it has no default), which is what the
SDK's `@prompt` decorator derives too, but without building a pydantic model of the signature
and a validating wrapper per prompt at start-up: arguments arrive as strings (the protocol's
`dict[str, str]`), and the server checks their names first (`server._checked_prompt_arguments`).
`tests/e2e/test_guidance.py` fails if this registration and the decorator's ever differ.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.prompts import Prompt
from mcp.server.mcpserver.prompts.base import PromptArgument

__all__ = ["PROMPTS", "add_prompts"]


def connect_payments(agent_id: str, provider: str = "stripe") -> str:
    return (
        f"Connect {provider} payments to agent {agent_id}.\n"
        f"1. Call configure_bimpeai_integration(agent_id='{agent_id}', type='{provider}', currency=…) without "
        "the keys. Never ask me for them in this chat: I type them into the one-time page it opens (show me "
        "entry_url if the result has one).\n"
        "2. If the result has pending_id, wait until I say I am done, then call check_secret_entry(pending_id=…).\n"
        "3. On integration_connection_failed, tell me the keys were rejected and call it again for a new page.\n"
        f"4. Call list_integrations(agent_id='{agent_id}') and confirm {provider} shows is_connected, then "
        "list_agent_actions to show what the agent can now do."
    )


def wire_custom_api(agent_id: str, base_url: str, endpoint: str = "POST /orders") -> str:
    method, _, path = endpoint.partition(" ")
    return (
        f"Give agent {agent_id} a tool on the API at {base_url}.\n"
        f"1. get_agent(agent_id='{agent_id}'): if workflow_id is empty, pick one with list_workflows and "
        "attach it with update_agent.\n"
        "2. Ask me how the API authenticates (none, bearer, basic, api_key), never for the credentials.\n"
        f"3. configure_custom_api(agent_id='{agent_id}', name=…, base_url='{base_url}', auth_type) without "
        "auth_config: I type the credentials into the one-time page it opens (check_secret_entry: outcome).\n"
        f"4. add_custom_api_tool(agent_id='{agent_id}', integration_id=<from step 3>, name=…, "
        f"http_method='{method or 'POST'}', url_template='{path or endpoint}', body_params=[…]) with a "
        "description saying when the agent should call it.\n"
        "5. list_custom_api_tools to confirm, then send_test_message to try it."
    )


def connect_mcp_server(agent_id: str, server_url: str, name: str = "MCP server") -> str:
    return (
        f"Connect the MCP server at {server_url} to agent {agent_id}.\n"
        f"1. Make sure the agent has a workflow (get_agent; update_agent(workflow_id=…) if not).\n"
        f"2. configure_mcp_server(agent_id='{agent_id}', name='{name}', server_url='{server_url}', "
        "transport='streamable_http'); if it needs auth, give auth_type without auth_config: I type the "
        "credentials into the one-time page it opens.\n"
        "3. discover_mcp_server_tools(integration_id=…) and report discovered/created/updated/disabled.\n"
        "4. test_mcp_server(integration_id=…); on integration_connection_failed, check the URL with me.\n"
        "5. list_mcp_server_tools and summarise what the agent can now do."
    )


def test_agent(agent_id: str, scenario: str = "a customer asking about opening hours") -> str:
    return (
        f"Test agent {agent_id} with {scenario}.\n"
        f"1. get_agent(agent_id='{agent_id}') and summarise its workflow, integrations and status.\n"
        "2. send_test_message with an opening line for the scenario; read the reply.\n"
        "3. Continue with two or three follow-ups (pass conversation_id) that probe its integrations.\n"
        "4. get_test_code and give me the start message and links so humans can test too.\n"
        "5. Tell me what worked and what to fix; only if I agree, set_agent_status(status='live')."
    )


PROMPTS: tuple[tuple[Callable[..., str], str, str], ...] = (
    (connect_payments, "Connect payments", "Connect Stripe or Paystack to an agent and check it."),
    (wire_custom_api, "Wire a custom API", "Register an HTTP API and give the agent a tool on it."),
    (connect_mcp_server, "Connect an MCP server", "Connect a remote MCP server, discover and test it."),
    (test_agent, "Test an agent", "Chat with an agent on a test channel before it goes live."),
)
"""Each prompt's function, title and description, in the order `prompts/list` shows them."""


def _prompt_of(fn: Callable[..., str], title: str, description: str) -> Prompt:
    """The SDK's `Prompt` for `fn`: named after it, one argument per parameter."""
    arguments = [
        PromptArgument(name=name, description=None, required=parameter.default is inspect.Parameter.empty)
        for name, parameter in inspect.signature(fn).parameters.items()
    ]
    return Prompt(
        name=fn.__name__, title=title, description=description, arguments=arguments, fn=fn, context_kwarg=None
    )


def add_prompts(mcp: MCPServer) -> None:
    for fn, title, description in PROMPTS:
        mcp.add_prompt(_prompt_of(fn, title, description))
