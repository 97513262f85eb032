"""Typed errors for the Console API.

    ConsoleError
    ├── ConsoleRequestError            refused before sending: nothing reached the Console
    │   ├── InvalidIdError             an id that cannot be one path segment
    │   └── InvalidApiKeyError         a key that cannot be sent (blank, whitespace or control characters)
    ├── ConsoleConnectionError         the request never got an answer (connect, read, dropped)
    │   └── ConsoleTimeoutError
    ├── ConsoleResponseError           an answer that is not the Console's envelope (HTML, truncated JSON)
    └── ConsoleAPIError                the Console answered with its error envelope
        ├── ValidationError            validation_error, bad_request
        ├── AuthenticationError        unauthorized, api_key_missing, api_key_invalid, api_key_expired
        ├── PermissionDeniedError      insufficient_scope, forbidden
        ├── NotFoundError              not_found
        ├── ConflictError              conflict, agent_limit_reached, integration_limit_reached
        ├── PreconditionError          workflow_required, channel_not_configured,
        │                              integration_connection_failed
        ├── RateLimitError             rate_limited, too_many_requests
        └── ServerError                internal_error, not_implemented, any other 5xx

`CODE_TABLE` is the one place that maps a Console error code to its HTTP status and its
class. The sandbox renders errors from the same table, so the two can never drift apart.
What to do about an error is the caller's business (the MCP tools say it in `tools/_contract.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bimpe_mcp.upstream import UpstreamError

__all__ = [
    "CODE_TABLE",
    "AuthenticationError",
    "CodeInfo",
    "ConflictError",
    "ConsoleAPIError",
    "ConsoleConnectionError",
    "ConsoleError",
    "ConsoleRequestError",
    "ConsoleResponseError",
    "ConsoleTimeoutError",
    "FieldError",
    "InvalidApiKeyError",
    "InvalidIdError",
    "NotFoundError",
    "PermissionDeniedError",
    "PreconditionError",
    "RateLimit",
    "RateLimitError",
    "ServerError",
    "ValidationError",
    "error_class_for",
]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The `X-RateLimit-*` headers of one response."""

    limit: int | None = None
    remaining: int | None = None
    reset: int | None = None


@dataclass(frozen=True, slots=True)
class FieldError:
    """One field that failed validation: `path` is dotted, e.g. `auth_config.token`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConsoleError(UpstreamError):
    """Base of every error the Console client raises (`may_have_been_applied`: see `UpstreamError`)."""


class ConsoleRequestError(ConsoleError):
    """The request was refused before sending, so nothing reached the Console; retrying it as is fails again."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidIdError(ConsoleRequestError):
    """An id that cannot be placed in a path as one segment."""


class InvalidApiKeyError(ConsoleRequestError):
    """An API key that cannot be sent: blank, or holding whitespace or control characters."""


class ConsoleConnectionError(ConsoleError):
    """No answer from the Console: connection refused or reset, DNS, TLS."""


class ConsoleTimeoutError(ConsoleConnectionError):
    """The Console did not answer within the timeout."""


class ConsoleResponseError(ConsoleError):
    """The Console (or a proxy in front of it) answered with something that is not its envelope."""

    def __init__(self, message: str, *, status: int, request_id: str | None = None) -> None:
        super().__init__(message, request_id=request_id)
        self.status = status


class ConsoleAPIError(ConsoleError):
    """The Console answered with its error envelope."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        request_id: str | None = None,
        field_errors: tuple[FieldError, ...] = (),
        retry_after: float | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.status = status
        self.code = code
        self.field_errors = field_errors
        self.retry_after = retry_after
        self.rate_limit = rate_limit or RateLimit()

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class ValidationError(ConsoleAPIError):
    """The request body or query failed validation."""


class AuthenticationError(ConsoleAPIError):
    """The API key is missing, unknown, revoked or expired."""


class PermissionDeniedError(ConsoleAPIError):
    """The key is valid but not allowed to do this."""

    @property
    def missing_scope(self) -> str | None:
        marker = "required scope:"
        if marker in self.message:
            return self.message.split(marker, 1)[1].strip().rstrip(".").strip() or None
        return None


class NotFoundError(ConsoleAPIError):
    """The resource does not exist (or belongs to another team)."""


class ConflictError(ConsoleAPIError):
    """The request conflicts with current state or a plan limit."""


class PreconditionError(ConsoleAPIError):
    """The target is not ready for this operation (no workflow, no phone number, bad connector keys)."""


class RateLimitError(ConsoleAPIError):
    """Too many requests: wait `retry_after` seconds."""


class ServerError(ConsoleAPIError):
    """The Console failed or does not implement the endpoint yet."""


@dataclass(frozen=True, slots=True)
class CodeInfo:
    status: int
    error: type[ConsoleAPIError]
    reason: str


CODE_TABLE: dict[str, CodeInfo] = {
    "validation_error": CodeInfo(400, ValidationError, "Bad Request"),
    "bad_request": CodeInfo(400, ValidationError, "Bad Request"),
    "unauthorized": CodeInfo(401, AuthenticationError, "Unauthorized"),
    "api_key_missing": CodeInfo(401, AuthenticationError, "Unauthorized"),
    "api_key_invalid": CodeInfo(401, AuthenticationError, "Unauthorized"),
    "api_key_expired": CodeInfo(401, AuthenticationError, "Unauthorized"),
    "insufficient_scope": CodeInfo(403, PermissionDeniedError, "Forbidden"),
    "forbidden": CodeInfo(403, PermissionDeniedError, "Forbidden"),
    "not_found": CodeInfo(404, NotFoundError, "Not Found"),
    "conflict": CodeInfo(409, ConflictError, "Conflict"),
    "agent_limit_reached": CodeInfo(409, ConflictError, "Conflict"),
    "integration_limit_reached": CodeInfo(409, ConflictError, "Conflict"),
    "workflow_required": CodeInfo(400, PreconditionError, "Bad Request"),
    "integration_connection_failed": CodeInfo(400, PreconditionError, "Bad Request"),
    "channel_not_configured": CodeInfo(400, PreconditionError, "Bad Request"),
    "rate_limited": CodeInfo(429, RateLimitError, "Too Many Requests"),
    "too_many_requests": CodeInfo(429, RateLimitError, "Too Many Requests"),
    "not_implemented": CodeInfo(501, ServerError, "Not Implemented"),
    "internal_error": CodeInfo(500, ServerError, "Internal Server Error"),
}

_STATUS_FALLBACK: dict[int, type[ConsoleAPIError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitError,
}


def error_class_for(status: int, code: str | None) -> type[ConsoleAPIError]:
    """The class for a code, falling back to the status when the code is unknown."""
    if code and code in CODE_TABLE:
        return CODE_TABLE[code].error
    if status >= 500:
        return ServerError
    return _STATUS_FALLBACK.get(status, ConsoleAPIError)


def parse_field_errors(message: Any, errors: Any) -> tuple[FieldError, ...]:
    """Field errors from a `message` list of "path: msg" strings or an `errors` list."""
    found: list[FieldError] = []
    if isinstance(message, list):
        for item in message:
            text = str(item)
            path, sep, rest = text.partition(": ")
            found.append(FieldError(path.strip(), rest.strip()) if sep else FieldError("", text))
    if isinstance(errors, list):
        for item in errors:
            if isinstance(item, dict):
                path = item.get("path") or item.get("field") or item.get("property") or ""
                if isinstance(path, list):
                    path = ".".join(str(p) for p in path)
                found.append(FieldError(str(path), str(item.get("message") or item.get("msg") or "")))
            else:
                found.append(FieldError("", str(item)))
    return tuple(found)
