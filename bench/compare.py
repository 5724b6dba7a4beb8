"""Side-by-side benchmark: codex-mcp against the other ways of talking to Codex, all on the same instant fake model,
so Codex's own work is the floor. Writes docs/benchmarks.md (tables, goals) and docs/benchmarks.png (chart).

    .venv/bin/python bench/compare.py            # full run, ~7 minutes on 2 cores
    .venv/bin/python bench/compare.py --quick    # smaller samples, ~2 minutes

Methods, interleaved round by round so a noisy machine hits all of them alike:

    mcp         codex_reply through our server (the official MCP client over stdio, our server, a live Codex TUI)
    tui         Codex's own TUI turn, driven directly with the project's layers (Terminal, Screen, encode_prompt):
                from the paste write to the rollout's task_complete line (polled every 2 ms)
    exec        one `codex exec resume <thread id> --json` process per turn (what exec-based servers do)
    app-server  `codex app-server` JSON-RPC over stdio: turn/start until turn/completed (the floor for anything
                built on Codex)

Codex runs with an empty HOME (so the machine's shell profile, which Codex's shell snapshot sources in a login
shell, stays out of the figures; --real-home keeps yours) and a CODEX_HOME per method under ~/.cache (with one
under /tmp, Codex skips setting up its helper binaries, which a real CODEX_HOME does not). Each method has its
own fake model process, which counts the requests Codex makes, hidden ones included. The fake model answers
Codex's title request with the structured JSON Codex asks for, as a real model does.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import platform
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import anyio
from common import REPO, carry_sections, pinned_codex
from comparison.chart import render_chart
from comparison.lab import Lab, RequestCounts, log, serve_model
from comparison.markdown import render_markdown
from comparison.measure import measure
from comparison.probes import command_of, pids_using
from comparison.results import Plan, Results, VariantResult

PICKLED = (Plan, Results, VariantResult, RequestCounts)
"""What a run pickles for --render-only. Runs before the split into the comparison package pickled these classes
as __main__.<name>, so they are names of this script too: their results still load."""


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        mem = f"{int(f.readline().split()[1]) / 1048576:.0f} GB"
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def codex_version(binary: str) -> str:
    """What `codex --version` says, e.g. '0.169.0'."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout.split()
    return out[-1] if out else "unknown"


def plan_for(args: argparse.Namespace) -> Plan:
    """Sample sizes for --quick or the full run (--rounds overrides the per-turn rounds)."""
    if args.quick:
        plan = Plan(
            rounds=4,
            start_rounds=2,
            scale_turns=4,
            idle_counts=(0, 5, 0),
            concurrency=(1, 5),
            throughput_turns=2,
            throughput_reps=1,
            variant_rounds=3,
            variant_starts=1,
            wait_s=1.0,
        )
    else:
        plan = Plan(
            rounds=12,
            start_rounds=6,
            scale_turns=8,
            idle_counts=(0, 1, 5, 20, 0),
            concurrency=(1, 5, 10),
            throughput_turns=4,
            throughput_reps=2,
            variant_rounds=10,
            variant_starts=3,
            wait_s=1.5,
        )
    if args.rounds:
        plan.rounds = args.rounds
    return plan


async def sample_load(loads: list[float]) -> None:
    """The machine's 1-minute load average every 5 s (the benchmark's own processes included)."""
    while True:
        loads.append(os.getloadavg()[0])
        await anyio.sleep(5)


async def run(args: argparse.Namespace) -> None:
    """Every section, then the report; everything started is stopped, and leftovers are reported."""
    plan = plan_for(args)
    args.workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="run-", dir=args.workdir))
    lab = Lab(root, args.codex_bin, args.real_home)
    lab.prepare()
    res = Results()
    began = time.monotonic()
    version = codex_version(args.codex_bin)
    log(f"Codex {version}; working in {root}")
    loads: list[float] = []
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(sample_load, loads)
            await measure(lab, plan, res)
            tg.cancel_scope.cancel()
    finally:
        lab.close()
        await anyio.sleep(0.5)
        for pid in pids_using(root):
            with contextlib.suppress(OSError):
                res.leftovers.append(command_of(pid))
                os.kill(pid, signal.SIGKILL)
        if res.leftovers:
            log(f"killed leftover processes: {res.leftovers}")
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    total = time.monotonic() - began
    meta = machine() | {
        "codex": version,
        "date": time.strftime("%Y-%m-%d"),
        "command": "python bench/compare.py" + (" --quick" if args.quick else ""),
        "duration": f"{total / 60:.1f} min",
        "load": f"{statistics.median(loads):.1f} (max {max(loads):.1f})" if loads else "?",
    }
    saved = args.workdir / "last-run.pickle"
    saved.write_bytes(pickle.dumps((res, meta, plan)))
    write_report(args, res, meta, plan)
    log(f"done in {total / 60:.1f} min (results kept in {saved}; --render-only re-renders them)")


def write_report(args: argparse.Namespace, res: Results, meta: dict[str, str], plan: Plan) -> None:
    """docs/benchmarks.md and docs/benchmarks.png."""
    previous = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(carry_sections(previous, render_markdown(res, meta, plan)))  # other scripts' sections stay
    log(f"wrote {args.out}")
    if render_chart(res, args.chart):
        log(f"wrote {args.chart}")


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small samples, ~2 minutes")
    parser.add_argument("--rounds", type=int, help="turns per method and history depth (default 12, quick 4)")
    parser.add_argument("--codex-bin", default=pinned_codex())
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--chart", type=Path, default=REPO / "docs" / "benchmarks.png")
    parser.add_argument(
        "--workdir", type=Path, default=Path.home() / ".cache" / "codex-mcp-bench", help="where runs happen"
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (logs, CODEX_HOMEs)")
    parser.add_argument("--real-home", action="store_true", help="give Codex your HOME (and shell profile)")
    parser.add_argument(
        "--render-only", action="store_true", help="re-render the last run's results (after editing the report code)"
    )
    parser.add_argument("--serve-model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_model:
        serve_model(args.serve_model)
        return
    if args.render_only:
        # Our own file from an earlier run of this script, never anything downloaded.
        res, meta, plan = pickle.loads((args.workdir / "last-run.pickle").read_bytes())
        write_report(args, res, meta, plan)
        return
    anyio.run(run, args)


if __name__ == "__main__":
    main()
