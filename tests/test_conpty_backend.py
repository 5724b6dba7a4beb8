"""The server on the Windows terminal backend (terminal/conpty.py) with the real Codex: a conversation in Japanese
and Chinese, an approval, an interrupt, a Codex killed and resumed, and nothing left running after the end.

tests/conpty_server.py runs the real server with conpty.py's two seams into Windows filled from this machine
(pywinpty by ptyprocess, whose interface it copies; taskkill by a psutil tree kill): what runs for real is the
backend's reader and writer threads, its text boundary, its exit report and its escalation, under the real server.
ConPTY itself has never run here (docs/compatibility.md#platforms)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import psutil
import pytest
from mcp import Client

from .conftest import Sandbox, mcp_server
from .conpty_server import SPAWNS
from .faults_helpers import codex_processes
from .helpers import await_until, call, reply, start_result
from .platforms import kill_hard
from .test_approvals import ASKING
from .test_conversations import codex_pids, model_got

pytestmark = [pytest.mark.anyio, pytest.mark.codex, pytest.mark.version_independent]

CONPTY = "tests.conpty_server"


def codex_of(sandbox: Sandbox) -> list[int]:
    """This test's Codex processes (the server, which runs as tests.conpty_server, left out)."""
    return [pid for pid in codex_pids(sandbox) if CONPTY not in " ".join(psutil.Process(pid).cmdline())]


@asynccontextmanager
async def conpty_server(sandbox: Sandbox, codex_bin: Path) -> AsyncIterator[tuple[Client, Callable[[], list[int]]]]:
    """The server on the ConPTY backend, and the pids of the processes that backend started."""
    spawns = sandbox.work.parent / "conpty-spawns"
    spawns.touch()
    async with mcp_server(sandbox, codex_bin, module=CONPTY, env={SPAWNS: str(spawns)}) as client:
        yield client, lambda: [int(line) for line in spawns.read_text().split()]


TEXT = "日本語と中文を覚えて: 東京、北京 — Zoë"


async def test_a_conversation_in_japanese_and_chinese_on_the_conpty_backend(
    sandbox: Sandbox, codex_bin: Path, fake_model: object
) -> None:
    folder = sandbox.work / "my project — Zoë 日本"  # spaces and non-ASCII, as a Windows user folder has
    folder.mkdir()
    async with conpty_server(sandbox, codex_bin) as (client, spawned):
        started = await start_result(client, TEXT, cwd=folder)
        assert codex_of(sandbox) == spawned()  # its Codex runs on the ConPTY backend
        assert psutil.Process(spawned()[0]).cwd() == str(folder)
        assert started["status"] == "completed", started
        assert started["reply"] == f"ECHO: {TEXT}"
        cid = started["conversationId"]
        again = await reply(client, cid, "二番目 [[history]]")
        assert again["reply"] == f"{TEXT} | 二番目 [[history]]"
        snapshot = await call(client, "codex_status", conversationId=cid)
        assert "二番目" in "\n".join(snapshot["screen"])  # drawn by the TUI: back through the reader thread
        ended = await call(client, "codex_end", conversationId=cid)
        assert ended["ended"] is True
        assert model_got(fake_model, "二番目")  # type: ignore[arg-type]
    assert await await_until(lambda: not codex_processes(sandbox), 10), codex_processes(sandbox)


async def test_an_approval_and_an_interrupt_on_the_conpty_backend(sandbox: Sandbox, codex_bin: Path) -> None:
    async with conpty_server(sandbox, codex_bin) as (client, spawned):
        asked = await start_result(client, "[[escalate:touch conpty.txt]]", cwd=sandbox.work, timeout_s=30, **ASKING)
        assert asked["status"] == "waiting_for_approval", asked
        assert codex_of(sandbox) == spawned()
        cid = asked["conversationId"]
        done = await call(client, "codex_approve", conversationId=cid, decision="approve")
        assert done["status"] == "completed", done
        assert (sandbox.work / "conpty.txt").exists()

        slow = await call(client, "codex_reply", conversationId=cid, prompt="[[delay:60]] a long one", timeout_s=0)
        assert slow["status"] in ("queued", "running"), slow
        deadline = time.monotonic() + 20
        while (await call(client, "codex_status", conversationId=cid))["status"] != "running":
            assert time.monotonic() < deadline, "the long turn never started"
            await anyio.sleep(0.05)
        stopped = await call(client, "codex_interrupt", conversationId=cid)
        assert stopped["interrupted"] is True
        assert stopped["status"] == "interrupted"
        after = await reply(client, cid, "after the interrupt")
        assert after["reply"] == "ECHO: after the interrupt"


async def test_codex_killed_on_the_conpty_backend_is_resumed(sandbox: Sandbox, codex_bin: Path) -> None:
    async with conpty_server(sandbox, codex_bin) as (client, spawned):
        started = await start_result(client, "remember HERON", cwd=sandbox.work)
        cid = started["conversationId"]
        [codex] = codex_of(sandbox)
        assert [codex] == spawned()
        kill_hard(codex)  # Task Manager's "End task"
        deadline = time.monotonic() + 10
        while (status := await call(client, "codex_status", conversationId=cid))["state"] != "exited":
            assert time.monotonic() < deadline, f"the reader thread did not report Codex's exit: {status}"
            await anyio.sleep(0.05)
        assert "crashed" in status["end_reason"]
        r = await reply(client, cid, "and now [[history]]")
        assert r["recovery"] == "resumed"
        assert r["reply"] == "remember HERON | and now [[history]]"
        assert len(spawned()) == 2  # the resumed Codex too
    assert await await_until(lambda: not codex_processes(sandbox), 10), codex_processes(sandbox)
