"""Soak: mixed tool calls at half the measured throughput; RSS must end within 5 % of its post-warm-up level.

    python bench/soak.py [--minutes 30] [--rate CALLS_PER_S] [--clients 32]

The sandbox and the server (`serve --transport http --stateless`) each run in their own process.
Without --rate, a short full-speed run measures the throughput first and the soak runs at half of
it. The server's RSS is read after the warm-up (the first tenth, at least 30 s, at most 3 minutes)
and every 10 s after; the report gives the end against the post-warm-up value, the peak, and the errors.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

# bench/ is not a package: its scripts import each other by path.
from load import (
    a_workflow,
    load,
    mixed_tools,
    ours_command,
    percentile,
    rss_mb,
    sandbox_process,
    server_env,
    server_process,
)

SAMPLE_S = 10.0


async def soak(minutes: float, rate: float | None, clients: int) -> int:
    with sandbox_process() as sandbox:
        tools = mixed_tools(sandbox, a_workflow(sandbox))
        env = server_env(sandbox, BIMPE_LOG_LEVEL="WARNING")
        with server_process("bimpe-mcp", ours_command("--stateless"), env) as server:
            if rate is None:
                measured = await load(server.url, tools, clients=clients, seconds=10)
                rate = measured.rate / 2
                print(f"measured {measured.rate:.0f} calls/s at full speed; soaking at {rate:.0f} calls/s")
            total = minutes * 60
            warm_up = min(180.0, max(30.0, total / 10))
            warmed = await load(server.url, tools, clients=clients, seconds=min(warm_up, total), rate=rate)
            after_warm_up = rss_mb(server.pid)
            samples = [after_warm_up]
            outcomes = [warmed]
            started = time.monotonic()
            while (left := total - warm_up - (time.monotonic() - started)) > 0:
                outcomes.append(await load(server.url, tools, clients=clients, seconds=min(SAMPLE_S, left), rate=rate))
                samples.append(rss_mb(server.pid))
    soaked = outcomes[1:] or outcomes
    calls = sum(len(outcome.latencies) for outcome in soaked)
    errors = sum(len(outcome.errors) for outcome in outcomes)
    latencies = [latency for outcome in soaked for latency in outcome.latencies]
    end = samples[-1]
    ratio = end / after_warm_up
    seconds = sum(outcome.seconds for outcome in soaked)
    print(
        f"\n{minutes:g} minutes at {rate:.0f} calls/s target ({calls / seconds:.0f} achieved after warm-up), "
        f"{clients} clients, mixed tools, stateless HTTP.\n"
    )
    print("| Soak | Target | Measured | Reference |\n| --- | ---: | ---: | ---: |")
    print(f"| RSS at the end against after warm-up | ≤ 1.05 | {ratio:.3f} ({end:.1f} MB) | {after_warm_up:.1f} MB |")
    print(f"| peak RSS | | {max(samples):.1f} MB | |")
    print(f"| errors | 0 | {errors} | |")
    if latencies:
        print(
            f"| p50 / p99 | | {percentile(latencies, 0.5) * 1000:.0f} / {percentile(latencies, 0.99) * 1000:.0f} ms | |"
        )
    for outcome in outcomes:
        for error in outcome.errors[:3]:
            print(f"  error: {error}", file=sys.stderr)
    return 0 if errors == 0 and ratio <= 1.05 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="How long to soak (default: %(default)s).")
    parser.add_argument("--rate", type=float, help="Calls per second in all (default: half the measured throughput).")
    parser.add_argument("--clients", type=int, default=32, help="Concurrent clients (default: %(default)s).")
    options = parser.parse_args()
    raise SystemExit(anyio.run(soak, options.minutes, options.rate, options.clients))
