"""Scale-out for real: two stateless replicas behind nginx's round robin, one sandbox behind both.

Each replica is a `python -m bimpe_mcp serve --transport http --stateless` process with the same
BIMPE_STATE_KEY; nginx balances them with no stickiness, and names the replica that answered each
request in a response header. The demo's scenario then runs through nginx with the SDK's streamable
HTTP client, including a confirmation begun on one replica and finished on the other. The proof that
the requests alternated comes three ways: the header the client saw, nginx's access log and each
replica's own metrics.

Skipped when /usr/sbin/nginx is missing (`.ci/run` installs it where it can).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bimpe_mcp.sandbox import RunningSandbox
from tests.e2e.test_confirmation import Asker
from tests.harness import server_env, text_of

NGINX = Path("/usr/sbin/nginx")
REPLICA_HEADER = "X-Bimpe-Replica"
STARTUP_TIMEOUT = 60.0

pytestmark = pytest.mark.skipif(
    not NGINX.exists(), reason="nginx is not installed (/usr/sbin/nginx); apt-get install nginx-light to run this test"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(process: subprocess.Popen[bytes], *, how: int = signal.SIGTERM) -> None:
    """Stop one process we started, by its PID; kill it if it does not stop in time."""
    if process.poll() is None:
        process.send_signal(how)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_until_up(process: subprocess.Popen[bytes], url: str) -> bool:
    """True once `url` answers 200; False if the process exits first (say, the port was taken meanwhile)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} did not come up within {STARTUP_TIMEOUT:.0f}s")


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def address(self) -> str:
        """How nginx names it in $upstream_addr."""
        return f"127.0.0.1:{self.port}"

    def tool_calls(self) -> Counter[tuple[str, str]]:
        """(tool, outcome) -> count, from this replica's own /metrics."""
        text = httpx.get(f"http://{self.address}/metrics", timeout=10).text
        counts: Counter[tuple[str, str]] = Counter()
        for labels, value in re.findall(r"^bimpe_mcp_tool_calls_total\{([^}]*)\} (\S+)$", text, re.M):
            label = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            counts[label["tool"], label["outcome"]] += int(float(value))
        return counts


def start_replica(stack: ExitStack, sandbox: RunningSandbox, directory: Path, name: str, state_key: str) -> Replica:
    """One replica as operators run it, on a free loopback port, pointed at the shared sandbox."""
    env = server_env(None, BIMPE_API_KEY=sandbox.store.demo_api_key, BIMPE_STATE_KEY=state_key)
    for _attempt in range(3):
        port = _free_port()
        log = directory / f"{name}.log"
        command = [sys.executable, "-m", "bimpe_mcp", "serve", "--transport", "http", "--stateless"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--base-url", sandbox.base_url]
        with log.open("wb") as out:
            process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        stack.callback(_stop, process)
        if _wait_until_up(process, f"http://127.0.0.1:{port}/healthz"):
            return Replica(process, port, log)
    raise AssertionError(f"{name} did not start in 3 attempts:\n{log.read_text()}")


NGINX_CONF = """\
{user}worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 128; }}
http {{
    log_format replicas '$request_method $status $upstream_addr';
    access_log {root}/access.log replicas;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;

    # Round robin, the default: no ip_hash, no hash, no sticky. One worker, so one rotation.
    upstream bimpe_replicas {{
{servers}
        keepalive 8;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://bimpe_replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            # Server-sent events go to the client as they come.
            proxy_buffering off;
            proxy_cache off;
            proxy_read_timeout 60s;
            # A failed request is an error here, not a silent retry on the other replica.
            proxy_next_upstream off;
            add_header {header} $upstream_addr always;
        }}
    }}
}}
"""


@dataclass
class Balancer:
    process: subprocess.Popen[bytes]
    port: int
    root: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def access_log(self) -> list[tuple[str, int, str]]:
        """(method, status, upstream) per request, in the order nginx finished them."""
        lines = (self.root / "access.log").read_text().splitlines()
        return [(method, int(status), upstream) for method, status, upstream in (line.split() for line in lines)]

    def problems(self) -> list[str]:
        text = (self.root / "error.log").read_text()
        return [line for line in text.splitlines() if re.search(r"\[(error|crit|alert|emerg)\]", line)]


def start_nginx(stack: ExitStack, root: Path, replicas: list[Replica]) -> Balancer:
    for _attempt in range(3):
        port = _free_port()
        servers = "\n".join(f"        server {replica.address};" for replica in replicas)
        # As root, nginx's workers would otherwise drop to `nobody`, who cannot enter pytest's tmp dir.
        user = "user root;\n" if os.geteuid() == 0 else ""
        config = NGINX_CONF.format(user=user, root=root, servers=servers, port=port, header=REPLICA_HEADER)
        (root / "nginx.conf").write_text(config)
        command = [str(NGINX), "-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(root / "error.log")]
        with (root / "nginx.out").open("ab") as out:
            process = subprocess.Popen(
                [*command, "-g", "daemon off;"], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        # SIGQUIT: nginx's graceful shutdown.
        stack.callback(_stop, process, how=signal.SIGQUIT)
        if _wait_until_up(process, f"http://127.0.0.1:{port}/healthz"):
            return Balancer(process, port, root)
    raise AssertionError(f"nginx did not start in 3 attempts:\n{(root / 'nginx.out').read_text()}")


@dataclass
class Cluster:
    balancer: Balancer
    replicas: list[Replica]


@pytest.fixture
def cluster(sandbox: RunningSandbox, tmp_path: Path) -> Iterator[Cluster]:
    """Two replicas sharing one BIMPE_STATE_KEY and one sandbox, behind nginx; all stopped by PID after."""
    state_key = secrets.token_hex(32)
    with ExitStack() as stack:
        replicas = [start_replica(stack, sandbox, tmp_path, f"replica-{n}", state_key) for n in (1, 2)]
        balancer = start_nginx(stack, tmp_path, replicas)
        # The readiness check above went through the balancer; the scenario's log starts clean.
        (tmp_path / "access.log").write_text("")
        yield Cluster(balancer, replicas)


@dataclass
class Exchange:
    """One HTTP exchange the client made through the balancer."""

    http_method: str
    rpc_method: str | None
    tool: str | None
    status: int
    replica: str | None


@dataclass
class Recorder:
    exchanges: list[Exchange] = field(default_factory=list)

    async def __call__(self, response: httpx2.Response) -> None:
        request = response.request
        body: Any = json.loads(request.content) if request.method == "POST" and request.content else {}
        message = body if isinstance(body, dict) else {}
        params = message.get("params") or {}
        self.exchanges.append(
            Exchange(
                request.method,
                message.get("method"),
                params.get("name") if isinstance(params, dict) else None,
                response.status_code,
                response.headers.get(REPLICA_HEADER),
            )
        )

    def tool_calls(self, tool: str | None = None) -> list[Exchange]:
        return [e for e in self.exchanges if e.rpc_method == "tools/call" and (tool is None or e.tool == tool)]


async def run_demo_scenario(client: Client, asker: Asker, mode: str) -> list[str]:
    """The demo's integrations walk (bimpe_mcp/demo.py), then a knowledge base added and deleted with
    confirmation. Returns the tools that ran, in order."""
    called: list[str] = []

    async def ok(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        called.append(name)
        result = await client.call_tool(name, arguments)
        assert not result.is_error, f"{name} failed: {text_of(result)}"
        assert result.structured_content is not None, name
        return result.structured_content

    agent_id = (await ok("list_agents", {}))["items"][0]["id"]
    stripe = {"public_key": "pk_test_ScaleOut123", "secret_key": "sk_test_ScaleOut456", "currency": "NGN"}
    await ok("configure_bimpeai_integration", {"agent_id": agent_id, "type": "stripe", **stripe})
    await ok("configure_bimpeai_integration", {"agent_id": agent_id, "type": "google_calendar"})
    api = await ok(
        "configure_custom_api",
        {
            "agent_id": agent_id,
            "name": "Order system",
            "base_url": "https://api.example.com/v1",
            "auth_type": "bearer",
            "auth_config": {"token": "scale-out-token-789"},
        },
    )
    await ok(
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
    )
    server = await ok(
        "configure_mcp_server",
        {
            "agent_id": agent_id,
            "name": "MR Guild",
            "server_url": "https://mrguild.com/api/mcp",
            "transport": "streamable_http",
        },
    )
    ref = {"agent_id": agent_id, "integration_id": server["id"]}
    await ok("discover_mcp_server_tools", ref)
    await ok("test_mcp_server", ref)
    await ok("get_test_code", {"agent_id": agent_id})
    reply = await ok(
        "send_test_message", {"agent_id": agent_id, "message": "Do you deliver to Lekki?", "timeout_s": 10}
    )
    assert reply["reply"], "the agent did not answer the test message"
    integrations = await ok("list_integrations", {"agent_id": agent_id})
    assert {"Order system", "MR Guild"} <= {item["name"] for item in integrations["items"]}

    kb = await ok(
        "add_knowledge_base", {"agent_id": agent_id, "type": "text", "name": "Delivery areas", "content": "x"}
    )
    target = {"agent_id": agent_id, "kb_id": kb["id"]}
    if mode == "auto":
        # The 2026 era: the replica asks, the client answers the elicitation and sends the call again
        # with the sealed request state, and round robin takes it to the other replica.
        deleted = await ok("delete_knowledge_base", target)
        assert asker.questions == [
            # Google Calendar's onboarding_url, shown to the user by URL elicitation (issue 8).
            "Authorise BimpeAI in this page to finish connecting the service.",
            f"Delete knowledge base {kb['id']}? This cannot be undone.",
        ]
    else:
        # The 2025 era without sessions: no replica knows the client can be asked, so the first call
        # says how to confirm, and the confirmed call goes to the other replica.
        refused = await client.call_tool("delete_knowledge_base", target)
        assert refused.is_error and "needs confirmation: nothing was sent" in text_of(refused)
        deleted = await ok("delete_knowledge_base", {**target, "confirm": kb["id"]})
        assert asker.questions == []
    assert deleted["deleted"] is True and deleted["id"] == kb["id"]
    return called


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_demo_runs_through_nginx_across_two_stateless_replicas(
    mode: str, cluster: Cluster, sandbox: RunningSandbox
) -> None:
    recorder = Recorder()
    asker = Asker()
    http = httpx2.AsyncClient(timeout=httpx2.Timeout(30), event_hooks={"response": [recorder]})
    with anyio.fail_after(120):
        async with (
            http,
            Client(
                streamable_http_client(cluster.balancer.url, http_client=http),
                elicitation_callback=asker,
                read_timeout_seconds=60,
                mode=mode,  # type: ignore[arg-type]
            ) as client,
        ):
            called = await run_demo_scenario(client, asker, mode)

    addresses = {replica.address for replica in cluster.replicas}

    # Zero errors: every request was answered by a replica through nginx, none failed.
    assert recorder.exchanges, "the client made no requests"
    for exchange in recorder.exchanges:
        assert exchange.replica in addresses, exchange
        if exchange.http_method == "POST":
            assert exchange.status in (200, 202), exchange
    assert cluster.balancer.problems() == []
    for replica in cluster.replicas:
        log = replica.log.read_text()
        assert "Traceback" not in log and " ERROR " not in log, log

    # Both replicas served tool calls; nginx rotated between them on every request.
    tool_calls = recorder.tool_calls()
    assert {e.replica for e in tool_calls} == addresses
    upstreams = [upstream for _, _, upstream in cluster.balancer.access_log()]
    assert set(upstreams) == addresses
    assert all(a != b for a, b in itertools.pairwise(upstreams)), upstreams
    assert all(status < 400 for _, status, _ in cluster.balancer.access_log()), cluster.balancer.access_log()

    # The confirmation: asked for by one replica, carried out by the other, once.
    rounds = recorder.tool_calls("delete_knowledge_base")
    assert len(rounds) == 2, rounds
    assert rounds[0].replica != rounds[1].replica, rounds
    assert sandbox.store.counts.get("knowledge_bases.delete") == 1

    # Each replica counted the tool calls it ran; together, every call of the scenario, all ok.
    per_replica = [replica.tool_calls() for replica in cluster.replicas]
    assert all(sum(counts.values()) > 0 for counts in per_replica), per_replica
    total = sum(per_replica, Counter())
    # Nothing failed. The confirmation's first round may count as needs_confirmation; in the 2025 era
    # the refused first call, an isError result that says how to confirm, may count as an error.
    not_ok = {key: n for key, n in total.items() if key[1] != "ok"}
    allowed = {"needs_confirmation"} | ({"error"} if mode == "legacy" else set())
    # In the 2026 era the onboarding link's first round asks the client (input_required); the second,
    # on the other replica, returns the result sealed in the request state: the Console is called once.
    onboarding = {("configure_bimpeai_integration", "input_required")} if mode == "auto" else set()
    assert all(
        (tool == "delete_knowledge_base" and outcome in allowed) or (tool, outcome) in onboarding
        for tool, outcome in not_ok
    ), not_ok
    assert sum(n for key, n in not_ok.items() if key not in onboarding) <= 1, not_ok
    assert sandbox.store.counts["integrations.bimpeai.configure"] == 2
    assert Counter({tool: n for (tool, outcome), n in total.items() if outcome == "ok"}) == Counter(called)
    finished_on = [
        r.address
        for r, counts in zip(cluster.replicas, per_replica, strict=True)
        if counts[("delete_knowledge_base", "ok")]
    ]
    assert finished_on == [rounds[1].replica], (finished_on, rounds)
