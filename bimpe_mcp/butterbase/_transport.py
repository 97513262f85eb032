"""Butterbase's side of the HTTP seam, on the shared `RetryingTransport`: the bearer key, plain JSON
answers and the `{error: {code, message, remediation}}` error shape."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bimpe_mcp import DEFAULT_BUTTERBASE_URL
from bimpe_mcp.butterbase._errors import (
    ButterbaseConnectionError,
    ButterbaseKeyError,
    ButterbaseRequestError,
    ButterbaseResponseError,
    ButterbaseTimeoutError,
    butterbase_error_class,
)
from bimpe_mcp.upstream import RequestSpec, RetryingTransport, RetryPolicy, UpstreamError

__all__ = ["BUTTERBASE_PREFIX", "DEFAULT_BUTTERBASE_URL", "ButterbaseResult", "ButterbaseTransport"]

BUTTERBASE_PREFIX = "/v1"

logger = logging.getLogger("bimpe_mcp.butterbase")


@dataclass(frozen=True, slots=True)
class ButterbaseResult:
    """One answer: its JSON body (None for an empty one), and the request id to correlate it."""

    data: Any
    request_id: str | None
    status: int = 200


def _retry_after(headers: httpx.Headers) -> float | None:
    try:
        return max(0.0, float(headers["retry-after"])) if "retry-after" in headers else None
    except ValueError:
        return None


class ButterbaseTransport(RetryingTransport[ButterbaseResult]):
    """The process-wide pool for Butterbase; pass the `bb_sk_…` key with each request."""

    service = "Butterbase"

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BUTTERBASE_URL,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "bimpe-mcp",
        on_response: Callable[[int], None] | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            prefix=BUTTERBASE_PREFIX,
            timeout=timeout,
            retry=retry,
            transport=transport,
            user_agent=user_agent,
            on_response=on_response,
            on_retry=on_retry,
            logger=logger,
        )

    def key_error(self, message: str) -> UpstreamError:
        return ButterbaseKeyError(message)

    def request_error(self, message: str) -> UpstreamError:
        return ButterbaseRequestError(message)

    def connection_error(self, message: str, request_id: str) -> UpstreamError:
        return ButterbaseConnectionError(message, request_id=request_id)

    def timeout_error(self, message: str, request_id: str) -> UpstreamError:
        return ButterbaseTimeoutError(message, request_id=request_id)

    def garbled_error(self, message: str, status: int, request_id: str) -> UpstreamError:
        return ButterbaseResponseError(message, status=status, request_id=request_id)

    def unwrap(self, spec: RequestSpec, response: httpx.Response, sent_request_id: str) -> ButterbaseResult:
        request_id = response.headers.get("x-request-id") or sent_request_id
        status = response.status_code
        body = self.json_or_none(response)
        if 200 <= status < 300:
            if not response.content and (status == 204 or spec.allow_empty):
                return ButterbaseResult(None, request_id, status)
            if not isinstance(body, dict):
                raise ButterbaseResponseError(
                    f"Butterbase answered {status} with a body that is not a JSON object ({self.describe(response)})",
                    status=status,
                    request_id=request_id,
                )
            return ButterbaseResult(body, request_id, status)
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            raise ButterbaseResponseError(
                f"Butterbase answered {status} with a body that is not its error shape ({self.describe(response)})",
                status=status,
                request_id=request_id,
            )
        code = str(error["code"])
        raise butterbase_error_class(status, code)(
            str(error.get("message") or f"HTTP {status}"),
            status=status,
            code=code,
            remediation=str(error.get("remediation") or ""),
            request_id=request_id,
            retry_after=_retry_after(response.headers),
        )
