"""The one thing every client error shares: whether a write may have been applied."""

from __future__ import annotations

__all__ = ["UpstreamError"]


class UpstreamError(Exception):
    """Base of every error an API client raises; each client's own tree derives from it."""

    may_have_been_applied: bool = False
    """For a write: whether any attempt may have reached the API and been applied."""

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id
