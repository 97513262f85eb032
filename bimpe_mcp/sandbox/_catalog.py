"""Fixed, deterministic data the sandbox serves: connector catalogs and the fake MCP tool vocabulary."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from urllib.parse import urlparse


@dataclass(frozen=True, slots=True)
class Connector:
    """A first-party (bimpeai) connector type: its display name, config fields and action catalog."""

    name: str
    config_fields: tuple[tuple[str, str, str, bool], ...]
    actions: tuple[tuple[str, str, str, bool], ...]  # action_name, description, category, needs approval


PLANS = {"starter": {"integrations": 10, "agents": 25}, "free": {"integrations": 2, "agents": 1}}

_KEYS = (
    ("public_key", "Public key", "string", True),
    ("secret_key", "Secret key", "password", True),
    ("currency", "Currency", "string", False),
)

CONNECTORS: dict[str, Connector] = {
    "bumpa": Connector(
        "Bumpa",
        (("token", "API token", "password", True),),
        (
            ("check_order_status", "Look up the status of a Bumpa order", "commerce", False),
            ("list_products", "List products in the Bumpa store", "commerce", False),
        ),
    ),
    "google_calendar": Connector(
        "Google Calendar",
        (),
        (
            ("create_event", "Create a calendar event", "scheduling", False),
            ("list_events", "List upcoming calendar events", "scheduling", False),
        ),
    ),
    "google_sheets": Connector(
        "Google Sheets",
        (),
        (
            ("append_row", "Append a row to a sheet", "data", False),
            ("read_rows", "Read rows from a sheet", "data", False),
        ),
    ),
    "paystack": Connector(
        "Paystack",
        _KEYS,
        (
            ("initialize_transaction", "Start a Paystack payment", "payments", False),
            ("verify_transaction", "Verify a Paystack payment", "payments", False),
        ),
    ),
    "stripe": Connector(
        "Stripe",
        _KEYS,
        (
            ("create_payment_link", "Create a Stripe payment link", "payments", False),
            ("refund_payment", "Refund a Stripe payment", "payments", True),
        ),
    ),
}

FAMILY_CONFIG_FIELDS: dict[str, tuple[tuple[str, str, str, bool], ...]] = {
    "custom_api": (
        ("base_url", "Base URL", "string", False),
        ("auth_type", "Authentication", "string", False),
    ),
    "mcp_server": (
        ("server_url", "Server URL", "string", True),
        ("transport", "Transport", "string", False),
    ),
    "pipedream": (("app_slug", "App", "string", True),),
}

MCP_VOCABULARY = (
    "search_documents",
    "get_weather",
    "create_ticket",
    "list_orders",
    "send_email",
    "lookup_customer",
    "get_invoice",
    "schedule_meeting",
    "translate_text",
    "summarize_text",
    "fetch_url",
    "query_database",
)

_UNREACHABLE_SUFFIXES = (".invalid", ".local", ".test")


def mcp_tools_for(server_url: str) -> dict[str, str]:
    """The tool set an MCP server "offers": name -> description, derived from a hash of its URL."""
    digest = hashlib.sha256(server_url.encode()).digest()
    rng = random.Random(digest)
    names = rng.sample(MCP_VOCABULARY, rng.randint(3, 6))
    host = urlparse(server_url).hostname or "server"
    revision = digest[0] % 7
    return {name: f"{name.replace('_', ' ').capitalize()} on {host} (rev {revision})" for name in sorted(names)}


def looks_unreachable(server_url: str) -> bool:
    host = (urlparse(server_url).hostname or "").lower()
    return (
        host in ("localhost", "0.0.0.0")
        or host.startswith("127.")
        or host.endswith(_UNREACHABLE_SUFFIXES)
        or "unreachable" in server_url.lower()
    )


def test_code_for(agent_id: str) -> str:
    """An 8-character uppercase alphanumeric test code, stable per agent."""
    digest = hashlib.sha256(agent_id.encode()).digest()
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:8])
