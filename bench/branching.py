"""What codex_fork, codex_rewind and codex_compact cost, through the real MCP client, our server and the real Codex
CLI on the instant fake model: each call's time, next to a plain codex_reply on the same conversation.

    .venv/bin/python bench/branching.py [--rounds 5] [--codex-bin PATH]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from common import bench_world, rounds_main
from mcp import Client


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values):7.1f} ms (min {min(values):.1f}, max {max(values):.1f}, n={len(values)})"


async def timed(client: Client, tool: str, arguments: dict[str, Any], into: list[float]) -> dict[str, Any]:
    t0 = time.perf_counter()
    r = await client.call_tool(tool, arguments)
    into.append((time.perf_counter() - t0) * 1000)
    assert not r.is_error, r
    assert r.structured_content, r
    content: dict[str, Any] = r.structured_content
    return content


async def run(args: argparse.Namespace) -> None:
    with bench_world(args.codex_bin) as (_home, work, params):
        async with Client(params, read_timeout_seconds=120) as client:
            reply: list[float] = []
            fork: list[float] = []
            rewind: list[float] = []
            compact: list[float] = []
            for n in range(args.rounds):
                r = await client.call_tool("codex_start", {"prompt": f"bench {n} one", "cwd": str(work)})
                assert r.structured_content
                cid = r.structured_content["conversationId"]
                for word in ("two", "three"):
                    await timed(client, "codex_reply", {"conversationId": cid, "prompt": f"bench {n} {word}"}, reply)
                f = await timed(client, "codex_fork", {"conversationId": cid, "prompt": "branch", "at_turn": 2}, fork)
                await timed(client, "codex_compact", {"conversationId": cid}, compact)
                await timed(client, "codex_rewind", {"conversationId": cid, "to_turn": 1}, rewind)
                for c in (cid, f["conversationId"]):
                    await client.call_tool("codex_end", {"conversationId": c})
        print("| call (live conversation of 3 turns) | median (range) |")
        print("| --- | --- |")
        print(f"| codex_reply | {median_ms(reply)} |")
        print(f"| codex_fork at turn 2, its first turn included | {median_ms(fork)} |")
        print(f"| codex_compact | {median_ms(compact)} |")
        print(f"| codex_rewind to turn 1 (the live session ended for it) | {median_ms(rewind)} |")


def main() -> None:
    rounds_main(run, __doc__)


if __name__ == "__main__":
    main()
