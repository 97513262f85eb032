"""The sandbox's one error type and its wire envelope, rendered from the Console's own code table."""

from __future__ import annotations

from typing import Any

from bimpe_mcp.console._errors import CODE_TABLE


class SandboxError(Exception):
    """A Console rule violation: `code` picks the HTTP status and reason from `CODE_TABLE`.

    `field_errors` (path, message) pairs turn `message` into the Console's list of "path: msg" strings.
    """

    def __init__(
        self,
        code: str,
        message: str,
        field_errors: list[tuple[str, str]] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        if code not in CODE_TABLE:
            raise ValueError(f"unknown Console error code {code!r}")
        self.code = code
        self.message = message
        self.field_errors = list(field_errors or [])
        self.headers = dict(headers or {})

    @property
    def status(self) -> int:
        return CODE_TABLE[self.code].status

    def envelope(self, request_id: str) -> dict[str, Any]:
        return error_envelope(self.code, self.wire_message, request_id)

    @property
    def wire_message(self) -> str | list[str]:
        if self.field_errors:
            return [f"{path}: {msg}" for path, msg in self.field_errors]
        return self.message


def error_envelope(code: str, message: str | list[str], request_id: str) -> dict[str, Any]:
    info = CODE_TABLE[code]
    return {
        "message": message,
        "error": info.reason,
        "code": code,
        "statusCode": info.status,
        "request_id": request_id,
    }


def not_found(what: str) -> SandboxError:
    return SandboxError("not_found", f"{what} not found")
