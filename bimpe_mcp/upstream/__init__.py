"""What every API client of bimpe-mcp shares, written once: the retrying transport and the path builder.

The Console client (`bimpe_mcp.console`) and the Butterbase client (`bimpe_mcp.butterbase`) each
subclass `RetryingTransport` with their auth headers, their envelope and their error types; the
retries, timeouts, idempotency keys and the "may have been applied" bookkeeping are this package's.
"""

from bimpe_mcp.upstream._errors import UpstreamError
from bimpe_mcp.upstream._paths import PathBuilder
from bimpe_mcp.upstream._transport import HEADER_TOKEN, Replay, RequestSpec, RetryingTransport, RetryPolicy

__all__ = ["HEADER_TOKEN", "PathBuilder", "Replay", "RequestSpec", "RetryPolicy", "RetryingTransport", "UpstreamError"]
