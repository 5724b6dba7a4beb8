"""A person attaches a real terminal (a PTY running `codex-mcp attach`) to a live Codex session that the MCP
side drives: sees the screen, types, watches, detaches, and the MCP side sees what the person did."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from codex_mcp.cli.fakemodel import FakeModel
from codex_mcp.session.screen import Screen
from codex_mcp.terminal import Terminal

from .conftest import Sandbox, mcp_server
from .helpers import await_until, call, reply, start, start_result
from .platforms import kill_hard, posix_pty
from .test_conversations import model_got

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.codex,
    posix_pty("drives codex-mcp attach in a PTY of its own; the Windows console is tests/unit/test_console.py"),
]


class Person:
    """A terminal running `codex-mcp attach` (or any command), as a person would see it."""

    def __init__(self, terminal: Terminal, rows: int, cols: int) -> None:
        self.terminal = terminal
        self.screen = Screen(cols, rows)
        self.raw = bytearray()
        terminal.subscribe(self._on_output)

    def _on_output(self, data: bytes) -> None:
        self.raw += data
        self.screen.feed(data)

    def text(self) -> str:
        return "\n".join(self.screen.lines())

    async def until(self, predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
        return await await_until(predicate, timeout)

    async def type(self, text: str) -> None:
        """Type a line like a person: the text, a pause, then Enter."""
        await self.terminal.write(text.encode())
        await asyncio.sleep(0.4)
        await self.terminal.write(b"\r")


@asynccontextmanager
async def person(
    sandbox: Sandbox, *args: str, rows: int = 40, cols: int = 140, shell_after: str | None = None
) -> AsyncIterator[Person]:
    argv = [sys.executable, "-m", "codex_mcp", "attach", *args]
    if shell_after is not None:  # run something in the same terminal after attach returns
        argv = ["sh", "-c", " ".join(f"'{a}'" for a in argv) + f"; {shell_after}"]
    term = await Terminal.spawn(argv, cwd=str(sandbox.work), env=dict(sandbox.env), rows=rows, cols=cols)
    p = Person(term, rows, cols)
    try:
        yield p
    finally:
        await term.terminate(grace_s=0)


async def status(client: Client, cid: str, **kw: Any) -> dict[str, Any]:
    return await call(client, "codex_status", conversationId=cid, **kw)


async def test_take_over_watch_and_hand_back(sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "attach start", cwd=sandbox.work)
        info = await call(client, "codex_attach_info", conversationId=cid)
        assert info["live"] is True
        assert info["command"].startswith(f"codex-mcp attach {cid}")
        args = info["command"].split()[2:]

        async with person(sandbox, *args, rows=30, cols=120) as me, person(sandbox, *args, "--watch") as them:
            # The current screen at once, then the live output.
            assert await me.until(lambda: "ECHO: attach start" in me.text()), me.text()
            assert await them.until(lambda: "ECHO: attach start" in them.text()), them.text()
            listed = (await call(client, "codex_list"))["conversations"][0]
            assert sorted(listed["viewers"]) == ["control", "watch"]
            assert "a person" in listed["input_holder"]

            # A person types a prompt: Codex answers on their terminal and in codex_status.
            await me.type("typed by a person")
            assert await me.until(lambda: "ECHO: typed by a person" in me.text()), me.text()
            deadline = time.monotonic() + 10
            while (s := await status(client, cid))["reply"] != "ECHO: typed by a person":
                assert time.monotonic() < deadline, s
                await asyncio.sleep(0.1)
            assert s["turn"] == 2
            assert (await status(client, cid, turn=2))["status"] == "completed"

            # The agent's turn waits while the person holds the keyboard, and says why.
            queued = await reply(client, cid, "from the agent", timeout_s=2)
            assert queued["status"] == "queued"
            assert "a person" in queued["input_holder"]
            assert not model_got(fake_model, "from the agent")

            # A watcher's keys never reach Codex.
            await them.type("watcher typing")
            await asyncio.sleep(1.0)
            assert not model_got(fake_model, "watcher typing")

            # The person detaches; the agent's turn goes ahead, and the watcher sees it happen.
            await me.terminal.write(b"\x1d")
            assert await me.terminal.wait_exit(5) is not None
            done = await status(client, cid, turn=queued["turn"], wait_s=15)
            assert done["status"] == "completed"
            assert done["reply"] == "ECHO: from the agent"
            assert await them.until(lambda: "ECHO: from the agent" in them.text()), them.text()
            assert (await call(client, "codex_list"))["conversations"][0]["viewers"] == ["watch"]


async def test_detach_restores_the_terminal_and_size(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "restore me", cwd=sandbox.work)
        async with person(sandbox, cid, rows=24, cols=90, shell_after="stty -a; sleep 5") as me:
            assert await me.until(lambda: "ECHO: restore me" in me.text())
            narrow = (await status(client, cid))["screen"]
            assert max(len(line) for line in narrow) <= 90  # the session follows the person's terminal
            await me.terminal.write(b"\x1d")
            assert await me.until(lambda: b"icanon" in me.raw and b"codex-mcp attach: detached" in me.raw)
            modes = me.raw.split(b"codex-mcp attach: detached", 1)[1].decode(errors="replace")
            assert " icanon" in modes
            assert " echo" in modes  # cooked mode again: not -icanon / -echo
            assert b"\x1b[?1049l" in me.raw  # back from the alternate screen
        # The last person left: the session is back at the server's own size.
        deadline = time.monotonic() + 5
        while max(len(line) for line in (await status(client, cid))["screen"]) <= 90:
            assert time.monotonic() < deadline, "the session did not return to its own size"
            await asyncio.sleep(0.1)


async def test_quit_typed_by_a_person_ends_the_session_resumably(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "quit test", cwd=sandbox.work)
        async with person(sandbox, cid) as me:
            assert await me.until(lambda: "ECHO: quit test" in me.text())
            await me.type("/quit")
            assert await me.terminal.wait_exit(10) is not None
            assert b"the Codex session ended" in me.raw
        s = await status(client, cid)
        assert s["state"] == "ended"
        assert s["end_reason"] == "ended by the user (in an attached terminal)"
        r = await reply(client, cid, "after the user quit")
        assert r["recovery"] == "resumed"
        assert r["reply"] == "ECHO: after the user quit"


@pytest.mark.version_independent
async def test_killing_the_attach_client_leaves_the_session_untouched(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "sturdy", cwd=sandbox.work)
        async with person(sandbox, cid) as me:
            assert await me.until(lambda: "ECHO: sturdy" in me.text())
            kill_hard(me.terminal.pid)
            assert await me.terminal.wait_exit(5) is not None
        deadline = time.monotonic() + 5
        while (listed := (await call(client, "codex_list"))["conversations"][0])["viewers"]:
            assert time.monotonic() < deadline, listed
            await asyncio.sleep(0.1)
        assert listed["input_holder"] is None
        assert listed["state"] == "idle"
        r = await reply(client, cid, "still mine", timeout_s=10)
        assert r["recovery"] == "live"
        assert r["reply"] == "ECHO: still mine"


@pytest.mark.version_independent
async def test_server_shutdown_tells_attached_terminals(sandbox: Sandbox, codex_bin: Path) -> None:
    term: Terminal | None = None
    try:
        async with mcp_server(sandbox, codex_bin) as client:
            cid = await start(client, "goodbye", cwd=sandbox.work)
            argv = [sys.executable, "-m", "codex_mcp", "attach", cid]
            term = await Terminal.spawn(argv, cwd=str(sandbox.work), env=dict(sandbox.env), rows=30, cols=120)
            me = Person(term, 30, 120)
            assert await me.until(lambda: "ECHO: goodbye" in me.text())
        # Leaving the client closed the server's stdin: it shut down, and said so to the attached terminal,
        # which let go by itself with its modes restored.
        assert await me.until(lambda: b"the codex-mcp server is shutting down" in me.raw, 10), me.raw[-300:]
        info = await term.wait_exit(5)
        assert info is not None
        assert info.code == 0
        assert b"\x1b[?1049l" in me.raw
    finally:
        if term is not None:
            await term.terminate(grace_s=0)


async def test_only_the_same_user_may_connect(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        await start_result(client, "private", cwd=sandbox.work)
        control = Path(sandbox.env["CODEX_MCP_STATE_DIR"]) / "control"
        [sock] = list(control.glob("*.sock"))
        assert stat.S_IMODE(control.stat().st_mode) == 0o700
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        if os.geteuid() != 0:  # pragma: no cover - CI runs as root and can become another user
            return
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit code
            code = 3
            try:
                os.setgid(65534)
                os.setuid(65534)  # nobody
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(sock))
                code = 1  # connected: that is the failure
            except PermissionError:
                code = 0
            finally:
                os._exit(code)
        _, status_code = await asyncio.to_thread(os.waitpid, pid, 0)
        assert os.waitstatus_to_exitcode(status_code) == 0, "another user reached the control socket"


async def test_a_person_answers_an_approval_and_ls_shows_them(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        asked = await start_result(
            client,
            "[[escalate:touch by-a-person.txt]]",
            cwd=sandbox.work,
            approval_policy="on-request",
            sandbox="read-only",
            timeout_s=30,
        )
        assert asked["status"] == "waiting_for_approval"
        cid = asked["conversationId"]
        async with person(sandbox, cid) as me:
            assert await me.until(lambda: "Would you like to run the following command?" in me.text()), me.text()
            listing = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "codex_mcp", "ls"],
                env=sandbox.env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            [line] = [line for line in listing.stdout.splitlines() if line.startswith(cid)]
            assert "waiting_for_approval" in line
            assert "input: a person" in line
            assert "viewers: control" in line
            await me.terminal.write(b"y")  # the person approves in place
            deadline = time.monotonic() + 15
            # (a wait returns at once while the turn still waits for a decision: poll until Codex took the key)
            while (done := await status(client, cid, wait_s=5))["status"] != "completed":
                assert time.monotonic() < deadline, done
                await asyncio.sleep(0.1)
            assert (sandbox.work / "by-a-person.txt").exists()


async def test_another_windows_turn_waits_for_the_person_at_the_keyboard(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    """Issue 23: a person attached to window A's session holds the keyboard; window B's reply (passed on to A)
    queues behind them as A's own would, says who holds it, and runs once they detach."""
    async with mcp_server(sandbox, codex_bin) as a, mcp_server(sandbox, codex_bin) as b:
        cid = await start(a, "attach and forward", cwd=sandbox.work)
        async with person(sandbox, cid) as me:
            assert await me.until(lambda: "ECHO: attach and forward" in me.text()), me.text()
            queued = await reply(b, cid, "from window b PETREL", timeout_s=2)
            assert queued["status"] == "queued", queued
            assert "a person" in queued["input_holder"]
            assert not model_got(fake_model, "PETREL")
            await me.terminal.write(b"\x1d")
            assert await me.terminal.wait_exit(5) is not None
            done = await status(b, cid, turn=queued["turn"], wait_s=15)
            assert done["status"] == "completed"
            assert done["reply"] == "ECHO: from window b PETREL"
