"""`bimpe-mcp demo`: the integrations guide, end to end, through a real MCP client.

A sandbox and the server (over streamable HTTP) start on free loopback ports; the SDK's
MCP client then connects stripe and Google Calendar, adds a custom API with a tool,
connects, discovers and tests an MCP server, fetches the test code and chats with the
agent. With `--butterbase` it walks the Butterbase Integrations document instead: search the
catalog, enable Gmail, connect a user (who signs in), list the tools, send an email as them.
The transcript shows each call and what came back; credentials are masked.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

import anyio

from bimpe_mcp._redact import Redactor
from bimpe_mcp.tools import unfence

__all__ = ["run_demo"]

_DEMO_SECRETS = {
    "public_key": "pk_test_DemoPublicKey123",
    "secret_key": "sk_test_DemoSecretKey456",
    "token": "demo-order-api-token-789",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Transcript:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.redactor = Redactor(_DEMO_SECRETS.values())
        self.step = 0

    def say(self, text: str = "") -> None:
        print(self.redactor.text(text), file=self.out, flush=True)

    def heading(self, title: str) -> None:
        self.step += 1
        self.say(f"\n{self.step}. {title}")

    def call(self, name: str, arguments: dict[str, Any]) -> None:
        shown = ", ".join(f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in arguments.items())
        self.say(f"   → {name}({shown})")

    def result(self, summary: str) -> None:
        self.say(f"   ← {summary}")


class DemoFailed(RuntimeError):
    pass


Call = Callable[[str, dict[str, Any], Callable[[dict[str, Any]], str]], Awaitable[Any]]


async def _walk(url: str, out: Transcript, scenario: Callable[[Call, Transcript], Awaitable[None]]) -> None:
    from mcp import Client

    async with Client(url) as client:
        tools = (await client.list_tools()).tools
        out.say(f"Connected over streamable HTTP: {len(tools)} tools.")

        async def call(name: str, arguments: dict[str, Any], summarise: Callable[[dict[str, Any]], str]) -> Any:
            out.call(name, arguments)
            result = await client.call_tool(name, arguments)
            if result.is_error:
                text = " ".join(getattr(block, "text", "") for block in result.content)
                out.result(f"error: {text}")
                raise DemoFailed(f"{name} failed")
            data = result.structured_content or {}
            out.result(summarise(data))
            return data

        await scenario(call, out)


async def _integrations(call: Call, out: Transcript) -> None:
    out.heading("Find the agent")
    agents = await call("list_agents", {}, lambda d: f"{d['total_count']} agent(s)")
    agent = agents["items"][0]
    agent_id = agent["id"]
    out.say(f"   Using {agent['name']} ({agent_id}), status {agent['status']}.")

    out.heading("Connect Stripe")
    await call(
        "configure_bimpeai_integration",
        {
            "agent_id": agent_id,
            "type": "stripe",
            **{k: _DEMO_SECRETS[k] for k in ("public_key", "secret_key")},
            "currency": "NGN",
        },
        lambda d: f"connected: success={d['success']}, channel_id={d['channel_id']}",
    )

    out.heading("Connect Google Calendar")
    await call(
        "configure_bimpeai_integration",
        {"agent_id": agent_id, "type": "google_calendar"},
        lambda d: f"onboarding_url={d['onboarding_url']} (finish OAuth in the dashboard)",
    )

    out.heading("Add a custom API with a tool")
    api = await call(
        "configure_custom_api",
        {
            "agent_id": agent_id,
            "name": "Order system",
            "base_url": "https://api.example.com/v1",
            "auth_type": "bearer",
            "auth_config": {"token": _DEMO_SECRETS["token"]},
        },
        lambda d: f"integration {d['id']}: {d['config']}",
    )
    await call(
        "add_custom_api_tool",
        {
            "agent_id": agent_id,
            "integration_id": api["id"],
            "name": "Create order",
            "http_method": "POST",
            "url_template": "/orders",
            "description": "Place an order for the customer.",
            "body_params": [{"name": "item", "type": "string", "required": True}],
        },
        lambda d: f"tool {d['action_name']} ({d['id']}), enabled={d['is_enabled']}",
    )

    out.heading("Connect an MCP server, discover its tools and test it")
    mcp_server = await call(
        "configure_mcp_server",
        {
            "agent_id": agent_id,
            "name": "MR Guild",
            "server_url": "https://mrguild.com/api/mcp",
            "transport": "streamable_http",
        },
        lambda d: f"integration {d['id']}",
    )
    ref = {"agent_id": agent_id, "integration_id": mcp_server["id"]}
    await call(
        "discover_mcp_server_tools",
        ref,
        lambda d: (
            f"discovered {d['discovered']}: {d['created']} created, {d['updated']} updated, {d['disabled']} disabled"
        ),
    )
    await call("test_mcp_server", ref, lambda d: f"success={d['success']}, tools_count={d['tools_count']}")

    out.heading("Fetch the test code")
    await call(
        "get_test_code",
        {"agent_id": agent_id},
        lambda d: f"code {d['code']}; WhatsApp testers send {d['channels']['whatsapp']['start_message']!r}",
    )

    out.heading("Chat with the agent on a test channel")
    await call(
        "send_test_message",
        {"agent_id": agent_id, "message": "Hi! Do you deliver to Lekki?", "timeout_s": 10},
        lambda d: f"agent replied: {unfence(d)['reply']['message']!r}" if d["reply"] else "no reply in time",
    )

    out.heading("Everything now connected")
    await call(
        "list_integrations",
        {"agent_id": agent_id},
        lambda d: ", ".join(f"{i['name']} ({i['status']})" for i in d["items"]),
    )


async def _butterbase(call: Call, out: Transcript) -> None:
    import httpx

    out.heading("Search the Butterbase catalog")
    await call(
        "butterbase_list_toolkits",
        {"search": "mail"},
        lambda d: ", ".join(f"{t['displayName']} ({t['toolkit']})" for t in d["items"]),
    )

    out.heading("Enable Gmail for the app")
    await call("butterbase_enable_toolkit", {"toolkit": "gmail"}, lambda d: f"{d['displayName']} enabled")

    out.heading("Connect a user's Gmail account")
    user = {"user_id": "demo-user-1"}
    started = await call(
        "butterbase_connect_user",
        {"toolkit": "gmail", **user, "redirect_url": "https://yourapp.example.com/settings"},
        lambda d: f"authUrl for the user to open (request {d['connectionRequestId']})",
    )
    async with httpx.AsyncClient() as browser:
        signed_in = await browser.get(started["authUrl"])
    out.say(f"   The user opens authUrl and signs in: sent back to {signed_in.headers.get('location')}.")
    await call(
        "butterbase_list_connections",
        user,
        lambda d: ", ".join(f"{c['toolkit']} {c['status']} ({c['id']})" for c in d["items"]) or "none",
    )

    out.heading("List Gmail's tools")
    await call("butterbase_list_tools", {"toolkit": "gmail"}, lambda d: ", ".join(t["name"] for t in d["items"]))

    out.heading("Send an email as the user")
    await call(
        "butterbase_execute_tool",
        {
            "tool_name": "GMAIL_SEND_EMAIL",
            "params": {"to": "customer@example.com", "subject": "Hi", "body": "Hello from the demo"},
            **user,
        },
        lambda d: f"successful={d['successful']}, data={d['data']}",
    )


async def _run(out: Transcript, butterbase: bool) -> None:
    import uvicorn

    from bimpe_mcp.http import create_app
    from bimpe_mcp.sandbox import SandboxStore, start_in_thread
    from bimpe_mcp.server import build_server
    from bimpe_mcp.settings import Settings

    with start_in_thread(SandboxStore(reply_delay=0.3)) as sandbox:
        port = _free_port()
        butterbase_app = sandbox.store.butterbase
        settings = (
            Settings.load({}, transport="http", port=port)
            .with_backend(base_url=sandbox.base_url, api_key=sandbox.store.demo_api_key)
            .with_butterbase(base_url=sandbox.base_url, api_key=butterbase_app.api_key, app_id=butterbase_app.app_id)
        )
        app = create_app(build_server(settings), settings)
        http = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
        out.say(f"bimpe-mcp demo: sandbox at {sandbox.base_url}, MCP server at http://127.0.0.1:{port}/mcp")
        stopped = anyio.Event()

        async def serve() -> None:
            try:
                await http.serve()
            finally:
                stopped.set()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(serve)
            with anyio.fail_after(10):
                while not http.started:
                    await anyio.sleep(0.02)
            try:
                await _walk(f"http://127.0.0.1:{port}/mcp", out, _butterbase if butterbase else _integrations)
            finally:
                # Stop the server before an error (say, a closed stdout) leaves this block and cancels it:
                # cancelled during its lifespan, uvicorn logs a traceback.
                http.should_exit = True
                with anyio.move_on_after(5, shield=True):
                    await stopped.wait()


def run_demo(out: TextIO | None = None, *, butterbase: bool = False) -> int:
    from bimpe_mcp.logs import configure_logging

    configure_logging("WARNING")
    transcript = Transcript(out or sys.stdout)
    try:
        anyio.run(_run, transcript, butterbase)
    except DemoFailed as failure:
        transcript.say(f"\nDemo stopped: {failure}.")
        return 1
    if butterbase:
        transcript.say("\nDone: Gmail enabled, a user connected, and an email sent as them.")
    else:
        transcript.say(
            "\nDone: stripe connected, Google Calendar pending OAuth, custom API and MCP server wired, "
            "and the agent answered a test message."
        )
    return 0
