"""Typed errors for the Butterbase Integrations API.

    ButterbaseError
    ├── ButterbaseRequestError             refused before sending: nothing reached Butterbase
    │   ├── ButterbaseIdError              a toolkit slug or connection id that cannot be one path segment
    │   └── ButterbaseKeyError             a key that cannot be sent (blank, whitespace or control characters)
    ├── ButterbaseConnectionError          the request never got an answer (connect, read, dropped)
    │   └── ButterbaseTimeoutError
    ├── ButterbaseResponseError            an answer that is not Butterbase's JSON (HTML, truncated)
    └── ButterbaseAPIError                 Butterbase answered `{error: {code, message, remediation}}`
        ├── IntegrationsNotConfiguredError INTEGRATIONS_NOT_CONFIGURED (400)
        ├── ToolkitNotEnabledError         INTEGRATIONS_TOOLKIT_NOT_ENABLED (400)
        ├── ExecutionFailedError           INTEGRATIONS_EXECUTION_FAILED (422 soft failure, 502 network error)
        ├── ButterbaseAuthError            any 401 or 403
        ├── ButterbaseNotFoundError        any 404
        ├── ButterbaseRateLimitError       any 429
        └── ButterbaseServerError          any other 5xx

The first three codes are the document's; `CODE_TABLE` maps them, and the status decides the rest.
The sandbox renders its errors from the same table. `remediation` is Butterbase's own fix.
"""

from __future__ import annotations

from dataclasses import dataclass

from bimpe_mcp.upstream import UpstreamError

__all__ = [
    "CODE_TABLE",
    "ButterbaseAPIError",
    "ButterbaseAuthError",
    "ButterbaseCode",
    "ButterbaseConnectionError",
    "ButterbaseError",
    "ButterbaseIdError",
    "ButterbaseKeyError",
    "ButterbaseNotFoundError",
    "ButterbaseRateLimitError",
    "ButterbaseRequestError",
    "ButterbaseResponseError",
    "ButterbaseServerError",
    "ButterbaseTimeoutError",
    "ButterbaseValidationError",
    "ExecutionFailedError",
    "IntegrationsNotConfiguredError",
    "ToolkitNotEnabledError",
    "butterbase_error_class",
]


class ButterbaseError(UpstreamError):
    """Base of every error the Butterbase client raises (`may_have_been_applied`: see `UpstreamError`)."""


class ButterbaseRequestError(ButterbaseError):
    """Refused before sending, so nothing reached Butterbase; retrying it as is fails again."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ButterbaseIdError(ButterbaseRequestError):
    """A toolkit slug, app id or connection id that cannot be placed in a path as one segment."""


class ButterbaseKeyError(ButterbaseRequestError):
    """An API key that cannot be sent: blank, or holding whitespace or control characters."""


class ButterbaseConnectionError(ButterbaseError):
    """No answer from Butterbase: connection refused or reset, DNS, TLS."""


class ButterbaseTimeoutError(ButterbaseConnectionError):
    """Butterbase did not answer within the timeout."""


class ButterbaseResponseError(ButterbaseError):
    """Butterbase (or a proxy in front of it) answered with something that is not its JSON."""

    def __init__(self, message: str, *, status: int, request_id: str | None = None) -> None:
        super().__init__(message, request_id=request_id)
        self.status = status


class ButterbaseAPIError(ButterbaseError):
    """Butterbase answered with its error shape; `remediation` is its own advice, possibly empty."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        remediation: str = "",
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.status = status
        self.code = code
        self.remediation = remediation
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class ButterbaseValidationError(ButterbaseAPIError):
    """The request was refused as malformed (400/422 without a documented code)."""


class IntegrationsNotConfiguredError(ButterbaseAPIError):
    """The platform has no integration service configured: nothing the caller can fix."""


class ToolkitNotEnabledError(ButterbaseAPIError):
    """The toolkit is not enabled for this app: enable it (`POST configure`) first."""


class ExecutionFailedError(ButterbaseAPIError):
    """A tool ran and failed: 422 the toolkit refused (soft), 502 the network to it failed."""

    @property
    def soft(self) -> bool:
        return self.status == 422


class ButterbaseAuthError(ButterbaseAPIError):
    """The key is missing, unknown, or not allowed for this app."""


class ButterbaseNotFoundError(ButterbaseAPIError):
    """The app, toolkit or connection does not exist."""


class ButterbaseRateLimitError(ButterbaseAPIError):
    """Too many requests: wait `retry_after` seconds."""


class ButterbaseServerError(ButterbaseAPIError):
    """Butterbase failed."""


@dataclass(frozen=True, slots=True)
class ButterbaseCode:
    status: int
    error: type[ButterbaseAPIError]
    remediation: str
    """What the document (or, for the sandbox's own codes, the sandbox) advises."""


CODE_TABLE: dict[str, ButterbaseCode] = {
    "INTEGRATIONS_NOT_CONFIGURED": ButterbaseCode(
        400, IntegrationsNotConfiguredError, "Integration service not configured on the platform."
    ),
    "INTEGRATIONS_TOOLKIT_NOT_ENABLED": ButterbaseCode(
        400, ToolkitNotEnabledError, "Toolkit not enabled for this app — call /configure first."
    ),
    "INTEGRATIONS_EXECUTION_FAILED": ButterbaseCode(
        422,
        ExecutionFailedError,
        "Check the tool name and parameters. Ensure the user has a connected account.",
    ),
    "VALIDATION_ERROR": ButterbaseCode(400, ButterbaseValidationError, "Fix the named field and try again."),
    "UNAUTHORIZED": ButterbaseCode(401, ButterbaseAuthError, "Send a valid API key (bb_sk_…) for this app."),
    "NOT_FOUND": ButterbaseCode(404, ButterbaseNotFoundError, "Check the id; list the collection to find it."),
    "RATE_LIMITED": ButterbaseCode(429, ButterbaseRateLimitError, "Wait, then retry."),
    "INTERNAL_ERROR": ButterbaseCode(500, ButterbaseServerError, "Retry later."),
}

_BY_STATUS: dict[int, type[ButterbaseAPIError]] = {
    400: ButterbaseValidationError,
    401: ButterbaseAuthError,
    403: ButterbaseAuthError,
    404: ButterbaseNotFoundError,
    422: ButterbaseValidationError,
    429: ButterbaseRateLimitError,
}


def butterbase_error_class(status: int, code: str | None) -> type[ButterbaseAPIError]:
    """The class for a code, falling back to the status when the code is unknown."""
    if code and code in CODE_TABLE:
        return CODE_TABLE[code].error
    if status >= 500:
        return ButterbaseServerError
    return _BY_STATUS.get(status, ButterbaseAPIError)
