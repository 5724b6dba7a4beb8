"""One Codex process: the TUI in a terminal, its rendered screen, and the turns sent to it.

Turns are queued and sent one at a time by a single worker task, so two callers can never interleave
input into the same PTY. A turn's end and its reply come from Codex's rollout file (``task_complete``),
its run state from ``OSC 7501``; the screen is for start-up, dialogs and showing what Codex is doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from . import codex, nesting
from .errors import CodexStartFailed, TerminalClosed
from .rollout import RolloutTail, find_rollout, tail_from_end, turn_event, user_message
from .screen import Osc, Screen
from .terminal import ExitInfo, PtyTerminal, spawn_terminal
from .turn import Turn, TurnStatus

log = logging.getLogger(__name__)

SESSION_MARKER = nesting.SESSION_MARKER

_POLL_S = 0.005
"""How often a running turn checks the rollout file. Only while a turn runs; an idle session costs nothing."""


_DIALOG_GRACE_S = 5.0
"""How long Codex may say "blocked" without drawing a dialog before we report the wait anyway."""

_STUCK_S = 5.0
"""How long a start-up screen may stay unchanged, with text on it but no composer and no dialog we know, before we
call it a screen Codex waits on (a prompt new to us) and fail instead of waiting out the whole start-up bound.
Codex draws its composer within ~1 s of its first frame (~4 s the first time in a new CODEX_HOME, while it keeps
redrawing)."""


def kill_marked(marker: str) -> int:
    """SIGKILL every process that still carries this session's marker in its environment (Linux /proc; elsewhere
    nothing to scan). Returns how many there were."""
    needle = f"{SESSION_MARKER}={marker}".encode()
    killed = 0
    with contextlib.suppress(OSError):
        entries = os.listdir("/proc")
        for entry in entries:
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if needle not in f.read().split(b"\0"):
                        continue
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
            except OSError:  # gone meanwhile, or not ours to read
                continue
    if killed:
        log.info("ended %d process(es) left behind by a Codex session", killed)
    return killed


class State(StrEnum):
    """Where a conversation's Codex session is."""

    STARTING = "starting"
    IDLE = "idle"
    RUNNING = "running"
    WAITING_FOR_APPROVAL = "waiting_for_approval"
    ENDED = "ended"
    EXITED = "exited"


@dataclass
class Viewer:
    """A terminal attached to the session: watching, or holding the keyboard."""

    mode: Literal["watch", "control"]
    since: float
    rows: int
    cols: int


class Session:
    """A live Codex TUI bound to one Codex thread id."""

    def __init__(self, terminal: PtyTerminal, screen: Screen, cwd: str, codex_home: Path, *, grace_s: float) -> None:
        self.terminal = terminal
        self.screen = screen
        self.cwd = cwd
        self.codex_home = codex_home
        self.grace_s = grace_s
        self.thread_id: str | None = None
        self.state = State.STARTING
        self.tui_state: str | None = None
        self.end_reason: str | None = None
        self.started_at = time.time()
        self.last_activity = self.started_at
        self.current: Turn | None = None
        self.on_gone: Callable[[Session], None] | None = None
        self.on_person_turn: Callable[[], Turn] | None = None  # the conversation records a person's turn
        self.on_closed: Callable[[Session], None] | None = None  # the process is gone and the PTY closed
        self._closed_told = False
        self._blocked_since: float | None = None
        self.sent: Turn | None = None  # our turn, once pasted and until it settles
        self.person_turn: Turn | None = None  # a turn a person started from an attached terminal
        self.input_holder: str | None = None  # a person at the keyboard: our turns wait for them
        self._input_key: int | None = None
        self.viewers: dict[int, Viewer] = {}
        self.home_size: tuple[int, int] = (0, 0)
        self.marker: str | None = None
        self._follower: asyncio.Task[None] | None = None
        self._gone_told = False
        self._queue: asyncio.Queue[Turn] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._tail: RolloutTail | None = None
        self._worker: asyncio.Task[None] | None = None
        self._ending: asyncio.Task[ExitInfo | None] | None = None
        terminal.subscribe(self._on_output)
        terminal.on_exit(self._on_exit)

    # --- start-up ------------------------------------------------------------------------------

    @classmethod
    async def launch(
        cls,
        argv: list[str],
        cwd: str,
        *,
        env: Mapping[str, str],
        codex_home: Path,
        rows: int,
        cols: int,
        timeout: float,
        grace_s: float,
    ) -> Session:
        """Start Codex and wait until its composer is ready and its thread id is known.

        Raises CodexStartFailed (with the last screen lines) if Codex exits, shows a dialog we must not
        answer for the user, stays on a screen we do not know (_STUCK_S), or is not ready within timeout seconds;
        nothing is left running then."""
        # Every process Codex starts inherits this marker, even one that leaves Codex's process group (the login
        # shell of Codex's shell snapshot runs the user's profile, whose background jobs end up under init).
        marker = secrets.token_hex(12)
        try:
            terminal = await spawn_terminal(argv, cwd=cwd, env={**env, SESSION_MARKER: marker}, rows=rows, cols=cols)
        except OSError as exc:  # a missing folder, an argument list too long for the kernel, ...
            raise CodexStartFailed(f"it could not be started ({exc})", []) from exc
        screen = Screen(cols, rows, answer=terminal.write_nowait)
        session = cls(terminal, screen, cwd, codex_home, grace_s=grace_s)
        session.home_size = (rows, cols)
        session.marker = marker
        try:
            session.thread_id = await session._wait_ready(timeout)
        except BaseException:
            await terminal.terminate(grace_s=0)
            raise
        session.state = State.IDLE
        session._worker = asyncio.create_task(session._work(), name=f"codex-turns-{session.thread_id}")
        return session

    async def _wait_ready(self, timeout: float) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen: list[str] = []
        seen_since = loop.time()
        while True:
            lines = self.screen.lines()
            facts = codex.read_screen(lines)
            if not self.terminal.alive:
                info = self.terminal.exit_info
                raise CodexStartFailed(
                    f"it exited ({info.describe() if info else 'unknown status'})", self.screen.text_lines()
                )
            if facts.ready and facts.thread_id and facts.footer_state == "Ready" and self.tui_state != "working":
                return facts.thread_id
            if facts.blocker and not facts.ready:
                raise CodexStartFailed(facts.blocker, self.screen.text_lines())
            text = self.screen.text_lines()
            if text != seen:
                seen, seen_since = text, loop.time()
            elif text and not facts.ready and not facts.thread_id and loop.time() - seen_since >= _STUCK_S:
                raise CodexStartFailed(
                    f"it waits on a screen codex-mcp does not know (unchanged for {_STUCK_S:g}s, no composer); "
                    + codex.UNKNOWN_SCREEN_HINT,
                    text,
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise CodexStartFailed(
                    f"its composer was not ready after {timeout:g}s; {codex.UNKNOWN_SCREEN_HINT}", text
                )
            await self._sleep_until_woken(min(remaining, 0.25))

    # --- terminal events -------------------------------------------------------------------------

    def _on_output(self, data: bytes) -> None:
        for osc in self.screen.feed(data):
            self._on_osc(osc)
        self._wake.set()

    def _on_osc(self, osc: Osc) -> None:
        if osc.code == "7501":
            state, _ = codex.parse_run_state(osc.data)
            if state:
                self.tui_state = state

    def _on_exit(self, info: ExitInfo) -> None:
        if self.state == State.STARTING:
            log.debug("Codex exited during start-up (%s)", info.describe())
        elif self.state not in (State.ENDED, State.EXITED) and info.code == 0 and self.viewers:
            log.info("Codex for thread %s was quit from an attached terminal", self.thread_id)
            self.state = State.ENDED
            self.end_reason = "ended by the user (in an attached terminal)"
        elif self.state not in (State.ENDED, State.EXITED):
            log.warning("Codex for thread %s exited unexpectedly (%s)", self.thread_id, info.describe())
            self.state = State.EXITED
            self.end_reason = f"crashed (Codex {info.describe()})" if info.code != 0 else "Codex exited by itself"
        self._wake.set()
        # Release the PTY now; there is nothing more to read that matters once the process is gone.
        if self._ending is None:
            self._ending = asyncio.get_running_loop().create_task(self.terminal.terminate())
            self._ending.add_done_callback(lambda _task: self._tell_closed())
        self._tell_gone()

    def _tell_closed(self) -> None:
        if self.marker is not None:
            kill_marked(self.marker)
        if not self._closed_told and self.on_closed is not None:
            self._closed_told = True
            self.on_closed(self)

    def _tell_gone(self) -> None:
        if self.state in (State.ENDED, State.EXITED) and not self._gone_told and self.on_gone is not None:
            self._gone_told = True
            self.on_gone(self)

    async def _sleep_until_woken(self, timeout: float) -> None:
        # asyncio.timeout, not wait_for: in 3.11 wait_for can swallow a cancellation that races its
        # timeout, which left a cancelled worker waiting forever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        self._wake.clear()

    # --- turns -----------------------------------------------------------------------------------

    @property
    def live(self) -> bool:
        """True while the Codex process is running and the session has not been ended."""
        return self.state not in (State.ENDED, State.EXITED) and self.terminal.alive

    @property
    def busy(self) -> bool:
        """True while a turn runs or waits in the queue."""
        return self.current is not None or not self._queue.empty()

    def submit(self, turn: Turn) -> None:
        """Queue a turn; turns run strictly in submission order. On a session that is gone the turn fails at
        once (its worker may be gone too, and a queued turn must never wait forever)."""
        turn.thread_id = self.thread_id
        self.last_activity = time.time()
        if not self.live:
            turn.fail(self.ended_message())
            return
        self._queue.put_nowait(turn)

    def ended_message(self) -> str:
        """Why turns can no longer run here, in the words every failed turn uses."""
        if self.state == State.ENDED:
            return f"conversation ended ({self.end_reason})"
        return self.end_reason or "Codex is not running"

    async def _work(self) -> None:
        while True:
            turn = await self._queue.get()
            if turn.settled:  # withdrawn while it waited (its caller was cancelled)
                continue
            self.current = turn
            try:
                if not self.live:
                    turn.fail(self.ended_message())
                    continue
                await self._run_turn(turn)
            except asyncio.CancelledError:
                turn.fail(self.ended_message())
                raise
            except Exception as exc:  # keep the worker alive for the next turn
                log.exception("turn %d of %s failed", turn.index, self.thread_id)
                turn.fail(f"internal error: {exc}")
            finally:
                self.current = None
                self.last_activity = time.time()
                if self.state in (State.RUNNING, State.WAITING_FOR_APPROVAL):
                    self.state = State.IDLE
                # Render the turn's output now that the reply is out, not while it was on its way.
                asyncio.get_running_loop().call_later(0.05, self.screen.flush)

    def _tui_idle(self) -> bool:
        # Codex's own run state (OSC 7501) when it has sent one; the footer's run state otherwise. Reading the
        # footer means rendering the screen, which the OSC spares on every turn.
        if self.tui_state is not None:
            return self.tui_state in ("idle", "done", "error")
        return codex.read_screen(self.screen.lines()).footer_state == "Ready"

    def _may_send(self) -> bool:
        # Codex must be idle (or Enter would steer a running turn), nobody may be typing, and a turn a person
        # started must be over.
        return self.input_holder is None and self.person_turn is None and self._tui_idle()

    async def _run_turn(self, turn: Turn) -> None:
        # No deadline: sending anyway could merge two turns; the caller's own timeout bounds its wait.
        while self.live and not self._may_send():
            await self._sleep_until_woken(0.25)
            self._pump_rollout()
        if self._tail is None:  # a resumed thread: only what comes next, in the plain file even if it was a .zst
            self._tail = tail_from_end(self.codex_home, self.thread_id or "")
        self._pump_rollout()  # whatever earlier turns left behind is not this turn's
        self.state = State.RUNNING
        turn.set_status(TurnStatus.RUNNING)
        self.sent = turn
        try:
            await self.terminal.write(codex.encode_prompt(turn.payload))
        except TerminalClosed as exc:
            turn.fail(f"could not send the prompt: {exc}")
            return
        finally:
            if turn.settled:
                self.sent = None
        try:
            while not turn.settled:
                self._pump_rollout()
                if turn.settled:
                    break
                if not self.terminal.alive or self.state in (State.ENDED, State.EXITED):
                    if self.state == State.ENDED:
                        turn.fail(self.ended_message())
                        break
                    info = self.terminal.exit_info
                    why = self.end_reason or (f"Codex exited ({info.describe()})" if info else "Codex exited")
                    tail = "\n".join(self.screen.text_lines()[-8:])
                    turn.fail(f"{why} during the turn; it was not re-run. Last screen lines:\n{tail}")
                    break
                self._follow_approval(turn)
                await self._sleep_until_woken(_POLL_S)
        finally:
            self.sent = None

    def follow_resumed_thread(self) -> None:
        """This session resumed an existing thread: read its rollout only from what Codex appends from now on, so a
        turn a person types before our first one is not mistaken for the thread's whole history."""
        if self._tail is None:
            self._tail = tail_from_end(self.codex_home, self.thread_id or "")

    def _pump_rollout(self) -> None:
        """Read what Codex appended to the rollout and settle turns with it: the turn we sent, or a turn a
        person started from an attached terminal. The only reader of the rollout, so no event is lost."""
        if self._tail is None:
            path = find_rollout(self.codex_home, self.thread_id or "", recent_only=True, plain_only=True)
            if path is None:
                return
            # A new thread's rollout appears with its first prompt; everything in it is new.
            self._tail = RolloutTail(path, 0)
        for record in self._tail.read_new():
            person = self.person_turn
            if person is not None and not person.prompt and (text := user_message(record)) is not None:
                person.prompt = text
                person.payload = text
                continue
            event = turn_event(record)
            if event is None:
                continue
            sent = self.sent
            if event.kind == "started":
                if sent is not None and sent.turn_id is None:
                    sent.turn_id = event.turn_id
                elif self.on_person_turn is not None and self.person_turn is None:
                    self.person_turn = self.on_person_turn()
                    self.person_turn.turn_id = event.turn_id
                    self.person_turn.thread_id = self.thread_id
                    self.person_turn.set_status(TurnStatus.RUNNING)
                continue
            target = None
            for candidate in (sent, self.person_turn):
                if candidate is not None and candidate.turn_id in (None, event.turn_id) and not candidate.settled:
                    target = candidate
                    break
            if target is None:
                continue
            if event.kind == "complete":
                target.reply = event.reply
                if event.error:
                    target.set_status(TurnStatus.FAILED, error=event.error)
                else:
                    target.set_status(TurnStatus.COMPLETED)
            else:
                target.set_status(TurnStatus.INTERRUPTED, error=f"turn aborted ({event.reason or 'unknown reason'})")
            if target is self.person_turn:
                self.person_turn = None
                self._wake.set()

    def _follow_approval(self, turn: Turn) -> None:
        blocked = self.tui_state == "blocked"
        if not blocked:
            self._blocked_since = None
        elif self._blocked_since is None:
            self._blocked_since = time.monotonic()
        # OSC 7501 says "blocked" about a second before the dialog is drawn, and a key pressed before then
        # lands in the composer. Report the wait once the dialog is on screen (or blocked stays unexplained).
        if (
            blocked
            and turn.status == TurnStatus.RUNNING
            and (
                codex.read_approval(self.screen.lines()) is not None
                or time.monotonic() - (self._blocked_since or 0.0) > _DIALOG_GRACE_S
            )
        ):
            self.state = State.WAITING_FOR_APPROVAL
            turn.set_status(TurnStatus.WAITING_FOR_APPROVAL)
        elif not blocked and turn.status == TurnStatus.WAITING_FOR_APPROVAL:
            self.state = State.RUNNING
            turn.set_status(TurnStatus.RUNNING)

    # --- people at attached terminals ------------------------------------------------------------

    def add_viewer(self, key: int, viewer: Viewer) -> None:
        """A terminal attached. Holding the keyboard also sets the session's size to the person's terminal."""
        if not self.viewers:
            self._follower = asyncio.get_running_loop().create_task(self._follow_people())
        self.viewers[key] = viewer
        if viewer.mode == "control":
            self.resize(viewer.rows, viewer.cols)
        else:
            self.nudge_redraw()

    def remove_viewer(self, key: int) -> None:
        """A terminal detached (or its connection dropped)."""
        viewer = self.viewers.pop(key, None)
        if viewer is not None and viewer.mode == "control":
            self.release_input(key)
        if not any(v.mode == "control" for v in self.viewers.values()) and self.home_size[0]:
            self.resize(*self.home_size)  # the last person left: back to the server's own size
        if not self.viewers and self._follower is not None:
            self._follower.cancel()
            self._follower = None

    def take_input(self, key: int, who: str) -> bool:
        """Give a person the keyboard; False if someone else has it."""
        if self.input_holder is not None and self._input_key != key:
            return False
        self.input_holder = who
        self._input_key = key
        return True

    def release_input(self, key: int) -> None:
        """The person gives the keyboard back; queued turns go ahead."""
        if self.input_holder is not None and self._input_key == key:
            self.input_holder = None
            self._input_key = None
            self._wake.set()

    def person_typed(self, key: int, data: bytes) -> bool:
        """Keys from an attached terminal: passed on only for the person holding the keyboard."""
        if self.input_holder is None or self._input_key != key or not self.live:
            return False
        self._write_quietly(data)
        self.last_activity = time.time()
        return True

    def resize(self, rows: int, cols: int) -> None:
        """Resize the PTY and the screen model together."""
        if (rows, cols) == self.screen.size:
            return
        self.terminal.resize(rows, cols)
        self.screen.resize(rows, cols)

    def nudge_redraw(self) -> None:
        """Make Codex repaint everything (a size change it notices), so a new watcher sees it all in colour."""
        rows, cols = self.screen.size
        self.terminal.resize(rows, max(20, cols - 1))
        asyncio.get_running_loop().call_later(0.05, self.terminal.resize, rows, cols)

    async def _follow_people(self) -> None:
        """While terminals are attached, notice turns a person starts (we are not sending one then)."""
        while True:
            await asyncio.sleep(0.1)
            if self.sent is None and self.live:
                try:
                    self._pump_rollout()
                except Exception:  # the follower must outlive any one bad record
                    log.exception("following a person's turn failed")

    # --- control ---------------------------------------------------------------------------------

    def withdraw(self, turn: Turn) -> bool:
        """Take back a turn that is still queued (never sent). False if it already started."""
        if turn.status != TurnStatus.QUEUED or turn is self.current:
            return False
        turn.fail("withdrawn: the call that sent it was cancelled before Codex got it")
        return True

    def interrupt(self) -> bool:
        """Stop the running turn the way a person would (Esc). False if no turn was running."""
        if self.current is None or not self.live or self.tui_state not in ("working", "blocked"):
            return False
        self._write_quietly(codex.INTERRUPT_KEY)
        return True

    def press(self, keys: bytes) -> None:
        """Send keys to Codex (an approval answer)."""
        self.terminal.write_nowait(keys)

    def screen_tail(self, lines: int = 12) -> list[str]:
        """The last rows of the screen that hold text."""
        return self.screen.text_lines()[-lines:]

    # --- ending ----------------------------------------------------------------------------------

    async def end(self, reason: str) -> ExitInfo | None:
        """Stop Codex: its own /quit first, then signals to its process group. Idempotent, never raises."""
        if self.state not in (State.ENDED, State.EXITED):
            self.state = State.ENDED
            self.end_reason = reason
        self._wake.set()
        self._tell_gone()
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            # Bounded: ending must never hang on the worker, whatever state it is in.
            await asyncio.wait([self._worker], timeout=1.0)
        while not self._queue.empty():
            self._queue.get_nowait().fail(self.ended_message())

        def quit_codex() -> None:
            if self.tui_state in ("working", "blocked"):
                # A running turn or dialog would take /quit as text; Esc first returns to the composer.
                self.terminal.write_nowait(codex.INTERRUPT_KEY)
                asyncio.get_running_loop().call_later(0.2, self._write_quietly, codex.QUIT_KEYS)
            else:
                self.terminal.write_nowait(codex.QUIT_KEYS)

        info = await self.terminal.terminate(quit_codex if self.terminal.alive else None, grace_s=self.grace_s)
        if self._ending is not None:
            with contextlib.suppress(Exception):
                await self._ending
        self._tell_closed()
        return info

    def _write_quietly(self, data: bytes) -> None:
        with contextlib.suppress(TerminalClosed):
            self.terminal.write_nowait(data)
