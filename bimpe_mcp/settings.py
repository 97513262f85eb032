"""Every flag and environment variable, in one place.

A flag wins over its environment variable, which wins over the default. `SETTINGS_TABLE`
feeds the CLI help and the README's table, so the three never disagree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from bimpe_mcp import DEFAULT_BASE_URL

__all__ = ["SETTINGS_TABLE", "Settings", "SettingsError"]

TOOLSET_IDS = ("agents", "knowledge", "integrations", "testing", "workflows", "conversations", "calls", "phone_numbers")


class SettingsError(ValueError):
    """A setting has a value the server cannot use; the message names the flag and variable."""


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    flag: str
    env: str
    default: str
    help: str


SETTINGS_TABLE: tuple[Setting, ...] = (
    Setting("api_key", "", "BIMPE_API_KEY", "", "Team API key (sk_…). Required unless --sandbox or serving HTTP."),
    Setting("base_url", "--base-url", "BIMPE_BASE_URL", DEFAULT_BASE_URL, "Console API base URL."),
    Setting("toolsets", "--toolsets", "BIMPE_TOOLSETS", "all", "Comma-separated toolsets to expose."),
    Setting("read_only", "--read-only", "BIMPE_READ_ONLY", "false", "Expose read-only tools only."),
    Setting("agent_id", "--agent-id", "BIMPE_AGENT_ID", "", "Scope the server to one agent."),
    Setting("timeout", "--timeout", "BIMPE_TIMEOUT", "30", "Seconds per Console request."),
    Setting("max_retries", "--max-retries", "BIMPE_MAX_RETRIES", "3", "Retries of a failed Console request."),
    Setting("sandbox", "--sandbox", "BIMPE_SANDBOX", "false", "Use an in-process sandbox with demo data."),
    Setting(
        "sandbox_seed",
        "--sandbox-seed",
        "BIMPE_SANDBOX_SEED",
        "",
        "Seed for --sandbox (a whole number): the same ids and demo data on every run.",
    ),
    Setting("transport", "--transport", "BIMPE_TRANSPORT", "stdio", "stdio or http."),
    Setting("host", "--host", "BIMPE_HOST", "127.0.0.1", "HTTP bind address."),
    Setting("port", "--port", "BIMPE_PORT", "8000", "HTTP port."),
    Setting(
        "stateless", "--stateless", "BIMPE_STATELESS", "false", "HTTP without sessions, for replicas behind a balancer."
    ),
    Setting("state_key", "", "BIMPE_STATE_KEY", "", "Shared secret sealing confirmation state across HTTP replicas."),
    Setting("log_level", "--log-level", "BIMPE_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR (stderr)."),
    Setting("log_json", "--log-json", "BIMPE_LOG_JSON", "false", "Log one JSON object per line."),
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false, not {value!r}")


def _number(name: str, value: str, kind: type[int] | type[float], low: float, high: float) -> Any:
    try:
        number = kind(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {value!r}") from None
    if not low <= number <= high:
        raise SettingsError(f"{name} must be between {low:g} and {high:g}, not {value}")
    return number


def _whole_number_or_none(name: str, value: str) -> int | None:
    if not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {value!r}") from None


def _toolset_names(value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())


@dataclass(frozen=True)
class Settings:
    api_key: str | None = None
    base_url: str = DEFAULT_BASE_URL
    toolsets: tuple[str, ...] = TOOLSET_IDS
    read_only: bool = False
    agent_id: str | None = None
    timeout: float = 30.0
    max_retries: int = 3
    sandbox: bool = False
    sandbox_seed: int | None = None
    transport: Literal["stdio", "http"] = "stdio"
    host: str = "127.0.0.1"
    port: int = 8000
    stateless: bool = False
    state_key: str | None = field(default=None, repr=False)
    log_level: str = "INFO"
    log_json: bool = False

    def __repr__(self) -> str:
        key = "set" if self.api_key else "unset"
        return (
            f"Settings(api_key={key}, base_url={self.base_url!r}, toolsets={self.toolsets!r}, sandbox={self.sandbox})"
        )

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **flags: Any) -> Settings:
        """Settings from the environment, overridden by the flags that were given (not None)."""
        env = os.environ if env is None else env
        raw: dict[str, str] = {s.name: env.get(s.env, s.default) for s in SETTINGS_TABLE}
        for name, value in flags.items():
            if value is not None:
                raw[name] = str(value) if not isinstance(value, list | tuple) else ",".join(value)
        if flags.get("toolsets") is not None and not _toolset_names(raw["toolsets"]):
            # An empty BIMPE_TOOLSETS means the default, as an unset one does; an empty flag is a mistake.
            raise SettingsError(f"--toolsets is empty: name one or more of {', '.join(TOOLSET_IDS)}, or all")
        return cls._parse(raw)

    @classmethod
    def _parse(cls, raw: dict[str, str]) -> Settings:
        label = {s.name: (f"{s.flag} / {s.env}" if s.flag else s.env) for s in SETTINGS_TABLE}
        toolsets = _toolset_names(raw["toolsets"])
        if not toolsets or toolsets == ("all",):
            toolsets = TOOLSET_IDS
        unknown = [t for t in toolsets if t not in TOOLSET_IDS]
        if unknown:
            raise SettingsError(
                f"{label['toolsets']}: unknown toolset {unknown[0]!r}; choose from {', '.join(TOOLSET_IDS)}"
            )
        transport = raw["transport"].strip().lower()
        if transport not in ("stdio", "http"):
            raise SettingsError(f"{label['transport']} must be stdio or http, not {raw['transport']!r}")
        log_level = raw["log_level"].strip().upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError(f"{label['log_level']} must be DEBUG, INFO, WARNING or ERROR, not {raw['log_level']!r}")
        base_url = raw["base_url"].strip().rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise SettingsError(f"{label['base_url']} must start with http:// or https://, not {base_url!r}")
        state_key = raw["state_key"].strip() or None
        if state_key is not None and len(state_key.encode()) < 32:
            raise SettingsError(
                f"{label['state_key']} must be at least 32 bytes of secret randomness; generate one with "
                "python -c 'import secrets; print(secrets.token_hex(32))'"
            )
        return cls(
            api_key=raw["api_key"].strip() or None,
            base_url=base_url,
            toolsets=toolsets,
            read_only=_bool(label["read_only"], raw["read_only"]),
            agent_id=raw["agent_id"].strip() or None,
            timeout=_number(label["timeout"], raw["timeout"], float, 0.1, 600),
            max_retries=_number(label["max_retries"], raw["max_retries"], int, 0, 10),
            sandbox=_bool(label["sandbox"], raw["sandbox"]),
            sandbox_seed=_whole_number_or_none(label["sandbox_seed"], raw["sandbox_seed"]),
            transport=transport,  # type: ignore[arg-type]
            host=raw["host"].strip(),
            port=_number(label["port"], raw["port"], int, 0, 65535),
            stateless=_bool(label["stateless"], raw["stateless"]),
            state_key=state_key,
            log_level=log_level,
            log_json=_bool(label["log_json"], raw["log_json"]),
        )

    def with_backend(self, *, base_url: str, api_key: str | None) -> Settings:
        return replace(self, base_url=base_url, api_key=api_key)
