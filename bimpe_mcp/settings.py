"""Every flag and environment variable, in one table.

Each row of `SETTINGS_TABLE` is one setting: its flag, its variable, its default, its help and
how its text is parsed. The CLI's flags (`add_flags`), the environment parsing
(`Settings.load`) and the README's table (`_docs.settings_markdown`) are all derived from it.
A flag wins over its environment variable, which wins over the default.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from bimpe_mcp import DEFAULT_BASE_URL, DEFAULT_BUTTERBASE_URL
from bimpe_mcp._toolsets import TOOLSET_IDS, TOOLSETS

__all__ = ["SETTINGS_TABLE", "TOOLSET_IDS", "Setting", "Settings", "SettingsError", "add_flags"]


class SettingsError(ValueError):
    """A setting has a value the server cannot use; the message names the flag and variable."""


Parser = Callable[[str, str], Any]
"""(label naming the flag and variable, raw text) -> the value, or SettingsError."""


def _text(label: str, raw: str) -> str:
    return raw.strip()


def _optional_text(label: str, raw: str) -> str | None:
    return raw.strip() or None


def _switch(label: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{label} must be true or false, not {raw!r}")


def _number(kind: type[int] | type[float], low: float, high: float) -> Parser:
    def parse(label: str, raw: str) -> Any:
        try:
            number = kind(raw)
        except ValueError:
            raise SettingsError(f"{label} must be a number, not {raw!r}") from None
        if not low <= number <= high:
            raise SettingsError(f"{label} must be between {low:g} and {high:g}, not {raw}")
        return number

    return parse


def _whole_number_or_none(label: str, raw: str) -> int | None:
    if not raw.strip():
        return None
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{label} must be a whole number, not {raw!r}") from None


def _choice(*options: str, upper: bool = False) -> Parser:
    def parse(label: str, raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip().lower()
        if value not in options:
            raise SettingsError(f"{label} must be {', '.join(options[:-1])} or {options[-1]}, not {raw!r}")
        return value

    return parse


def _toolset_names(raw: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def _toolsets(label: str, raw: str) -> tuple[str, ...]:
    names = _toolset_names(raw)
    if not names or names == ("all",):
        return tuple(toolset.id for toolset in TOOLSETS if toolset.default)
    if unknown := [name for name in names if name not in TOOLSET_IDS]:
        raise SettingsError(f"{label}: unknown toolset {unknown[0]!r}; choose from {', '.join(TOOLSET_IDS)}")
    return names


def _base_url(label: str, raw: str) -> str:
    value = raw.strip().rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise SettingsError(f"{label} must start with http:// or https://, not {value!r}")
    return value


def _state_key(label: str, raw: str) -> str | None:
    value = raw.strip() or None
    if value is not None and len(value.encode()) < 32:
        raise SettingsError(
            f"{label} must be at least 32 bytes of secret randomness; generate one with "
            "python -c 'import secrets; print(secrets.token_hex(32))'"
        )
    return value


def _names(label: str, raw: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def _origins(label: str, raw: str) -> tuple[str, ...]:
    origins = _names(label, raw)
    if bad := [origin for origin in origins if origin != "*" and not origin.startswith(("http://", "https://"))]:
        raise SettingsError(f"{label}: {bad[0]!r} is not an origin (scheme://host[:port])")
    return origins


SERVER = frozenset({"serve", "call", "tools"})
SERVE = frozenset({"serve"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    """One setting. `flag` is empty for a setting read from the environment only (secrets);
    `commands` are the commands whose parser has the flag."""

    name: str
    env: str
    default: str
    help: str
    parse: Parser = _text
    flag: str = ""
    commands: frozenset[str] = SERVER
    switch: bool = False
    choices: tuple[str, ...] = ()
    metavar: str | None = None

    @property
    def label(self) -> str:
        """How errors name it: the flag and the variable."""
        return f"{self.flag} / {self.env}" if self.flag else self.env


_TOOLSET_HELP = "Comma-separated toolsets to expose: " + ", ".join(TOOLSET_IDS) + ", or all."

SETTINGS_TABLE: tuple[Setting, ...] = (
    Setting(
        name="api_key",
        env="BIMPE_API_KEY",
        default="",
        help="Team API key (sk_…). Required unless --sandbox or serving HTTP.",
        parse=_optional_text,
    ),
    Setting(
        name="base_url",
        env="BIMPE_BASE_URL",
        default=DEFAULT_BASE_URL,
        help="Console API base URL.",
        parse=_base_url,
        flag="--base-url",
    ),
    Setting(
        name="toolsets", env="BIMPE_TOOLSETS", default="all", help=_TOOLSET_HELP, parse=_toolsets, flag="--toolsets"
    ),
    Setting(
        name="read_only",
        env="BIMPE_READ_ONLY",
        default="false",
        help="Expose read-only tools only.",
        parse=_switch,
        flag="--read-only",
        switch=True,
    ),
    Setting(
        name="agent_id",
        env="BIMPE_AGENT_ID",
        default="",
        help="Scope the server to one agent.",
        parse=_optional_text,
        flag="--agent-id",
    ),
    Setting(
        name="timeout",
        env="BIMPE_TIMEOUT",
        default="30",
        help="Seconds per Console request.",
        parse=_number(float, 0.1, 600),
        flag="--timeout",
    ),
    Setting(
        name="max_retries",
        env="BIMPE_MAX_RETRIES",
        default="3",
        help="Retries of a failed Console request.",
        parse=_number(int, 0, 10),
        flag="--max-retries",
    ),
    Setting(
        name="sandbox",
        env="BIMPE_SANDBOX",
        default="false",
        help="Use an in-process sandbox with demo data.",
        parse=_switch,
        flag="--sandbox",
        switch=True,
    ),
    Setting(
        name="sandbox_seed",
        env="BIMPE_SANDBOX_SEED",
        default="",
        help="Seed for --sandbox (a whole number): the same ids and demo data on every run.",
        parse=_whole_number_or_none,
        flag="--sandbox-seed",
        metavar="N",
    ),
    Setting(
        name="transport",
        env="BIMPE_TRANSPORT",
        default="stdio",
        help="stdio or http.",
        parse=_choice("stdio", "http"),
        flag="--transport",
        commands=SERVE,
        choices=("stdio", "http"),
    ),
    Setting(
        name="host",
        env="BIMPE_HOST",
        default="127.0.0.1",
        help="HTTP bind address.",
        parse=_text,
        flag="--host",
        commands=SERVE,
    ),
    Setting(
        name="port",
        env="BIMPE_PORT",
        default="8000",
        help="HTTP port.",
        parse=_number(int, 0, 65535),
        flag="--port",
        commands=SERVE,
    ),
    Setting(
        name="stateless",
        env="BIMPE_STATELESS",
        default="false",
        help="HTTP without sessions, for replicas behind a balancer.",
        parse=_switch,
        flag="--stateless",
        commands=SERVE,
        switch=True,
    ),
    Setting(
        name="state_key",
        env="BIMPE_STATE_KEY",
        default="",
        help="Shared secret sealing confirmation state across HTTP replicas.",
        parse=_state_key,
    ),
    Setting(
        name="tools",
        env="BIMPE_TOOLS",
        default="",
        help="Comma-separated tools to expose (narrows the toolsets).",
        parse=_names,
        flag="--tools",
    ),
    Setting(
        name="exclude_tools",
        env="BIMPE_EXCLUDE_TOOLS",
        default="",
        help="Comma-separated tools to hide.",
        parse=_names,
        flag="--exclude-tools",
    ),
    Setting(
        name="confirm",
        env="BIMPE_CONFIRM",
        default="either",
        help="How deletes, real calls and messages to contacts are confirmed: elicit (only a person, asked "
        "by the client), id (only confirm=<target id>) or either (deletes and calls only; a person or the id).",
        parse=_choice("elicit", "id", "either"),
        flag="--confirm",
        choices=("elicit", "id", "either"),
    ),
    Setting(
        name="auth",
        env="BIMPE_AUTH",
        default="passthrough",
        help="HTTP callers bring their Console key (passthrough), or a gateway token or JWT (gateway).",
        parse=_choice("passthrough", "gateway"),
        flag="--auth",
        commands=SERVE,
        choices=("passthrough", "gateway"),
    ),
    Setting(
        name="gateway_tokens",
        env="BIMPE_GATEWAY_TOKENS",
        default="",
        help="Gateway mode: comma-separated static caller tokens.",
        parse=_names,
    ),
    Setting(
        name="gateway_tokens_file",
        env="BIMPE_GATEWAY_TOKENS_FILE",
        default="",
        help="Gateway mode: a file of caller tokens, one a line.",
        parse=_optional_text,
        flag="--gateway-tokens-file",
        commands=SERVE,
    ),
    Setting(
        name="jwt_jwks_url",
        env="BIMPE_JWT_JWKS_URL",
        default="",
        help="Gateway mode: the identity provider's JWKS URL, to accept its JWTs.",
        parse=_optional_text,
        flag="--jwt-jwks-url",
        commands=SERVE,
    ),
    Setting(
        name="jwt_issuer",
        env="BIMPE_JWT_ISSUER",
        default="",
        help="Gateway mode: the JWTs' required issuer.",
        parse=_optional_text,
        flag="--jwt-issuer",
        commands=SERVE,
    ),
    Setting(
        name="jwt_audience",
        env="BIMPE_JWT_AUDIENCE",
        default="",
        help="Gateway mode: the JWTs' required audience.",
        parse=_optional_text,
        flag="--jwt-audience",
        commands=SERVE,
    ),
    Setting(
        name="allowed_hosts",
        env="BIMPE_ALLOWED_HOSTS",
        default="",
        help="Host headers HTTP accepts (host or host:port; * for any port); required off loopback.",
        parse=_names,
        flag="--allowed-hosts",
        commands=SERVE,
    ),
    Setting(
        name="allowed_origins",
        env="BIMPE_ALLOWED_ORIGINS",
        default="",
        help="Origins HTTP accepts from browsers (scheme://host[:port]).",
        parse=_origins,
        flag="--allowed-origins",
        commands=SERVE,
    ),
    Setting(
        name="cors_origins",
        env="BIMPE_CORS_ORIGINS",
        default="",
        help="Origins given CORS headers, for browser clients; off when empty.",
        parse=_origins,
        flag="--cors-origins",
        commands=SERVE,
    ),
    Setting(
        name="max_body_bytes",
        env="BIMPE_MAX_BODY_BYTES",
        default="4194304",
        help="Largest HTTP request body.",
        parse=_number(int, 1024, 64 * 1024 * 1024),
        flag="--max-body-bytes",
        commands=SERVE,
    ),
    Setting(
        name="metrics_port",
        env="BIMPE_METRICS_PORT",
        default="",
        help="Serve /metrics on this separate port instead of the main one.",
        parse=_whole_number_or_none,
        flag="--metrics-port",
        commands=SERVE,
    ),
    Setting(
        name="shutdown_grace",
        env="BIMPE_SHUTDOWN_GRACE",
        default="20",
        help="Seconds in-flight tool calls get to finish after SIGTERM.",
        parse=_number(float, 0, 600),
        flag="--shutdown-grace",
        commands=SERVE,
    ),
    Setting(
        name="max_sessions_per_credential",
        env="BIMPE_MAX_SESSIONS_PER_CREDENTIAL",
        default="20",
        help="Open stateful sessions one credential may hold.",
        parse=_number(int, 1, 10_000),
        flag="--max-sessions-per-credential",
        commands=SERVE,
    ),
    Setting(
        name="session_idle_timeout",
        env="BIMPE_SESSION_IDLE_TIMEOUT",
        default="600",
        help="Seconds before an idle stateful session is closed.",
        parse=_number(float, 1, 86_400),
        flag="--session-idle-timeout",
        commands=SERVE,
    ),
    Setting(
        name="workers",
        env="BIMPE_WORKERS",
        default="1",
        help="HTTP worker processes sharing the port (needs --stateless); each has its own pools, /metrics sums them.",
        parse=_number(int, 1, 64),
        flag="--workers",
        commands=SERVE,
    ),
    Setting(
        name="max_connections",
        env="BIMPE_MAX_CONNECTIONS",
        default="100",
        help="Pooled connections to the Console for ordinary calls (message waits have their own).",
        parse=_number(int, 1, 10_000),
        flag="--max-connections",
        commands=SERVE,
    ),
    Setting(
        name="pool_timeout",
        env="BIMPE_POOL_TIMEOUT",
        default="10",
        help="Seconds a call waits for a free pooled connection before it fails as local overload.",
        parse=_number(float, 0.01, 600),
        flag="--pool-timeout",
        commands=SERVE,
    ),
    Setting(
        name="max_waits",
        env="BIMPE_MAX_WAITS",
        default="200",
        help="Message waits (wait_for_messages, send_test_message's reply) open at once, each on its own connection.",
        parse=_number(int, 1, 10_000),
        flag="--max-waits",
        commands=SERVE,
    ),
    Setting(
        name="max_waits_per_key",
        env="BIMPE_MAX_WAITS_PER_KEY",
        default="5",
        help="Message waits one API key may hold open at once (the sandbox, like the Console, streams 5 per key).",
        parse=_number(int, 1, 10_000),
        flag="--max-waits-per-key",
        commands=SERVE,
    ),
    Setting(
        name="log_level",
        env="BIMPE_LOG_LEVEL",
        default="INFO",
        help="DEBUG, INFO, WARNING or ERROR (stderr).",
        parse=_choice("DEBUG", "INFO", "WARNING", "ERROR", upper=True),
        flag="--log-level",
    ),
    Setting(
        name="log_json",
        env="BIMPE_LOG_JSON",
        default="false",
        help="Log one JSON object per line.",
        parse=_switch,
        flag="--log-json",
        switch=True,
    ),
    Setting(
        name="butterbase_base_url",
        env="BUTTERBASE_BASE_URL",
        default=DEFAULT_BUTTERBASE_URL,
        help="Butterbase API base URL (the butterbase toolset).",
        parse=_base_url,
        flag="--butterbase-base-url",
    ),
    Setting(
        name="butterbase_api_key",
        env="BUTTERBASE_API_KEY",
        default="",
        help="Butterbase admin key (bb_sk_…); with BUTTERBASE_APP_ID it lists the butterbase toolset.",
        parse=_optional_text,
    ),
    Setting(
        name="butterbase_app_id",
        env="BUTTERBASE_APP_ID",
        default="",
        help="The Butterbase app whose integrations the butterbase toolset manages.",
        parse=_optional_text,
        flag="--butterbase-app-id",
    ),
    Setting(
        name="secret_arguments",
        env="BIMPE_SECRET_ARGUMENTS",
        default="allow",
        help="allow: secrets may also be tool arguments (scripts); refuse: only the secret-entry page takes them.",
        parse=_choice("allow", "refuse"),
        flag="--secret-arguments",
        choices=("allow", "refuse"),
    ),
)


def add_flags(parser: argparse.ArgumentParser, command: str, *, default: Any = None) -> None:
    """The flags of `command`'s settings. Unset flags (None) let the environment show through, and each
    switch has a --no- form to turn off what the environment turned on."""
    for setting in SETTINGS_TABLE:
        if not setting.flag or command not in setting.commands:
            continue
        shown = setting.default or "unset"
        options: dict[str, Any] = {"help": f"{setting.help} Env {setting.env}; default: {shown}.", "default": default}
        if setting.switch:
            options["action"] = argparse.BooleanOptionalAction
        if setting.choices:
            options["choices"] = setting.choices
        if setting.metavar:
            options["metavar"] = setting.metavar
        parser.add_argument(setting.flag, dest=setting.name, **options)


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
    tools: tuple[str, ...] = ()
    exclude_tools: tuple[str, ...] = ()
    confirm: Literal["elicit", "id", "either"] = "either"
    auth: Literal["passthrough", "gateway"] = "passthrough"
    gateway_tokens: tuple[str, ...] = field(default=(), repr=False)
    gateway_tokens_file: str | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 4 * 1024 * 1024
    metrics_port: int | None = None
    shutdown_grace: float = 20.0
    max_sessions_per_credential: int = 20
    session_idle_timeout: float = 600.0
    butterbase_base_url: str = DEFAULT_BUTTERBASE_URL
    butterbase_api_key: str | None = field(default=None, repr=False)
    butterbase_app_id: str | None = None
    secret_arguments: Literal["allow", "refuse"] = "allow"
    workers: int = 1
    max_connections: int = 100
    pool_timeout: float = 10.0
    max_waits: int = 200
    max_waits_per_key: int = 5

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
        values = {s.name: s.parse(s.label, raw[s.name]) for s in SETTINGS_TABLE}
        return cls(**{f.name: values[f.name] for f in fields(cls)})

    def with_backend(self, *, base_url: str, api_key: str | None) -> Settings:
        return replace(self, base_url=base_url, api_key=api_key)

    def with_butterbase(self, *, base_url: str, api_key: str, app_id: str) -> Settings:
        return replace(self, butterbase_base_url=base_url, butterbase_api_key=api_key, butterbase_app_id=app_id)

    @property
    def butterbase_configured(self) -> bool:
        """Both the key and the app id are set: the butterbase toolset can be listed."""
        return bool(self.butterbase_api_key and self.butterbase_app_id)
