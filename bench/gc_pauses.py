"""Open waits and the garbage collector: other calls' p99, and the full collections behind it.

    python bench/gc_pauses.py [--rounds 2] [--seconds 10] [--rate 150] [--waits 150]

The same server (`serve --transport http --stateless`) is started with CPython's collection
thresholds (700, 10, 10) and with bimpe-mcp's (`cli._GC_THRESHOLDS`), in interleaved rounds. Each
round measures `get_agent`/`list_workflows` at a fixed rate, first alone, then with `--waits` open
`wait_for_messages` calls from the moment they are all open (so with the collections their opening
burst causes), and counts the full (generation 2) collections that ran meanwhile, with the longest.
Every open wait keeps its request's objects alive, and a full collection scans them all while no
call is answered.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

# bench/ is not a package: its scripts import each other by path.
from load import (
    WAITS_PER_KEY,
    a_quiet_conversation,
    load,
    open_waits,
    percentile,
    sandbox_process,
    server_env,
    server_process,
    waits_flags,
)

_PAUSES = "BENCH_GC_PAUSES"


def _serve(young: int, args: list[str]) -> int:
    """bimpe-mcp's `serve`, with young collections every `young` allocations and every full collection timed."""
    import bimpe_mcp.cli as cli

    cli._GC_THRESHOLDS = (young, *cli._GC_THRESHOLDS[1:])
    out = Path(os.environ[_PAUSES])
    began = [0.0]

    def timed(phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            with out.open("a") as pauses:
                pauses.write(json.dumps({"at": time.time(), "ms": (time.perf_counter() - began[0]) * 1000}) + "\n")

    gc.callbacks.append(timed)
    return cli.main(args)


async def _round(sandbox: Any, conversation: str, young: int, args: argparse.Namespace, pauses: Path) -> list[float]:
    """p99 alone, p99 with the waits open (ms), and the full collections meanwhile: count, longest (ms)."""
    serve = ["serve", "--transport", "http", *waits_flags(args.waits)]
    command = [sys.executable, __file__, "--serve", str(young), "--", *serve]
    env = server_env(sandbox, BIMPE_LOG_LEVEL="WARNING", **{_PAUSES: str(pauses)})
    reads = [("get_agent", {"agent_id": sandbox.agent_id}), ("list_workflows", {})]
    pauses.write_text("")
    with server_process(f"young {young}", command, env) as server:
        await load(server.url, reads, clients=8, seconds=1.0)  # warm-up
        alone = await load(server.url, reads, clients=8, seconds=args.seconds, rate=args.rate)
        async with open_waits(server, sandbox, conversation, args.waits):
            opened = time.time()
            busy = await load(server.url, reads, clients=8, seconds=args.seconds, rate=args.rate)
            closed = time.time()
    errors = len(alone.errors) + len(busy.errors)
    if errors:
        raise RuntimeError(f"{errors} calls failed: {(alone.errors + busy.errors)[:3]}")
    lines = pauses.read_text().splitlines()
    during = [p["ms"] for p in map(json.loads, lines) if opened <= p["at"] <= closed]
    return [
        percentile(alone.latencies, 0.99) * 1000,
        percentile(busy.latencies, 0.99) * 1000,
        len(during),
        max(during, default=0.0),
    ]


async def main(args: argparse.Namespace) -> None:
    from bimpe_mcp.cli import _GC_THRESHOLDS

    variants = {"CPython's (700, 10, 10)": 700, f"bimpe-mcp's {_GC_THRESHOLDS}": _GC_THRESHOLDS[0]}
    found: dict[str, list[list[float]]] = {name: [] for name in variants}
    pauses = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-gc-pauses-{os.getpid()}.jsonl"
    try:
        with sandbox_process(keys=-(-args.waits // WAITS_PER_KEY)) as sandbox:
            conversation = a_quiet_conversation(sandbox)
            names = list(variants)
            for round_ in range(args.rounds):
                for name in names[round_ % 2 :] + names[: round_ % 2]:
                    found[name].append(await _round(sandbox, conversation, variants[name], args, pauses))
                    print(f"  round {round_ + 1}, {name}: {found[name][-1]}", file=sys.stderr, flush=True)
    finally:
        pauses.unlink(missing_ok=True)
    print(
        f"{args.rate:g} calls/s of `get_agent` and `list_workflows` from 8 clients for {args.seconds:g} s, alone and "
        f"with {args.waits} open `wait_for_messages`; median of {args.rounds} interleaved rounds.\n"
    )
    print("| Collection thresholds | p99 alone | p99 with the waits | full collections with the waits | longest |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, rounds in found.items():
        alone, busy, count, longest = (statistics.median(column) for column in zip(*rounds, strict=True))
        print(f"| {name} | {alone:.1f} ms | {busy:.1f} ms | {count:g} | {longest:.0f} ms |")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        raise SystemExit(_serve(int(sys.argv[2]), sys.argv[4:]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=150.0)
    parser.add_argument("--waits", type=int, default=150)
    anyio.run(main, parser.parse_args())
