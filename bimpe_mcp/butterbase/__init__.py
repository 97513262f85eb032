"""The async client for Butterbase's Integrations API (toolkits on Composio: Gmail, Slack, …).

One `ButterbaseTransport` (the pool) per process, on the same retrying seam as the Console
client; one cheap `ButterbaseClient` per app and key on top of it. Every failure is a
`ButterbaseError`. It knows nothing of MCP.
"""

from bimpe_mcp.butterbase import _models as models
from bimpe_mcp.butterbase._client import ButterbaseClient
from bimpe_mcp.butterbase._errors import (
    CODE_TABLE,
    ButterbaseAPIError,
    ButterbaseAuthError,
    ButterbaseCode,
    ButterbaseConnectionError,
    ButterbaseError,
    ButterbaseIdError,
    ButterbaseKeyError,
    ButterbaseNotFoundError,
    ButterbaseRateLimitError,
    ButterbaseRequestError,
    ButterbaseResponseError,
    ButterbaseServerError,
    ButterbaseTimeoutError,
    ButterbaseValidationError,
    ExecutionFailedError,
    IntegrationsNotConfiguredError,
    ToolkitNotEnabledError,
)
from bimpe_mcp.butterbase._paths import TOOLKIT_PATTERN, ConnectionId, Toolkit, route
from bimpe_mcp.butterbase._transport import (
    BUTTERBASE_PREFIX,
    DEFAULT_BUTTERBASE_URL,
    ButterbaseResult,
    ButterbaseTransport,
)

__all__ = [
    "BUTTERBASE_PREFIX",
    "CODE_TABLE",
    "DEFAULT_BUTTERBASE_URL",
    "TOOLKIT_PATTERN",
    "ButterbaseAPIError",
    "ButterbaseAuthError",
    "ButterbaseClient",
    "ButterbaseCode",
    "ButterbaseConnectionError",
    "ButterbaseError",
    "ButterbaseIdError",
    "ButterbaseKeyError",
    "ButterbaseNotFoundError",
    "ButterbaseRateLimitError",
    "ButterbaseRequestError",
    "ButterbaseResponseError",
    "ButterbaseResult",
    "ButterbaseServerError",
    "ButterbaseTimeoutError",
    "ButterbaseTransport",
    "ButterbaseValidationError",
    "ConnectionId",
    "ExecutionFailedError",
    "IntegrationsNotConfiguredError",
    "Toolkit",
    "ToolkitNotEnabledError",
    "models",
    "route",
]
