"""Butterbase's Integrations API, emulated: toolkits, OAuth connections with a signed state, tools, execute.

One app with one admin key (`bb_sk_test_…`), both drawn from the store's randomness so `--seed`
repeats them. `ButterbaseRules` holds the state and the rules, with no HTTP in sight; the routes
are in `_butterbase_routes.py`. Execution is seeded: `soft_failure_rate` answers 422 and
`network_failure_rate` 502 (after the tool ran: the emulated network lost the answer, not the email).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bimpe_mcp.butterbase._errors import CODE_TABLE

CURATED: tuple[tuple[str, str], ...] = (
    ("gmail", "Gmail"),
    ("google-calendar", "Google Calendar"),
    ("slack", "Slack"),
    ("notion", "Notion"),
    ("github", "GitHub"),
    ("hubspot", "HubSpot"),
    ("google-drive", "Google Drive"),
    ("google-sheets", "Google Sheets"),
    ("linear", "Linear"),
    ("outlook", "Outlook"),
)
"""The ten curated toolkits `GET available` lists without a search."""

CATALOG: tuple[tuple[str, str], ...] = (
    *CURATED,
    ("salesforce", "Salesforce"),
    ("jira", "Jira"),
    ("asana", "Asana"),
    ("trello", "Trello"),
    ("discord", "Discord"),
    ("zoom", "Zoom"),
    ("dropbox", "Dropbox"),
    ("airtable", "Airtable"),
    ("shopify", "Shopify"),
    ("zendesk", "Zendesk"),
    ("intercom", "Intercom"),
    ("mailchimp", "Mailchimp"),
    ("figma", "Figma"),
    ("clickup", "ClickUp"),
    ("calendly", "Calendly"),
    ("microsoft-teams", "Microsoft Teams"),
)
"""The searchable catalog (`?search=`): the curated toolkits and more."""

Required = tuple[str, ...]
_TOOLS: dict[str, tuple[tuple[str, str, Required], ...]] = {
    "gmail": (
        ("GMAIL_SEND_EMAIL", "Send an email from the user's Gmail.", ("to", "subject", "body")),
        ("GMAIL_CREATE_DRAFT", "Create a draft in the user's Gmail.", ("to", "subject", "body")),
        ("GMAIL_LIST_EMAILS", "List recent emails in the user's inbox.", ()),
    ),
    "slack": (
        ("SLACK_SEND_MESSAGE", "Post a message to a Slack channel as the user.", ("channel", "text")),
        ("SLACK_LIST_CHANNELS", "List the Slack channels the user can see.", ()),
    ),
    "google-calendar": (
        ("GOOGLECALENDAR_CREATE_EVENT", "Create an event in the user's calendar.", ("summary", "start", "end")),
        ("GOOGLECALENDAR_LIST_EVENTS", "List upcoming events.", ()),
    ),
}
"""Tools with their required params; every other toolkit gets one generic read tool."""


def tools_of(toolkit: str) -> tuple[tuple[str, str, Required], ...]:
    name = dict(CATALOG).get(toolkit, toolkit)
    generic = f"{re.sub(r'[^A-Z0-9]+', '_', toolkit.upper())}_GET_ACCOUNT"
    return _TOOLS.get(toolkit, ((generic, f"The user's {name} account details.", ()),))


class ButterbaseSandboxError(Exception):
    """A Butterbase error answer: `code` picks the status and default remediation from the client's table."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if code not in CODE_TABLE:
            raise ValueError(f"unknown Butterbase error code {code!r}")
        self.code = code
        self.message = message
        self.status = status or CODE_TABLE[code].status

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "remediation": CODE_TABLE[self.code].remediation}}


def _invalid(message: str) -> ButterbaseSandboxError:
    return ButterbaseSandboxError("VALIDATION_ERROR", message)


@dataclass
class ButterbaseFaults:
    """Execution faults and the platform switch; `PUT /_sandbox/butterbase` sets them (others go back to off)."""

    configured: bool = True
    soft_failure_rate: float = 0.0
    network_failure_rate: float = 0.0
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def draw(self) -> str | None:
        """ "soft", "network" or None for one execution, from the seeded generator in a fixed order."""
        soft, network = self._rng.random(), self._rng.random()
        if soft < self.soft_failure_rate:
            return "soft"
        if network < self.network_failure_rate:
            return "network"
        return None


class ButterbaseRules:
    """One Butterbase app: its key, enabled toolkits, connection requests, connections and sent items."""

    def __init__(self, token: Callable[[], str], new_id: Callable[[str], str], count: Callable[[str], None]) -> None:
        self.app_id = new_id("app")
        self.api_keys = {f"bb_sk_test_{token()}"}
        self.api_key = next(iter(self.api_keys))
        self._state_secret = token().encode()
        self._new_id = new_id
        self._count = count
        self.faults = ButterbaseFaults()
        self.enabled: dict[str, dict[str, Any]] = {}
        self.requests: dict[str, dict[str, Any]] = {}
        self.connections: dict[str, dict[str, Any]] = {}
        self.outbox: list[dict[str, Any]] = []
        """Everything an execute sent as a user (emails, messages, events): what tests check."""
        self.idempotency: dict[tuple[str, str, str], tuple[int, Any]] = {}

    # ---- access ------------------------------------------------------------------------------------

    def authenticate(self, api_key: str | None, app_id: str) -> None:
        if not api_key or not any(hmac.compare_digest(api_key.encode(), k.encode()) for k in self.api_keys):
            raise ButterbaseSandboxError("UNAUTHORIZED", "Missing or invalid API key.")
        if app_id != self.app_id:
            raise ButterbaseSandboxError("NOT_FOUND", "No such app for this API key.")
        if not self.faults.configured:
            raise ButterbaseSandboxError(
                "INTEGRATIONS_NOT_CONFIGURED", "Integration service not configured on the platform."
            )

    def _toolkit(self, value: Any, name: str = "toolkit") -> str:
        if not isinstance(value, str) or not value:
            raise _invalid(f"{name} is required and must be a string.")
        if value not in dict(CATALOG):
            raise ButterbaseSandboxError("NOT_FOUND", f"Unknown toolkit '{value[:64]}'.")
        return value

    def _enabled(self, toolkit: str) -> dict[str, Any]:
        record = self.enabled.get(toolkit)
        if record is None:
            raise ButterbaseSandboxError(
                "INTEGRATIONS_TOOLKIT_NOT_ENABLED", f"Toolkit '{toolkit}' is not enabled for this app."
            )
        return record

    @staticmethod
    def _user(body: dict[str, Any]) -> str:
        user_id = body.get("userId")
        if not isinstance(user_id, str) or not user_id.strip():
            raise _invalid("userId is required when authenticating with an API key.")
        return user_id

    # ---- toolkits ----------------------------------------------------------------------------------

    def available(self, search: str | None) -> dict[str, Any]:
        curated = dict(CURATED)
        if search:
            needle = search.lower()
            found = [(s, n) for s, n in CATALOG if needle in s or needle in n.lower()]
        else:
            found = list(CURATED)
        return {"integrations": [{"toolkit": s, "displayName": n, "curated": s in curated} for s, n in found]}

    def config(self) -> dict[str, Any]:
        return {"integrations": list(self.enabled.values())}

    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        toolkit = self._toolkit(body.get("toolkit"))
        scopes = body.get("scopes", [])
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise _invalid("scopes must be a list of strings.")
        name = body.get("displayName")
        if name is not None and not isinstance(name, str):
            raise _invalid("displayName must be a string.")
        record = {"toolkit": toolkit, "displayName": name or dict(CATALOG)[toolkit], "scopes": scopes}
        self.enabled[toolkit] = record
        self._count("butterbase.configure")
        return record

    def disable(self, toolkit: str) -> None:
        self._enabled(toolkit)
        del self.enabled[toolkit]
        self._count("butterbase.disable")

    # ---- connections -------------------------------------------------------------------------------

    def connect(self, body: dict[str, Any], callback_url: str) -> dict[str, Any]:
        toolkit = self._toolkit(body.get("toolkit"))
        self._enabled(toolkit)
        user_id = self._user(body)
        redirect = body.get("redirectUrl")
        if redirect is not None and (not isinstance(redirect, str) or not redirect.startswith(("https://", "http://"))):
            raise _invalid("redirectUrl must be an http(s) URL.")
        request_id = self._new_id("ca")
        self.requests[request_id] = {"toolkit": toolkit, "userId": user_id, "redirectUrl": redirect, "done": False}
        self._count("butterbase.connect")
        return {"authUrl": f"{callback_url}?state={self._sign(request_id)}", "connectionRequestId": request_id}

    def _sign(self, request_id: str) -> str:
        payload = base64.urlsafe_b64encode(json.dumps({"rid": request_id}).encode()).decode().rstrip("=")
        mac = hmac.new(self._state_secret, payload.encode(), hashlib.sha256).hexdigest()
        return f"{payload}.{mac}"

    def callback(self, state: str | None) -> str | None:
        """Complete the OAuth flow a signed `state` names; returns where to send the user (None: nowhere)."""
        payload, _, mac = (state or "").partition(".")
        expected = hmac.new(self._state_secret, payload.encode(), hashlib.sha256).hexdigest()
        if not payload or not hmac.compare_digest(mac.encode(), expected.encode()):
            raise _invalid("The OAuth state is missing or its signature does not match.")
        try:
            request_id = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["rid"]
        except (ValueError, KeyError, TypeError):
            raise _invalid("The OAuth state is malformed.") from None
        request = self.requests.get(request_id)
        if request is None or request["done"]:
            raise _invalid("This connection request was already completed or does not exist.")
        request["done"] = True
        connection_id = self._new_id("conn")
        self.connections[connection_id] = {
            "id": connection_id,
            "toolkit": request["toolkit"],
            "userId": request["userId"],
            "status": "active",
            "createdAt": "2025-01-01T00:00:00.000Z",
        }
        self._count("butterbase.callback")
        redirect: str | None = request["redirectUrl"]
        return redirect

    def list_connections(self, user_id: str | None) -> dict[str, Any]:
        found = [c for c in self.connections.values() if user_id is None or c["userId"] == user_id]
        return {"connections": found}

    def disconnect(self, connection_id: str) -> None:
        if connection_id not in self.connections:
            raise ButterbaseSandboxError("NOT_FOUND", "Connection not found.")
        del self.connections[connection_id]
        self._count("butterbase.disconnect")

    # ---- tools -------------------------------------------------------------------------------------

    def tools(self, toolkit: str | None) -> dict[str, Any]:
        toolkits = [self._enabled(self._toolkit(toolkit))["toolkit"]] if toolkit else list(self.enabled)
        return {
            "tools": [
                {"name": name, "toolkit": slug, "description": description}
                for slug in toolkits
                for name, description, _ in tools_of(slug)
            ]
        }

    def execute(self, body: dict[str, Any]) -> dict[str, Any]:
        tool_name = body.get("toolName")
        params = body.get("params", {})
        if not isinstance(tool_name, str) or not tool_name:
            raise _invalid("toolName is required and must be a string.")
        if not isinstance(params, dict):
            raise _invalid("params must be an object.")
        user_id = self._user(body)
        found = [(slug, required) for slug, _ in CATALOG for name, _, required in tools_of(slug) if name == tool_name]
        if not found:
            raise ButterbaseSandboxError("INTEGRATIONS_EXECUTION_FAILED", f"Unknown tool '{tool_name[:64]}'.")
        toolkit, required = found[0]
        self._enabled(toolkit)
        if not any(c["toolkit"] == toolkit and c["userId"] == user_id for c in self.connections.values()):
            raise ButterbaseSandboxError(
                "INTEGRATIONS_EXECUTION_FAILED", f"User has no connected {toolkit} account: connect them first."
            )
        if missing := [name for name in required if not isinstance(params.get(name), str) or not params[name]]:
            raise ButterbaseSandboxError("INTEGRATIONS_EXECUTION_FAILED", f"Missing parameter: {missing[0]}.")
        fault = self.faults.draw()
        if fault == "soft":
            raise ButterbaseSandboxError("INTEGRATIONS_EXECUTION_FAILED", "The toolkit refused the request.")
        item_id = self._new_id("item")
        if required:
            self.outbox.append({"id": item_id, "toolName": tool_name, "userId": user_id, "params": dict(params)})
        self._count("butterbase.execute")
        if fault == "network":
            raise ButterbaseSandboxError(
                "INTEGRATIONS_EXECUTION_FAILED", "Network error while waiting for the toolkit's answer.", status=502
            )
        return {"successful": True, "data": {"id": item_id} if required else {"items": []}}
