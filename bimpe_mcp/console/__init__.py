"""The shared async client for the BimpeAI Console API.

One `ConsoleTransport` (the connection pool) per process; one cheap `ConsoleClient`
per API key on top of it. Every endpoint is a typed method; every failure is a
`ConsoleError`.
"""

from bimpe_mcp.console import _models as models
from bimpe_mcp.console._client import ConsoleClient, Family, ListQuery, PageWalk, walk_pages
from bimpe_mcp.console._errors import (
    CODE_TABLE,
    AuthenticationError,
    ConflictError,
    ConsoleAPIError,
    ConsoleConnectionError,
    ConsoleError,
    ConsoleOverloadedError,
    ConsoleRequestError,
    ConsoleResponseError,
    ConsoleTimeoutError,
    FieldError,
    InvalidApiKeyError,
    InvalidIdError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionError,
    RateLimit,
    RateLimitError,
    ServerError,
    ValidationError,
)
from bimpe_mcp.console._paths import ID_MAX_LENGTH, ID_PATTERN, Id, route
from bimpe_mcp.console._stream import MessageStream, WaitResult, wait_for_messages, wait_for_reply
from bimpe_mcp.console._transport import (
    API_PREFIX,
    DEFAULT_BASE_URL,
    ConnectionLimits,
    ConsoleTransport,
    PageMeta,
    RequestSpec,
    Result,
    RetryPolicy,
)

__all__ = [
    "API_PREFIX",
    "CODE_TABLE",
    "DEFAULT_BASE_URL",
    "ID_MAX_LENGTH",
    "ID_PATTERN",
    "AuthenticationError",
    "ConflictError",
    "ConnectionLimits",
    "ConsoleAPIError",
    "ConsoleClient",
    "ConsoleConnectionError",
    "ConsoleError",
    "ConsoleOverloadedError",
    "ConsoleRequestError",
    "ConsoleResponseError",
    "ConsoleTimeoutError",
    "ConsoleTransport",
    "Family",
    "FieldError",
    "Id",
    "InvalidApiKeyError",
    "InvalidIdError",
    "ListQuery",
    "MessageStream",
    "NotFoundError",
    "PageMeta",
    "PageWalk",
    "PermissionDeniedError",
    "PreconditionError",
    "RateLimit",
    "RateLimitError",
    "RequestSpec",
    "Result",
    "RetryPolicy",
    "ServerError",
    "ValidationError",
    "WaitResult",
    "models",
    "route",
    "wait_for_messages",
    "wait_for_reply",
    "walk_pages",
]
