"""Who may use the HTTP service, with which Console key, and how many sessions each caller may hold.

Two modes (`--auth`), each giving every header one meaning:

- **pass-through** (default): a request carries its caller's Console key, `X-Bimpe-Api-Key: sk_…`
  or else `Authorization: Bearer sk_…`, and its tool calls use that key and nothing else. A key is
  checked once with the Console (`GET /agents?limit=1`, the answer cached by the key's SHA-256)
  before it may open a session or reach a tool. Only on loopback may a request without a key fall
  back to the server's BIMPE_API_KEY: the local developer's case.
- **gateway**: the server holds the one Console key; callers present a gateway credential in
  `Authorization: Bearer`: a static token (kept as SHA-256 hashes, compared in constant time) or a
  JWT from the team's identity provider (checked against its JWKS through the SDK's `TokenVerifier`
  protocol). The caller's credential never reaches the Console.

`CredentialGate` refuses an unchecked caller before the request reaches the SDK, so it never gets a
session (401 with a challenge where OAuth can yield a credential, a gateway with JWTs; 403 elsewhere,
so that clients show the body instead of starting OAuth), and caps the sessions each credential holds
(`SessionLedger`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.to_thread
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.routes import build_resource_metadata_url
from mcp.server.mcpserver import Context
from mcp.shared.auth import ProtectedResourceMetadata
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import AnyHttpUrl
from starlette.authentication import AuthCredentials
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bimpe_mcp._netsec import is_loopback
from bimpe_mcp.console import (
    AuthenticationError,
    ConsoleAPIError,
    ConsoleError,
    ConsoleTransport,
    InvalidApiKeyError,
    RateLimitError,
    RequestSpec,
    ServerError,
)
from bimpe_mcp.settings import Settings
from bimpe_mcp.tools import ApiKey

__all__ = [
    "REALM",
    "CredentialGate",
    "GatewayVerifier",
    "JwtVerifier",
    "KeyCheck",
    "SessionLedger",
    "StaticTokenVerifier",
    "api_key_from_headers",
    "fingerprint",
    "gateway_tokens",
    "protected_resource_routes",
    "request_api_key",
    "startup_problem",
]

logger = logging.getLogger("bimpe_mcp.auth")

REALM = "bimpe-mcp"
_KEY_STATE = "bimpe_api_key"
_MIN_TOKEN_LENGTH = 16
_JWT_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
"""Asymmetric algorithms only: a JWKS publishes public keys, and an `oct` key there would let anyone sign."""
_METADATA_PATH = "/.well-known/oauth-protected-resource"
_SESSION_HEADER = b"mcp-session-id"
_VERSION_HEADER = b"mcp-protocol-version"

_CAP_SETTING = "--max-sessions-per-credential / BIMPE_MAX_SESSIONS_PER_CREDENTIAL"
_IDLE_SETTING = "--session-idle-timeout / BIMPE_SESSION_IDLE_TIMEOUT"
_SEND_KEY = "Send your BimpeAI team key as 'Authorization: Bearer sk_…' or 'X-Bimpe-Api-Key: sk_…'."
_SEND_TOKEN = "Send your gateway token or your identity provider's JWT as 'Authorization: Bearer <token>'."


def fingerprint(secret: str) -> str:
    """The first 8 hex digits of the secret's SHA-256: enough to tell keys apart in a log, nothing to reuse."""
    return _digest(secret).hex()[:8]


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()


# ---- start-up checks ----------------------------------------------------------------------------------------


def gateway_tokens(settings: Settings) -> tuple[str, ...]:
    """BIMPE_GATEWAY_TOKENS and the lines of --gateway-tokens-file (blank lines and `#` comments skipped).

    Raises ValueError with a one-line message naming the setting when the file cannot be read or a
    token is too short to be a secret.
    """
    tokens = list(settings.gateway_tokens)
    if settings.gateway_tokens_file:
        try:
            text = Path(settings.gateway_tokens_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
            raise ValueError(
                f"--gateway-tokens-file / BIMPE_GATEWAY_TOKENS_FILE: cannot read {settings.gateway_tokens_file} "
                f"({reason})"
            ) from None
        tokens += [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if short := [token for token in tokens if len(token) < _MIN_TOKEN_LENGTH]:
        raise ValueError(
            f"gateway tokens must be at least {_MIN_TOKEN_LENGTH} characters (one is {len(short[0])}; fingerprint "
            f"{fingerprint(short[0])}); generate them with python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return tuple(tokens)


def startup_problem(settings: Settings) -> str | None:
    """Why `serve --transport http` must not start with these settings, in one line naming what to set; or None.

    The rule: a server reachable from other machines serves authenticated callers only. Pass-through
    with BIMPE_API_KEY off loopback would let any caller without a key act with the server's key.
    """
    if settings.auth == "passthrough":
        given = [
            name
            for name, value in (
                ("BIMPE_GATEWAY_TOKENS", settings.gateway_tokens),
                ("--gateway-tokens-file / BIMPE_GATEWAY_TOKENS_FILE", settings.gateway_tokens_file),
                ("--jwt-jwks-url / BIMPE_JWT_JWKS_URL", settings.jwt_jwks_url),
            )
            if value
        ]
        if given:
            return (
                f"{given[0]} is set but --auth / BIMPE_AUTH is passthrough, where callers send Console keys: "
                "set --auth gateway to accept gateway credentials, or unset it"
            )
        if settings.api_key and not settings.sandbox and not is_loopback(settings.host):
            return (
                f"refusing to serve on {settings.host} in pass-through mode with BIMPE_API_KEY set: a caller "
                "without a key would act with the server's key. Set --auth gateway / BIMPE_AUTH=gateway (with "
                "BIMPE_GATEWAY_TOKENS or --jwt-jwks-url) to share the server's key, unset BIMPE_API_KEY so each "
                "caller brings its own, or bind --host 127.0.0.1"
            )
        return None
    if not settings.api_key and not settings.sandbox:
        return "gateway mode (--auth gateway) calls the Console with the server's key: set BIMPE_API_KEY"
    try:
        tokens = gateway_tokens(settings)
    except ValueError as error:
        return str(error)
    if not tokens and not settings.jwt_jwks_url:
        return (
            "gateway mode (--auth gateway) needs caller credentials: set BIMPE_GATEWAY_TOKENS, "
            "--gateway-tokens-file / BIMPE_GATEWAY_TOKENS_FILE or --jwt-jwks-url / BIMPE_JWT_JWKS_URL"
        )
    if settings.jwt_jwks_url:
        if not settings.jwt_jwks_url.startswith(("https://", "http://")):
            return f"--jwt-jwks-url / BIMPE_JWT_JWKS_URL must be an http(s) URL, not {settings.jwt_jwks_url!r}"
        if not settings.jwt_issuer or not settings.jwt_audience:
            return (
                "--jwt-jwks-url needs the JWTs' issuer and audience checked: set --jwt-issuer / BIMPE_JWT_ISSUER "
                "and --jwt-audience / BIMPE_JWT_AUDIENCE"
            )
        if not settings.jwt_issuer.startswith(("https://", "http://")):
            return (
                "--jwt-issuer / BIMPE_JWT_ISSUER must be the identity provider's URL (it is published as the "
                f"authorization server), not {settings.jwt_issuer!r}"
            )
    return None


# ---- the caller's key, for the tools ------------------------------------------------------------------------


def api_key_from_headers(headers: Mapping[str, str]) -> ApiKey | None:
    """A team key sent as `X-Bimpe-Api-Key` or else `Authorization: Bearer` (lower-case header names).

    A header that is present but blank still counts, so it is reported, not replaced by the server's key.
    """
    if "x-bimpe-api-key" in headers:
        return ApiKey(headers["x-bimpe-api-key"], "the X-Bimpe-Api-Key header")
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return ApiKey(token, "the Authorization header")


def request_api_key(ctx: Context[Any, Any]) -> ApiKey | None:
    """The key `CredentialGate` admitted for this call's HTTP request: the tools' key provider.

    None (the server's key is used) in gateway mode, and for a keyless request on loopback.
    """
    try:
        scope = getattr(ctx.request_context.request, "scope", None) or {}
    except ValueError:  # no request context: not a call over HTTP
        return None
    key = scope.get("state", {}).get(_KEY_STATE)
    return key if isinstance(key, ApiKey) else None


# ---- checking a pass-through key ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyVerdict:
    outcome: Literal["valid", "refused", "unavailable"]
    reason: str = ""
    """For a refusal, the Console's code (api_key_invalid, …) or why the key cannot be sent."""


class KeyCheck:
    """Whether the Console accepts a key, asked with one cheap request and remembered for a while.

    Answers are cached by the key's SHA-256 (never the key): `valid_ttl` seconds for a key the
    Console accepted, `refused_ttl` for one it refused, a couple of seconds when it could not say.
    Concurrent checks of one key share a single request, and at most `concurrency` run at once.
    """

    def __init__(
        self,
        transport: ConsoleTransport,
        *,
        valid_ttl: float = 60.0,
        refused_ttl: float = 10.0,
        unavailable_ttl: float = 2.0,
        max_entries: int = 10_000,
        concurrency: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = transport
        self.ttl = {"valid": valid_ttl, "refused": refused_ttl, "unavailable": unavailable_ttl}
        self.max_entries = max_entries
        self.clock = clock
        self.asked = 0
        """How many checks reached the transport (tests count them)."""
        self._cache: dict[bytes, tuple[float, KeyVerdict]] = {}
        self._pending: dict[bytes, anyio.Event] = {}
        self._limiter = anyio.CapacityLimiter(concurrency)

    async def check(self, key: str) -> KeyVerdict:
        digest = _digest(key)
        while (verdict := self._cached(digest)) is None:
            pending = self._pending.get(digest)
            if pending is None:
                break
            await pending.wait()
        if verdict is not None:
            return verdict
        done = self._pending[digest] = anyio.Event()
        try:
            verdict = await self._ask(key)
            self._remember(digest, verdict)
        finally:
            del self._pending[digest]
            done.set()
        return verdict

    def _cached(self, digest: bytes) -> KeyVerdict | None:
        entry = self._cache.get(digest)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            del self._cache[digest]
            return None
        return entry[1]

    def _remember(self, digest: bytes, verdict: KeyVerdict) -> None:
        now = self.clock()
        if len(self._cache) >= self.max_entries:
            for stale in [d for d, (expires, _) in self._cache.items() if expires <= now]:
                del self._cache[stale]
            while len(self._cache) >= self.max_entries:
                del self._cache[next(iter(self._cache))]
        self._cache[digest] = (now + self.ttl[verdict.outcome], verdict)

    async def _ask(self, key: str) -> KeyVerdict:
        async with self._limiter:
            self.asked += 1
            try:
                await self.transport.request(RequestSpec("GET", "/agents", params={"limit": 1}), api_key=key)
            except InvalidApiKeyError as error:  # refused before sending: nothing reached the Console
                return KeyVerdict("refused", error.message)
            except AuthenticationError as error:
                return KeyVerdict("refused", error.code)
            except (RateLimitError, ServerError) as error:
                return KeyVerdict("unavailable", f"the Console answered {error.status} {error.code}")
            except ConsoleAPIError:
                # Any other answer (a missing scope, a plan limit) comes after the Console accepted the key.
                return KeyVerdict("valid")
            except ConsoleError as error:
                return KeyVerdict("unavailable", type(error).__name__)
        return KeyVerdict("valid")


# ---- gateway credentials: static tokens and JWTs ------------------------------------------------------------


class StaticTokenVerifier(TokenVerifier):
    """Static gateway tokens, kept only as SHA-256 hashes; each is compared with every one in constant time."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._hashes = tuple(dict.fromkeys(_digest(token) for token in tokens))

    def __bool__(self) -> bool:
        return bool(self._hashes)

    async def verify_token(self, token: str) -> AccessToken | None:
        digest = _digest(token)
        found = False
        for stored in self._hashes:  # no early exit: the time taken does not say which token matched
            found |= hmac.compare_digest(digest, stored)
        if not found:
            return None
        client_id = f"gateway-token:{digest.hex()[:16]}"
        return AccessToken(token=client_id, client_id=client_id, scopes=[])


class JwtVerifier(TokenVerifier):
    """JWTs signed by a key in the identity provider's JWKS, with the required issuer and audience, unexpired."""

    def __init__(self, jwks_url: str, *, issuer: str, audience: str, leeway: float = 30.0) -> None:
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        # Imported here: only gateway mode with JWTs needs PyJWT, about 2 MB of every other server's memory.
        import jwt

        self._jwt = jwt
        # PyJWT caches the key set (5 minutes) and refetches for an unknown kid at most every 30 s.
        self._keys = jwt.PyJWKClient(jwks_url, lifespan=300, timeout=10)
        self._limiter = anyio.CapacityLimiter(4)

    async def verify_token(self, token: str) -> AccessToken | None:
        if token.count(".") != 2:
            return None
        try:
            claims = await anyio.to_thread.run_sync(self._decode, token, limiter=self._limiter)
        except (self._jwt.PyJWTError, ValueError) as error:
            logger.debug("JWT refused: %s", type(error).__name__)
            return None
        subject = str(claims.get("sub") or "") or None
        client_id = str(claims.get("client_id") or claims.get("azp") or subject or f"jwt:{fingerprint(token)}")
        scopes = str(claims.get("scope") or "").split()
        expires = claims.get("exp")
        return AccessToken(
            token=token,
            client_id=client_id,
            scopes=scopes,
            expires_at=int(expires) if isinstance(expires, int | float) else None,
            subject=subject,
            claims={"iss": claims.get("iss")},
        )

    def _decode(self, token: str) -> dict[str, Any]:
        key = self._keys.get_signing_key_from_jwt(token)
        jwt = self._jwt
        algorithm = jwt.get_unverified_header(token).get("alg")
        if algorithm not in _JWT_ALGORITHMS or algorithm != key.algorithm_name:
            raise jwt.InvalidAlgorithmError(f"algorithm {algorithm!r} is not accepted")
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=self.audience,
            issuer=self.issuer,
            leeway=self.leeway,
            options={"require": ["exp", "iss", "aud"]},
        )
        return claims


class GatewayVerifier(TokenVerifier):
    """A static token first (constant time), then a JWT when a JWKS is configured."""

    def __init__(self, static: StaticTokenVerifier, jwt_verifier: JwtVerifier | None) -> None:
        self.static = static
        self.jwt = jwt_verifier

    async def verify_token(self, token: str) -> AccessToken | None:
        if (access := await self.static.verify_token(token)) is not None:
            return access
        return await self.jwt.verify_token(token) if self.jwt is not None else None


# ---- protected-resource metadata (RFC 9728), gateway mode with JWTs only -------------------------------------


def _resource_url(settings: Settings, request_base: str) -> str:
    """This server's resource identifier: the JWT audience when it is a URL (as MCP clients expect), else /mcp here."""
    audience = settings.jwt_audience or ""
    return audience if audience.startswith(("https://", "http://")) else f"{request_base}/mcp"


def _base_url(scope: Scope) -> str:
    return str(Request(scope).base_url).rstrip("/")


def _metadata_url(settings: Settings, scope: Scope) -> str:
    return str(build_resource_metadata_url(AnyHttpUrl(_resource_url(settings, _base_url(scope)))))


def protected_resource_routes(settings: Settings) -> list[Route]:
    """`/.well-known/oauth-protected-resource[/…]` in gateway mode with JWTs; nothing otherwise.

    Pass-through has no authorization server to point to: publishing metadata there would send
    OAuth clients into a flow that can never succeed.
    """
    if settings.auth != "gateway" or not settings.jwt_jwks_url or not settings.jwt_issuer:
        return []
    issuer = settings.jwt_issuer

    async def metadata(request: Request) -> Response:
        # Validated from text, so the model keeps a path-less issuer as written (issuers compare exactly).
        document = ProtectedResourceMetadata.model_validate(
            {
                "resource": _resource_url(settings, _base_url(request.scope)),
                "authorization_servers": [issuer],
                "resource_name": "bimpe-mcp",
                "bearer_methods_supported": ["header"],
            }
        )
        return JSONResponse(
            document.model_dump(mode="json", exclude_none=True), headers={"Cache-Control": "public, max-age=3600"}
        )

    return [
        Route(_METADATA_PATH, metadata, methods=["GET"]),
        Route(_METADATA_PATH + "/{resource:path}", metadata, methods=["GET"]),
    ]


# ---- sessions per credential --------------------------------------------------------------------------------


class SessionLedger:
    """The stateful sessions each credential opened, capped at `cap`.

    The SDK's session manager owns the sessions (it closes idle ones and those a client DELETEs);
    `live()` reads which are still open, so a closed session frees its credential's slot.
    """

    def __init__(self, cap: int, live: Callable[[], Collection[str]]) -> None:
        self.cap = cap
        self.live = live
        self._owned: dict[str, set[str]] = {}
        self._opening: dict[str, int] = {}
        self._admissions = 0

    def open_sessions(self, identity: str) -> int:
        live = self.live()
        owned = self._owned.get(identity, set())
        owned &= {session for session in owned if session in live}
        return len(owned)

    def admit(self, identity: str) -> bool:
        """Reserve a slot for a request that may open a session; False at the cap."""
        self._admissions += 1
        if self._admissions % 256 == 0:
            self._sweep()
        if self.open_sessions(identity) + self._opening.get(identity, 0) >= self.cap:
            return False
        self._opening[identity] = self._opening.get(identity, 0) + 1
        return True

    def opened(self, identity: str, session_id: str) -> None:
        self._owned.setdefault(identity, set()).add(session_id)

    def release(self, identity: str) -> None:
        left = self._opening.get(identity, 0) - 1
        if left > 0:
            self._opening[identity] = left
        else:
            self._opening.pop(identity, None)
            if not self.open_sessions(identity):
                self._owned.pop(identity, None)

    def _sweep(self) -> None:
        for identity in list(self._owned):
            if not self.open_sessions(identity) and identity not in self._opening:
                del self._owned[identity]


# ---- the gate -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Caller:
    identity: str
    """Stable and free of secrets: whose sessions these are."""
    label: str
    api_key: ApiKey | None
    """The key this request's tool calls use; None: the server's."""
    access: AccessToken


@dataclass(frozen=True, slots=True)
class _Refusal:
    status: int
    error: str
    message: str
    log: str
    invalid_token: bool = False


class CredentialGate:
    """The ASGI layer in front of `/mcp`: checks the credential, then caps the sessions it opens.

    Only a checked caller reaches the SDK, so only a checked caller can open a session. The caller
    is handed on as the SDK's `AuthenticatedUser`, which binds each session to the credential that
    opened it (another credential presenting its id gets 404).
    """

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        *,
        transport: ConsoleTransport,
        server_has_key: bool,
        live_sessions: Callable[[], Collection[str]] | None,
        key_check: KeyCheck | None = None,
    ) -> None:
        self.app = AuthContextMiddleware(app)
        self.settings = settings
        self.gateway = settings.auth == "gateway"
        # Only on loopback may a keyless request use the server's key (see startup_problem).
        self.fallback = not self.gateway and server_has_key and is_loopback(settings.host)
        self.key_check = key_check or KeyCheck(transport)
        self.verifier: GatewayVerifier | None = None
        self.jwt = False
        if self.gateway:
            jwt_verifier = None
            if settings.jwt_jwks_url and settings.jwt_issuer and settings.jwt_audience:
                jwt_verifier = JwtVerifier(
                    settings.jwt_jwks_url, issuer=settings.jwt_issuer, audience=settings.jwt_audience
                )
                self.jwt = True
            self.verifier = GatewayVerifier(StaticTokenVerifier(gateway_tokens(settings)), jwt_verifier)
        self.ledger = (
            SessionLedger(settings.max_sessions_per_credential, live_sessions)
            if live_sessions is not None and not settings.stateless
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/mcp") or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        outcome = await (self._gateway(headers) if self.gateway else self._passthrough(headers))
        if isinstance(outcome, _Refusal):
            peer = (scope.get("client") or ("unknown", 0))[0]
            logger.warning("refused %s %s from %s: %s", scope["method"], scope["path"], peer, outcome.log)
            await self._refuse(outcome, scope, receive, send)
            return
        scope.setdefault("state", {})[_KEY_STATE] = outcome.api_key
        scope["user"] = AuthenticatedUser(outcome.access)
        scope["auth"] = AuthCredentials(outcome.access.scopes)
        if self.ledger is None or not _opens_session(scope):
            await self.app(scope, receive, send)
            return
        await self._open_session(outcome, scope, receive, send)

    async def _passthrough(self, headers: Headers) -> _Caller | _Refusal:
        key = api_key_from_headers(headers)
        if key is None:
            if self.fallback:
                access = AccessToken(token="server-key", client_id="server-key", scopes=[])
                return _Caller("server-key", "the server's key", None, access)
            return _Refusal(401, "api_key_missing", _SEND_KEY, "no Console key (pass-through mode)")
        where = key.source
        short = fingerprint(key.value)
        verdict = await self.key_check.check(key.value)
        if verdict.outcome == "refused":
            return _Refusal(
                401,
                "api_key_invalid",
                f"The key in {where} (fingerprint {short}) was refused: {verdict.reason}. {_SEND_KEY}",
                f"Console key {short} in {where} refused: {verdict.reason}",
                invalid_token=True,
            )
        if verdict.outcome == "unavailable":
            return _Refusal(
                503,
                "key_check_unavailable",
                f"Could not check the key in {where} with the Console ({verdict.reason}); try again shortly.",
                f"Console key {short} in {where} not checked: {verdict.reason}",
            )
        identity = "key:" + _digest(key.value).hex()
        access = AccessToken(token=identity, client_id=identity, scopes=[])
        return _Caller(identity, f"key {short}", key, access)

    async def _gateway(self, headers: Headers) -> _Caller | _Refusal:
        assert self.verifier is not None
        if "x-bimpe-api-key" in headers:
            return _Refusal(
                400,
                "console_key_not_accepted",
                "This server calls the Console with its own key (gateway mode): do not send X-Bimpe-Api-Key. "
                + _SEND_TOKEN,
                "an X-Bimpe-Api-Key header in gateway mode",
            )
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _Refusal(401, "token_missing", _SEND_TOKEN, "no gateway credential")
        access = await self.verifier.verify_token(token)
        if access is None:  # the verifier checks expiry (a JWT's exp, with 30 s leeway for clock skew)
            return _Refusal(
                401,
                "token_invalid",
                f"The token in the Authorization header (fingerprint {fingerprint(token)}) was not accepted. "
                + _SEND_TOKEN,
                f"gateway credential {fingerprint(token)} not accepted",
                invalid_token=True,
            )
        issuer = (access.claims or {}).get("iss")
        identity = json.dumps([access.client_id, issuer, access.subject])
        label = f"token {fingerprint(token)}" if issuer is None else f"JWT {fingerprint(token)} of {access.subject}"
        return _Caller(identity, label, None, access)

    async def _open_session(self, caller: _Caller, scope: Scope, receive: Receive, send: Send) -> None:
        ledger = self.ledger
        assert ledger is not None
        if not ledger.admit(caller.identity):
            cap = ledger.cap
            logger.warning("refused a new session for %s: it holds %d open sessions, the cap", caller.label, cap)
            message = (
                f"This credential already holds {cap} open MCP sessions, the cap ({_CAP_SETTING}). Close one "
                f"(the SDK clients do on exit), or wait: idle sessions close after {_IDLE_SETTING} "
                f"({self.settings.session_idle_timeout:g} s)."
            )
            body = {"error": "too_many_sessions", "message": message, "setting": _CAP_SETTING}
            await JSONResponse(body, status_code=429)(scope, receive, send)
            return

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                for name, value in message.get("headers", []):
                    if name.lower() == _SESSION_HEADER:
                        ledger.opened(caller.identity, value.decode("latin-1"))
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            ledger.release(caller.identity)

    async def _refuse(self, refusal: _Refusal, scope: Scope, receive: Receive, send: Send) -> None:
        body = {"error": refusal.error, "message": refusal.message, "header": "Authorization"}
        headers = {}
        status = refusal.status
        if status == 401 and not self.jwt:
            # OAuth-capable clients start an OAuth flow on any 401, with or without resource_metadata: the
            # MCP Inspector's CLI does ("Interactive OAuth requires a TTY") and never shows the body. Only
            # gateway mode with a JWKS has an authorization server behind it; everywhere else no OAuth flow
            # can yield a Console key or a gateway token, so the refusal is 403 with no challenge, and clients
            # show the JSON body, which names the header to send (.ci/conformance checks it with the Inspector).
            status = 403
        if status == 401:
            # A 401 must name its scheme (RFC 9110 §11.6.1, RFC 6750 §3), and the MCP spec asks a server that
            # implements MCP authorization (OAuth) to point at its protected-resource metadata.
            challenge = f'Bearer realm="{REALM}"'
            if refusal.invalid_token:
                challenge += ', error="invalid_token"'
            challenge += f', resource_metadata="{_metadata_url(self.settings, scope)}"'
            headers["WWW-Authenticate"] = challenge
        await JSONResponse(body, status_code=status, headers=headers)(scope, receive, send)


def _opens_session(scope: Scope) -> bool:
    """Whether the SDK would open a session for this request: legacy era, no session id yet.

    2026-07-28 requests carry their protocol version in a header and never open one.
    """
    version = None
    for name, value in scope["headers"]:
        if name == _SESSION_HEADER:
            return False
        if name == _VERSION_HEADER:
            version = value.decode("latin-1")
    return version is None or version in HANDSHAKE_PROTOCOL_VERSIONS
