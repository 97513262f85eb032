"""The shared streamable HTTP service: health, metrics, per-team keys and stateless replicas."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from bimpe_mcp import __version__
from bimpe_mcp.sandbox import RunningSandbox
from bimpe_mcp.settings import Settings
from bimpe_mcp.tools import ALL_TOOLS
from tests.e2e.test_confirmation import Asker
from tests.harness import http_server, text_of


async def test_health_metrics_and_tenants(sandbox: RunningSandbox) -> None:
    store = sandbox.store
    _, other_key = store.add_team("Other team")
    settings = Settings.load({}, transport="http").with_backend(base_url=sandbox.base_url, api_key="")
    with http_server(settings) as base:
        health = httpx.get(f"{base}/healthz")
        assert health.status_code == 200 and health.json() == {
            "status": "ok",
            "version": __version__,
            "tools": sum(spec.toolset != "butterbase" for spec in ALL_TOOLS),  # no Butterbase app: not listed
        }

        anonymous = httpx.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert anonymous.status_code == 403 and anonymous.json()["error"] == "api_key_missing"
        assert "www-authenticate" not in anonymous.headers  # no OAuth behind it: see _auth.py

        seen = {}
        for key in (store.demo_api_key, other_key):
            async with _client(f"{base}/mcp", headers={"Authorization": f"Bearer {key}"}) as client:
                result = await client.call_tool("list_agents", {})
                seen[key] = [agent["name"] for agent in result.structured_content["items"]]  # type: ignore[index]
                await client.call_tool("get_agent", {"agent_id": "agt_missing"})
        assert seen == {store.demo_api_key: ["Bimpe Demo Agent"], other_key: []}

        metrics = httpx.get(f"{base}/metrics").text
        assert 'bimpe_mcp_tool_calls_total{outcome="ok",tool="list_agents"} 2.0' in metrics
        assert 'bimpe_mcp_tool_calls_total{outcome="error",tool="get_agent"} 2.0' in metrics
        assert store.demo_api_key not in metrics


@asynccontextmanager
async def _client(
    url: str, *, transport: Any = None, headers: dict[str, str] | None = None, **options: Any
) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers=headers or {}, transport=transport, timeout=httpx2.Timeout(30))
    async with http, Client(streamable_http_client(url, http_client=http), **options) as client:
        yield client


class RoundRobin(httpx2.AsyncBaseTransport):
    """Sends each request to the next replica, as a load balancer without affinity would."""

    def __init__(self, ports: list[int]) -> None:
        self._ports = itertools.cycle(ports)
        self._inner = httpx2.AsyncHTTPTransport()
        self.sent_to: list[int] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = next(self._ports)
        self.sent_to.append(port)
        request.url = request.url.copy_with(port=port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.mark.parametrize("shared", [True, False], ids=["shared-state-key", "different-state-keys"])
async def test_stateless_replicas_finish_each_others_confirmations(shared: bool, sandbox: RunningSandbox) -> None:
    keys = ["a" * 64] * 2 if shared else ["a" * 64, "b" * 64]
    with ExitStack() as stack:
        bases = [
            stack.enter_context(
                http_server(
                    Settings.load({}, transport="http", stateless=True, state_key=key).with_backend(
                        base_url=sandbox.base_url, api_key=sandbox.store.demo_api_key
                    )
                )
            )
            for key in keys
        ]
        ports = [int(base.rsplit(":", 1)[1]) for base in bases]
        balancer = RoundRobin(ports)
        asker = Asker()
        async with _client(f"{bases[0]}/mcp", transport=balancer, elicitation_callback=asker) as client:
            created = await client.call_tool("create_workflow", {"name": "Spread", "system_prompt": "p"})
            workflow_id = created.structured_content["id"]  # type: ignore[index]
            if shared:
                deleted = await client.call_tool("delete_workflow", {"workflow_id": workflow_id})
                assert not deleted.is_error, text_of(deleted)
            else:
                with pytest.raises(MCPError):
                    await client.call_tool("delete_workflow", {"workflow_id": workflow_id})
        assert set(balancer.sent_to) == set(ports), "requests did not reach both replicas"
        assert asker.questions == [f"Delete workflow {workflow_id}? This cannot be undone."]
        assert sandbox.store.counts.get("workflows.delete", 0) == (1 if shared else 0)
