"""One Codex process: the TUI in a terminal, its rendered screen, and the turns sent to it.

Turns are queued and sent one at a time by a single worker task, so two callers can never interleave
input into the same PTY. A turn's end and its reply come from Codex's rollout file (``task_complete``),
its run state from ``OSC 7501``; the screen is for start-up, dialogs and showing what Codex is doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path

from .._internal.tasks import Tasks, Ticker, wait_event
from ..codex import nesting
from ..codex.keys import INTERRUPT_KEY, encode_images, encode_prompt, quit_steps, rename_keys, turn_keys
from ..codex.tui import parse_run_state, read_screen
from ..ending import Ending
from ..errors import CodexStartFailed, InvalidInput, TerminalClosed
from ..terminal import ExitInfo, PtyTerminal, kill_with_env, spawn_terminal
from ..turn import Turn, TurnStatus
from .approvals import ApprovalRequest, ApprovalWatch, Decision, approval_keys
from .repaints import Repaints
from .screen import Osc, Screen
from .startup import StartupWatch
from .turn_tracker import TurnTracker, resume_tail
from .viewers import Viewer, Viewers

log = logging.getLogger(__name__)

SESSION_MARKER = nesting.SESSION_MARKER

_POLL_S = 0.004
"""How often a running turn reads the rollout file where writes to it are not reported (filewatch: not Linux).
Codex writes task_complete there ~10 ms before its run state says done (OSC 7501), so waiting for that alone would
be late. Only while a turn runs: an idle session costs nothing."""
_WATCHED_POLL_S = 0.25
"""The same where writes are reported: a safety net only. A write to the rollout or a new run state wakes the turn;
output alone does not (~30 chunks a turn, each of which used to wake it; every wake-up costs ~0.25 ms of CPU)."""
_REPRESS_AFTER_S = 1.0
"""How long an Esc has to stop a turn before it is pressed again (Session.until_stopped); one that works takes ~6 ms."""
_ESC_LOOK_S = 0.02
"""How often until_stopped looks whether Codex has said it works on a turn interrupted before it did."""
_STOP_WITHIN_S = 10.0
"""How long a turn whose caller gave up is seen to in the background (stop_soon)."""


class State(StrEnum):
    """Where a conversation's Codex session is."""

    STARTING = "starting"
    IDLE = "idle"
    RUNNING = "running"
    WAITING_FOR_APPROVAL = "waiting_for_approval"
    ENDED = "ended"
    EXITED = "exited"


def exit_outcome(state: State, info: ExitInfo, *, watched: bool) -> tuple[State, Ending] | None:
    """What Codex exiting means for a session in this state: the state and end reason it moves to, or None when
    the session was starting (start-up reports it) or had already ended. Exit 0 while a person watches or types in
    an attached terminal is their /quit; otherwise an exit nobody asked for is a crash or Codex leaving by itself."""
    if state in (State.STARTING, State.ENDED, State.EXITED):
        return None
    if info.code == 0 and watched:
        return State.ENDED, Ending.ended("ended by the user (in an attached terminal)")
    return State.EXITED, Ending.crashed(info.describe()) if info.code != 0 else Ending.codex_exited("by itself")


class Session:
    """A live Codex TUI bound to one Codex thread id."""

    def __init__(self, terminal: PtyTerminal, screen: Screen, cwd: str, codex_home: Path, *, grace_s: float) -> None:
        self.terminal = terminal
        self.screen = screen
        self.cwd = cwd
        self.grace_s = grace_s
        self.state = State.STARTING
        self.tui_state: str | None = None
        self.ending: Ending | None = None
        self.started_at = time.time()
        self.last_activity = self.started_at
        self.current: Turn | None = None
        self.on_gone: Callable[[Session], None] | None = None
        self.on_closed: Callable[[Session], None] | None = None  # the process is gone and the PTY closed
        self._wake = asyncio.Event()  # something changed: a waiting worker looks again
        self.turns = TurnTracker(codex_home, on_person_done=self._wake.set, on_sent_settled=self._sent_settled)
        self.viewers = Viewers(on_keyboard_free=self._wake.set)
        self.approvals = ApprovalWatch(screen.lines)
        self.home_size: tuple[int, int] = (0, 0)
        self.marker: str | None = None
        self._closed_told = False
        self._gone_told = False
        self._queue: asyncio.Queue[Turn] = asyncio.Queue()
        self._tasks = Tasks()
        self.repaints = Repaints(
            terminal, screen, self._tasks, lambda: self.live, lambda: f"codex-repaint-{self.thread_id}"
        )
        """Codex painting its whole screen again: for a watcher, and before a stale screen is read."""
        self._worker: asyncio.Task[None] | None = None
        self._follower: asyncio.Task[None] | None = None
        self._ending: asyncio.Task[ExitInfo | None] | None = None
        terminal.subscribe(self._on_output)
        terminal.on_exit(self._on_exit)

    @property
    def thread_id(self) -> str | None:
        """The Codex thread this session runs, once Codex has shown it."""
        return self.turns.thread_id

    @property
    def pending_approval(self) -> ApprovalRequest | None:
        """The dialog the running turn waits on, once Codex has drawn it."""
        return self.approvals.pending

    @property
    def input_holder(self) -> str | None:
        """A person at the keyboard (an attached terminal): our turns wait for them."""
        return self.viewers.input_holder

    def begin(self) -> None:
        """Codex is ready: start taking turns."""
        self.state = State.IDLE
        self._worker = self._tasks.spawn(self._work(), name=f"codex-turns-{self.thread_id}")

    # --- terminal events -------------------------------------------------------------------------

    def _on_output(self, data: bytes) -> None:
        for osc in self.screen.feed(data):
            self._on_osc(osc)
        if self.state == State.STARTING or self.tui_state is None:
            self._wake.set()  # judged from the screen: look at each change (a run state wakes the worker itself)
        self.repaints.output_seen()

    def _sent_settled(self) -> None:
        # Settled from the rollout watch's callback (TurnTracker): the worker does this too once it runs, but the
        # caller, woken by the settled turn, may run first.
        if self.state in (State.RUNNING, State.WAITING_FOR_APPROVAL):
            self.state = State.IDLE
        self._wake.set()

    def _on_osc(self, osc: Osc) -> None:
        if osc.code == "7501":
            state, _ = parse_run_state(osc.data)
            if state:
                self.tui_state = state
                self._wake.set()

    def _on_exit(self, info: ExitInfo) -> None:
        outcome = exit_outcome(self.state, info, watched=bool(self.viewers))
        if outcome is not None:
            self.state, self.ending = outcome
            if self.state == State.EXITED:
                log.warning("Codex for thread %s exited unexpectedly (%s)", self.thread_id, info.describe())
            else:
                log.info("Codex for thread %s was quit from an attached terminal", self.thread_id)
        self._wake.set()
        # Release the PTY now; there is nothing more to read that matters once the process is gone.
        if self._ending is None:
            self._ending = self._tasks.spawn(self.terminal.terminate(), name=f"codex-close-{self.thread_id}")
            self._ending.add_done_callback(lambda _task: self._tell_closed())
        self._tell_gone()

    def _tell_closed(self) -> None:
        self.turns.close()
        if self.marker is not None and (left := kill_with_env(SESSION_MARKER, self.marker)):
            log.info("ended %d process(es) left behind by a Codex session", left)
        if not self._closed_told and self.on_closed is not None:
            self._closed_told = True
            self.on_closed(self)

    def _tell_gone(self) -> None:
        if self.state in (State.ENDED, State.EXITED) and not self._gone_told and self.on_gone is not None:
            self._gone_told = True
            self.on_gone(self)

    async def sleep_until_woken(self, timeout: float) -> None:
        """Wait for something to change (output while starting, a run state, a rollout write), at most timeout."""
        await wait_event(self._wake, timeout)
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

    @property
    def end_reason(self) -> str | None:
        """The words of how the session ended (None while it has not)."""
        return self.ending.detail if self.ending is not None else None

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
                self.approvals.reset()
                self.last_activity = time.time()
                if self.state in (State.RUNNING, State.WAITING_FOR_APPROVAL):
                    self.state = State.IDLE

    def _tui_idle(self) -> bool:
        # Codex's own run state (OSC 7501) when it has sent one; the footer's run state otherwise. Reading the
        # footer means rendering the screen, which the OSC spares on every turn.
        if self.tui_state is not None:
            return self.tui_state in ("idle", "done", "error")
        return read_screen(self.screen.lines()).footer_state == "Ready"

    def _may_send(self) -> bool:
        # Codex must be idle (or Enter would steer a running turn), nobody may be typing, and a turn a person
        # started must be over.
        return self.input_holder is None and self.turns.person_turn is None and self._tui_idle()

    async def _run_turn(self, turn: Turn) -> None:
        # No deadline: sending anyway could merge two turns; the caller's own timeout bounds its wait.
        while True:
            while self.live and not self._may_send():
                await self.sleep_until_woken(0.25)
                self.turns.pump()
            self.turns.follow_resumed_thread()  # a resumed thread: only what comes next
            self.turns.pump()  # whatever earlier turns left behind is not this turn's
            if not self.live or self._may_send():
                break  # else that pump found a turn someone else started (`codex queue`): it goes first
        self.state = State.RUNNING
        turn.set_status(TurnStatus.RUNNING)
        self.turns.began()
        self.turns.sent = turn
        ticking = Ticker(_WATCHED_POLL_S, self._wake.set)
        try:
            try:
                await self.terminal.write(turn_keys(turn.kind, turn.payload, turn.images))
            except TerminalClosed as exc:
                turn.fail(f"could not send the prompt: {exc}")
                return
            while not turn.settled:
                self.turns.pump()
                if turn.settled:
                    break
                if not self.terminal.alive or self.state in (State.ENDED, State.EXITED):
                    turn.fail(self._died_message())
                    break
                self._follow_approval(turn)
                if self.turns.watched:  # a write to the rollout, a run state or the tick wakes it
                    await self._wake.wait()
                    self._wake.clear()
                else:
                    await self.sleep_until_woken(_POLL_S)
        finally:
            ticking.cancel()
            self.turns.sent = None

    def _died_message(self) -> str:
        """Why a running turn failed: the session was ended, or Codex went away under it."""
        if self.state == State.ENDED:
            return self.ended_message()
        info = self.terminal.exit_info
        why = self.end_reason or (f"Codex exited ({info.describe()})" if info else "Codex exited")
        tail = "\n".join(self.screen.text_lines()[-8:])
        return f"{why} during the turn; it was not re-run. Last screen lines:\n{tail}"

    # --- approvals -------------------------------------------------------------------------------

    def _follow_approval(self, turn: Turn) -> None:
        if self.tui_state == "blocked" and self.screen.stale:
            self.repaints.request()  # read the dialog once Codex has repainted it
            return
        waiting = self.approvals.waiting(self.tui_state == "blocked")
        if waiting and turn.status == TurnStatus.RUNNING:
            self.state = State.WAITING_FOR_APPROVAL
            turn.set_status(TurnStatus.WAITING_FOR_APPROVAL)
        elif self.tui_state != "blocked" and turn.status == TurnStatus.WAITING_FOR_APPROVAL:
            self.state = State.RUNNING
            turn.set_status(TurnStatus.RUNNING)

    def answer(self, decision: Decision) -> None:
        """Give Codex the decision on the dialog its running turn waits on (approvals.approval_keys: never more
        than was decided). Raises InvalidInput when Codex does not offer that choice."""
        self.terminal.write_nowait(approval_keys(decision, self.pending_approval))

    # --- people at attached terminals ------------------------------------------------------------

    def add_viewer(self, key: int, viewer: Viewer) -> None:
        """A terminal attached. Holding the keyboard also sets the session's size to the person's terminal."""
        if self.viewers.add(key, viewer):
            follow = self.turns.follow_people(lambda: self.live)
            self._follower = self._tasks.spawn(follow, name=f"codex-people-{self.thread_id}")
        if viewer.mode == "control":
            self.resize(viewer.rows, viewer.cols)
        else:
            self.repaints.nudge()

    def remove_viewer(self, key: int) -> None:
        """A terminal detached (or its connection dropped); the keyboard goes back if it held it."""
        self.viewers.remove(key)
        if not self.viewers.anyone_controls and self.home_size[0]:
            self.resize(*self.home_size)  # the last person left: back to the server's own size
        if not self.viewers and self._follower is not None:
            self._follower.cancel()
            self._follower = None

    def person_typed(self, key: int, data: bytes) -> bool:
        """Keys from an attached terminal: passed on only for the person holding the keyboard."""
        if not self.viewers.holds_input(key) or not self.live:
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

    def may_drop_output(self) -> bool:
        """Whether the screen model may drop output nobody read (Screen.feed): only while Codex runs to repaint
        it, and nobody watches (a person's terminal would flicker at each repaint)."""
        return not self.viewers and self.terminal.alive

    # --- control ---------------------------------------------------------------------------------

    def withdraw(self, turn: Turn) -> bool:
        """Take back a turn that is still queued (never sent). False if it already started."""
        if turn.status != TurnStatus.QUEUED or turn is self.current:
            return False
        turn.fail("withdrawn: the call that sent it was cancelled before Codex got it")
        return True

    def steer(self, text: str, images: list[str]) -> Turn | None:
        """Add text (and images) to the turn Codex is running, as a person typing into the running TUI does: Enter
        steers it, one combined turn. Returns that turn (its prompt records the addition), or None when no turn
        of ours runs (the caller queues a new one). Refused while Codex waits for an approval or a person types."""
        turn = self.current
        if turn is None or turn is not self.turns.sent or not self._codex_working():
            return None
        if turn.kind == "compact":
            raise InvalidInput("Codex is compacting the thread: reply once it is done (without steer)")
        if turn.status == TurnStatus.WAITING_FOR_APPROVAL or self.tui_state == "blocked":
            raise InvalidInput("the running turn waits for an approval: answer it with codex_approve, then steer")
        if self.input_holder is not None:
            raise InvalidInput(f"{self.input_holder} is at the keyboard: steer once they detach, or reply without it")
        self.terminal.write_nowait(encode_images(images) + encode_prompt(text))
        turn.prompt += "\n\n" + text
        turn.steered.append(text)
        self.last_activity = time.time()
        return turn

    def name_thread(self, prompt: str) -> None:
        """Name a new thread after its first prompt (rename_keys), before that prompt is sent: Codex then
        makes no title request. Codex handles the rename before the turn that follows it."""
        if keys := rename_keys(prompt):
            self._write_quietly(keys)

    def interrupt(self) -> bool:
        """Stop the running turn the way a person would (Esc). False if no turn was running. A turn just sent,
        which Codex has not yet said it works on (OSC 7501), runs for the caller too: its Esc is pressed by
        until_stopped once Codex says so (an Esc before that would land in the composer, not stop the turn)."""
        turn = self.current
        if turn is None or not self.live or turn is not self.turns.sent:
            return False
        if self._codex_working():
            self._write_quietly(INTERRUPT_KEY)
        return True

    def _codex_working(self) -> bool:
        # Codex says it works on a turn (OSC 7501), or waits on an approval in one: Esc and Enter reach that turn.
        return self.tui_state in ("working", "blocked")

    def stop_soon(self, turn: Turn) -> None:
        """Interrupt the turn and see it stopped in the background (its caller gave up and waits no more)."""
        if self.interrupt():
            self._tasks.spawn(self.until_stopped(turn, _STOP_WITHIN_S), name=f"codex-stop-{self.thread_id}")

    async def until_stopped(self, turn: Turn, within_s: float) -> None:
        """Wait (at most within_s) until `turn`, just interrupted, is over. One Esc stops a running turn in a few
        milliseconds, but Codex says it works (OSC 7501) as the prompt is submitted, a moment before its task
        starts, and an Esc that lands in that moment is lost (seen on a loaded CI machine: the turn ran on). So
        Esc is pressed again while the same turn still runs; never once it is over, where a second Esc on an
        idle composer would open Codex's edit-previous-message mode."""
        loop = asyncio.get_running_loop()
        end = loop.time() + within_s
        pressed = loop.time() if self._codex_working() else None  # interrupt() pressed it then
        while not turn.settled and self.current is turn and (left := end - loop.time()) > 0:
            if self._codex_working() and (pressed is None or loop.time() - pressed >= _REPRESS_AFTER_S):
                self._write_quietly(INTERRUPT_KEY)
                pressed = loop.time()
            # Not pressed yet: look again soon, Codex says it works within milliseconds of the prompt.
            await turn.wait(min(_REPRESS_AFTER_S if pressed is not None else _ESC_LOOK_S, left))

    # --- ending ----------------------------------------------------------------------------------

    async def end(self, reason: str) -> ExitInfo | None:
        """Stop Codex: its own /quit first, then signals to its process group. Idempotent, never raises."""
        if self.state not in (State.ENDED, State.EXITED):
            self.state = State.ENDED
            self.ending = Ending.ended(reason)
        self._wake.set()
        self._tell_gone()
        await self._tasks.cancel(self._worker)  # bounded: ending must never hang on the worker
        while not self._queue.empty():
            self._queue.get_nowait().fail(self.ended_message())

        def quit_codex() -> None:
            for delay, keys in quit_steps(self.tui_state):
                asyncio.get_running_loop().call_later(delay, self._write_quietly, keys)

        info = await self.terminal.terminate(quit_codex if self.terminal.alive else None, grace_s=self.grace_s)
        if self._ending is not None:
            with contextlib.suppress(Exception):
                await self._ending
        self._tell_closed()
        await self._tasks.close()
        return info

    def _write_quietly(self, data: bytes) -> None:
        with contextlib.suppress(TerminalClosed):
            self.terminal.write_nowait(data)


async def start_session(
    argv: list[str],
    cwd: str,
    *,
    env: Mapping[str, str],
    codex_home: Path,
    rows: int,
    cols: int,
    timeout: float,
    grace_s: float,
    resumes: str | None = None,
) -> Session:
    """Start Codex and wait until its composer is ready and its thread id is known. resumes: the thread this
    start resumes, whose rollout is followed from where it ends now, before Codex can run anything on it.

    Raises CodexStartFailed (with the last screen lines) if Codex exits, shows a dialog we must not
    answer for the user, stays on a screen we do not know (startup.STUCK_S), or is not ready within timeout seconds;
    nothing is left running then."""
    # Taken before Codex starts, so that a turn it runs as soon as it is up (a message queued with `codex queue`)
    # is seen, and recorded as a person's turn.
    tail = resume_tail(codex_home, resumes) if resumes else None
    # Every process Codex starts inherits this marker, even one that leaves Codex's process group (the login
    # shell of Codex's shell snapshot runs the user's profile, whose background jobs end up under init).
    marker = secrets.token_hex(12)
    try:
        terminal = await spawn_terminal(argv, cwd=cwd, env={**env, SESSION_MARKER: marker}, rows=rows, cols=cols)
    except OSError as exc:  # a missing folder, an argument list too long for the kernel, ...
        if tail is not None:
            tail.close()
        raise CodexStartFailed(f"it could not be started ({exc})", []) from exc
    screen = Screen(cols, rows, answer=terminal.write_nowait)
    session = Session(terminal, screen, cwd, codex_home, grace_s=grace_s)
    screen.on_backlog(session.may_drop_output)
    session.home_size = (rows, cols)
    session.marker = marker
    try:
        session.turns.thread_id = await _wait_ready(session, timeout)
    except BaseException:
        if tail is not None:
            tail.close()
        await terminal.terminate(grace_s=0)
        raise
    if resumes:
        session.turns.follow_resumed_thread(tail)
    session.begin()
    return session


async def _wait_ready(session: Session, timeout: float) -> str:
    """Wait for Codex's composer (startup.StartupWatch); the thread id it shows. Raises CodexStartFailed."""
    loop = asyncio.get_running_loop()
    watch = StartupWatch(loop.time(), timeout)
    while True:
        if not session.terminal.alive:
            info = session.terminal.exit_info
            why = f"it exited ({info.describe() if info else 'unknown status'})"
            raise CodexStartFailed(why, session.screen.text_lines())
        now = loop.time()
        thread_id = watch.check(session.screen.lines(), session.screen.text_lines(), session.tui_state, now)
        if thread_id is not None:
            return thread_id
        await session.sleep_until_woken(min(watch.remaining(now), 0.25))
