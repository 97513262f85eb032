"""In-process counters for the HTTP service's `/metrics` (Prometheus text format)."""

from __future__ import annotations

import threading
from collections import defaultdict

__all__ = ["Metrics"]


class Metrics:
    """Tool calls by tool and outcome, with their total duration."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str], int] = defaultdict(int)
        self._seconds: dict[tuple[str, str], float] = defaultdict(float)

    def record_tool(self, tool: str, outcome: str, seconds: float) -> None:
        with self._lock:
            self._calls[(tool, outcome)] += 1
            self._seconds[(tool, outcome)] += seconds

    def render(self) -> str:
        lines = [
            "# HELP bimpe_mcp_tool_calls_total Tool calls by tool and outcome (ok, error, invalid).",
            "# TYPE bimpe_mcp_tool_calls_total counter",
        ]
        with self._lock:
            calls = sorted(self._calls.items())
            seconds = dict(self._seconds)
        lines += [f'bimpe_mcp_tool_calls_total{{tool="{t}",outcome="{o}"}} {n}' for (t, o), n in calls]
        lines += [
            "# HELP bimpe_mcp_tool_call_seconds_total Time spent in tool calls.",
            "# TYPE bimpe_mcp_tool_call_seconds_total counter",
        ]
        lines += [
            f'bimpe_mcp_tool_call_seconds_total{{tool="{t}",outcome="{o}"}} {seconds[(t, o)]:.6f}'
            for (t, o), _ in calls
        ]
        return "\n".join(lines) + "\n"
