"""The HTTP service's Prometheus metrics, one registry per server (tests build many servers in one process)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
"""Seconds: a read answers in tens of milliseconds, a test chat or a phone call takes a minute or more."""


class Metrics:
    """Tool calls (by outcome, latency, in flight), the Console's answers and retries, open sessions.

    The Prometheus collectors are made on first use: a stdio server that never counts a call
    does not import `prometheus_client` at start.
    """

    def __init__(self) -> None:
        self._in_flight = 0
        self._count_sessions: Callable[[], int] | None = None
        self._count_waits: Callable[[], int] | None = None

    @functools.cached_property
    def _collectors(self) -> _Collectors:
        return _Collectors(self)

    @property
    def registry(self) -> CollectorRegistry:
        return self._collectors.registry

    @property
    def open_sessions(self) -> int:
        """Stateful sessions open now, as the session manager counts them (0 without one)."""
        return 0 if self._count_sessions is None else self._count_sessions()

    @property
    def open_waits(self) -> int:
        """Message waits holding a Console stream open now, as the Console transport counts them."""
        return 0 if self._count_waits is None else self._count_waits()

    @property
    def in_flight(self) -> int:
        """Tool calls running now: what a graceful shutdown waits for."""
        return self._in_flight

    def record_tool(self, tool: str, outcome: str, seconds: float) -> None:
        collectors = self._collectors
        collectors.tool_calls.labels(tool, outcome).inc()
        if outcome != "invalid":
            collectors.tool_seconds.labels(tool).observe(seconds)

    @contextmanager
    def tool_in_flight(self) -> Iterator[None]:
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1

    def record_console_response(self, status: int) -> None:
        self._collectors.console_responses.labels(str(status)).inc()

    def record_console_retry(self, reason: str) -> None:
        self._collectors.console_retries.labels(reason).inc()

    def count_sessions_with(self, count: Callable[[], int]) -> None:
        """Read the open sessions from `count` at each scrape: the session manager owns that number."""
        self._count_sessions = count

    def count_waits_with(self, count: Callable[[], int]) -> None:
        """Read the open message waits from `count` at each scrape: the Console transport owns that number."""
        self._count_waits = count

    def render(self) -> str:
        """The Prometheus text exposition of every metric."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode()


class _Collectors:
    """The Prometheus registry of one `Metrics`, and its collectors."""

    def __init__(self, metrics: Metrics) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.tool_calls = Counter(
            "bimpe_mcp_tool_calls",
            "Tool calls by tool and outcome (ok, error, invalid, needs_confirmation, cancelled).",
            ["tool", "outcome"],
            registry=self.registry,
        )
        self.tool_seconds = Histogram(
            "bimpe_mcp_tool_call_duration_seconds",
            "How long tool calls took, invalid ones (never run) left out.",
            ["tool"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        in_flight = Gauge("bimpe_mcp_tool_calls_in_flight", "Tool calls running now.", registry=self.registry)
        in_flight.set_function(lambda: metrics.in_flight)
        self.console_responses = Counter(
            "bimpe_mcp_console_responses",
            "Answers from the Console API by HTTP status, each attempt counted.",
            ["status"],
            registry=self.registry,
        )
        self.console_retries = Counter(
            "bimpe_mcp_console_retries",
            "Console requests sent again, by reason (an HTTP status or a connection error).",
            ["reason"],
            registry=self.registry,
        )
        open_sessions = Gauge(
            "bimpe_mcp_open_sessions", "Stateful MCP sessions open on this server.", registry=self.registry
        )
        open_sessions.set_function(lambda: metrics.open_sessions)
        open_waits = Gauge(
            "bimpe_mcp_open_waits", "Message waits holding a Console stream open now.", registry=self.registry
        )
        open_waits.set_function(lambda: metrics.open_waits)
