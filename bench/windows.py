"""One conversation from two client windows (issue 23): what a call passed on to the server that runs the
conversation live costs over the same call made to that server directly. Two codex-mcp servers on one state
dir, the real Codex CLI on the instant fake model; window A starts the conversation, then codex_reply and
codex_status are timed alternately through A (local) and through B (forwarded to A), paired by round. Then three
windows in one folder, each server wanting a warm spare: the idle Codex TUIs they keep between them.

    .venv/bin/python bench/windows.py [--rounds 30] [--codex-bin PATH]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import anyio
import psutil
from common import bench_world, codex_pids, pinned_codex
from mcp import Client


def summary(values: list[float]) -> str:
    values = sorted(values)
    q = statistics.quantiles(values, n=4)
    return f"{statistics.median(values):6.1f} ms (p25 {q[0]:.1f}, p75 {q[2]:.1f}, n={len(values)})"


async def timed(client: Client, tool: str, arguments: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    r = await client.call_tool(tool, arguments)
    elapsed = (time.perf_counter() - t0) * 1000
    assert not r.is_error, r
    assert r.structured_content, r
    return elapsed, dict(r.structured_content)


async def run(args: argparse.Namespace) -> None:
    with bench_world(args.codex_bin, CODEX_MCP_SPARE_KEEP_S="0") as (_home, work, params):
        async with Client(params, read_timeout_seconds=120) as a, Client(params, read_timeout_seconds=120) as b:
            started = await a.call_tool("codex_start", {"prompt": "bench windows", "cwd": str(work)})
            assert started.structured_content, started
            cid = started.structured_content["conversationId"]
            for warm in range(3):  # both servers' first calls (imports, the channel's first connection)
                await timed(b, "codex_reply", {"conversationId": cid, "prompt": f"warm {warm}"})
                await timed(a, "codex_status", {"conversationId": cid})
            local: list[float] = []
            forwarded: list[float] = []
            status_local: list[float] = []
            status_forwarded: list[float] = []
            for n in range(args.rounds):
                # Alternate which goes first, so that neither always follows the other.
                order = [(a, local, "a"), (b, forwarded, "b")][:: 1 if n % 2 else -1]
                for client, into, who in order:
                    ms, r = await timed(client, "codex_reply", {"conversationId": cid, "prompt": f"{who} {n}"})
                    assert r["reply"] == f"ECHO: {who} {n}", r
                    assert r["recovery"] == "live", r
                    into.append(ms)
                for client, into in [(a, status_local), (b, status_forwarded)][:: 1 if n % 2 else -1]:
                    ms, _ = await timed(client, "codex_status", {"conversationId": cid})
                    into.append(ms)
            await a.call_tool("codex_end", {"conversationId": cid})

    print("| measure (window B's call is answered by window A's server) | median (spread) |")
    print("| --- | --- |")
    print(f"| codex_reply through A (local) | {summary(local)} |")
    print(f"| codex_reply through B (forwarded to A) | {summary(forwarded)} |")
    paired = [f - x for f, x in zip(forwarded, local, strict=True)]
    print(f"| forwarded minus local, paired by round | {summary(paired)} |")
    print(f"| codex_status through A (local) | {summary(status_local)} |")
    print(f"| codex_status through B (forwarded to A) | {summary(status_forwarded)} |")
    paired = [f - x for f, x in zip(status_forwarded, status_local, strict=True)]
    print(f"| codex_status forwarded minus local, paired by round | {summary(paired)} |")


async def spares(args: argparse.Namespace) -> None:
    """Three windows in one folder, each server wanting a warm spare: how many idle Codex TUIs they keep."""
    with bench_world(args.codex_bin, CODEX_MCP_SPARE_KEEP_S="300") as (home, _work, params):
        async with Client(params) as _a, Client(params) as _b, Client(params) as _c:
            await anyio.sleep(args.settle)
            idle = codex_pids(home)
            rss = sum(psutil.Process(pid).memory_info().rss for pid in idle) / (1 << 20)
    measure = f"idle Codex TUIs kept by 3 windows in one folder (after {args.settle:g} s)"
    print(f"| {measure} | {len(idle)} ({rss:.0f} MB RSS) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--codex-bin", default=pinned_codex())
    parser.add_argument("--settle", type=float, default=8.0, help="seconds the 3 windows get to start their spares")
    args = parser.parse_args()
    anyio.run(run, args)
    anyio.run(spares, args)


if __name__ == "__main__":
    main()
