"""Load: hundreds of start/reply/end cycles with the server's files, threads and children flat; ten
conversations talking at once without mixing anything up; what an ended conversation keeps in memory.
bench/cycles.py is the long (1000-cycle) version of the first test."""

from __future__ import annotations

import gc
import os
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import anyio
import psutil
import pytest
from mcp import Client

from codex_mcp.cli.fakemodel import FakeModel, codex_config_toml
from codex_mcp.codex.settings import LaunchOptions
from codex_mcp.config import Settings
from codex_mcp.conversations.manager import Manager

from .conftest import FAKE_KEY, Sandbox, mcp_server
from .faults_helpers import codex_children, codex_processes
from .helpers import call, children_of, fd_count, list_all, reply, start_result
from .test_conversations import model_got, server_pid

pytestmark = [pytest.mark.anyio, pytest.mark.codex, pytest.mark.version_independent]

CYCLES = int(os.environ.get("CODEX_MCP_LOAD_CYCLES", "40"))
"""40 keep CI in its time budget and still show any per-cycle growth (a leak of one fd or thread per cycle is 40 of
them); bench/cycles.py is the long form (1000 cycles, figures over time), CODEX_MCP_LOAD_CYCLES a longer run here."""
SAMPLE_EVERY = max(1, CYCLES // 4)


@dataclass(frozen=True)
class Sample:
    """What the server process holds at one moment."""

    fds: int
    threads: int
    children: int
    rss_mb: float

    @classmethod
    def of(cls, pid: int) -> Sample:
        process = psutil.Process(pid)
        return cls(
            fds=fd_count(pid),
            threads=process.num_threads(),
            children=len(children_of(pid)),  # zombies included: an unreaped child counts
            rss_mb=process.memory_info().rss / (1 << 20),
        )


async def cycle(client: Client, sandbox: Sandbox, n: int) -> None:
    """One whole conversation: start, reply, end; each answer checked."""
    started = await start_result(client, f"cycle {n}", cwd=sandbox.work, timeout_s=60)
    assert started["reply"] == f"ECHO: cycle {n}", started
    cid = started["conversationId"]
    replied = await reply(client, cid, f"cycle {n} again", timeout_s=60)
    assert replied["reply"] == f"ECHO: cycle {n} again", replied
    ended = await call(client, "codex_end", conversationId=cid)
    assert ended["ended"] is True, ended


@pytest.mark.load
@pytest.mark.timeout(900)  # ~1 s a cycle on an idle 2-core machine; allow for a busy one
async def test_many_cycles_keep_files_threads_and_processes_flat(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        server = server_pid(sandbox)
        await cycle(client, sandbox, 0)  # warm-up: what is opened once (logs, selectors, a worker thread)
        baseline = Sample.of(server)
        samples: list[tuple[int, Sample]] = []
        began = time.monotonic()
        for n in range(1, CYCLES + 1):
            await cycle(client, sandbox, n)
            assert not codex_children(server), f"cycle {n}: Codex still running after codex_end"
            if n % SAMPLE_EVERY == 0:
                samples.append((n, Sample.of(server)))
                assert not codex_processes(sandbox), f"cycle {n}: left running: {codex_processes(sandbox)}"
        per_cycle = (time.monotonic() - began) / CYCLES
        listed = await list_all(client)
        assert len(listed) == CYCLES + 1
        assert {c["state"] for c in listed} == {"ended"}
        assert {c["end_reason"] for c in listed} == {"ended by client"}
        for n, sample in samples:
            assert sample.fds == baseline.fds, f"file descriptors grew by cycle {n}: {baseline} -> {sample}"
            assert sample.threads == baseline.threads, f"threads grew by cycle {n}: {baseline} -> {sample}"
            assert sample.children == 0, f"unreaped children at cycle {n}: {sample}"
        last = samples[-1][1]
        print(
            f"{CYCLES} start/reply/end cycles: {per_cycle:.2f}s each; server fds {baseline.fds} -> {last.fds}, "
            f"threads {baseline.threads} -> {last.threads}, RSS {baseline.rss_mb:.1f} -> {last.rss_mb:.1f} MB"
        )
    files = list((Path(sandbox.env["CODEX_MCP_STATE_DIR"]) / "conversations").glob("*.json"))
    assert len(files) == CYCLES + 1


def own_prompts(n: int) -> list[str]:
    return [f"conv {n} turn 1", f"conv {n} turn 2 [[slow:1]]", f"conv {n} turn 3", f"conv {n} turn 4 [[history]]"]


async def test_ten_conversations_reply_concurrently(sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel) -> None:
    """Ten conversations, four turns each, all at once (one of the turns a slow stream, so streams overlap):
    every reply is its own conversation's, each history holds only its own turns, no prompt is sent twice."""
    conversations = 10
    async with mcp_server(sandbox, codex_bin, "--max-sessions", str(conversations)) as client:
        ids: dict[int, str] = {}
        histories: dict[int, str] = {}

        async def converse(n: int) -> None:
            folder = sandbox.work / f"c{n}"
            folder.mkdir()
            first = await start_result(client, f"conv {n} turn 1", cwd=folder, timeout_s=120)
            assert first["reply"] == f"ECHO: conv {n} turn 1", first
            cid = ids[n] = first["conversationId"]
            prompts = own_prompts(n)
            for t, prompt in enumerate(prompts[1:3], start=2):
                r = await reply(client, cid, prompt, timeout_s=120)
                assert r["status"] == "completed", r
                assert r["turn"] == t
                assert r["reply"] == f"ECHO: {prompt}", r
            last = await reply(client, cid, prompts[3], timeout_s=120)
            assert last["turn"] == 4
            histories[n] = last["reply"]

        began = time.monotonic()
        async with anyio.create_task_group() as tg:
            for n in range(conversations):
                tg.start_soon(converse, n)
        elapsed = time.monotonic() - began

        assert len(set(ids.values())) == conversations
        for n in range(conversations):
            own = [
                f"conv {n} turn 1",
                f"conv {n} turn 2 [[slow:1]]",
                f"conv {n} turn 3",
                f"conv {n} turn 4 [[history]]",
            ]
            assert histories[n] == " | ".join(own), f"conversation {n} saw: {histories[n]}"
            for prompt in own:
                assert len(model_got(fake_model, prompt)) == 1, f"{prompt!r} reached the model more than once"
        listed = {c["conversationId"]: c for c in (await call(client, "codex_list"))["conversations"]}
        assert set(listed) == set(ids.values())
        assert all(c["state"] == "idle" and c["turns"] == 4 for c in listed.values())
        assert len(codex_children(server_pid(sandbox))) == conversations

        async def end(cid: str) -> None:
            assert (await call(client, "codex_end", conversationId=cid))["ended"] is True

        async with anyio.create_task_group() as tg:
            for cid in ids.values():
                tg.start_soon(end, cid)
        assert not codex_processes(sandbox)
        print(f"{conversations} conversations x 4 turns, concurrently: {elapsed:.1f}s")


async def test_an_ended_conversation_keeps_little_memory(sandbox: Sandbox, codex_bin: Path) -> None:
    """Measured in process with tracemalloc: memory still held after codex_end, per conversation. The test has
    a fake model of its own, whose records of the requests it clears before each measurement."""
    with FakeModel() as fake:
        (sandbox.codex_home / "config.toml").write_text(codex_config_toml(fake.base_url, FAKE_KEY))
        settings = Settings(
            codex_bin=str(codex_bin), state_dir=Path(sandbox.env["CODEX_MCP_STATE_DIR"]), spare_keep_s=0
        )
        manager = Manager(settings, env=sandbox.env)
        try:
            await manager.prepare()

            async def one(n: int) -> None:
                conv, turn = await manager.start(f"memory {n}", LaunchOptions(cwd=str(sandbox.work)), 60)
                assert turn.reply == f"ECHO: memory {n}"
                _, again, _ = await manager.reply(conv.id, f"memory {n} again", 60)
                assert again.reply == f"ECHO: memory {n} again"
                await manager.end(conv.id)

            def snapshot() -> tracemalloc.Snapshot:
                fake.requests.clear()
                gc.collect()
                return tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])

            await one(0)
            tracemalloc.start()
            before = snapshot()
            rounds = 4
            for n in range(1, rounds + 1):
                await one(n)
            after = snapshot()
            tracemalloc.stop()
        finally:
            await manager.shutdown()
    diff = after.compare_to(before, "filename")
    per_conversation = sum(d.size_diff for d in diff) / rounds
    top = ", ".join(f"{Path(d.traceback[0].filename).name} {d.size_diff // rounds // 1024} KB" for d in diff[:4])
    print(f"held per ended conversation: {per_conversation / 1024:.0f} KB ({top})")
    assert per_conversation < 100 * 1024, f"{per_conversation / 1024:.0f} KB per ended conversation ({top})"
