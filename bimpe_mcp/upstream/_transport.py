"""The retrying HTTP seam both API clients stand on: one connection pool, the key passed per call.

Everything about trying again lives here: which failures are retried, the backoff, a 429's
`Retry-After`, the idempotency key reused across attempts, and whether a write that failed may
still have been applied. A subclass says how its API authenticates, what its answers look like
and which errors it raises (`headers`, `unwrap` and the `*_error` hooks).
"""

from __future__ import annotations

import http.cookiejar
import logging
import random
import re
import time
import urllib.parse
import urllib.request
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import anyio
import httpx

from bimpe_mcp.upstream._errors import UpstreamError

__all__ = [
    "HEADER_TOKEN",
    "ConnectionLimits",
    "Replay",
    "RequestSpec",
    "RetryPolicy",
    "RetryingTransport",
]

R = TypeVar("R")

_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
HEADER_TOKEN = re.compile(r"[\x21-\x7e]+")
"""Visible ASCII: what an API key or an idempotency key may hold and still be one header value."""
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try. `max_retries` counts retries, not attempts."""

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    retry_after_cap: float = 30.0


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What one process may hold of an API at once; past a limit a call gets the client's overload error."""

    connections: int = 100
    """Pooled connections for ordinary requests."""
    pool_timeout: float = 10.0
    """Seconds a request waits for a free pooled connection before it is refused as local overload."""
    waits: int = 200
    """Message streams open at once in the process, each on its own connection outside the request pool."""
    waits_per_key: int = 5
    """Message streams one API key may hold open, so one team cannot take every wait (the sandbox, like the
    Console, refuses a sixth stream per key with a 429)."""
    idle: int = 20
    """Idle connections kept open for the next request. httpcore's pool looks through every connection it
    holds on each request and each answer: after a burst had opened a hundred, every later call paid for
    scanning them all (it doubled a call's CPU with 150 waits open)."""


Replay = Literal["safe", "connect_only", "never"]
"""When a request may be sent again: `safe` (GETs, keyed writes), `connect_only` (only when it
provably never left: a real phone call, an email), `never` (a write without an idempotency key)."""


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One logical request, as a client's endpoint methods describe it."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    idempotency_key: str | None = None
    replay: Replay = "safe"
    allow_empty: bool = False
    changes_state: bool | None = None
    """Whether a successful request changed something; None: every method but GET does."""

    @property
    def is_write(self) -> bool:
        return self.method != "GET" if self.changes_state is None else self.changes_state


def _environment_proxy(url: str) -> str | None:
    """The proxy the environment names for `url`, as httpx reads it: `HTTPS_PROXY`/`HTTP_PROXY` by scheme,
    else `ALL_PROXY`, unless `NO_PROXY` exempts the host."""
    split = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(split.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(split.netloc.rpartition("@")[2]):
        return None
    return proxy


def _no_cookies() -> http.cookiejar.CookieJar:
    """A jar that refuses every cookie, so nothing carries over between API keys.

    A bare `CookieJar`, not `httpx.Cookies`: httpx copies a `Cookies` into a fresh default jar,
    which would drop the refusing policy.
    """
    policy = http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
    return http.cookiejar.CookieJar(policy=policy)


def _may_have_executed(status: int) -> bool:
    """Whether an answer with this status leaves a write possibly applied.

    A 4xx (429 included) is the API refusing before it acts; a 5xx, a 408 or a 2xx whose body
    is not what the API sends may come after the work was done.
    """
    return status >= 500 or status == 408 or 200 <= status < 300


class RetryingTransport(ABC, Generic[R]):
    """The process-wide pool of one API. Cheap to share; pass the API key with each request.

    `on_response` hears each answer's status (every attempt) and `on_retry` each retry's reason (a status or
    a connection error's name): the server counts them without this package knowing how.
    """

    service = "the API"
    """How messages name the other side, e.g. "the Console"."""

    def __init__(
        self,
        *,
        base_url: str,
        prefix: str,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "bimpe-mcp",
        on_response: Callable[[int], None] | None = None,
        on_retry: Callable[[str], None] | None = None,
        logger: logging.Logger | None = None,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.prefix = prefix
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.on_response = on_response
        self.on_retry = on_retry
        self.logger = logger or logging.getLogger("bimpe_mcp.upstream")
        self.limits = limits or ConnectionLimits()
        self._transport = transport
        self._sent_headers = {
            "User-Agent": user_agent,
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
        }
        self._wire: httpx.AsyncBaseTransport | None = None
        self._extensions = {"timeout": httpx.Timeout(timeout, pool=self.limits.pool_timeout).as_dict()}
        self._random = random.Random()

    def _pool(self, size: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url + self.prefix,
            timeout=httpx.Timeout(self.timeout, pool=self.limits.pool_timeout),
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=min(size, self.limits.idle)),
            transport=self._transport,
            cookies=_no_cookies(),
            headers=self._sent_headers,
            follow_redirects=False,
        )

    @property
    def wire(self) -> httpx.AsyncBaseTransport:
        """The request pool, created on first use: loading TLS roots would otherwise slow every start-up.

        Requests go to it directly, not through an `httpx.AsyncClient`: the client's URL merging, cookie
        jar, auth and redirect steps were a third of a call's cost here, and none of them applies (one base
        URL, bearer headers, no redirects followed, no cookies kept between keys). A proxy set in the
        environment (`HTTPS_PROXY`, `NO_PROXY`, ...) is honoured as httpx would.
        """
        if self._wire is None:
            self._wire = self._transport or httpx.AsyncHTTPTransport(
                limits=httpx.Limits(
                    max_connections=self.limits.connections,
                    max_keepalive_connections=min(self.limits.connections, self.limits.idle),
                ),
                proxy=_environment_proxy(self.base_url),
            )
        return self._wire

    async def aclose(self) -> None:
        if self._wire is not None:
            await self._wire.aclose()
            self._wire = None

    def _request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        params: Any = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> httpx.Request:
        extensions = self._extensions if timeout is None else {"timeout": httpx.Timeout(timeout).as_dict()}
        sent = self._sent_headers | (headers or {})
        return httpx.Request(method, httpx.URL(url, params=params), headers=sent, json=json, extensions=extensions)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """`request`'s answer, read whole."""
        response = await self.wire.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    # ---- what a subclass says about its API -----------------------------------------------------------

    def headers(self, api_key: str, request_id: str | None) -> dict[str, str]:
        """Bearer auth and correlation headers. A key that cannot be sent is refused here, never retried."""
        key = api_key.strip()
        if not key:
            raise self.key_error("the API key is empty")
        if not HEADER_TOKEN.fullmatch(key):
            raise self.key_error("the API key holds whitespace, control or non-ASCII characters")
        return {"X-Request-Id": request_id or str(uuid.uuid4()), "Authorization": f"Bearer {key}"}

    @abstractmethod
    def key_error(self, message: str) -> UpstreamError:
        """The error for an API key that cannot be sent."""

    @abstractmethod
    def unwrap(self, spec: RequestSpec, response: httpx.Response, sent_request_id: str) -> R:
        """The answer as the client's result, or the client's error for an error answer or a garbled one."""

    @abstractmethod
    def request_error(self, message: str) -> UpstreamError:
        """The error for a request refused before sending."""

    @abstractmethod
    def connection_error(self, message: str, request_id: str) -> UpstreamError:
        """The error for a request that got no answer."""

    @abstractmethod
    def timeout_error(self, message: str, request_id: str) -> UpstreamError:
        """The error for a request that got no answer in time."""

    @abstractmethod
    def garbled_error(self, message: str, status: int, request_id: str) -> UpstreamError:
        """The error for an answer that is not what the API sends."""

    def overload_error(self, waited: float | None = None) -> UpstreamError:
        """The error for a request that found no free pooled connection in `waited` seconds (the pool
        timeout unless said): local overload, the API not at fault. A subclass with its own overload error
        type overrides this."""
        return self.request_error(self.overload_message(waited))

    def overload_message(self, waited: float | None = None) -> str:
        waited = self.limits.pool_timeout if waited is None else waited
        return (
            f"all {self.limits.connections} connections to {self.service} are busy with other calls, "
            f"and none came free within {waited:g}s"
        )

    # ---- the shared machinery -------------------------------------------------------------------------

    def _build(self, spec: RequestSpec, headers: dict[str, str]) -> httpx.Request:
        """The request as httpx will send it; a value that cannot go on the wire is refused, not retried."""
        if spec.idempotency_key is not None:
            if not HEADER_TOKEN.fullmatch(spec.idempotency_key) or len(spec.idempotency_key) > 255:
                raise self.request_error("the idempotency key must be 1-255 visible ASCII characters")
            headers["Idempotency-Key"] = spec.idempotency_key
        params = {k: v for k, v in (spec.params or {}).items() if v is not None}
        params = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items()}
        url = f"{self.base_url}{self.prefix}/{spec.path.lstrip('/')}"
        try:
            return self._request(spec.method, url, headers=headers, params=params or None, json=spec.json)
        except (httpx.InvalidURL, UnicodeError, ValueError, TypeError) as exc:
            raise self.request_error(f"{spec.method} {spec.path}: the request cannot be sent ({exc})") from None

    async def request(self, spec: RequestSpec, *, api_key: str, request_id: str | None = None) -> R:
        """Send `spec`, retrying what is safe to retry, and unwrap the answer.

        For a write, every error says whether any attempt may have been applied (`may_have_been_applied`).
        """
        headers = self.headers(api_key, request_id)
        request = self._build(spec, headers)
        attempt = 0
        maybe_applied = False
        while True:
            started = time.monotonic()
            try:
                response = await self._send(request)
            except httpx.LocalProtocolError as exc:
                raise self.request_error(f"{spec.method} {spec.path}: the request cannot be sent ({exc})") from None
            except httpx.PoolTimeout:
                # Local overload, not an outage: the request never left, and retrying would queue again.
                overloaded = self.overload_error()
                overloaded.may_have_been_applied = maybe_applied
                raise overloaded from None
            except httpx.HTTPError as exc:
                error = self._transport_error(exc, headers["X-Request-Id"])
                maybe_applied |= spec.is_write and not isinstance(exc, _NEVER_SENT)
                if self._may_retry_exception(spec, exc, attempt):
                    attempt += 1
                    await self._sleep_backoff(attempt, spec, reason=type(exc).__name__)
                    continue
                error.may_have_been_applied = maybe_applied
                raise error from exc
            self._log(spec, response, attempt, time.monotonic() - started)
            if self.on_response is not None:
                self.on_response(response.status_code)
            try:
                return self.unwrap(spec, response, headers["X-Request-Id"])
            except UpstreamError as error:
                maybe_applied |= spec.is_write and _may_have_executed(response.status_code)
                error.may_have_been_applied = maybe_applied
                delay = self._retry_delay(spec, response, error, attempt)
                if delay is None:
                    raise
                attempt += 1
                if self.on_retry is not None:
                    self.on_retry(str(response.status_code))
                self.logger.info(
                    "retrying %s %s after %s (attempt %d, %.2fs)",
                    spec.method,
                    spec.path,
                    response.status_code,
                    attempt,
                    delay,
                )
                await anyio.sleep(delay)

    def _transport_error(self, exc: httpx.HTTPError, request_id: str) -> UpstreamError:
        service = self.service[:1].upper() + self.service[1:]
        if isinstance(exc, httpx.DecodingError):
            return self.garbled_error(
                f"{service}'s answer could not be decoded (a broken Content-Encoding)", 0, request_id
            )
        if isinstance(exc, httpx.TimeoutException):
            return self.timeout_error(f"{service} did not answer within {self.timeout:g}s", request_id)
        return self.connection_error(
            f"Could not reach {self.service} at {self.base_url} ({type(exc).__name__})", request_id
        )

    def _may_retry_exception(self, spec: RequestSpec, exc: httpx.HTTPError, attempt: int) -> bool:
        if attempt >= self.retry.max_retries or not isinstance(exc, httpx.TransportError | httpx.DecodingError):
            return False
        if spec.replay == "safe":
            return True
        return spec.replay == "connect_only" and isinstance(exc, _NEVER_SENT)

    def _retry_delay(
        self, spec: RequestSpec, response: httpx.Response, error: UpstreamError, attempt: int
    ) -> float | None:
        """Seconds to wait before retrying this answer, or None to give up."""
        if attempt >= self.retry.max_retries:
            return None
        status = response.status_code
        if status == 429 and spec.replay != "never":
            retry_after = getattr(error, "retry_after", None)
            if retry_after is None:
                return self._backoff(attempt + 1)
            return float(retry_after) if retry_after <= self.retry.retry_after_cap else None
        if spec.replay != "safe":
            return None
        if status in _RETRY_STATUSES or (status >= 500 and status != 501):
            return self._backoff(attempt + 1)
        if 200 <= status < 300:  # a success status whose body `unwrap` refused: garbled on the way
            return self._backoff(attempt + 1)
        return None

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.retry.backoff_max, self.retry.backoff_base * (2 ** (attempt - 1)))
        return self._random.uniform(ceiling / 2, ceiling)

    async def _sleep_backoff(self, attempt: int, spec: RequestSpec, *, reason: str) -> None:
        if self.on_retry is not None:
            self.on_retry(reason)
        delay = self._backoff(attempt)
        self.logger.info("retrying %s %s after %s (attempt %d, %.2fs)", spec.method, spec.path, reason, attempt, delay)
        await anyio.sleep(delay)

    def _log(self, spec: RequestSpec, response: httpx.Response, attempt: int, elapsed: float) -> None:
        self.logger.debug(
            "%s %s -> %s in %.0fms (attempt %d, request %s)",
            spec.method,
            spec.path,
            response.status_code,
            elapsed * 1000,
            attempt + 1,
            response.headers.get("x-request-id"),
        )

    @staticmethod
    def json_or_none(response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    @staticmethod
    def describe(response: httpx.Response) -> str:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        return f"{kind}, {len(response.content)} bytes"
