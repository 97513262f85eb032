"""The Console's side of the HTTP seam: one connection pool per process, the key passed per call.

The retries, backoff, idempotency keys and "may have been applied" bookkeeping are the shared
`bimpe_mcp.upstream.RetryingTransport`'s; this module adds what is the Console's own: auth and
correlation headers, the `{message, data, meta}` envelope and the error envelope.
The typed endpoint methods in `_client.py` only describe requests.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from bimpe_mcp import DEFAULT_BASE_URL
from bimpe_mcp.console._errors import (
    ConsoleConnectionError,
    ConsoleOverloadedError,
    ConsoleRequestError,
    ConsoleResponseError,
    ConsoleTimeoutError,
    InvalidApiKeyError,
    RateLimit,
    error_class_for,
    parse_field_errors,
)
from bimpe_mcp.upstream import (
    ConnectionLimits,
    Replay,
    RequestSpec,
    RetryingTransport,
    RetryPolicy,
    UpstreamError,
)

__all__ = [
    "API_PREFIX",
    "DEFAULT_BASE_URL",
    "ConnectionLimits",
    "ConsoleTransport",
    "PageMeta",
    "Replay",
    "RequestSpec",
    "Result",
    "RetryPolicy",
]

API_PREFIX = "/api/v1/console"

logger = logging.getLogger("bimpe_mcp.console")

T = TypeVar("T")


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


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class ConsoleTransport(RetryingTransport[Result[Any]]):
    """The process-wide pool. Cheap to share; pass the API key with each request.

    `on_response` hears each answer's status (every attempt) and `on_retry` each retry's reason (a status or
    a connection error's name): the server counts them without this package knowing how.
    """

    service = "the Console"

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
        super().__init__(
            base_url=base_url,
            prefix=API_PREFIX,
            timeout=timeout,
            retry=retry,
            transport=transport,
            user_agent=user_agent,
            on_response=on_response,
            on_retry=on_retry,
            logger=logger,
            limits=limits,
        )
        self._streams: httpx.AsyncClient | None = None
        self.open_waits = 0
        """Message streams holding a wait slot now (`wait_slot`)."""
        self._waits_by_key: dict[bytes, int] = {}

    @property
    def streams(self) -> httpx.AsyncClient:
        """The message streams' own pool (they hold a connection while they wait), as large as the
        process's cap of open waits, so waits never starve ordinary requests."""
        if self._streams is None:
            self._streams = self._pool(self.limits.waits)
        return self._streams

    async def aclose(self) -> None:
        await super().aclose()
        if self._streams is not None:
            await self._streams.aclose()
            self._streams = None

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

    def overload_error(self, waited: float | None = None) -> UpstreamError:
        message = self.overload_message(waited)
        return ConsoleOverloadedError(message, limit="connections", cap=self.limits.connections)

    async def ping(self, timeout: float) -> int:
        """The status of an unauthenticated GET of the base URL: any answer, even 404, means the Console is up.

        Waiting `timeout` for a pooled connection that never came free is this process's overload
        (`ConsoleOverloadedError`), not a Console that did not answer."""
        try:
            response = await self._send(self._request("GET", self.base_url, timeout=timeout))
        except httpx.PoolTimeout:
            raise self.overload_error(timeout) from None
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

    def key_error(self, message: str) -> UpstreamError:
        return InvalidApiKeyError(message)

    def request_error(self, message: str) -> UpstreamError:
        return ConsoleRequestError(message)

    def connection_error(self, message: str, request_id: str) -> UpstreamError:
        return ConsoleConnectionError(message, request_id=request_id)

    def timeout_error(self, message: str, request_id: str) -> UpstreamError:
        return ConsoleTimeoutError(message, request_id=request_id)

    def garbled_error(self, message: str, status: int, request_id: str) -> UpstreamError:
        return ConsoleResponseError(message, status=status, request_id=request_id)

    def unwrap(self, spec: RequestSpec, response: httpx.Response, sent_request_id: str) -> Result[Any]:
        request_id = response.headers.get("x-request-id") or sent_request_id
        status = response.status_code
        rate_limit = _rate_limit(response.headers)
        body = self.json_or_none(response)
        if 200 <= status < 300:
            if not response.content and (status == 204 or spec.allow_empty):
                return Result(None, request_id, None, rate_limit, status)
            if not isinstance(body, dict) or not isinstance(body.get("message"), str):
                raise ConsoleResponseError(
                    f"The Console answered {status} with a body that is not its JSON envelope "
                    f"({self.describe(response)})",
                    status=status,
                    request_id=request_id,
                )
            return Result(body.get("data"), request_id, PageMeta.from_json(body.get("meta")), rate_limit, status)
        if not isinstance(body, dict) or not any(k in body for k in ("code", "statusCode", "errors")):
            raise ConsoleResponseError(
                f"The Console answered {status} with a body that is not its error envelope ({self.describe(response)})",
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
