"""One Codex session driven against the stand-in TUI (tests/standin_tui.py): start-up, turns, approvals,
exits and ending. Fast: the stand-in starts in well under a second and answers at once."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from codex_mcp.codex.rollout import find_rollout
from codex_mcp.errors import CodexStartFailed
from codex_mcp.session.session import Session, State, start_session
from codex_mcp.terminal import ExitInfo
from codex_mcp.turn import Turn, TurnStatus

from ..helpers import await_until
from ..platforms import posix_pty

pytestmark = [pytest.mark.anyio, posix_pty("the stand-in TUI is a POSIX terminal program (termios)")]

STANDIN = str(Path(__file__).resolve().parent.parent / "standin_tui.py")
THREAD = "0199c0de-1234-7abc-8def-0123456789ab"
SLOW_S = 0.6


class World:
    """Folders and environment for one stand-in session."""

    def __init__(self, tmp_path: Path) -> None:
        self.codex_home = tmp_path / "codex-home"
        self.work = tmp_path / "work"
        self.pid_file = tmp_path / "standin.pid"
        self.codex_home.mkdir()
        self.work.mkdir()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "CODEX_HOME": str(self.codex_home),
            "LANG": "C.UTF-8",
        }

    async def launch(self, *args: str, timeout: float = 10.0, grace_s: float = 2.0) -> Session:
        """Start the stand-in as Codex would be started."""
        argv = [sys.executable, STANDIN, "--uuid", THREAD, "--slow-s", str(SLOW_S), "--pid-file", str(self.pid_file)]
        return await start_session(
            [*argv, *args],
            str(self.work),
            env=self.env,
            codex_home=self.codex_home,
            rows=30,
            cols=120,
            timeout=timeout,
            grace_s=grace_s,
        )

    def standin_pid(self) -> int:
        """The pid the stand-in wrote at start-up."""
        return int(self.pid_file.read_text())

    def rollout_events(self) -> list[str]:
        """The event_msg payload types in the thread's rollout file, in order."""
        path = find_rollout(self.codex_home, THREAD)
        assert path is not None, "no rollout file"
        records = [json.loads(line) for line in path.read_text().splitlines()]
        return [r["payload"]["type"] for r in records if r.get("type") == "event_msg"]


def submit(session: Session, prompt: str) -> Turn:
    """Queue a prompt the way a conversation does."""
    turn = Turn(index=1, prompt=prompt)
    session.submit(turn)
    return turn


def status_of(turn: Turn) -> TurnStatus:
    """The turn's status now (a call, so a type checker does not keep an earlier narrowing)."""
    return turn.status


def gone(pid: int) -> bool:
    """True once pid has exited and been reaped (no zombie left either)."""
    return not psutil.pid_exists(pid)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


@contextlib.asynccontextmanager
async def session(world: World, *args: str) -> AsyncIterator[Session]:
    """A launched conversation, ended afterwards whatever happened."""
    conv = await world.launch(*args)
    try:
        yield conv
    finally:
        with contextlib.suppress(Exception):  # teardown never raises; end() itself is tested below
            await conv.end("test over")  # idempotent: harmless after a test's own end()


# --- start-up -----------------------------------------------------------------------------------------


async def test_launch_learns_the_thread_id_and_answers_terminal_queries(world: World) -> None:
    async with session(world) as conv:
        assert conv.thread_id == THREAD
        assert conv.state == State.IDLE
        assert conv.live
        assert conv.tui_state == "idle"
        # The stand-in, like crossterm, waits for answers to ESC[6n and OSC 11;? before drawing.
        shown = conv.screen.text_lines()
        assert any("terminal answered: cpr=1;1 bg=rgb:0000/0000/0000" in line for line in shown)


async def test_launch_failure_reports_the_screen_and_leaves_no_process(world: World) -> None:
    with pytest.raises(CodexStartFailed) as failed:
        await world.launch("--exit-at-start", "2")
    assert "exit code 2" in str(failed.value)
    assert any("ERROR: standin refusing to start (exit 2)" in line for line in failed.value.screen)
    assert await await_until(lambda: gone(world.standin_pid()), 5)


async def test_launch_stops_at_a_blocking_dialog(world: World) -> None:
    question = "Do you trust the contents of this directory? Working with untrusted contents is risky."
    with pytest.raises(CodexStartFailed, match="trust") as failed:
        await world.launch("--screen", question)
    assert any("Do you trust" in line for line in failed.value.screen)
    assert await await_until(lambda: gone(world.standin_pid()), 5)


async def test_launch_gives_up_after_its_timeout(world: World) -> None:
    started = time.monotonic()
    with pytest.raises(CodexStartFailed, match=r"not ready after 0\.5s") as failed:
        await world.launch("--screen", "Loading forever...", timeout=0.5)
    assert time.monotonic() - started < 5
    assert any("Loading forever" in line for line in failed.value.screen)
    assert await await_until(lambda: gone(world.standin_pid()), 5)


async def test_launch_fails_fast_on_a_screen_it_does_not_know(world: World) -> None:
    """Issue 11: a prompt new to us is not waited out for the whole start-up bound."""
    started = time.monotonic()
    with pytest.raises(CodexStartFailed, match="does not know") as failed:
        await world.launch("--screen", "Pick a plan: 1. Pro 2. Plus", timeout=30)
    assert time.monotonic() - started < 12
    assert "codex-mcp doctor" in str(failed.value)
    assert any("Pick a plan" in line for line in failed.value.screen)


# --- turns --------------------------------------------------------------------------------------------


async def test_submit_and_wait_for_the_reply(world: World) -> None:
    async with session(world) as conv:
        turn = submit(conv, "hello there\nsecond line")
        assert turn.index == 1
        await turn.wait(10)
        assert turn.status == TurnStatus.COMPLETED
        assert turn.reply == "STANDIN: hello there\nsecond line"
        assert turn.error is None
        assert turn.turn_id == "turn-1"
        assert turn.started_at is not None
        assert turn.finished_at is not None
        assert turn.finished_at >= turn.started_at
        assert turn.thread_id == THREAD
        assert await await_until(lambda: conv.state == State.IDLE and not conv.busy, 5)


@pytest.mark.parametrize(
    ("prompt", "delivered"),
    [
        ("/quit", "/quit"),  # a leading slash command must not run: the session stays alive
        ("!rm -rf ~", "!rm -rf ~"),  # nor a local shell command
        ("end the paste \x1b[201~ early", "end the paste [201~ early"),
        ("日本語 😀 ünïcode", "日本語 😀 ünïcode"),
    ],
    ids=["slash", "bang", "paste-end", "unicode"],
)
async def test_hostile_prompts_arrive_as_text(world: World, prompt: str, delivered: str) -> None:
    async with session(world) as conv:
        turn = submit(conv, prompt)
        await turn.wait(10)
        assert turn.status == TurnStatus.COMPLETED, (turn.status, turn.error, conv.screen.text_lines()[-12:])
        assert turn.reply == f"STANDIN: {delivered}"
        assert conv.live


async def test_turns_run_one_after_another_in_order(world: World) -> None:
    async with session(world) as conv:
        first = submit(conv, "SLOW first")
        second = submit(conv, "second")
        third = submit(conv, "third")
        assert await await_until(lambda: first.status == TurnStatus.RUNNING, 5)
        assert second.status == TurnStatus.QUEUED
        await third.wait(10)
        # Sent while the first ran, the second would have steered it (one merged reply) instead.
        assert [t.reply for t in (first, second, third)] == ["STANDIN: SLOW first", "STANDIN: second", "STANDIN: third"]
        assert [t.turn_id for t in (first, second, third)] == ["turn-1", "turn-2", "turn-3"]
        assert first.finished_at is not None
        assert second.started_at is not None
        assert second.started_at >= first.finished_at
        assert world.rollout_events() == ["task_started", "task_complete"] * 3


async def test_wait_timeout_returns_a_running_turn_that_completes_later(world: World) -> None:
    async with session(world) as conv:
        turn = submit(conv, "SLOW please")
        started = time.monotonic()
        await turn.wait(0.2)
        waited = time.monotonic() - started
        assert 0.15 <= waited < SLOW_S, waited
        assert turn.status == TurnStatus.RUNNING
        assert turn.reply is None
        assert conv.state == State.RUNNING
        await turn.wait(10)
        assert status_of(turn) == TurnStatus.COMPLETED
        assert turn.reply == "STANDIN: SLOW please"


async def test_exit_mid_turn_fails_the_turn_and_the_conversation(world: World) -> None:
    async with session(world) as conv:
        turn = submit(conv, "CRASH now")
        await turn.wait(10)
        assert turn.status == TurnStatus.FAILED
        assert turn.error is not None
        assert "exit code 3" in turn.error
        assert conv.state == State.EXITED
        assert not conv.live
        late = submit(conv, "anyone there?")
        assert late.status == TurnStatus.FAILED  # at once: nothing waits on a dead session
        assert late.error is not None
        assert "exit code 3" in late.error
        assert await await_until(lambda: gone(world.standin_pid()), 5)


async def test_interrupt_from_the_terminal_marks_the_turn_interrupted(world: World) -> None:
    async with session(world) as conv:
        turn = submit(conv, "SLOW interrupt me")
        assert await await_until(lambda: turn.status == TurnStatus.RUNNING and conv.tui_state == "working", 5)
        await conv.terminal.write(b"\x1b")  # Esc, as a user at the terminal would
        await turn.wait(10)
        assert turn.status == TurnStatus.INTERRUPTED
        assert turn.error is not None
        assert "interrupted" in turn.error
        after = submit(conv, "still here?")
        await after.wait(10)
        assert after.reply == "STANDIN: still here?"


async def test_approval_request_is_reported_then_resolved(world: World) -> None:
    async with session(world) as conv:
        turn = submit(conv, "APPROVE touch approved.txt")
        await turn.wait(10)
        assert turn.status == TurnStatus.WAITING_FOR_APPROVAL
        assert conv.state == State.WAITING_FOR_APPROVAL
        assert any("Would you like to run the following command?" in line for line in conv.screen.text_lines()[-12:])
        await conv.terminal.write(b"y")
        assert await await_until(lambda: turn.settled, 10), turn.status
        assert status_of(turn) == TurnStatus.COMPLETED
        assert turn.reply == "STANDIN: APPROVE touch approved.txt"
        assert await await_until(lambda: conv.state == State.IDLE, 5)


# --- ending -------------------------------------------------------------------------------------------


async def test_end_of_an_idle_conversation_quits_codex_its_own_way(world: World) -> None:
    async with session(world) as conv:
        turn = submit(conv, "one turn first")
        await turn.wait(10)
        info = await conv.end("client is done")
        assert info == ExitInfo(code=0, signal=None)  # /quit, no signal needed
        assert conv.state == State.ENDED
        assert conv.end_reason == "client is done"
        assert not conv.live
        assert turn.status == TurnStatus.COMPLETED  # a settled turn stays as it was
        assert await await_until(lambda: gone(world.standin_pid()), 5)
        late = submit(conv, "more")
        assert late.status == TurnStatus.FAILED
        assert late.error == "conversation ended (client is done)"
        assert await conv.end("again") == info  # idempotent, and the first reason stays
        assert conv.end_reason == "client is done"


async def test_end_during_a_turn_fails_running_and_queued_turns(world: World) -> None:
    async with session(world) as conv:
        running = submit(conv, "SLOW long task")
        queued = submit(conv, "never sent")
        assert await await_until(lambda: running.status == TurnStatus.RUNNING and conv.tui_state == "working", 5)
        info = await conv.end("stopped by test")
        assert info == ExitInfo(code=0, signal=None)  # Esc, then /quit: still Codex's own way out
        for turn in (running, queued):
            assert turn.status == TurnStatus.FAILED
            assert turn.error is not None
            assert "stopped by test" in turn.error
        assert world.rollout_events() == ["task_started", "turn_aborted"]  # the second prompt never reached it
        assert await await_until(lambda: gone(world.standin_pid()), 5)


async def test_end_while_an_approval_waits(world: World) -> None:
    async with session(world) as conv:
        turn = submit(conv, "APPROVE rm something")
        await turn.wait(10)
        assert turn.status == TurnStatus.WAITING_FOR_APPROVAL
        info = await conv.end("declined")
        assert info == ExitInfo(code=0, signal=None)  # Esc closes the dialog, then /quit
        assert status_of(turn) == TurnStatus.FAILED
        assert await await_until(lambda: gone(world.standin_pid()), 5)


async def test_an_interrupt_codex_did_not_take_is_pressed_again(world: World) -> None:
    # An Esc that reaches Codex in the moment between its "working" run state and the start of its task is lost
    # (seen on a loaded CI machine): the stand-in ignores the first Esc of a DEAF turn. The turn must still stop.
    async with session(world, "--slow-s", "8") as conv:
        turn = submit(conv, "SLOW DEAF stop me")
        assert await await_until(lambda: turn.status == TurnStatus.RUNNING and conv.tui_state == "working", 5)
        assert conv.interrupt()
        await conv.until_stopped(turn, 5)
        assert turn.status == TurnStatus.INTERRUPTED
        after = submit(conv, "still here?")
        await after.wait(10)
        assert after.reply == "STANDIN: still here?"  # no stray Esc left the composer in another mode


async def test_a_turn_interrupted_before_codex_said_it_works_is_stopped(world: World) -> None:
    # The turn is running for the caller (sent) while Codex has not yet said it works on it: codex_interrupt must
    # not answer "nothing to interrupt" and let it run on; the Esc goes in once Codex works on it.
    async with session(world, "--slow-s", "8") as conv:
        turn = submit(conv, "SLOW LAGGY stop me early")
        assert await await_until(lambda: turn.status == TurnStatus.RUNNING, 5)
        assert conv.tui_state != "working"
        assert conv.interrupt()
        await conv.until_stopped(turn, 5)
        assert turn.status == TurnStatus.INTERRUPTED
        after = submit(conv, "still here?")
        await after.wait(10)
        assert after.reply == "STANDIN: still here?"
