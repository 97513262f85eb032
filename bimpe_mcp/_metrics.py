"""The HTTP service's Prometheus metrics, one registry per server (tests build many servers in one process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
"""Seconds: a read answers in tens of milliseconds, a test chat or a phone call takes a minute or more."""


class Metrics:
    """Tool calls (by outcome, latency, in flight), the Console's answers and retries, open sessions."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._tool_calls = Counter(
            "bimpe_mcp_tool_calls",
            "Tool calls by tool and outcome (ok, error, invalid, needs_confirmation, cancelled).",
            ["tool", "outcome"],
            registry=self.registry,
        )
        self._tool_seconds = Histogram(
            "bimpe_mcp_tool_call_duration_seconds",
            "How long tool calls took, invalid ones (never run) left out.",
            ["tool"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._in_flight = 0
        in_flight = Gauge("bimpe_mcp_tool_calls_in_flight", "Tool calls running now.", registry=self.registry)
        in_flight.set_function(lambda: self._in_flight)
        self._console_responses = Counter(
            "bimpe_mcp_console_responses",
            "Answers from the Console API by HTTP status, each attempt counted.",
            ["status"],
            registry=self.registry,
        )
        self._console_retries = Counter(
            "bimpe_mcp_console_retries",
            "Console requests sent again, by reason (an HTTP status or a connection error).",
            ["reason"],
            registry=self.registry,
        )
        self._open_sessions = Gauge(
            "bimpe_mcp_open_sessions", "Stateful MCP sessions open on this server.", registry=self.registry
        )
        self._open_waits = Gauge(
            "bimpe_mcp_open_waits", "Message waits holding a Console stream open now.", registry=self.registry
        )

    @property
    def in_flight(self) -> int:
        """Tool calls running now: what a graceful shutdown waits for."""
        return self._in_flight

    def record_tool(self, tool: str, outcome: str, seconds: float) -> None:
        self._tool_calls.labels(tool, outcome).inc()
        if outcome != "invalid":
            self._tool_seconds.labels(tool).observe(seconds)

    @contextmanager
    def tool_in_flight(self) -> Iterator[None]:
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1

    def record_console_response(self, status: int) -> None:
        self._console_responses.labels(str(status)).inc()

    def record_console_retry(self, reason: str) -> None:
        self._console_retries.labels(reason).inc()

    def count_sessions_with(self, count: Callable[[], int]) -> None:
        """Read the open sessions from `count` at each scrape: the session manager owns that number."""
        self._open_sessions.set_function(count)

    def count_waits_with(self, count: Callable[[], int]) -> None:
        """Read the open message waits from `count` at each scrape: the Console transport owns that number."""
        self._open_waits.set_function(count)

    def render(self) -> str:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry).decode()
