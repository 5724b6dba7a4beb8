"""A conversation as the client sees it: one conversationId, its settings and transcript, and whichever
Codex session backs it right now. Sessions come and go (crash, idle reclaim, server restart); the
conversation stays, and every change to it is persisted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..codex.settings import LaunchOptions
from ..ending import Ending, EndKind
from ..session.approvals import ApprovalRequest, Decision
from ..session.session import Session, State
from ..terminal import ExitInfo
from ..turn import Recovery, Turn, TurnKind, TurnStatus

SAVE_RUNNING_AFTER_S = 1.0
"""A turn still unsettled this long after it was queued is saved as it is (Conversation.keep_unsettled)."""


@dataclass(frozen=True)
class Change:
    """What a conversation tells its one subscriber (the repository) each time it changes: save me; and, when
    detached, the backing session has gone, so the claim on the conversation can go too."""

    conversation: Conversation
    detached: bool = False


class Conversation:
    """A conversationId and everything known about it. It is the only maker of its turns (new_turn), so that
    every turn reports its changes to it, and it reports each change as one Change to its subscriber."""

    def __init__(
        self,
        conversation_id: str,
        options: LaunchOptions,
        *,
        thread_id: str | None = None,
        threads: list[str] | None = None,
        created_at: float | None = None,
        ending: Ending | None = None,
        adopted: bool = False,
    ) -> None:
        self.id = conversation_id
        self.options = options
        self.thread_id = thread_id or conversation_id
        self.threads = threads or [self.thread_id]
        self.created_at = created_at or time.time()
        self.last_activity = self.created_at
        self.ending = ending
        """How the last backing session ended (None while one backs it, or before the first)."""
        self.adopted = adopted
        self.forked_from: str | None = None
        """The conversation this one was forked from (codex_fork), and the last of its turns the fork holds."""
        self.forked_at_turn: int | None = None
        self.turns: list[Turn] = []
        self.session: Session | None = None
        self.launched_with: LaunchOptions | None = None  # the settings the backing session was started with
        # Kept when a session is gone (its screen model is dropped: an ended conversation costs a few KB).
        self.last_screen: list[str] = []
        self.notices_told: set[str] = set()  # start-up notices the client has been given (codex.notice_override)
        self.last_exit: ExitInfo | None = None
        self.on_change: Callable[[Change], None] | None = None
        """The one subscriber (Repository.add): it saves the conversation, and lets go of its claim once detached."""
        # Held while a session is brought back and while a turn is queued, so recoveries and turns keep
        # their arrival order.
        self.lock = asyncio.Lock()

    # --- state -----------------------------------------------------------------------------------

    @property
    def live(self) -> bool:
        """True while a Codex session backs the conversation."""
        return self.session is not None and self.session.live

    @property
    def state(self) -> State:
        """The backing session's state, or how the last one ended."""
        if self.session is not None:
            return self.session.state
        return State.EXITED if self.ending is not None and self.ending.kind == EndKind.EXITED else State.ENDED

    @property
    def end_reason(self) -> str | None:
        """The words of how the last backing session ended (None while one backs it, or before the first)."""
        return self.ending.detail if self.ending is not None else None

    @property
    def latest_turn(self) -> Turn | None:
        """The most recently submitted turn."""
        return self.turns[-1] if self.turns else None

    @property
    def latest_completed(self) -> Turn | None:
        """The most recent turn that finished with a reply."""
        for turn in reversed(self.turns):
            if turn.status == TurnStatus.COMPLETED and turn.rewound_at is None:
                return turn
        return None

    def history(self) -> list[tuple[str, str | None]]:
        """(prompt, reply) of every turn that reached Codex and is still in its thread, for a replay. A turn reached
        Codex if it completed or Codex started it (it has a turn id); queued or unsent turns that failed, rewound
        turns (codex_rewind) and compactions are left out."""
        return [
            (t.prompt, t.reply)
            for t in self.in_thread()
            if t.kind == "prompt" and (t.status == TurnStatus.COMPLETED or (t.settled and t.turn_id is not None))
        ]

    def in_thread(self) -> list[Turn]:
        """The turns the model still sees (all but the rewound ones), in order."""
        return [t for t in self.turns if t.rewound_at is None]

    async def fresh_screen(self) -> None:
        """Have the live session's screen whole before it is read (Repaints.fresh)."""
        if self.session is not None:
            await self.session.repaints.fresh()

    def screen_tail(self, lines: int = 12) -> list[str]:
        """The last screen lines of the backing session (none without one)."""
        if self.session is None:
            return self.last_screen[-lines:]
        return self.session.screen.text_lines()[-lines:]

    @property
    def live_session(self) -> Session | None:
        """The backing session while it is live: what an attached terminal works on."""
        return self.session if self.session is not None and self.session.live else None

    @property
    def current_turn(self) -> Turn | None:
        """The turn the backing session is running, if any."""
        return self.session.current if self.session is not None else None

    @property
    def pending_approval(self) -> ApprovalRequest | None:
        """The approval dialog the running turn waits on, as Codex drew it (None before it is drawn)."""
        turn = self.current_turn
        if self.session is None or turn is None or turn.status != TurnStatus.WAITING_FOR_APPROVAL:
            return None
        return self.session.pending_approval

    @property
    def input_holder(self) -> str | None:
        """A person at the keyboard of the live session (an attached terminal), if any."""
        return self.session.input_holder if self.session is not None else None

    @property
    def viewer_modes(self) -> list[str]:
        """How each terminal is attached to the live session: 'watch' or 'control'."""
        return list(self.session.viewers.modes()) if self.session is not None and self.live else []

    @property
    def exit_info(self) -> ExitInfo | None:
        """How the Codex process of the backing session (or the last one) ended."""
        return self.session.terminal.exit_info if self.session is not None else self.last_exit

    @property
    def quiet_s(self) -> float | None:
        """While a turn runs: seconds since Codex last showed progress (TurnTracker.quiet_s); None otherwise."""
        session = self.session
        if session is None or session.current is None or session.current.status != TurnStatus.RUNNING:
            return None
        return session.turns.quiet_s(session.screen.text_lines())

    @property
    def has_process(self) -> bool:
        """True while the backing session's Codex process runs (also while it is being ended)."""
        return self.session is not None and self.session.terminal.alive

    @property
    def idle(self) -> bool:
        """True while a live session backs it with no turn running or queued."""
        s = self.session
        return s is not None and s.live and s.state == State.IDLE and not s.busy

    @property
    def session_activity(self) -> float:
        """When the backing session last did something (its start, a turn, a person's keys)."""
        return self.session.last_activity if self.session is not None else self.last_activity

    def runs_process(self, pid: int | None, marker: str | None) -> bool:
        """True if the process (by pid, or by its session marker) is this conversation's Codex, still exiting."""
        s = self.session
        if s is None or s.live or not s.terminal.alive:
            return False
        return (pid is not None and pid == s.terminal.pid) or (marker is not None and marker == s.marker)

    # --- steering the live session ---------------------------------------------------------------

    def interrupt(self) -> Turn | None:
        """Stop the running turn like Esc; returns it, or None when no turn was running."""
        turn = self.current_turn
        if self.session is None or turn is None or not self.session.interrupt():
            return None
        return turn

    async def until_stopped(self, turn: Turn, within_s: float) -> None:
        """Wait (bounded) until the turn just interrupted is over (Session.until_stopped presses Esc again)."""
        if self.session is not None:
            await self.session.until_stopped(turn, within_s)

    def withdraw_or_interrupt(self, turn: Turn) -> None:
        """The caller that sent this turn gave up: stop it if it runs, take it back if it has not reached Codex."""
        if self.session is None:
            return
        if self.session.current is turn:
            self.session.stop_soon(turn)
        else:
            self.session.withdraw(turn)

    def steer(self, text: str, images: list[str]) -> Turn | None:
        """Add text to the turn Codex is running (Session.steer); that turn, or None when none runs."""
        if self.session is None or not self.session.live:
            return None
        turn = self.session.steer(text, images)
        if turn is not None:
            self.changed()
        return turn

    def answer(self, decision: Decision) -> Turn | None:
        """Give Codex the decision on the approval its running turn waits on; the turn, or None when none waits."""
        turn = self.current_turn
        if self.session is None or turn is None or turn.status != TurnStatus.WAITING_FOR_APPROVAL:
            return None
        self.session.answer(decision)
        return turn

    async def end(self, reason: str) -> None:
        """End the backing session, if any (the conversation stays and can be brought back)."""
        if self.session is not None:
            await self.session.end(reason)

    # --- changes ---------------------------------------------------------------------------------

    def attach(self, session: Session) -> None:
        """Make session the one that backs this conversation from now on."""
        self.session = session
        self.launched_with = self.options
        self.ending = None
        if session.thread_id and session.thread_id != self.thread_id:
            self.thread_id = session.thread_id
        if self.thread_id not in self.threads:
            self.threads.append(self.thread_id)
        session.on_gone = lambda s: self.detached(s.ending or Ending.codex_exited())
        session.turns.on_person_turn = self._person_turn
        session.on_closed = self._session_closed
        self.changed()

    def _session_closed(self, session: Session) -> None:
        if self.session is session:
            self.last_screen = session.screen.text_lines()[-12:]
            self.last_exit = session.terminal.exit_info
            self.session = None

    def _person_turn(self) -> Turn:
        """Record a turn a person started in an attached terminal (its prompt arrives from the rollout)."""
        turn = self.new_turn("")
        self.changed()
        return turn

    def detached(self, ending: Ending) -> None:
        """The backing session is gone (ended, crashed, reclaimed): remember how, and let other codex-mcp
        processes take the conversation on."""
        self.ending = ending
        self._tell(detached=True)

    def submit(
        self,
        prompt: str,
        *,
        payload: str | None = None,
        recovery: Recovery = "live",
        images: list[str] | None = None,
        kind: TurnKind = "prompt",
    ) -> Turn:
        """Queue a prompt (and the images attached to it), or Codex's compaction, on the backing session (which
        must be live)."""
        assert self.session is not None
        turn = self.new_turn(prompt, payload=payload or prompt, images=list(images or []), recovery=recovery, kind=kind)
        self.session.submit(turn)
        self.last_activity = time.time()
        # Saved when it settles; before that only if it runs long (or the caller is told about it first:
        # keep_unsettled). Saving every turn as it was queued cost a write and an fsync on the path of each one.
        asyncio.get_running_loop().call_later(SAVE_RUNNING_AFTER_S, self.keep_unsettled, turn)
        return turn

    def keep_unsettled(self, turn: Turn) -> None:
        """Persist a turn that has not settled (so that after a crash it is reported as not re-run): one that runs
        long, or one a caller is told about before it settles."""
        if not turn.settled:
            self.changed()

    def new_turn(self, prompt: str, **fields: Any) -> Turn:
        """The next turn of this conversation (numbered after the last unless fields give its index, as a stored
        record does), wired to report its changes here."""
        turn = Turn(index=fields.pop("index", len(self.turns) + 1), prompt=prompt, **fields)
        turn.on_change = self._turn_changed
        self.turns.append(turn)
        return turn

    def take_turns(self, turns: Sequence[Turn]) -> None:
        """Make these this conversation's turns (another copy of it, read from disk, has newer ones)."""
        self.turns = list(turns)
        for turn in self.turns:
            turn.on_change = self._turn_changed

    def _turn_changed(self, _turn: Turn) -> None:
        self.changed()

    def changed(self) -> None:
        """Note activity and persist."""
        self._tell()

    def _tell(self, *, detached: bool = False) -> None:
        self.last_activity = time.time()
        if self.on_change is not None:
            self.on_change(Change(self, detached=detached))
