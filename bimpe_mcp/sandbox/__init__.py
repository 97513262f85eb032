"""An in-memory, faithful emulator of the BimpeAI Console API (Starlette), for tests and demos.

Every module is private; this is the package's whole public surface.
"""

from ._app import create_app
from ._catalog import PLANS
from ._errors import SandboxError
from ._faults import Faults
from ._middleware import RecordedRequest, request_log
from ._server import RunningSandbox, serve, start_in_thread
from ._store import ALL_SCOPES, SandboxStore

__all__ = [
    "ALL_SCOPES",
    "PLANS",
    "Faults",
    "RecordedRequest",
    "RunningSandbox",
    "SandboxError",
    "SandboxStore",
    "create_app",
    "request_log",
    "serve",
    "start_in_thread",
]
