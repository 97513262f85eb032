"""The HTTP service's Prometheus metrics, one registry per server (tests build many servers in one process).

With `serve --workers N` the workers count into one directory instead (prometheus_client's multiprocess
mode, set up by `shared_by_workers`), so a scrape answered by any worker reports the sum over all of them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Gauge

__all__ = ["Metrics", "shared_by_workers"]

_SHARED_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's own switch: when it is set as the library is imported, every value lives in a file there."""
_SHARED_DIR_PREFIX = "bimpe-mcp-metrics-"
"""Then the supervisor's pid and a random part: `bimpe-mcp-metrics-<pid>-<random>`, in the temporary directory."""

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
"""Seconds: a read answers in tens of milliseconds, a test chat or a phone call takes a minute or more."""


class Metrics:
    """Tool calls (by outcome, latency, in flight), the Console's answers and retries, open sessions.

    Counting starts only where a scrape can read the counts (`start_counting`, by the HTTP app, or
    `counting=True`): a stdio server keeps only its calls in flight, and never imports `prometheus_client`.
    """

    def __init__(self, *, counting: bool = False) -> None:
        self.counting = counting
        self._in_flight = 0
        self._count_sessions: Callable[[], int] | None = None
        self._count_waits: Callable[[], int] | None = None
        self._shared_dir = os.environ.get(_SHARED_DIR_ENV) or None
        """Set in a worker of `serve --workers`: where every worker's metrics are written and read."""

    @functools.cached_property
    def _collectors(self) -> _Collectors:
        return _Collectors(self, self._shared_dir)

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

    def start_counting(self) -> None:
        self.counting = True

    def record_tool(self, tool: str, outcome: str, seconds: float) -> None:
        if not self.counting:
            return
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
        if self.counting:
            self._collectors.console_responses.labels(str(status)).inc()

    def record_console_retry(self, reason: str) -> None:
        if self.counting:
            self._collectors.console_retries.labels(reason).inc()

    def count_sessions_with(self, count: Callable[[], int]) -> None:
        """Read the open sessions from `count` at each scrape: the session manager owns that number."""
        self._count_sessions = count

    def count_waits_with(self, count: Callable[[], int]) -> None:
        """Read the open message waits from `count` at each scrape: the Console transport owns that number."""
        self._count_waits = count

    def publish_live(self) -> None:
        """With workers, write this process's live gauges (calls in flight, open sessions and waits) where
        every worker's scrape sums them; the server calls it on each tick (0.1 s). In one process it does
        nothing: a scrape reads the counts themselves."""
        if self._shared_dir is None or not self.counting:
            return
        collectors = self._collectors
        collectors.in_flight.set(self.in_flight)
        collectors.open_sessions.set(self.open_sessions)
        collectors.open_waits.set(self.open_waits)

    def render(self) -> str:
        """The Prometheus text exposition of every metric: with workers, their sum over all of them."""
        from prometheus_client import generate_latest

        return generate_latest(self._collectors.exposed).decode()


@contextmanager
def shared_by_workers() -> Iterator[Callable[[int], None]]:
    """For `serve --workers`, entered by the supervisor before it forks: the workers write their metrics
    to a private directory, removed on exit, and each one's `/metrics` reports the sum over them all.

    Yields `forget(pid)`, to call once a worker has exited: its counts stay in the sums, its live gauges
    leave them (a killed worker's calls in flight are not running anywhere).

    A supervisor killed outright (SIGKILL, the OOM killer) cannot remove its directory, and nothing else will
    soon (a tmpfs /tmp empties at a reboot; systemd-tmpfiles, where it runs, takes days): so each start first
    removes the directories of supervisors gone that way (`_remove_stale_dirs`). A directory stays locked
    (flock) while its supervisor or any worker of it runs; the kernel lets go when the last one dies, however
    it dies.
    """
    import fcntl
    import shutil
    import tempfile

    _remove_stale_dirs(tempfile.gettempdir())
    directory = tempfile.mkdtemp(prefix=f"{_SHARED_DIR_PREFIX}{os.getpid()}-")
    lock = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)  # inherited by the workers forked from here
    fcntl.flock(lock, fcntl.LOCK_EX)
    os.environ[_SHARED_DIR_ENV] = directory
    try:
        # Imported once the variable is set: the library chooses its file-backed values at import, and the
        # workers, forked from here, inherit that choice.
        from prometheus_client import multiprocess

        yield lambda pid: multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
    finally:
        del os.environ[_SHARED_DIR_ENV]
        shutil.rmtree(directory, ignore_errors=True)
        os.close(lock)


def _remove_stale_dirs(parent: str) -> None:
    """Remove this user's metrics directories in `parent` whose supervisor is no longer running and whose
    lock nobody holds: not a worker still draining after its supervisor was killed, nor a supervisor in
    another PID namespace sharing `parent`. The pid check spares a directory made an instant before its lock."""
    import fcntl
    import re
    import shutil

    for entry in os.scandir(parent):
        named = re.fullmatch(rf"{re.escape(_SHARED_DIR_PREFIX)}(\d+)-\w+", entry.name)
        if named is None or not entry.is_dir(follow_symlinks=False) or _running(int(named.group(1))):
            continue
        if entry.stat(follow_symlinks=False).st_uid != os.getuid():
            continue
        try:
            lock = os.open(entry.path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            shutil.rmtree(entry.path, ignore_errors=True)
        except BlockingIOError:
            pass  # in use
        finally:
            os.close(lock)


def _running(pid: int) -> bool:
    """Whether process `pid` exists (in this PID namespace), whoever's it is."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    return True


class _Collectors:
    """The collectors of one `Metrics`, and the registry a scrape reads.

    In one process that is the collectors' own registry, and the live gauges read their counts at each
    scrape. With workers it reads the files every worker writes; the collectors are registered nowhere,
    and the live gauges hold what `Metrics.publish_live` last wrote, summed over the workers alive.
    """

    def __init__(self, metrics: Metrics, shared_dir: str | None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.exposed = CollectorRegistry()
        own: CollectorRegistry | None = self.exposed
        if shared_dir is not None:
            from prometheus_client.multiprocess import MultiProcessCollector

            own = None
            MultiProcessCollector(self.exposed, path=shared_dir)  # type: ignore[no-untyped-call]

        def live_gauge(name: str, documentation: str, count: Callable[[], int]) -> Gauge:
            gauge = Gauge(name, documentation, registry=own, multiprocess_mode="livesum")
            if shared_dir is None:
                gauge.set_function(count)
            return gauge

        self.tool_calls = Counter(
            "bimpe_mcp_tool_calls",
            "Tool calls by tool and outcome (ok, error, invalid, needs_confirmation, cancelled).",
            ["tool", "outcome"],
            registry=own,
        )
        self.tool_seconds = Histogram(
            "bimpe_mcp_tool_call_duration_seconds",
            "How long tool calls took, invalid ones (never run) left out.",
            ["tool"],
            buckets=_LATENCY_BUCKETS,
            registry=own,
        )
        self.in_flight = live_gauge(
            "bimpe_mcp_tool_calls_in_flight", "Tool calls running now.", lambda: metrics.in_flight
        )
        self.console_responses = Counter(
            "bimpe_mcp_console_responses",
            "Answers from the Console API by HTTP status, each attempt counted.",
            ["status"],
            registry=own,
        )
        self.console_retries = Counter(
            "bimpe_mcp_console_retries",
            "Console requests sent again, by reason (an HTTP status or a connection error).",
            ["reason"],
            registry=own,
        )
        self.open_sessions = live_gauge(
            "bimpe_mcp_open_sessions", "Stateful MCP sessions open on this server.", lambda: metrics.open_sessions
        )
        self.open_waits = live_gauge(
            "bimpe_mcp_open_waits", "Message waits holding a Console stream open now.", lambda: metrics.open_waits
        )
