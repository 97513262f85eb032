"""The deployment files start a server the real CLI accepts, and say what their consumers require.

- `Dockerfile`: stages, a non-root user, the health check, the MCP Registry's label, and an ENV and CMD
  that the real parser and settings turn into a stateless HTTP server. No Docker engine is needed.
- `manifests/k8s/`: valid Kubernetes (kubernetes-validate, strict, with the schemas it ships), locked down,
  configured from the ConfigMap and the Secret (which hold every setting the server reads, but those left
  out for a stated reason), with args the real CLI parser accepts and a grace period longer than the
  server's shutdown grace.
- `manifests/clients/`: each assistant's config starts `bimpe-mcp` with its key, and reaches the remote
  service with a header the server reads.
- `manifests/server.json` (MCP Registry) and `manifests/mcpb/manifest.json` (MCP Bundle): each checked
  against a JSON Schema written here from the format's documentation (required fields and shapes), and
  against the project: names, versions, settings.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import httpx2
import jsonschema
import kubernetes_validate
import pytest
import yaml
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.testclient import TestClient

from bimpe_mcp import __version__, cli
from bimpe_mcp.cli import build_parser, settings_from_args
from bimpe_mcp.http import create_app
from bimpe_mcp.sandbox import RunningSandbox
from bimpe_mcp.server import build_server
from bimpe_mcp.settings import SETTINGS_TABLE, Settings, SettingsError
from tests.harness import http_server

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "manifests"
K8S = MANIFESTS / "k8s"
CLIENTS = MANIFESTS / "clients"
MCPB = MANIFESTS / "mcpb"
SERVER_NAME = "io.github.bimpeai/bimpe-mcp"
SETTING_ENVS = {setting.env for setting in SETTINGS_TABLE}
SECRET_ENVS = {setting.env for setting in SETTINGS_TABLE if not setting.flag}
"""The settings read from the environment only: the secrets (settings.Setting)."""
BUTTERBASE_ENVS = {"BUTTERBASE_API_KEY", "BUTTERBASE_APP_ID"}
"""The pair that lists the opt-in butterbase toolset: the registry entry and the bundle offer both, optional."""
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
(COMMAND,) = PYPROJECT["project"]["scripts"]
# The oldest Kubernetes the manifests claim, and the newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.27", kubernetes_validate.utils.latest_version())


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _no_bimpe_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the files under test, never from the environment running the tests."""
    for setting in SETTINGS_TABLE:
        monkeypatch.delenv(setting.env, raising=False)


def launch(args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[Settings]]:
    """`bimpe-mcp ARGS` in `env`, as a container starts it, up to the point where it would listen:
    its exit code, and the settings it would serve with."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    served: list[Settings] = []
    monkeypatch.setattr(cli, "_serve", lambda settings: served.append(settings) or 0)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return cli.main(args), served
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


# --- Dockerfile ------------------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, word: str) -> list[str]:
        return [rest for instruction, rest in self.instructions if instruction == word]

    def last(self, word: str) -> str:
        found = self.all(word)
        assert found, f"no {word} in the stage FROM {self.base}"
        return found[-1]

    def pairs(self, word: str) -> dict[str, str]:
        """The KEY=VALUE pairs of every ENV or LABEL instruction, quotes removed."""
        return dict(pair.split("=", 1) for rest in self.all(word) for pair in shlex.split(rest))


def dockerfile() -> list[Stage]:
    """The Dockerfile's stages, each with its instructions; continuation lines joined, comments dropped."""
    lines = (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    text = re.sub(r"\\\n\s*", " ", "\n".join(line for line in lines if not line.lstrip().startswith("#")))
    stages: list[Stage] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        word, _, rest = line.strip().partition(" ")
        if word.upper() == "FROM":
            base, _, name = rest.partition(" AS ")
            stages.append(Stage(base.strip(), name.strip() or None))
        else:
            assert stages, f"{word} before the first FROM"
            stages[-1].instructions.append((word.upper(), rest.strip()))
    return stages


def image_settings() -> tuple[Settings, list[str], dict[str, str]]:
    """What the image runs: its CMD through the real parser, over its ENV (as `docker run` gives it)."""
    final = dockerfile()[-1]
    command = json.loads(final.last("CMD"))
    env = {k: v for k, v in final.pairs("ENV").items() if k.startswith("BIMPE_")}
    return settings_from_args(build_parser().parse_args(command), env), command, env


def test_the_image_is_built_in_two_stages_on_slim_python() -> None:
    build, *_, final = stages = dockerfile()
    assert len(stages) >= 2
    assert all(re.fullmatch(r"python:3\.\d+-slim", stage.base) for stage in stages), [s.base for s in stages]
    assert build.name and any("pip install" in run for run in build.all("RUN"))
    assert all("pip install" not in run for run in final.all("RUN")), "the runtime stage installs nothing"
    copies = [copy.split() for copy in final.all("COPY")]
    assert [f"--from={build.name}", "/opt/venv", "/opt/venv"] in copies, "the runtime stage takes the built venv"
    assert final.pairs("ENV")["PATH"].startswith("/opt/venv/bin:")


def test_the_image_runs_as_a_non_root_user_with_a_health_check() -> None:
    final = dockerfile()[-1]
    user = final.last("USER").split(":")[0]
    assert user not in ("root", "0")
    pod = k8s("deployment.yaml")["spec"]["template"]["spec"]
    assert int(user) == pod["securityContext"]["runAsUser"], "the Deployment runs the image's user"
    settings, _, _ = image_settings()
    options, _, check = final.last("HEALTHCHECK").partition(" CMD ")
    assert "--interval=" in options and "--timeout=" in options
    probe = json.loads(check)
    assert probe[:2] == ["python", "-c"] and f"http://127.0.0.1:{settings.port}/healthz" in probe[2]


def test_the_image_carries_the_mcp_registry_label() -> None:
    labels = dockerfile()[-1].pairs("LABEL")
    assert labels["io.modelcontextprotocol.server.name"] == SERVER_NAME == _json(MANIFESTS / "server.json")["name"]
    assert labels["org.opencontainers.image.source"] == _json(MANIFESTS / "server.json")["repository"]["url"]


def test_the_image_serves_stateless_http_on_its_exposed_port() -> None:
    final = dockerfile()[-1]
    assert json.loads(final.last("ENTRYPOINT")) == [COMMAND]
    settings, command, env = image_settings()
    assert command[0] == "serve"
    assert (settings.transport, settings.host, settings.stateless) == ("http", "0.0.0.0", True)
    assert final.all("EXPOSE") == [str(settings.port)]
    # Hosts come from the environment, so `docker run -e BIMPE_ALLOWED_HOSTS=…` (or a ConfigMap) sets them.
    assert "--allowed-hosts" not in command
    assert settings.allowed_hosts == tuple(env["BIMPE_ALLOWED_HOSTS"].split(",")) != ()
    assert settings.api_key is None and settings.state_key is None, "no secret is baked into the image"


def test_the_image_starts_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """`docker run -p 8000:8000 IMAGE`: a keyless pass-through service, each caller bringing a key."""
    settings, command, env = image_settings()
    assert launch(command, env, monkeypatch) == (0, [settings])


def test_the_image_gets_every_file_it_copies() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in ignored, "the .dockerignore allow-lists what the image needs"
    allowed = {line.rstrip("/") for line in ignored}
    for copy in (copy for stage in dockerfile() for copy in stage.all("COPY")):
        if copy.startswith("--from="):
            continue
        *sources, _ = copy.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert f"!{source.rstrip('/')}" in allowed, f"{source} is docker-ignored"


# --- Kubernetes ------------------------------------------------------------------------------------


def k8s(name: str) -> dict[str, Any]:
    document = yaml.safe_load((K8S / name).read_text(encoding="utf-8"))
    assert isinstance(document, dict), name
    return document


K8S_FILES = sorted(path.name for path in K8S.glob("*.yaml") if path.name != "kustomization.yaml")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", K8S_FILES)
def test_every_manifest_is_valid_kubernetes(name: str, version: str) -> None:
    try:
        kubernetes_validate.validate(k8s(name), version, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = ".".join(str(part) for part in error.path)
        pytest.fail(f"{name} is not valid Kubernetes {version} at {where}: {error.message}")


def test_the_kustomization_applies_every_manifest_but_the_secret() -> None:
    kustomization = k8s("kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(set(K8S_FILES) - {"secret.example.yaml"})
    (image,) = kustomization["images"]
    assert image["name"] == container()["image"]
    assert image["newTag"] == __version__
    for name in K8S_FILES:
        assert k8s(name)["metadata"]["name"] == "bimpe-mcp", name


def container() -> dict[str, Any]:
    (only,) = k8s("deployment.yaml")["spec"]["template"]["spec"]["containers"]
    return only  # type: ignore[no-any-return]


def _port(port: int | str) -> int:
    """A port number, resolving a container port's name."""
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container()["ports"] if p["name"] == port]
    return number  # type: ignore[no-any-return]


def test_the_deployment_rolls_replicas_that_scale_and_survive_disruptions() -> None:
    spec = k8s("deployment.yaml")["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["type"] == "RollingUpdate" and spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert k8s("service.yaml")["spec"]["selector"].items() <= labels.items()
    pdb = k8s("pdb.yaml")
    assert pdb["apiVersion"] == "policy/v1" and pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = k8s("hpa.yaml")
    assert hpa["apiVersion"] == "autoscaling/v2" and hpa["kind"] == "HorizontalPodAutoscaler"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "bimpe-mcp"}
    assert hpa["spec"]["minReplicas"] == spec["replicas"] > pdb["spec"]["minAvailable"]
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]


def test_the_container_runs_locked_down() -> None:
    pod = k8s("deployment.yaml")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container()["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security["readOnlyRootFilesystem"] is True
    (tmp,) = [mount for mount in container()["volumeMounts"] if mount["mountPath"] == "/tmp"]
    (volume,) = [volume for volume in pod["volumes"] if volume["name"] == tmp["name"]]
    assert "emptyDir" in volume, "/tmp is writable scratch space"
    resources = container()["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys() and "memory" in resources["limits"]


def test_settings_come_from_the_configmap_and_secrets_from_the_secret() -> None:
    config, secret = k8s("configmap.yaml"), k8s("secret.example.yaml")
    sources = container()["envFrom"]
    assert {"configMapRef": {"name": config["metadata"]["name"]}} in sources
    assert {"secretRef": {"name": secret["metadata"]["name"]}} in sources
    assert "env" not in container(), "every variable comes from the ConfigMap or the Secret"
    assert k8s("deployment.yaml")["spec"]["template"]["spec"]["enableServiceLinks"] is False
    assert set(config["data"]) <= SETTING_ENVS - SECRET_ENVS, "the ConfigMap sets settings, and no secret"
    assert set(secret["stringData"]) == SECRET_ENVS
    assert config["data"]["BIMPE_AUTH"] == "gateway"
    assert config["data"]["BIMPE_STATELESS"] == "true"
    assert config["data"]["BIMPE_ALLOWED_HOSTS"]


NOT_DEPLOYED = {
    "BIMPE_SANDBOX": "the service serves the Console, not demo data",
    "BIMPE_SANDBOX_SEED": "the sandbox's, as BIMPE_SANDBOX",
    "BIMPE_MAX_SESSIONS_PER_CREDENTIAL": "stateless replicas open no sessions",
    "BIMPE_SESSION_IDLE_TIMEOUT": "stateless replicas open no sessions",
}
"""The settings the Kubernetes manifests leave out on purpose, and why."""
DEPLOYMENT_CHOICES = {"BIMPE_AUTH", "BIMPE_ALLOWED_HOSTS", "BIMPE_STATELESS", "BIMPE_METRICS_PORT", "BIMPE_LOG_JSON"}
"""The ConfigMap's settings that differ from the server's defaults; every other one shows its default."""


def test_every_setting_is_in_the_configmap_the_secret_or_the_args() -> None:
    """A team tunes the service in the ConfigMap and the Secret: a setting the server reads is there (or in
    the container's args), unless it does not apply to this deployment."""
    by_env = {setting.env: setting for setting in SETTINGS_TABLE}
    in_args = {env for env, setting in by_env.items() if setting.flag and setting.flag in container()["args"]}
    placed = set(k8s("configmap.yaml")["data"]) | set(k8s("secret.example.yaml")["stringData"]) | in_args
    assert SETTING_ENVS - placed == set(NOT_DEPLOYED), "put a new setting in configmap.yaml or secret.example.yaml"
    assert not placed & set(NOT_DEPLOYED)


def test_the_configmap_shows_the_servers_defaults_but_where_the_deployment_chooses() -> None:
    config = k8s("configmap.yaml")["data"]
    assert set(config) >= DEPLOYMENT_CHOICES
    for env, value in config.items():
        setting = next(setting for setting in SETTINGS_TABLE if setting.env == env)
        parsed, default = setting.parse(setting.label, value), setting.parse(setting.label, setting.default)
        assert (parsed != default) == (env in DEPLOYMENT_CHOICES), (env, value, setting.default)


def test_the_example_secret_cannot_be_deployed_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = k8s("secret.example.yaml")["stringData"]
    env = {**k8s("configmap.yaml")["data"], **secret}
    with pytest.raises(SettingsError, match="BIMPE_STATE_KEY must be at least 32 bytes"):
        settings_from_args(build_parser().parse_args(container()["args"]), env)
    code, served = launch(container()["args"], env, monkeypatch)
    assert (code, served) == (cli.EXIT_USAGE, [])
    # Nor with a good state key: the placeholder gateway tokens are too short to be guessed-proof.
    code, served = launch(container()["args"], {**env, "BIMPE_STATE_KEY": "s" * 64}, monkeypatch)
    assert (code, served) == (cli.EXIT_USAGE, [])


@pytest.fixture
def pod_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The container's environment: the ConfigMap, and the Secret with well-formed values put in."""
    secret = {
        "BIMPE_API_KEY": "sk_test_deploy",
        "BIMPE_STATE_KEY": "s" * 64,
        "BIMPE_GATEWAY_TOKENS": f"{'a' * 32},{'b' * 32}",
    }
    env = {**k8s("configmap.yaml")["data"], **secret}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def pod_settings() -> Settings:
    return settings_from_args(build_parser().parse_args(container()["args"]))


def test_the_container_args_make_a_stateless_http_server(pod_env: dict[str, str]) -> None:
    settings = pod_settings()
    assert (settings.transport, settings.host, settings.stateless) == ("http", "0.0.0.0", True)
    assert settings.port == _port("http")
    assert settings.auth == "gateway" and settings.gateway_tokens == ("a" * 32, "b" * 32)
    assert settings.state_key == pod_env["BIMPE_STATE_KEY"] and settings.api_key == pod_env["BIMPE_API_KEY"]
    assert settings.allowed_hosts == tuple(pod_env["BIMPE_ALLOWED_HOSTS"].split(","))
    assert settings.metrics_port == _port("metrics")
    annotations = k8s("deployment.yaml")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(settings.metrics_port)
    assert settings.log_json is True
    assert not settings.butterbase_configured, "the butterbase toolset is opt-in"
    assert container()["args"] == json.loads(dockerfile()[-1].last("CMD")), "the image's default command"
    service_port = k8s("service.yaml")["spec"]["ports"][0]
    assert _port(service_port["targetPort"]) == settings.port


def test_the_grace_period_outlasts_the_shutdown_grace(pod_env: dict[str, str]) -> None:
    pod = k8s("deployment.yaml")["spec"]["template"]["spec"]
    pause = container().get("lifecycle", {}).get("preStop", {})
    command = pause.get("exec", {}).get("command", [])
    paused = float(command[1]) if command[:1] == ["sleep"] else float(pause.get("sleep", {}).get("seconds", 0))
    assert pod["terminationGracePeriodSeconds"] > paused + pod_settings().shutdown_grace


def test_the_probes_answer_on_the_server_the_pod_runs(
    pod_env: dict[str, str], sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    probes = {name: container()[name]["httpGet"] for name in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["path"] == "/healthz" and probes["readinessProbe"]["path"] == "/readyz"
    monkeypatch.setenv("BIMPE_BASE_URL", sandbox.base_url)  # /readyz asks whether the Console answers
    settings = pod_settings()
    assert all(_port(probe["port"]) == settings.port for probe in probes.values())
    with TestClient(create_app(build_server(settings), settings)) as client:
        for name, probe in probes.items():
            # As the kubelet asks: for the pod's IP, unless the probe names a Host.
            headers = {"Host": f"10.1.2.3:{settings.port}", "User-Agent": "kube-probe/1.37"}
            headers |= {header["name"]: header["value"] for header in probe.get("httpHeaders", [])}
            answer = client.get(probe["path"], headers=headers)
            assert answer.status_code == 200, (name, answer.text)


def test_the_container_starts(pod_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert launch(container()["args"], pod_env, monkeypatch) == (0, [pod_settings()])


# --- Assistants' configs ---------------------------------------------------------------------------

CLIENT_FILES = {
    "claude_desktop_config.json": "mcpServers",
    "claude_code.mcp.json": "mcpServers",
    "vscode.mcp.json": "servers",
    "cursor.mcp.json": "mcpServers",
}
REMOTE_URL = "https://bimpe-mcp.example.com/mcp"


def test_every_client_config_is_here() -> None:
    assert sorted(path.name for path in CLIENTS.glob("*.json")) == sorted(CLIENT_FILES)


def _stdio_and_remote(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    servers = _json(CLIENTS / name)[CLIENT_FILES[name]].values()
    stdio = [server for server in servers if server.get("command") == COMMAND]
    remote = [server for server in servers if server.get("command") != COMMAND]
    assert len(stdio) == 1 and len(remote) == 1, f"{name}: one stdio entry running {COMMAND} and one remote entry"
    return stdio[0], remote[0]


@pytest.mark.parametrize("name", sorted(CLIENT_FILES))
def test_the_stdio_entry_starts_bimpe_mcp_with_the_key(name: str) -> None:
    stdio, _ = _stdio_and_remote(name)
    assert stdio.get("type", "stdio") == "stdio"
    settings = settings_from_args(build_parser().parse_args(stdio.get("args", [])), stdio["env"])
    assert settings.transport == "stdio" and settings.api_key, name
    assert set(stdio["env"]) <= SETTING_ENVS


CREDENTIAL = "{credential}"


def _remote_headers(name: str, remote: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The remote entry's URL and headers, `{credential}` where the user's token or key goes.
    Claude Desktop reaches the service through the mcp-remote bridge, the header in its arguments."""
    if "url" in remote:
        return remote["url"], {k: re.sub(r"\$\{[^}]+\}", CREDENTIAL, v) for k, v in remote["headers"].items()}
    assert remote["command"] == "npx" and "mcp-remote" in remote["args"], name
    args = remote["args"]
    url = next(arg for arg in args if arg.startswith("https://"))
    header, reference = args[args.index("--header") + 1].split(":", 1)
    (variable,) = re.fullmatch(r"\$\{(\w+)\}", reference).groups()  # type: ignore[union-attr]
    scheme, _, placeholder = remote["env"][variable].partition(" ")
    assert scheme == "Bearer" and placeholder, remote["env"]
    return url, {header: f"Bearer {CREDENTIAL}"}


@pytest.mark.parametrize("name", sorted(CLIENT_FILES))
def test_the_remote_entry_reaches_the_service_with_a_header(name: str) -> None:
    _, remote = _stdio_and_remote(name)
    url, headers = _remote_headers(name, remote)
    assert url == REMOTE_URL
    assert remote.get("type", "http") == "http", "streamable HTTP"
    assert any(CREDENTIAL in value for value in headers.values()), headers


def every_remote_header() -> dict[str, dict[str, str]]:
    """The headers each assistant's config, and the registry's remote entry, sends to the service."""
    found = {name: _remote_headers(name, _stdio_and_remote(name)[1])[1] for name in sorted(CLIENT_FILES)}
    (header,) = _json(MANIFESTS / "server.json")["remotes"][0]["headers"]
    value = header.get("value", CREDENTIAL)
    for variable in header.get("variables", {}):
        value = value.replace(f"{{{variable}}}", CREDENTIAL)
    return {**found, "server.json": {header["name"]: value}}


@pytest.mark.parametrize("auth", ["passthrough", "gateway"])
async def test_every_remote_header_gets_its_caller_in(auth: str, sandbox: RunningSandbox) -> None:
    """A real server, in each auth mode, lets in a client sending exactly the configured header."""
    token = "g" * 32
    env = {"BIMPE_AUTH": auth} | ({"BIMPE_GATEWAY_TOKENS": token} if auth == "gateway" else {})
    server_key = sandbox.store.demo_api_key if auth == "gateway" else None
    settings = Settings.load(env, transport="http", stateless=True).with_backend(
        base_url=sandbox.base_url, api_key=server_key
    )
    credential = token if auth == "gateway" else sandbox.store.demo_api_key
    with http_server(settings) as base:
        assert httpx.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).status_code == 403
        for source, headers in every_remote_header().items():
            filled = {key: value.replace(CREDENTIAL, credential) for key, value in headers.items()}
            async with (
                httpx2.AsyncClient(headers=filled, timeout=httpx2.Timeout(30)) as http,
                Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
            ):
                assert (await client.list_tools()).tools, source


@pytest.mark.parametrize("name", ["claude_code.mcp.json", "vscode.mcp.json", "cursor.mcp.json"])
def test_keys_come_from_the_environment_or_a_prompt_not_the_file(name: str) -> None:
    """Files checked into a project reference the key; only Claude Desktop's own config holds a placeholder."""
    stdio, remote = _stdio_and_remote(name)
    for value in [*stdio["env"].values(), *remote["headers"].values()]:
        assert re.search(r"\$\{(env:|input:)?[\w-]+\}", value), (name, value)


@pytest.mark.parametrize("name", sorted(CLIENT_FILES))
def test_the_readme_shows_each_config_as_shipped(name: str) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Connect an assistant\n", 1)[1].split("\n## ", 1)[0]
    after = section.split(f"(manifests/clients/{name})", 1)[1]
    shown = re.search(r"```json\n(.*?)\n```", after, re.S)
    assert shown is not None, name
    assert json.loads(shown.group(1)) == _json(CLIENTS / name), f"README's {name} differs from the file"


def test_vscode_prompts_for_the_keys_as_passwords() -> None:
    config = _json(CLIENTS / "vscode.mcp.json")
    inputs = {entry["id"]: entry for entry in config["inputs"]}
    assert inputs and all(entry["type"] == "promptString" and entry["password"] is True for entry in inputs.values())
    used = set(re.findall(r"\$\{input:([\w-]+)\}", json.dumps(config["servers"])))
    assert used == set(inputs)
    assert all(server["type"] in ("stdio", "http") for server in config["servers"].values())


# --- MCP Registry: server.json ---------------------------------------------------------------------

# Written from the registry's documented server.json format (schema 2025-12-11): the required fields and
# the shapes this file uses. Not the published schema itself, which is fetched from the network.
_INPUT = {
    "type": "object",
    "properties": {
        "description": {"type": "string"},
        "isRequired": {"type": "boolean"},
        "isSecret": {"type": "boolean"},
        "format": {"enum": ["string", "number", "boolean", "filepath"]},
        "value": {"type": "string"},
        "default": {"type": "string"},
        "placeholder": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "string"}},
        "variables": {"type": "object", "additionalProperties": {"$ref": "#/$defs/input"}},
    },
}
_KEY_VALUE = {"allOf": [{"$ref": "#/$defs/input"}, {"required": ["name"], "properties": {"name": {"type": "string"}}}]}
_ARGUMENT = {
    "allOf": [
        {"$ref": "#/$defs/input"},
        {
            "required": ["type"],
            "properties": {"type": {"enum": ["positional", "named"]}, "name": {"type": "string"}},
            "if": {"properties": {"type": {"const": "named"}}},
            "then": {"required": ["name"]},
            "else": {"anyOf": [{"required": ["value"]}, {"required": ["valueHint"]}]},
        },
    ]
}
_URL = {"type": "string", "pattern": r"^https?://\S+$"}
SERVER_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["$schema", "name", "description", "version"],
    "properties": {
        "$schema": {"const": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"},
        "name": {"type": "string", "pattern": r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$", "minLength": 3, "maxLength": 200},
        "title": {"type": "string", "minLength": 1, "maxLength": 100},
        "description": {"type": "string", "minLength": 1, "maxLength": 100},
        "version": {"type": "string", "maxLength": 255, "not": {"const": "latest"}},
        "websiteUrl": _URL,
        "repository": {
            "type": "object",
            "required": ["url", "source"],
            "properties": {"url": _URL, "source": {"type": "string"}},
        },
        "packages": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["registryType", "identifier", "transport"],
                "properties": {
                    "registryType": {"enum": ["npm", "pypi", "oci", "nuget", "mcpb"]},
                    "registryBaseUrl": _URL,
                    "identifier": {"type": "string", "minLength": 1},
                    "version": {"type": "string", "minLength": 1, "not": {"const": "latest"}},
                    "runtimeHint": {"type": "string"},
                    "transport": {"$ref": "#/$defs/transport"},
                    "runtimeArguments": {"type": "array", "items": _ARGUMENT},
                    "packageArguments": {"type": "array", "items": _ARGUMENT},
                    "environmentVariables": {"type": "array", "items": _KEY_VALUE},
                },
            },
        },
        "remotes": {
            "type": "array",
            "items": {
                "allOf": [
                    {"$ref": "#/$defs/transport"},
                    {"required": ["url"], "properties": {"type": {"enum": ["streamable-http", "sse"]}}},
                ]
            },
        },
    },
    "$defs": {
        "input": _INPUT,
        "transport": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"enum": ["stdio", "streamable-http", "sse"]},
                "url": _URL,
                "headers": {"type": "array", "items": _KEY_VALUE},
                "variables": {"type": "object", "additionalProperties": {"$ref": "#/$defs/input"}},
            },
        },
    },
}


@pytest.fixture
def server_json() -> dict[str, Any]:
    document: dict[str, Any] = _json(MANIFESTS / "server.json")
    return document


def test_server_json_has_the_registrys_shape(server_json: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(SERVER_JSON_SCHEMA)
    jsonschema.Draft202012Validator(SERVER_JSON_SCHEMA).validate(server_json)
    assert server_json["name"] == SERVER_NAME
    assert server_json["version"] == __version__


def _package(server_json: dict[str, Any], registry: str) -> dict[str, Any]:
    (package,) = [p for p in server_json["packages"] if p["registryType"] == registry]
    return package  # type: ignore[no-any-return]


def _checked_variables(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A package's environment variables by name, each one a setting, marked secret exactly when the
    server reads it as one; the API key required, the Butterbase pair offered and optional."""
    variables = {entry["name"]: entry for entry in entries}
    assert set(variables) <= SETTING_ENVS
    secret = {name for name, variable in variables.items() if variable.get("isSecret")}
    assert secret == set(variables) & SECRET_ENVS, "a secret setting must be marked secret, and only those"
    required = {name for name, variable in variables.items() if variable.get("isRequired")}
    assert required == {"BIMPE_API_KEY"}
    assert set(variables) >= BUTTERBASE_ENVS
    return variables


def test_the_pypi_package_runs_over_stdio_with_a_secret_key(server_json: dict[str, Any]) -> None:
    package = _package(server_json, "pypi")
    assert package["identifier"] == PYPROJECT["project"]["name"]
    assert package["version"] == __version__
    assert package["transport"] == {"type": "stdio"}
    variables = _checked_variables(package["environmentVariables"])
    defaults = {name: v["default"] for name, v in variables.items() if "default" in v}
    Settings.load(defaults)  # the documented defaults are values the server accepts
    # PyPI ownership: the registry looks for this marker in the package's README.
    assert f"mcp-name: {SERVER_NAME}" in (ROOT / "README.md").read_text(encoding="utf-8")


def _command_line(arguments: list[dict[str, Any]]) -> list[str]:
    line: list[str] = []
    for argument in arguments:
        line += [argument["name"]] if argument["type"] == "named" else []
        line += [argument["value"]] if "value" in argument else []
    return line


def test_the_oci_package_is_the_image_serving_stdio(server_json: dict[str, Any]) -> None:
    package = _package(server_json, "oci")
    repository, _, tag = package["identifier"].rpartition(":")
    assert tag == __version__ and repository == k8s("kustomization.yaml")["images"][0]["newName"]
    assert package["transport"] == {"type": "stdio"}
    assert {"-i", "--rm"} <= set(_command_line(package["runtimeArguments"]))
    # The arguments replace the image's CMD after its ENTRYPOINT (bimpe-mcp): a stdio server.
    _, _, image_env = image_settings()
    args = build_parser().parse_args(_command_line(package["packageArguments"]))
    settings = settings_from_args(args, {**image_env, "BIMPE_API_KEY": "sk_test_x"})
    assert (args.command, settings.transport) == ("serve", "stdio")
    # `docker run` passes a variable into the container only when an `-e` names it.
    passed = [argument["value"] for argument in package["runtimeArguments"] if argument.get("name") == "-e"]
    assert sorted(passed) == sorted(_checked_variables(package["environmentVariables"]))


def test_the_remote_is_streamable_http_with_a_secret_key_header(server_json: dict[str, Any]) -> None:
    (remote,) = server_json["remotes"]
    assert remote["type"] == "streamable-http" and remote["url"].endswith("/mcp")
    assert set(re.findall(r"\{(\w+)\}", remote["url"])) <= set(remote.get("variables", {}))
    (header,) = remote["headers"]
    assert header["isSecret"] is True and header["isRequired"] is True
    assert all(variable["isSecret"] is True for variable in header.get("variables", {}).values())
    # That the server lets this header in: test_every_remote_header_gets_its_caller_in.


# --- MCP Bundle: mcpb/manifest.json ----------------------------------------------------------------

# Written from the MCPB manifest spec (manifest_version 0.3): required fields and the shapes used here.
MCPB_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["manifest_version", "name", "version", "description", "author", "server"],
    "properties": {
        "manifest_version": {"const": "0.3"},
        "name": {"type": "string"},
        "display_name": {"type": "string"},
        "version": {"type": "string"},
        "description": {"type": "string"},
        "long_description": {"type": "string"},
        "author": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "email": {"type": "string"}, "url": _URL},
            "additionalProperties": False,
        },
        "repository": {
            "type": "object",
            "required": ["type", "url"],
            "properties": {"type": {"type": "string"}, "url": _URL},
            "additionalProperties": False,
        },
        "homepage": _URL,
        "support": _URL,
        "server": {
            "type": "object",
            "required": ["type", "entry_point", "mcp_config"],
            "properties": {
                "type": {"enum": ["python", "node", "binary"]},
                "entry_point": {"type": "string"},
                "mcp_config": {
                    "type": "object",
                    "required": ["command"],
                    "properties": {
                        "command": {"type": "string"},
                        "args": {"type": "array", "items": {"type": "string"}},
                        "env": {"type": "object", "additionalProperties": {"type": "string"}},
                        "platform_overrides": {
                            "type": "object",
                            "propertyNames": {"enum": ["darwin", "win32", "linux"]},
                        },
                    },
                    "additionalProperties": False,
                },
            },
            "additionalProperties": False,
        },
        "tools_generated": {"type": "boolean"},
        "keywords": {"type": "array", "items": {"type": "string"}},
        "license": {"type": "string"},
        "compatibility": {
            "type": "object",
            "properties": {
                "platforms": {"type": "array", "items": {"enum": ["darwin", "win32", "linux"]}},
                "runtimes": {"type": "object", "properties": {"python": {"type": "string"}}},
            },
        },
        "user_config": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["type", "title", "description"],
                "properties": {
                    "type": {"enum": ["string", "number", "boolean", "directory", "file"]},
                    "title": {"type": "string"},
                    "description": {"type": "string"},
                    "required": {"type": "boolean"},
                    "sensitive": {"type": "boolean"},
                    "default": {"type": ["string", "number", "boolean", "array"]},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}


@pytest.fixture
def bundle() -> dict[str, Any]:
    document: dict[str, Any] = _json(MCPB / "manifest.json")
    return document


def _user_env(bundle: dict[str, Any], **entered: str) -> dict[str, str]:
    """The server's environment as the host app fills it in (mcpb's getMcpConfigForManifest): the options
    the user entered, every other option's default; an option with neither stays its literal reference."""
    values = {name: option["default"] for name, option in bundle["user_config"].items() if "default" in option}
    values.update(entered)
    text = {name: json.dumps(value) if isinstance(value, bool) else str(value) for name, value in values.items()}
    env = bundle["server"]["mcp_config"]["env"]
    return {
        name: re.sub(r"\$\{user_config\.(\w+)\}", lambda m: text.get(m.group(1), m.group(0)), value)
        for name, value in env.items()
        if not value.startswith("${__dirname}")
    }


def _options_by_env(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each user_config option by the variable it fills in."""
    env = bundle["server"]["mcp_config"]["env"]
    found = {name: re.fullmatch(r"\$\{user_config\.(\w+)\}", value) for name, value in env.items()}
    return {name: bundle["user_config"][match.group(1)] for name, match in found.items() if match}


def test_the_bundle_manifest_has_the_specs_shape(bundle: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(MCPB_SCHEMA)
    jsonschema.Draft202012Validator(MCPB_SCHEMA).validate(bundle)
    assert bundle["name"] == PYPROJECT["project"]["name"] and bundle["version"] == __version__


def test_the_bundle_asks_for_the_key_as_a_secret_and_passes_it_as_the_env(bundle: dict[str, Any]) -> None:
    api_key = bundle["user_config"]["api_key"]
    assert api_key["type"] == "string" and api_key["sensitive"] is True and api_key["required"] is True
    env = bundle["server"]["mcp_config"]["env"]
    assert env["BIMPE_API_KEY"] == "${user_config.api_key}"
    referenced = set(re.findall(r"\$\{user_config\.(\w+)\}", json.dumps(bundle["server"])))
    assert referenced == set(bundle["user_config"]), "every option reaches the server, and only options do"
    assert set(env) - {"PYTHONPATH"} <= SETTING_ENVS
    options = _options_by_env(bundle)
    sensitive = {name for name, option in options.items() if option.get("sensitive")}
    assert sensitive == set(options) & SECRET_ENVS, "a secret setting must be asked for masked, and only those"
    settings = Settings.load(_user_env(bundle, api_key="sk_test_bundle"))
    assert settings.api_key == "sk_test_bundle" and settings.transport == "stdio"


def test_the_bundle_offers_the_butterbase_toolset_only_to_those_who_fill_it_in(bundle: dict[str, Any]) -> None:
    options = _options_by_env(bundle)
    assert set(options) >= BUTTERBASE_ENVS
    assert not any(options[name].get("required") for name in BUTTERBASE_ENVS)
    # Left empty, no option may reach the server as its literal `${user_config…}`, which would pass for a key.
    untouched = _user_env(bundle, api_key="sk_test_bundle")
    assert "${user_config." not in json.dumps(untouched)
    assert not Settings.load(untouched).butterbase_configured
    entered = _user_env(bundle, api_key="sk_test_bundle", butterbase_api_key="bb_sk_test", butterbase_app_id="app_1")
    settings = Settings.load(entered)
    assert settings.butterbase_configured
    assert (settings.butterbase_api_key, settings.butterbase_app_id) == ("bb_sk_test", "app_1")


def test_the_bundle_entry_point_runs_the_server(bundle: dict[str, Any]) -> None:
    server = bundle["server"]
    assert server["type"] == "python"
    entry = MCPB / server["entry_point"]
    assert entry.is_file()
    assert server["mcp_config"]["args"] == [f"${{__dirname}}/{server['entry_point']}"]
    env = {"PATH": "/usr/bin:/bin", **_user_env(bundle, api_key="sk_test_bundle")}
    listed = subprocess.run(
        [sys.executable, str(entry), "tools", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["tools"]
