"""An in-memory, faithful emulator of the BimpeAI Console API (Starlette), for tests and demos."""

from .app import create_app
from .errors import SandboxError
from .faults import Faults
from .server import RunningSandbox, serve, start_in_thread
from .store import SandboxStore

__all__ = ["Faults", "RunningSandbox", "SandboxError", "SandboxStore", "create_app", "serve", "start_in_thread"]
