"""Integration rules (bimpeai, custom_api, mcp_server, pipedream), tools and the agent's action view.

Secrets live under `_secrets` and are never rendered.
"""

from __future__ import annotations

import re
from typing import Any

from ._catalog import CONNECTORS, FAMILY_CONFIG_FIELDS, PLANS, looks_unreachable, mcp_tools_for
from ._errors import SandboxError, not_found
from ._records import Rules
from ._validation import Fields

AUTH_TYPES = ("none", "bearer", "basic", "api_key", "custom")
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
PARAM_TYPES = ("string", "number", "integer", "boolean", "array", "object")
AUTH_CONFIG_KEYS = ("token", "api_key", "header_name", "username", "password")
_KEY_PATTERNS = {"public_key": r"pk_(test|live)_[A-Za-z0-9]{8,}", "secret_key": r"sk_(test|live)_[A-Za-z0-9]{8,}"}
_URL = r"https?://[^\s/]+\S*"
_TOOL_FIELDS = ("id", "action_name", "name", "description", "category", "is_enabled")
_NO_WORKFLOW = "Agent must have a workflow before managing integrations"


def snake_case(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "action"


class IntegrationRules(Rules):
    """Configure, list and disconnect connectors; tools and actions hang off them."""

    # ---- shared -----------------------------------------------------------------------------------

    def _family(self, team_id: str, agent_id: str, family: str) -> list[dict[str, Any]]:
        self.store.agent(team_id, agent_id)
        return [i for i in self.store.integrations.values() if i["_agent"] == agent_id and i["_family"] == family]

    def _integration(self, team_id: str, agent_id: str, family: str, integration_id: str) -> dict[str, Any]:
        for item in self._family(team_id, agent_id, family):
            if item["id"] == integration_id:
                return item
        raise not_found("Integration")

    def _check_limit(self, team_id: str, agent_id: str) -> None:
        used = sum(1 for i in self.store.integrations.values() if i["_agent"] == agent_id)
        if used >= PLANS[self.store.teams[team_id]["plan"]]["integrations"]:
            raise SandboxError(
                "integration_limit_reached",
                "Integration limit reached for your plan. Please upgrade to add more integrations.",
            )

    def _require_workflow(self, team_id: str, agent_id: str) -> None:
        if self.store.agent(team_id, agent_id)["workflow_id"] is None:
            raise SandboxError("workflow_required", _NO_WORKFLOW)

    def _new_integration(self, team_id: str, agent_id: str, family: str, **fields: Any) -> dict[str, Any]:
        self._check_limit(team_id, agent_id)
        record = {"id": self.store.new_id("int"), "_agent": agent_id, "_family": family, "_secrets": {}, **fields}
        self.store.integrations[record["id"]] = record
        return record

    def disconnect(self, team_id: str, agent_id: str, family: str, integration_id: str) -> None:
        self._integration(team_id, agent_id, family, integration_id)
        del self.store.integrations[integration_id]
        for tool_id in [t["id"] for t in self.store.tools.values() if t["_integration"] == integration_id]:
            del self.store.tools[tool_id]

    def _add_tool(self, integration: dict[str, Any], prefix: str, **fields: Any) -> dict[str, Any]:
        tool = {
            "id": self.store.new_id(prefix),
            "description": None,
            "is_enabled": True,
            "require_human_approval": False,
            "_integration": integration["id"],
            **fields,
        }
        self.store.tools[tool["id"]] = tool
        return tool

    def _tools_of(self, integration_id: str) -> list[dict[str, Any]]:
        return [t for t in self.store.tools.values() if t["_integration"] == integration_id]

    @staticmethod
    def _tool_view(tool: dict[str, Any]) -> dict[str, Any]:
        return {k: tool[k] for k in _TOOL_FIELDS}

    def _auth_config(self, f: Fields) -> dict[str, Any]:
        raw = f.mapping("auth_config") or {}
        sub = f.nested("auth_config", raw)
        return {k: sub.text(k) for k in AUTH_CONFIG_KEYS if sub.has(k)}

    # ---- bimpeai ----------------------------------------------------------------------------------

    def list_bimpeai(self, team_id: str, agent_id: str) -> list[dict[str, Any]]:
        configured = {i["type"]: i for i in self._family(team_id, agent_id, "bimpeai")}
        out = []
        for kind, connector in CONNECTORS.items():
            item = configured.get(kind)
            if item is None:
                out.append(
                    {"id": None, "type": kind, "name": connector.name, "status": "not_connected", "is_connected": False}
                )
            else:
                out.append({k: item[k] for k in ("id", "type", "name", "status", "is_connected")})
        return out

    def configure_bimpeai(self, team_id: str, agent_id: str, body: dict[str, Any]) -> dict[str, Any]:
        f = Fields(body)
        kind = f.enum("type", CONNECTORS, required=True)
        currency = f.text("currency", pattern=r"[A-Z]{3}", pattern_msg="must be a 3-letter uppercase currency code")
        creds = {}
        if kind in ("stripe", "paystack"):
            creds = {name: f.text(name, required=True) for name in ("public_key", "secret_key")}
        elif kind == "bumpa":
            creds = {"token": f.text("token", required=True)}
        f.check()
        self.store.agent(team_id, agent_id)
        connector = CONNECTORS[kind]
        if kind in ("stripe", "paystack") and not all(re.fullmatch(_KEY_PATTERNS[k], v) for k, v in creds.items()):
            raise SandboxError("integration_connection_failed", f"Invalid {connector.name} API keys")
        if kind == "bumpa" and not re.fullmatch(r"[A-Za-z0-9_-]{16,}", creds["token"]):
            raise SandboxError("integration_connection_failed", "Invalid Bumpa token")
        oauth = kind in ("google_calendar", "google_sheets")
        existing = next((i for i in self._family(team_id, agent_id, "bimpeai") if i["type"] == kind), None)
        record = existing or self._new_integration(team_id, agent_id, "bimpeai", type=kind, name=connector.name)
        record.update(status="pending" if oauth else "connected", is_connected=not oauth, currency=currency)
        record["_secrets"] = creds
        if existing is None:
            for action_name, description, category, approval in connector.actions:
                self._add_tool(
                    record,
                    "act",
                    action_name=action_name,
                    name=action_name.replace("_", " ").capitalize(),
                    description=description,
                    category=category,
                    require_human_approval=approval,
                )
        if oauth:
            return {"onboarding_url": f"https://agent.bimpe.ai/agents/{agent_id}/integrations?connect={kind}"}
        return {"success": True, "channel_id": record["id"]}

    # ---- custom_api -------------------------------------------------------------------------------

    @staticmethod
    def _custom_view(item: dict[str, Any]) -> dict[str, Any]:
        return {"id": item["id"], "config": {k: item[k] for k in ("name", "base_url", "auth_type")}}

    def list_custom_api(self, team_id: str, agent_id: str) -> list[dict[str, Any]]:
        return [self._custom_view(i) for i in self._family(team_id, agent_id, "custom_api")]

    def configure_custom_api(self, team_id: str, agent_id: str, body: dict[str, Any]) -> dict[str, Any]:
        f = Fields(body)
        fields = {
            "name": f.text("name", required=True, max_len=255),
            "description": f.text("description", max_len=1000),
            "base_url": f.text("base_url", pattern=_URL, pattern_msg="must be an http(s) URL"),
            "auth_type": f.enum("auth_type", AUTH_TYPES, default="none"),
            "test_endpoint": f.text("test_endpoint"),
        }
        return self._custom_view(self._upsert_by_name(team_id, agent_id, "custom_api", fields, f))

    def _upsert_by_name(
        self, team_id: str, agent_id: str, family: str, fields: dict[str, Any], f: Fields
    ) -> dict[str, Any]:
        """Configure a named integration: the same name on the same agent updates it in place."""
        secrets = self._auth_config(f)
        f.check()
        self._require_workflow(team_id, agent_id)
        existing = next((i for i in self._family(team_id, agent_id, family) if i["name"] == fields["name"]), None)
        record = existing or self._new_integration(team_id, agent_id, family, type=family)
        record.update(fields, status="connected", is_connected=True)
        record["_secrets"] = secrets
        return record

    def list_custom_tools(self, team_id: str, agent_id: str, integration_id: str) -> list[dict[str, Any]]:
        self._integration(team_id, agent_id, "custom_api", integration_id)
        return [self._tool_view(t) for t in self._tools_of(integration_id)]

    def add_custom_tool(self, team_id: str, agent_id: str, integration_id: str, body: dict[str, Any]) -> dict[str, Any]:
        f = Fields(body)
        name = f.text("name", required=True, max_len=255)
        f.enum("http_method", HTTP_METHODS, required=True)
        f.text("url_template", required=True)
        description = f.text("description", max_len=1000)
        for group in ("url_params", "body_params"):
            for i, param in enumerate(f.array(group) or []):
                sub = f.nested(f"{group}.{i}", param if isinstance(param, dict) else {})
                sub.text("name", required=True)
                sub.enum("type", PARAM_TYPES, required=True)
        for name_ in ("headers_template", "body_template", "auth_config", "response_mapping"):
            f.mapping(name_)
        f.enum("auth_type", AUTH_TYPES)
        category = f.text("category") or "custom"
        approval = f.flag("require_human_approval", default=False)
        f.integer("timeout", minimum=1)
        f.check()
        integration = self._integration(team_id, agent_id, "custom_api", integration_id)
        tool = self._add_tool(
            integration,
            "tool",
            action_name=snake_case(name),
            name=name,
            description=description,
            category=category,
            require_human_approval=approval,
            _definition={k: v for k, v in body.items() if k != "auth_config"},
            _secrets=body.get("auth_config") or {},
        )
        return self._tool_view(tool)

    def delete_custom_tool(self, team_id: str, agent_id: str, integration_id: str, tool_id: str) -> None:
        self._integration(team_id, agent_id, "custom_api", integration_id)
        tool = self.store.tools.get(tool_id)
        if tool is None or tool["_integration"] != integration_id:
            raise not_found("Tool")
        del self.store.tools[tool_id]

    # ---- mcp_server -------------------------------------------------------------------------------

    @staticmethod
    def _mcp_view(item: dict[str, Any]) -> dict[str, Any]:
        return {"id": item["id"], "config": {k: item[k] for k in ("name", "server_url", "transport", "auth_type")}}

    def list_mcp(self, team_id: str, agent_id: str) -> list[dict[str, Any]]:
        return [self._mcp_view(i) for i in self._family(team_id, agent_id, "mcp_server")]

    def configure_mcp(self, team_id: str, agent_id: str, body: dict[str, Any]) -> dict[str, Any]:
        f = Fields(body)
        fields = {
            "name": f.text("name", required=True, max_len=255),
            "server_url": f.text("server_url", required=True, pattern=_URL, pattern_msg="must be an http(s) URL"),
            "transport": f.enum("transport", ("http_sse", "streamable_http"), default="streamable_http"),
            "auth_type": f.enum("auth_type", AUTH_TYPES, default="none"),
        }
        return self._mcp_view(self._upsert_by_name(team_id, agent_id, "mcp_server", fields, f))

    def discover_mcp(self, team_id: str, agent_id: str, integration_id: str) -> dict[str, int]:
        integration = self._integration(team_id, agent_id, "mcp_server", integration_id)
        if looks_unreachable(integration["server_url"]):
            raise SandboxError("bad_request", "Could not reach the MCP server to discover tools")
        offered = mcp_tools_for(integration["server_url"])
        current = {t["action_name"]: t for t in self._tools_of(integration_id)}
        created = updated = disabled = 0
        for name, description in offered.items():
            tool = current.get(name)
            if tool is None:
                self._add_tool(
                    integration, "tool", action_name=name, name=name, description=description, category="mcp"
                )
                created += 1
            elif tool["description"] != description or not tool["is_enabled"]:
                tool.update(description=description, is_enabled=True)
                updated += 1
        for name, tool in current.items():
            if name not in offered and tool["is_enabled"]:
                tool["is_enabled"] = False
                disabled += 1
        integration["_discovered"] = True
        return {"discovered": len(offered), "created": created, "updated": updated, "disabled": disabled}

    def test_mcp(self, team_id: str, agent_id: str, integration_id: str) -> dict[str, Any]:
        integration = self._integration(team_id, agent_id, "mcp_server", integration_id)
        if looks_unreachable(integration["server_url"]):
            raise SandboxError("integration_connection_failed", "Could not connect to the MCP server")
        enabled = sum(1 for t in self._tools_of(integration_id) if t["is_enabled"])
        return {"success": True, "message": "Connected", "error": None, "tools_count": enabled}

    def list_mcp_tools(self, team_id: str, agent_id: str, integration_id: str) -> list[dict[str, Any]]:
        self._integration(team_id, agent_id, "mcp_server", integration_id)
        return [self._tool_view(t) for t in self._tools_of(integration_id)]

    # ---- pipedream --------------------------------------------------------------------------------

    def list_pipedream(self, team_id: str, agent_id: str) -> list[dict[str, Any]]:
        return [
            {
                "id": i["id"],
                "channel_type": "pipedream",
                "config": {k: i[k] for k in ("app_slug", "app_name", "app_icon", "server_url")},
            }
            for i in self._family(team_id, agent_id, "pipedream")
        ]

    def configure_pipedream(self, team_id: str, agent_id: str, body: dict[str, Any]) -> dict[str, Any]:
        f = Fields(body)
        slug = f.text(
            "app_slug", required=True, pattern=r"[a-z0-9]+(?:[-_][a-z0-9]+)*", pattern_msg="must be a lowercase slug"
        )
        app_name = f.text("app_name", max_len=255)
        app_icon = f.text("app_icon")
        f.check()
        self._require_workflow(team_id, agent_id)
        existing = next((i for i in self._family(team_id, agent_id, "pipedream") if i["app_slug"] == slug), None)
        record = existing or self._new_integration(team_id, agent_id, "pipedream", type="pipedream")
        record.update(
            app_slug=slug,
            app_name=app_name,
            app_icon=app_icon,
            name=app_name or slug,
            server_url=f"https://remote.mcp.pipedream.net/{slug}",
            status="pending",
            is_connected=False,
        )
        return {"onboarding_url": f"https://agent.bimpe.ai/agents/{agent_id}/integrations?connect=pipedream&app={slug}"}

    # ---- read-only views --------------------------------------------------------------------------

    def agent_integrations(self, team_id: str, agent_id: str) -> list[dict[str, Any]]:
        self.store.agent(team_id, agent_id)
        out = []
        for item in self.store.integrations.values():
            if item["_agent"] != agent_id:
                continue
            family = item["_family"]
            fields = CONNECTORS[item["type"]].config_fields if family == "bimpeai" else FAMILY_CONFIG_FIELDS[family]
            out.append(
                {
                    "id": item["id"],
                    "type": item["type"],
                    "name": item["name"],
                    "status": item["status"],
                    "is_connected": item["is_connected"],
                    "config_fields": [{"key": k, "label": lb, "type": t, "required": r} for k, lb, t, r in fields],
                    "actions": [
                        {
                            k: t[k]
                            for k in (
                                "action_name",
                                "name",
                                "description",
                                "category",
                                "is_enabled",
                                "require_human_approval",
                            )
                        }
                        for t in self._tools_of(item["id"])
                    ],
                }
            )
        return out

    def list_actions(self, team_id: str, agent_id: str) -> list[dict[str, Any]]:
        self.store.agent(team_id, agent_id)
        out = []
        for item in self.store.integrations.values():
            if item["_agent"] != agent_id:
                continue
            for tool in self._tools_of(item["id"]):
                out.append(
                    {
                        "id": tool["id"],
                        "integration_id": item["id"],
                        "integration_type": item["type"],
                        "integration_name": item["name"],
                        "name": tool["name"],
                        "action_name": tool["action_name"],
                        "description": tool["description"],
                        "is_enabled": tool["is_enabled"],
                    }
                )
        return out

    def set_actions_enabled(self, team_id: str, agent_id: str, body: dict[str, Any], enabled: bool) -> dict[str, int]:
        f = Fields(body)
        ids = f.array("action_ids")
        if ids is None and not f.errors:
            f.fail("action_ids", "is required")
        if ids is not None and not all(isinstance(i, str) for i in ids):
            f.fail("action_ids", "must be an array of strings")
        f.check()
        known = {a["id"]: a for a in self.list_actions(team_id, agent_id)}
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise SandboxError("not_found", f"Actions not found: {', '.join(unknown)}")
        updated = 0
        for action_id in dict.fromkeys(ids):
            tool = self.store.tools[action_id]
            if tool["is_enabled"] != enabled:
                tool["is_enabled"] = enabled
                updated += 1
        return {"updated_count": updated}
