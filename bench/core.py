"""Core figures through the real MCP client, our server and the real Codex CLI on the instant fake model:
codex_start to first reply (the first, and later ones --gap seconds apart),
per-turn latency on a live conversation against Codex's own turn time (from
the rollout's task_complete duration_ms), and the server's fds/processes before and after.

    .venv/bin/python bench/core.py [--starts 5] [--turns 20] [--codex-bin PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import anyio
import psutil
from common import bench_world, pinned_codex, procs_with
from comparison.probes import cpu_ms
from mcp import Client


def codex_turn_ms(home: Path, cid: str) -> list[float]:
    [path] = home.glob(f"sessions/*/*/*/rollout-*-{cid}.jsonl")
    out = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        payload = rec.get("payload") or {}
        if rec.get("type") == "event_msg" and payload.get("type") == "task_complete":
            out.append(float(payload["duration_ms"]))
    return out


def summary(values: list[float]) -> str:
    values = sorted(values)
    q = statistics.quantiles(values, n=4) if len(values) >= 4 else [values[0], statistics.median(values), values[-1]]
    return f"{statistics.median(values):7.1f} ms (p25 {q[0]:.1f}, p75 {q[2]:.1f}, n={len(values)})"


async def run(args: argparse.Namespace) -> None:
    extra = {} if args.spare else {"CODEX_MCP_SPARE_KEEP_S": "0"}
    with bench_world(args.codex_bin, **extra) as (home, work, params):
        async with Client(params, read_timeout_seconds=120) as client:
            [server] = [pid for pid, cmd in procs_with("CODEX_HOME", str(home)) if "codex_mcp" in cmd]
            fds_before = len(os.listdir(f"/proc/{server}/fd"))

            starts: list[float] = []
            ids: list[str] = []
            for n in range(args.starts):
                if n:
                    await anyio.sleep(args.gap)
                t0 = time.perf_counter()
                r = await client.call_tool("codex_start", {"prompt": f"bench start {n}", "cwd": str(work)})
                starts.append((time.perf_counter() - t0) * 1000)
                assert r.structured_content, r
                assert r.structured_content["status"] == "completed", r
                ids.append(r.structured_content["conversationId"])
            live_procs = len(psutil.Process(server).children())

            cid = ids[0]
            turns: list[float] = []
            await anyio.sleep(0.5)
            cpu_before = cpu_ms(server, reaped=False)
            for n in range(args.turns):
                t0 = time.perf_counter()
                r = await client.call_tool("codex_reply", {"conversationId": cid, "prompt": f"bench turn {n}"})
                turns.append((time.perf_counter() - t0) * 1000)
                assert r.structured_content, r
                assert r.structured_content["reply"] == f"ECHO: bench turn {n}", r
            await anyio.sleep(0.5)  # what the server defers until after a reply counts too
            server_cpu_ms = (cpu_ms(server, reaped=False) - cpu_before) / args.turns
            own = codex_turn_ms(home, cid)[1:]  # the first entry is the start turn

            for c in ids:
                await client.call_tool("codex_end", {"conversationId": c})
            fds_after = len(os.listdir(f"/proc/{server}/fd"))
            left = len(psutil.Process(server).children())

        overhead = [t - o for t, o in zip(turns, own, strict=True)]
        print("| measure | median (spread) |")
        print("| --- | --- |")
        print(f"| first codex_start → first reply | {starts[0]:7.1f} ms |")
        if len(starts) > 1:
            print(f"| later codex_start → first reply ({args.gap:g} s apart) | {summary(starts[1:])} |")
        print(f"| codex_reply on a live conversation | {summary(turns)} |")
        print(f"| Codex's own turn (task_complete duration_ms) | {summary(own)} |")
        print(f"| tool time minus Codex's own turn | {summary(overhead)} |")
        print(f"| server CPU per turn (user + system, deferred work included) | {server_cpu_ms:7.1f} ms |")
        print(f"| server fds before / after {args.starts} start+end | {fds_before} / {fds_after} |")
        spare = " (and the warm spare)" if args.spare else ""
        print(f"| Codex TUIs: with {args.starts} live sessions{spare} / after ending them | {live_procs} / {left} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--no-spare", dest="spare", action="store_false", help="no warm spare (cold starts)")
    parser.add_argument("--gap", type=float, default=1.5, help="seconds between starts (a warm spare gets ready)")
    parser.add_argument("--codex-bin", default=pinned_codex())
    anyio.run(run, parser.parse_args())


if __name__ == "__main__":
    main()
