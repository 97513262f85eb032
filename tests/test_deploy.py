"""The Dockerfile and the Kubernetes manifests start a server the real CLI accepts.

PyYAML is not a dependency: `load_yaml` reads the block-style subset the manifests use
(mappings, sequences, JSON flow sequences and plain or quoted scalars).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from bimpe_mcp import cli
from bimpe_mcp.cli import build_parser, settings_from_args
from bimpe_mcp.http import create_app
from bimpe_mcp.server import build_server
from bimpe_mcp.settings import SETTINGS_TABLE, Settings

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "manifests"
_KEY = re.compile(r"^([^\s\"'\-][^:]*):(?:\s+(.*))?$")


def _scalar(text: str) -> Any:
    if text.startswith(("[", '"')):
        return json.loads(text)
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def load_yaml(text: str) -> Any:
    lines = [
        (len(raw) - len(raw.lstrip(" ")), raw.strip())
        for raw in text.splitlines()
        if raw.strip() and not raw.lstrip().startswith("#") and raw.strip() != "---"
    ]

    def node(i: int, indent: int) -> tuple[Any, int]:
        if lines[i][1].startswith("- "):
            items = []
            while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
                lines[i] = (indent + 2, lines[i][1][2:].strip())
                item, i = node(i, indent + 2)
                items.append(item)
            return items, i
        if not _KEY.match(lines[i][1]):
            return _scalar(lines[i][1]), i + 1
        mapping: dict[str, Any] = {}
        while i < len(lines) and lines[i][0] == indent and (match := _KEY.match(lines[i][1])):
            key, rest = match.group(1), (match.group(2) or "").strip()
            i += 1
            if rest:
                mapping[key] = _scalar(rest)
            elif i < len(lines) and (lines[i][0] > indent or (lines[i][0] == indent and lines[i][1].startswith("- "))):
                mapping[key], i = node(i, lines[i][0])
            else:
                mapping[key] = None
        return mapping, i

    value, end = node(0, lines[0][0])
    assert end == len(lines), f"unparsed YAML from line {end}: {lines[end][1]!r}"
    return value


def manifest(name: str) -> dict[str, Any]:
    return load_yaml((MANIFESTS / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def dockerfile() -> dict[str, list[str]]:
    """Each Dockerfile instruction with its arguments, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.setdefault(word.upper(), []).append(rest.strip())
    return found


@pytest.fixture
def deployment() -> dict[str, Any]:
    return manifest("deployment.yaml")


@pytest.fixture
def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only  # type: ignore[no-any-return]


@pytest.fixture
def container_env(container: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The container's environment: plain values, and a well-formed value for every secret."""
    for setting in SETTINGS_TABLE:
        monkeypatch.delenv(setting.env, raising=False)
    env: dict[str, str] = {}
    for entry in container["env"]:
        ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
        env[entry["name"]] = entry["value"] if ref is None else ("s" * 64 if ref["key"] == "state-key" else "")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _port(container: dict[str, Any], port: int | str) -> int:
    """A port number, resolving a container port's name."""
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return number  # type: ignore[no-any-return]


def test_the_kustomization_lists_every_manifest_but_the_secret() -> None:
    kustomization = manifest("kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == ["deployment.yaml", "hpa.yaml", "pdb.yaml", "service.yaml"]
    for name in [*kustomization["resources"], "secret.example.yaml"]:
        document = manifest(name)
        assert document["apiVersion"] and document["kind"], name
        assert document["metadata"]["name"] == "bimpe-mcp", name


def test_the_deployment_rolls_three_replicas(deployment: dict[str, Any]) -> None:
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert manifest("service.yaml")["spec"]["selector"].items() <= labels.items()
    assert manifest("pdb.yaml")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = manifest("hpa.yaml")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "bimpe-mcp"}
    assert hpa["minReplicas"] == spec["replicas"] > manifest("pdb.yaml")["spec"]["minAvailable"]


def test_the_container_runs_locked_down(deployment: dict[str, Any], container: dict[str, Any]) -> None:
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert "memory" in container["resources"]["limits"]


def test_secrets_come_from_the_secret(container: dict[str, Any]) -> None:
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert refs["BIMPE_STATE_KEY"] == {"name": "bimpe-mcp", "key": "state-key"}
    assert refs["BIMPE_API_KEY"] == {"name": "bimpe-mcp", "key": "api-key", "optional": True}
    assert set(manifest("secret.example.yaml")["stringData"]) == {"state-key", "api-key"}


def test_the_container_args_make_a_stateless_http_server(
    container: dict[str, Any], container_env: dict[str, str]
) -> None:
    settings = settings_from_args(build_parser().parse_args(container["args"]))
    assert settings.transport == "http"
    assert settings.stateless is True
    assert settings.host == "0.0.0.0"
    assert settings.state_key == container_env["BIMPE_STATE_KEY"]
    assert settings.log_json is True
    assert settings.api_key is None
    (port,) = container["ports"]
    assert settings.port == port["containerPort"]
    service_port = manifest("service.yaml")["spec"]["ports"][0]
    assert _port(container, service_port["targetPort"]) == settings.port
    for probe in ("readinessProbe", "livenessProbe"):
        check = container[probe]["httpGet"]
        assert check["path"] == "/healthz"
        assert _port(container, check["port"]) == settings.port


def test_the_probe_path_answers_on_the_server_the_args_build(
    container: dict[str, Any], container_env: dict[str, str]
) -> None:
    settings = settings_from_args(build_parser().parse_args(container["args"]))
    path = container["readinessProbe"]["httpGet"]["path"]
    with TestClient(create_app(build_server(settings), settings)) as client:
        response = client.get(path)
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
        assert client.post("/mcp", json={}).status_code == 401  # no default key: each request brings one


def test_the_container_starts_without_a_default_key(
    container: dict[str, Any], container_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[Settings] = []
    monkeypatch.setattr(cli, "_serve", lambda settings: served.append(settings) or 0)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        assert cli.main(container["args"]) == 0
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert served[0].api_key is None


def test_the_dockerfile_serves_what_the_deployment_serves(container: dict[str, Any]) -> None:
    docker = dockerfile()
    assert docker["FROM"] == ["python:3.11-slim"]
    assert any("pip install --no-cache-dir ." in run for run in docker["RUN"])
    assert json.loads(docker["ENTRYPOINT"][-1]) == ["bimpe-mcp"]
    cmd = json.loads(docker["CMD"][-1])
    assert cmd == container["args"]
    settings = Settings.load(env={}, **_flags(cmd))
    assert (settings.transport, settings.host, settings.stateless) == ("http", "0.0.0.0", True)
    assert docker["EXPOSE"] == [str(settings.port)]
    assert docker["USER"][-1].split(":")[0] not in ("root", "0")
    (healthcheck,) = docker["HEALTHCHECK"]
    assert f"http://127.0.0.1:{settings.port}/healthz" in healthcheck
    assert "urllib.request" in healthcheck


def test_the_image_gets_every_file_it_copies() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in ignored, "the .dockerignore allow-lists what the image needs"
    for copy in dockerfile()["COPY"]:
        *sources, _ = copy.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert f"!{source.rstrip('/')}" in {line.rstrip("/") for line in ignored}, f"{source} is docker-ignored"


def _flags(args: list[str]) -> dict[str, Any]:
    namespace = build_parser().parse_args(args)
    return {name: getattr(namespace, name, None) for name in ("transport", "host", "port", "stateless")}
