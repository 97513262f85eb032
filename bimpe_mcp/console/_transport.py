"""The HTTP seam: one connection pool per process, the key passed per call.

Everything about the wire lives here: auth and correlation headers, idempotency keys,
retries with backoff, the `{message, data, meta}` envelope and the error envelope.
The typed endpoint methods in `_client.py` only describe requests.

Message streams (the waits) hold their connection for as long as they wait, so they get a pool
of their own, capped per process and per key (`ConnectionLimits`): many open waits can never
take the connections every other call needs.
"""

from __future__ import annotations

import hashlib
import http.cookiejar
import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import anyio
import httpx

from bimpe_mcp import DEFAULT_BASE_URL
from bimpe_mcp.console._errors import (
    ConsoleAPIError,
    ConsoleConnectionError,
    ConsoleError,
    ConsoleOverloadedError,
    ConsoleRequestError,
    ConsoleResponseError,
    ConsoleTimeoutError,
    InvalidApiKeyError,
    RateLimit,
    error_class_for,
    parse_field_errors,
)

__all__ = [
    "API_PREFIX",
    "DEFAULT_BASE_URL",
    "ConnectionLimits",
    "ConsoleTransport",
    "PageMeta",
    "RequestSpec",
    "Result",
    "RetryPolicy",
]

API_PREFIX = "/api/v1/console"

logger = logging.getLogger("bimpe_mcp.console")

T = TypeVar("T")

_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_HEADER_TOKEN = re.compile(r"[\x21-\x7e]+")
"""Visible ASCII: what an API key or an idempotency key may hold and still be one header value."""
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout)


@dataclass(frozen=True, slots=True)
class PageMeta:
    total_count: int
    page_count: int
    current_page: int
    limit: int
    has_next_page: bool
    has_previous_page: bool

    @classmethod
    def from_json(cls, raw: Any) -> PageMeta | None:
        if not isinstance(raw, dict):
            return None
        try:
            return cls(
                total_count=int(raw["total_count"]),
                page_count=int(raw["page_count"]),
                current_page=int(raw["current_page"]),
                limit=int(raw["limit"]),
                has_next_page=bool(raw["has_next_page"]),
                has_previous_page=bool(raw["has_previous_page"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class Result(Generic[T]):
    """One Console answer: the unwrapped `data`, plus what a caller needs to correlate it."""

    data: T
    request_id: str | None
    meta: PageMeta | None = None
    rate_limit: RateLimit = field(default_factory=RateLimit)
    status: int = 200


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try. `max_retries` counts retries, not attempts."""

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    retry_after_cap: float = 30.0


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What one process may hold of the Console at once; past a limit a call gets `ConsoleOverloadedError`."""

    connections: int = 100
    """Pooled connections for ordinary requests."""
    pool_timeout: float = 10.0
    """Seconds a request waits for a free pooled connection before it is refused as local overload."""
    waits: int = 200
    """Message streams open at once in the process, each on its own connection outside the request pool."""
    waits_per_key: int = 5
    """Message streams one API key may hold open, so one team cannot take every wait (the sandbox, like the
    Console, refuses a sixth stream per key with a 429)."""


Replay = Literal["safe", "connect_only", "never"]
"""When a request may be sent again: `safe` (GETs, keyed writes), `connect_only` (only when it
provably never left: a real phone call), `never` (a write without an idempotency key)."""


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One logical Console request, as the endpoint methods describe it."""

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


def _no_cookies() -> http.cookiejar.CookieJar:
    """A jar that refuses every cookie, so nothing carries over between API keys.

    A bare `CookieJar`, not `httpx.Cookies`: httpx copies a `Cookies` into a fresh default jar,
    which would drop the refusing policy.
    """
    policy = http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
    return http.cookiejar.CookieJar(policy=policy)


def _rate_limit(headers: httpx.Headers) -> RateLimit:
    def number(name: str) -> int | None:
        value = headers.get(name)
        try:
            return int(float(value)) if value is not None else None
        except ValueError:
            return None

    return RateLimit(
        limit=number("x-ratelimit-limit"),
        remaining=number("x-ratelimit-remaining"),
        reset=number("x-ratelimit-reset"),
    )


def _may_have_executed(status: int) -> bool:
    """Whether an answer with this status leaves a write possibly applied.

    A 4xx (429 included) is the Console refusing before it acts; a 5xx, a 408 or a 2xx whose body
    is not the envelope may come after the work was done.
    """
    return status >= 500 or status == 408 or 200 <= status < 300


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class ConsoleTransport:
    """The process-wide pool. Cheap to share; pass the API key with each request.

    `on_response` hears each answer's status (every attempt) and `on_retry` each retry's reason (a status or
    a connection error's name): the server counts them without this package knowing how.
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "bimpe-mcp",
        on_response: Callable[[int], None] | None = None,
        on_retry: Callable[[str], None] | None = None,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.on_response = on_response
        self.on_retry = on_retry
        self.limits = limits or ConnectionLimits()
        self._transport = transport
        self._user_agent = user_agent
        self._http: httpx.AsyncClient | None = None
        self._streams: httpx.AsyncClient | None = None
        self._random = random.Random()
        self.open_waits = 0
        """Message streams holding a wait slot now (`wait_slot`)."""
        self._waits_by_key: dict[bytes, int] = {}

    def _pool(self, size: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url + API_PREFIX,
            timeout=httpx.Timeout(self.timeout, pool=self.limits.pool_timeout),
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            transport=self._transport,
            cookies=_no_cookies(),
            headers={"User-Agent": self._user_agent, "Accept": "application/json"},
            follow_redirects=False,
        )

    @property
    def http(self) -> httpx.AsyncClient:
        """The request pool, created on first use: loading TLS roots would otherwise slow every start-up."""
        if self._http is None:
            self._http = self._pool(self.limits.connections)
        return self._http

    @property
    def streams(self) -> httpx.AsyncClient:
        """The message streams' own pool, as large as the process's cap of open waits."""
        if self._streams is None:
            self._streams = self._pool(self.limits.waits)
        return self._streams

    async def aclose(self) -> None:
        for pool in (self._http, self._streams):
            if pool is not None:
                await pool.aclose()
        self._http = self._streams = None

    @contextmanager
    def wait_slot(self, api_key: str) -> Iterator[None]:
        """Hold one open wait for `api_key`, or refuse it at once when the process or the key is at its cap.

        A refusal is immediate, not queued: a wait queued behind others could outlast its own timeout.
        """
        key = hashlib.sha256(api_key.encode()).digest()
        held = self._waits_by_key.get(key, 0)
        if self.open_waits >= self.limits.waits:
            raise ConsoleOverloadedError(
                f"{self.open_waits} message waits are open in this server, its cap",
                limit="waits",
                cap=self.limits.waits,
            )
        if held >= self.limits.waits_per_key:
            raise ConsoleOverloadedError(
                f"this API key already holds {held} open message waits, its cap",
                limit="waits_per_key",
                cap=self.limits.waits_per_key,
            )
        self.open_waits += 1
        self._waits_by_key[key] = held + 1
        try:
            yield
        finally:
            self.open_waits -= 1
            if (left := self._waits_by_key[key] - 1) > 0:
                self._waits_by_key[key] = left
            else:
                del self._waits_by_key[key]

    def _overloaded(self) -> ConsoleOverloadedError:
        return ConsoleOverloadedError(
            f"all {self.limits.connections} connections to the Console are busy with other calls, "
            f"and none came free within {self.limits.pool_timeout:g}s",
            limit="connections",
            cap=self.limits.connections,
        )

    async def ping(self, timeout: float) -> int:
        """The status of an unauthenticated GET of the base URL: any answer, even 404, means the Console is up."""
        try:
            response = await self.http.get(self.base_url, timeout=timeout)
        except httpx.PoolTimeout:
            raise self._overloaded() from None
        except httpx.TimeoutException:
            raise ConsoleTimeoutError(f"The Console did not answer within {timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise ConsoleConnectionError(
                f"Could not reach the Console at {self.base_url} ({type(exc).__name__})"
            ) from None
        return response.status_code

    async def __aenter__(self) -> ConsoleTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def headers(self, api_key: str, request_id: str | None) -> dict[str, str]:
        """Auth and correlation headers. A key that cannot be sent is refused here, never retried."""
        key = api_key.strip()
        if not key:
            raise InvalidApiKeyError("the API key is empty")
        if not _HEADER_TOKEN.fullmatch(key):
            raise InvalidApiKeyError("the API key holds whitespace, control or non-ASCII characters")
        return {"X-Request-Id": request_id or str(uuid.uuid4()), "Authorization": f"Bearer {key}"}

    def _build(self, spec: RequestSpec, headers: dict[str, str]) -> httpx.Request:
        """The request as httpx will send it; a value that cannot go on the wire is refused, not retried."""
        if spec.idempotency_key is not None:
            if not _HEADER_TOKEN.fullmatch(spec.idempotency_key) or len(spec.idempotency_key) > 255:
                raise ConsoleRequestError("the idempotency key must be 1-255 visible ASCII characters")
            headers["Idempotency-Key"] = spec.idempotency_key
        params = {k: v for k, v in (spec.params or {}).items() if v is not None}
        params = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items()}
        try:
            return self.http.build_request(
                spec.method, spec.path, params=params or None, json=spec.json, headers=headers
            )
        except (httpx.InvalidURL, UnicodeError, ValueError, TypeError) as exc:
            raise ConsoleRequestError(f"{spec.method} {spec.path}: the request cannot be sent ({exc})") from None

    async def request(self, spec: RequestSpec, *, api_key: str, request_id: str | None = None) -> Result[Any]:
        """Send `spec`, retrying what is safe to retry, and unwrap the envelope.

        For a write, every error says whether any attempt may have been applied (see `ConsoleError`).
        """
        headers = self.headers(api_key, request_id)
        request = self._build(spec, headers)
        attempt = 0
        maybe_applied = False
        while True:
            started = time.monotonic()
            try:
                response = await self.http.send(request)
                await response.aread()
            except httpx.LocalProtocolError as exc:
                raise ConsoleRequestError(f"{spec.method} {spec.path}: the request cannot be sent ({exc})") from None
            except httpx.PoolTimeout:
                # Local overload, not an outage: the request never left, and retrying would queue again.
                overloaded = self._overloaded()
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
            except (ConsoleAPIError, ConsoleResponseError) as error:
                maybe_applied |= spec.is_write and _may_have_executed(response.status_code)
                error.may_have_been_applied = maybe_applied
                delay = self._retry_delay(spec, response, error, attempt)
                if delay is None:
                    raise
                attempt += 1
                if self.on_retry is not None:
                    self.on_retry(str(response.status_code))
                logger.info(
                    "retrying %s %s after %s (attempt %d, %.2fs)",
                    spec.method,
                    spec.path,
                    response.status_code,
                    attempt,
                    delay,
                )
                await anyio.sleep(delay)

    def _transport_error(self, exc: httpx.HTTPError, request_id: str) -> ConsoleError:
        if isinstance(exc, httpx.DecodingError):
            return ConsoleResponseError(
                "The Console's answer could not be decoded (a broken Content-Encoding)", status=0, request_id=request_id
            )
        if isinstance(exc, httpx.TimeoutException):
            return ConsoleTimeoutError(f"The Console did not answer within {self.timeout:g}s", request_id=request_id)
        return ConsoleConnectionError(
            f"Could not reach the Console at {self.base_url} ({type(exc).__name__})", request_id=request_id
        )

    def _may_retry_exception(self, spec: RequestSpec, exc: httpx.HTTPError, attempt: int) -> bool:
        if attempt >= self.retry.max_retries or not isinstance(exc, httpx.TransportError | httpx.DecodingError):
            return False
        if spec.replay == "safe":
            return True
        return spec.replay == "connect_only" and isinstance(exc, _NEVER_SENT)

    def _retry_delay(
        self, spec: RequestSpec, response: httpx.Response, error: ConsoleError, attempt: int
    ) -> float | None:
        """Seconds to wait before retrying this answer, or None to give up."""
        if attempt >= self.retry.max_retries:
            return None
        status = response.status_code
        if status == 429 and spec.replay != "never":
            retry_after = getattr(error, "retry_after", None)
            if retry_after is None:
                return self._backoff(attempt + 1)
            return retry_after if retry_after <= self.retry.retry_after_cap else None
        if spec.replay != "safe":
            return None
        if status in _RETRY_STATUSES or (status >= 500 and status != 501):
            return self._backoff(attempt + 1)
        if isinstance(error, ConsoleResponseError) and 200 <= status < 300:
            return self._backoff(attempt + 1)
        return None

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.retry.backoff_max, self.retry.backoff_base * (2 ** (attempt - 1)))
        return self._random.uniform(ceiling / 2, ceiling)

    async def _sleep_backoff(self, attempt: int, spec: RequestSpec, *, reason: str) -> None:
        if self.on_retry is not None:
            self.on_retry(reason)
        delay = self._backoff(attempt)
        logger.info("retrying %s %s after %s (attempt %d, %.2fs)", spec.method, spec.path, reason, attempt, delay)
        await anyio.sleep(delay)

    def _log(self, spec: RequestSpec, response: httpx.Response, attempt: int, elapsed: float) -> None:
        logger.debug(
            "%s %s -> %s in %.0fms (attempt %d, request %s)",
            spec.method,
            spec.path,
            response.status_code,
            elapsed * 1000,
            attempt + 1,
            response.headers.get("x-request-id"),
        )

    def unwrap(self, spec: RequestSpec, response: httpx.Response, sent_request_id: str) -> Result[Any]:
        request_id = response.headers.get("x-request-id") or sent_request_id
        status = response.status_code
        rate_limit = _rate_limit(response.headers)
        body = self._json_or_none(response)
        if 200 <= status < 300:
            if not response.content and (status == 204 or spec.allow_empty):
                return Result(None, request_id, None, rate_limit, status)
            if not isinstance(body, dict) or not isinstance(body.get("message"), str):
                raise ConsoleResponseError(
                    f"The Console answered {status} with a body that is not its JSON envelope "
                    f"({self._describe(response)})",
                    status=status,
                    request_id=request_id,
                )
            return Result(body.get("data"), request_id, PageMeta.from_json(body.get("meta")), rate_limit, status)
        if not isinstance(body, dict) or not any(k in body for k in ("code", "statusCode", "errors")):
            raise ConsoleResponseError(
                f"The Console answered {status} with a body that is not its error envelope "
                f"({self._describe(response)})",
                status=status,
                request_id=request_id,
            )
        code = str(body.get("code") or "")
        raw_message = body.get("message")
        field_errors = parse_field_errors(raw_message, body.get("errors"))
        if isinstance(raw_message, list):
            message = "; ".join(str(item) for item in raw_message) or "Validation failed"
        else:
            message = str(raw_message or body.get("error") or f"HTTP {status}")
        error_class = error_class_for(status, code)
        raise error_class(
            message,
            status=status,
            code=code or f"http_{status}",
            request_id=str(body.get("request_id") or request_id),
            field_errors=field_errors,
            retry_after=_retry_after(response.headers),
            rate_limit=rate_limit,
        )

    @staticmethod
    def _json_or_none(response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    @staticmethod
    def _describe(response: httpx.Response) -> str:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        return f"{kind}, {len(response.content)} bytes"
