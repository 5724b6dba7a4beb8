"""Issue 9 (part 2): never fork a thread that is live elsewhere.

A person continues a conversation in a terminal with `codex resume <id>` (as the README invites). While that Codex
runs it holds the thread's writer lock ($CODEX_HOME/thread-writer-locks/<id>.lock), and codex_reply must say so
instead of replaying the history into a new thread behind the person's back. Once the person quits, the next
codex_reply resumes the thread with everything the person did in it. A lock left by a killed Codex does not block.
The person here is the real Codex (the same binary and CODEX_HOME as the server's) in a real PTY."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import Client

from codex_mcp.cli.fakemodel import FakeModel
from codex_mcp.codex import writers
from codex_mcp.codex.argv import resume_argv
from codex_mcp.codex.keys import QUIT_KEYS, encode_prompt
from codex_mcp.codex.settings import LaunchOptions
from codex_mcp.codex.tui import read_screen
from codex_mcp.config import Settings
from codex_mcp.conversations.manager import Manager
from codex_mcp.errors import ThreadOpenElsewhere
from codex_mcp.session.screen import Screen
from codex_mcp.terminal import Terminal

from ..conftest import Sandbox, mcp_server
from ..helpers import await_until, call, call_error, reply, start
from ..platforms import posix_signals
from ..test_conversations import codex_pids, model_got

pytestmark = [pytest.mark.anyio, pytest.mark.codex]


class PersonCodex:
    """`codex resume <id> --no-daemon` in a terminal of its own, as a person runs it."""

    def __init__(self, terminal: Terminal, screen: Screen) -> None:
        self.terminal = terminal
        self.screen = screen

    def text(self) -> str:
        return "\n".join(self.screen.text_lines())

    def ready(self) -> bool:
        facts = read_screen(self.screen.lines())
        return facts.ready and facts.footer_state == "Ready"

    async def until(self, predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
        return await await_until(predicate, timeout)

    async def say(self, prompt: str, reply: str) -> None:
        """Send a prompt the way codex-mcp does (one bracketed paste) and wait for the reply on screen."""
        self.terminal.write_nowait(encode_prompt(prompt))
        assert await self.until(lambda: f"• {reply}" in self.text() and self.ready()), self.text()

    async def quit(self) -> None:
        """/quit, typed as one bracketed paste plus Enter."""
        self.terminal.write_nowait(QUIT_KEYS)
        info = await self.terminal.wait_exit(10)
        assert info is not None, f"the person's Codex did not quit:\n{self.text()}"
        assert info.code == 0, f"the person's Codex did not quit cleanly: {info}\n{self.text()}"


@asynccontextmanager
async def person_resumes(sandbox: Sandbox, codex_bin: Path, thread_id: str) -> AsyncIterator[PersonCodex]:
    """The person's Codex, ready and holding the thread; always ended and reaped."""
    argv = resume_argv(str(codex_bin), thread_id, LaunchOptions(cwd=str(sandbox.work)))
    env = {**sandbox.env, "TERM": "xterm-256color"}
    terminal = await Terminal.spawn(argv, cwd=str(sandbox.work), env=env, rows=40, cols=140)
    screen = Screen(140, 40, answer=terminal.write_nowait)

    def feed(data: bytes) -> None:
        screen.feed(data)

    terminal.subscribe(feed)
    person = PersonCodex(terminal, screen)
    try:
        assert await person.until(person.ready), f"the person's Codex did not start:\n{person.text()}"
        holder = writers.thread_writer(sandbox.codex_home, thread_id)
        assert holder is not None, "the person's Codex does not hold the thread's writer lock"
        assert holder.pid == terminal.pid, f"another process holds the thread: {holder}"
        yield person
    finally:
        await terminal.terminate(grace_s=0)


async def started_then_ended(client: Client, sandbox: Sandbox, prompt: str) -> str:
    cid = await start(client, prompt, cwd=sandbox.work)
    assert (await call(client, "codex_end", conversationId=cid))["ended"] is True
    return cid


async def test_reply_is_refused_while_a_person_has_the_thread_open(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await started_then_ended(client, sandbox, "remember ALBATROSS")
        before = await call(client, "codex_status", conversationId=cid)

        async with person_resumes(sandbox, codex_bin, cid) as person:
            await person.say("[[reply:noted KESTREL]] the person adds KESTREL", "noted KESTREL")
            error = await call_error(client, "codex_reply", conversationId=cid, prompt="agent says PUFFIN")
            assert "open in another Codex process" in error
            assert f"pid {person.terminal.pid}: " in error, error
            assert f"resume {cid}" in error, error
            assert "/quit" in error
            assert "Nothing was sent" in error
            assert not model_got(fake_model, "PUFFIN"), "the refused prompt reached a model"
            # Nothing of ours is left running, and the conversation is as it was: no replay, no new turn.
            assert codex_pids(sandbox) == [person.terminal.pid]
            after = await call(client, "codex_status", conversationId=cid)
            assert after["thread_id"] == cid
            assert after["turns"] == before["turns"] == 1
            assert after["state"] == "ended"
            listed = await call(client, "codex_list")
            [entry] = [c for c in listed["conversations"] if c["conversationId"] == cid]
            assert entry["thread_id"] == cid
            assert entry["turns"] == 1
            # Asking again gives the same answer (no ownership or state leaked by the first refusal).
            assert "open in another Codex process" in await call_error(
                client, "codex_reply", conversationId=cid, prompt="agent says PUFFIN again"
            )
            await person.quit()

        r = await reply(client, cid, "agent asks [[history]]")
        assert r["recovery"] == "resumed"
        assert r["thread_id"] == cid
        assert r["turn"] == 2
        assert (
            r["reply"]
            == "remember ALBATROSS | [[reply:noted KESTREL]] the person adds KESTREL | agent asks [[history]]"
        )
        assert not model_got(fake_model, "PUFFIN")


@posix_signals("a process group's SIGKILL, so that no wrapper removes the lock file")
async def test_a_lock_left_by_a_killed_codex_does_not_block(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await started_then_ended(client, sandbox, "remember OSPREY")
        async with person_resumes(sandbox, codex_bin, cid) as person:
            os.killpg(person.terminal.pid, signal.SIGKILL)  # Codex gets no chance to remove its lock file
            info = await person.terminal.wait_exit(10)
            assert info is not None
            assert info.signal == signal.SIGKILL
        assert writers.lock_path(sandbox.codex_home, cid).exists(), "the killed Codex left its lock file"
        # The lock goes with the last of the killed group; on a loaded machine a child may still be exiting.
        assert await await_until(lambda: writers.thread_writer(sandbox.codex_home, cid) is None, 10)
        r = await reply(client, cid, "after the kill [[history]]")
        assert r["recovery"] == "resumed"
        assert r["thread_id"] == cid
        assert r["reply"] == "remember OSPREY | after the kill [[history]]"


# --- in process: the paths a subprocess server cannot be steered into ----------------------------


@asynccontextmanager
async def manager_for(sandbox: Sandbox, codex_bin: Path) -> AsyncIterator[Manager]:
    manager = Manager(Settings(codex_bin=str(codex_bin), state_dir=sandbox.state_dir, spare_keep_s=0), env=sandbox.env)
    await manager.prepare()
    try:
        yield manager
    finally:
        await manager.shutdown()


async def test_codex_lock_screen_at_resume_is_refused_not_replayed(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race: a writer appears after our look (here: our look sees nothing, as where the lock cannot be
    read). Codex's own lock screen must then give the same error, not a replay."""
    async with manager_for(sandbox, codex_bin) as manager:
        conv, _ = await manager.start("remember GANNET", LaunchOptions(cwd=str(sandbox.work)), 60)
        await manager.end(conv.id)
        async with person_resumes(sandbox, codex_bin, conv.id) as person:
            monkeypatch.setattr(writers, "thread_writer", lambda *args, **kwargs: None)
            with pytest.raises(ThreadOpenElsewhere) as caught:
                await manager.reply(conv.id, "agent says SKUA", 60)
            assert "open in another Codex process (the system does not say which)" in str(caught.value)
            assert conv.thread_id == conv.id
            assert conv.threads == [conv.id]
            assert len(conv.turns) == 1
            assert not conv.live
            assert not manager.conversations.owns(conv.id), "the refused reply kept the conversation claimed"
            assert not model_got(fake_model, "SKUA")
            assert codex_pids(sandbox) == [person.terminal.pid]
            monkeypatch.undo()
            await person.quit()
        _, turn, _ = await manager.reply(conv.id, "now [[history]]", 60)
        assert turn.recovery == "resumed"
        assert turn.reply == "remember GANNET | now [[history]]"


@posix_signals("SIGSTOP holds the old Codex where it is")
async def test_our_own_exiting_codex_is_waited_for(
    sandbox: Sandbox, codex_bin: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """codex_reply arriving while this server is still ending the conversation's Codex waits for it to exit. The
    old Codex is stopped (SIGSTOP) so that it cannot act on /quit: it stays, holding the thread, until end()
    escalates after its 2 s grace (SIGHUP + SIGCONT), longer than a resumed Codex takes to reach the lock."""
    caplog.set_level(logging.INFO, logger="codex_mcp.conversations.manager")
    async with manager_for(sandbox, codex_bin) as manager:
        conv, _ = await manager.start("remember FULMAR", LaunchOptions(cwd=str(sandbox.work)), 60)
        old = conv.session
        assert old is not None
        os.kill(old.terminal.pid, signal.SIGSTOP)

        async def reply_once_ending() -> tuple[str | None, str | None]:
            # gather() ran end() first up to its first await: the session is no longer live, its Codex not yet gone
            assert not old.live
            assert old.terminal.alive
            holder = writers.thread_writer(sandbox.codex_home, conv.id)
            assert holder is not None
            assert holder.pid == old.terminal.pid
            _, turn, _ = await manager.reply(conv.id, "again [[history]]", 60)
            return turn.recovery, turn.reply

        began = time.monotonic()
        _, (recovery, answer) = await asyncio.gather(manager.end(conv.id), reply_once_ending())
        assert time.monotonic() - began > manager.settings.end_grace_s, "the old Codex was not slow to exit"
        assert recovery == "resumed"
        assert answer == "remember FULMAR | again [[history]]"
        assert "open in another process" not in caplog.text, "resume hit the lock instead of waiting"
