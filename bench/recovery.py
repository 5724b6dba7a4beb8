"""The recovery ladder, timed through the real MCP client, our server and the real Codex CLI on the instant
fake model: codex_reply time when the conversation is live, resumed after codex_end, resumed after Codex was
SIGKILLed, resumed after a server restart, and replayed after its rollout was deleted.

    .venv/bin/python bench/recovery.py [--rounds 5] [--codex-bin PATH]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from common import bench_world, codex_pids, rounds_main
from mcp import Client


async def reply(client: Client, cid: str, prompt: str) -> tuple[float, str]:
    began = time.perf_counter()
    r = await client.call_tool("codex_reply", {"conversationId": cid, "prompt": prompt})
    elapsed = (time.perf_counter() - began) * 1000
    content: dict[str, Any] = r.structured_content or {}
    assert content.get("status") == "completed", r
    return elapsed, str(content["recovery"])


async def run(args: argparse.Namespace) -> None:
    with bench_world(args.codex_bin) as (home, work, params):

        @asynccontextmanager
        async def server() -> AsyncIterator[Client]:
            async with Client(params, read_timeout_seconds=120) as client:
                yield client

        times: dict[str, list[float]] = {
            k: [] for k in ("live", "after end", "after SIGKILL", "after restart", "replay")
        }
        for n in range(args.rounds):
            async with server() as client:
                started = await client.call_tool("codex_start", {"prompt": f"ladder {n}", "cwd": str(work)})
                assert started.structured_content is not None
                cid = started.structured_content["conversationId"]
                t, how = await reply(client, cid, "live turn")
                assert how == "live"
                times["live"].append(t)

                await client.call_tool("codex_end", {"conversationId": cid})
                t, how = await reply(client, cid, "after end")
                assert how == "resumed"
                times["after end"].append(t)

                for pid in codex_pids(home):
                    os.kill(pid, signal.SIGKILL)
                while True:  # until the server has noticed
                    s = await client.call_tool("codex_status", {"conversationId": cid})
                    if s.structured_content and s.structured_content["state"] == "exited":
                        break
                    await anyio.sleep(0.02)
                t, how = await reply(client, cid, "after kill")
                assert how == "resumed"
                times["after SIGKILL"].append(t)
            async with server() as client:
                t, how = await reply(client, cid, "after restart")
                assert how == "resumed"
                times["after restart"].append(t)
                await client.call_tool("codex_end", {"conversationId": cid})
                for rollout in home.glob(f"sessions/*/*/*/rollout-*-{cid}.jsonl"):
                    rollout.unlink()
                t, how = await reply(client, cid, "after the rollout is gone")
                assert how == "replayed"
                times["replay"].append(t)

        print("| codex_reply | recovery | median ms | min–max ms | n |")
        print("| --- | --- | --- | --- | --- |")
        labels = {
            "live": "live",
            "after end": "resumed",
            "after SIGKILL": "resumed",
            "after restart": "resumed",
            "replay": "replayed",
        }
        for key, values in times.items():
            print(
                f"| {key} | {labels[key]} | {statistics.median(values):.0f} | "
                f"{min(values):.0f}–{max(values):.0f} | {len(values)} |"
            )


def main() -> None:
    rounds_main(run, __doc__)


if __name__ == "__main__":
    main()
