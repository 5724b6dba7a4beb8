"""Many start/reply/end cycles through the real MCP client, our server and the real Codex CLI on the instant
fake model: whether the server's open files, threads, memory and child processes stay flat, and what one
cycle costs. tests/test_load.py runs the same loop (40 cycles in CI) with assertions; this is the long version.

    .venv/bin/python bench/cycles.py [--cycles 1000] [--every 100] [--codex-bin PATH]

Exits 1 if file descriptors or threads grew, or a Codex process was left running.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import anyio
from common import pinned_codex, procs_with
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from codex_mcp.cli.fakemodel import FakeModel, codex_config_toml


@dataclass
class Sample:
    """The server process at one moment."""

    cycles: int
    fds: int
    threads: int
    rss_mb: float
    children: int
    codex: int

    @classmethod
    def take(cls, cycles: int, server: int, home: Path) -> Sample:
        status = Path(f"/proc/{server}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        children = 0
        for tid in os.listdir(f"/proc/{server}/task"):
            children += len(Path(f"/proc/{server}/task/{tid}/children").read_text().split())
        return cls(
            cycles=cycles,
            fds=len(os.listdir(f"/proc/{server}/fd")),
            threads=int(fields["Threads"]),
            rss_mb=int(fields["VmRSS"].split()[0]) / 1024,
            children=children,
            codex=len([p for p, cmd in procs_with("CODEX_HOME", str(home)) if "codex_mcp" not in cmd]),
        )


async def cycle(client: Client, work: Path, n: int) -> float:
    """One conversation: codex_start, codex_reply, codex_end. Returns its seconds."""
    began = time.perf_counter()
    started = await client.call_tool("codex_start", {"prompt": f"cycle {n}", "cwd": str(work)})
    content = started.structured_content or {}
    assert content.get("reply") == f"ECHO: cycle {n}", started
    cid = content["conversationId"]
    replied = await client.call_tool("codex_reply", {"conversationId": cid, "prompt": f"cycle {n} again"})
    assert (replied.structured_content or {}).get("reply") == f"ECHO: cycle {n} again", replied
    ended = await client.call_tool("codex_end", {"conversationId": cid})
    assert (ended.structured_content or {}).get("ended") is True, ended
    return time.perf_counter() - began


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp, FakeModel() as fake:
        home = Path(tmp) / "codex-home"
        work = Path(tmp) / "work"
        user = Path(tmp) / "home"
        for d in (home, work, user):
            d.mkdir()
        (home / "config.toml").write_text(codex_config_toml(fake.base_url))
        env = {
            **os.environ,
            # Codex runs a login shell at every start (its shell snapshot), in a session of its own: with the
            # real HOME, whatever the user's profile starts in the background would be counted here too.
            "HOME": str(user),
            "CODEX_HOME": str(home),
            "CODEX_MCP_FAKE_KEY": "bench",
            "CODEX_MCP_STATE_DIR": str(Path(tmp) / "state"),
        }
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "codex_mcp", "--codex-bin", args.codex_bin], env=env, cwd=str(work)
        )
        async with Client(params, read_timeout_seconds=120) as client:
            [server] = [pid for pid, cmd in procs_with("CODEX_HOME", str(home)) if "codex_mcp" in cmd]
            await cycle(client, work, 0)  # warm-up: what is opened once (logs, selectors) is not a leak
            samples = [Sample.take(0, server, home)]
            times: list[float] = []
            print("| cycles | fds | threads | RSS MB | children | Codex processes | median cycle s (window) |")
            print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            print(_row(samples[0], []), flush=True)
            for n in range(1, args.cycles + 1):
                times.append(await cycle(client, work, n))
                if n % args.every == 0 or n == args.cycles:
                    samples.append(Sample.take(n, server, home))
                    print(_row(samples[-1], times[-args.every :]), flush=True)
            listed = await client.call_tool("codex_list", {})
            conversations = len((listed.structured_content or {}).get("conversations", []))
        after = len([p for p, cmd in procs_with("CODEX_HOME", str(home)) if "codex_mcp" not in cmd])

    first, last = samples[0], samples[-1]
    print()
    print(f"cycles: {args.cycles}, median {statistics.median(times):.3f}s, p90 {_p90(times):.3f}s per cycle")
    print(f"server fds {first.fds} -> {last.fds}, threads {first.threads} -> {last.threads}, ", end="")
    growth_kb = (last.rss_mb - first.rss_mb) / args.cycles * 1024
    print(f"RSS {first.rss_mb:.1f} -> {last.rss_mb:.1f} MB ({growth_kb:.1f} KB/cycle)")
    print(f"conversations listed: {conversations}; Codex processes left after the server exited: {after}")
    ok = last.fds <= first.fds and last.threads <= first.threads and after == 0 and last.codex == 0
    print("flat" if ok else "NOT FLAT")
    return 0 if ok else 1


def _row(s: Sample, window: list[float]) -> str:
    median = f"{statistics.median(window):.3f}" if window else "-"
    return f"| {s.cycles} | {s.fds} | {s.threads} | {s.rss_mb:.1f} | {s.children} | {s.codex} | {median} |"


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) >= 10 else max(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--every", type=int, default=100, help="print a sample every this many cycles")
    parser.add_argument("--codex-bin", default=pinned_codex())
    sys.exit(anyio.run(run, parser.parse_args()))


if __name__ == "__main__":
    main()
