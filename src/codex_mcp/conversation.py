"""A conversation as the client sees it: one conversationId, its settings and transcript, and whichever
Codex session backs it right now. Sessions come and go (crash, idle reclaim, server restart); the
conversation stays, and every change to it is persisted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from .codex import LaunchOptions
from .session import Session, State
from .store import ConversationRecord, OptionsRecord, Ownership, TurnRecord
from .terminal import ExitInfo
from .turn import Recovery, Turn, TurnStatus


class Conversation:
    """A conversationId and everything known about it."""

    def __init__(
        self,
        conversation_id: str,
        options: LaunchOptions,
        *,
        thread_id: str | None = None,
        threads: list[str] | None = None,
        created_at: float | None = None,
        end_reason: str | None = None,
        adopted: bool = False,
    ) -> None:
        self.id = conversation_id
        self.options = options
        self.thread_id = thread_id or conversation_id
        self.threads = threads or [self.thread_id]
        self.created_at = created_at or time.time()
        self.last_activity = self.created_at
        self.end_reason = end_reason
        self.adopted = adopted
        self.turns: list[Turn] = []
        self.session: Session | None = None
        # Kept when a session is gone (its screen model is dropped: an ended conversation costs a few KB).
        self.last_screen: list[str] = []
        self.notices_told: set[str] = set()  # start-up notices the client has been given (codex.notice_override)
        self.last_exit: ExitInfo | None = None
        self.on_change: Callable[[Conversation], None] | None = None
        self.ownership: Ownership | None = None  # held while this process runs its live session
        self.stored_mtime = 0.0  # of the state file we last read or wrote
        self.elsewhere = False  # another codex-mcp process runs it live (as of the last listing)
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
        reason = self.end_reason or ""
        return State.EXITED if reason.startswith(("crashed", "Codex exited")) else State.ENDED

    @property
    def latest_turn(self) -> Turn | None:
        """The most recently submitted turn."""
        return self.turns[-1] if self.turns else None

    @property
    def latest_completed(self) -> Turn | None:
        """The most recent turn that finished with a reply."""
        for turn in reversed(self.turns):
            if turn.status == TurnStatus.COMPLETED:
                return turn
        return None

    def history(self) -> list[tuple[str, str | None]]:
        """(prompt, reply) of every turn that reached Codex, for a replay. A turn reached Codex if it completed
        or Codex started it (it has a turn id); queued or unsent turns that failed are left out."""
        return [
            (t.prompt, t.reply)
            for t in self.turns
            if t.status == TurnStatus.COMPLETED or (t.settled and t.turn_id is not None)
        ]

    def screen_tail(self, lines: int = 12) -> list[str]:
        """The last screen lines of the backing session (none without one)."""
        return self.session.screen_tail(lines) if self.session is not None else self.last_screen[-lines:]

    # --- changes ---------------------------------------------------------------------------------

    def attach(self, session: Session) -> None:
        """Make session the one that backs this conversation from now on."""
        self.session = session
        self.end_reason = None
        if session.thread_id and session.thread_id != self.thread_id:
            self.thread_id = session.thread_id
        if self.thread_id not in self.threads:
            self.threads.append(self.thread_id)
        session.on_gone = lambda s: self.detached(s.end_reason or "Codex exited")
        session.on_person_turn = self._person_turn
        session.on_closed = self._session_closed
        self.changed()

    def _session_closed(self, session: Session) -> None:
        if self.session is session:
            self.last_screen = session.screen_tail()
            self.last_exit = session.terminal.exit_info
            self.session = None

    def _person_turn(self) -> Turn:
        """Record a turn a person started in an attached terminal (its prompt arrives from the rollout)."""
        turn = Turn(index=len(self.turns) + 1, prompt="", on_change=lambda _turn: self.changed())
        self.turns.append(turn)
        self.changed()
        return turn

    def detached(self, reason: str) -> None:
        """The backing session is gone (ended, crashed, reclaimed): remember why, and let other codex-mcp
        processes take the conversation on."""
        self.end_reason = reason
        self.changed()
        if self.ownership is not None:
            self.ownership.release()
            self.ownership = None

    def submit(self, prompt: str, *, payload: str | None = None, recovery: Recovery = "live") -> Turn:
        """Queue a prompt on the backing session (which must be live)."""
        assert self.session is not None
        turn = Turn(
            index=len(self.turns) + 1,
            prompt=prompt,
            payload=payload or prompt,
            recovery=recovery,
            on_change=lambda _turn: self.changed(),
        )
        self.turns.append(turn)
        self.session.submit(turn)
        self.changed()
        return turn

    def changed(self) -> None:
        """Note activity and persist."""
        self.last_activity = time.time()
        if self.on_change is not None:
            self.on_change(self)

    # --- persistence -----------------------------------------------------------------------------

    def record(self) -> ConversationRecord:
        """The conversation as it is stored."""
        o = self.options
        return ConversationRecord(
            id=self.id,
            thread_id=self.thread_id,
            threads=list(self.threads),
            options=OptionsRecord(
                cwd=o.cwd,
                model=o.model,
                profile=o.profile,
                sandbox=o.sandbox,
                approval_policy=o.approval_policy,
                config=dict(o.config),
            ),
            created_at=self.created_at,
            last_activity=self.last_activity,
            end_reason=self.end_reason if not self.live else None,
            adopted=self.adopted,
            turns=[
                TurnRecord(
                    index=t.index,
                    prompt=t.prompt,
                    status=t.status.value,
                    reply=t.reply,
                    error=t.error,
                    turn_id=t.turn_id,
                    thread_id=t.thread_id,
                    recovery=t.recovery,
                    submitted_at=t.submitted_at,
                    finished_at=t.finished_at,
                )
                for t in self.turns
            ],
        )

    def refresh(self, newer: Conversation) -> None:
        """Take over what another codex-mcp process recorded since we read the conversation."""
        self.options = newer.options
        self.thread_id = newer.thread_id
        self.threads = newer.threads
        self.end_reason = newer.end_reason
        self.adopted = newer.adopted
        self.last_activity = newer.last_activity
        self.turns = newer.turns
        for turn in self.turns:
            turn.on_change = lambda _turn: self.changed()

    @classmethod
    def from_record(cls, record: ConversationRecord) -> Conversation:
        """A conversation from disk, with no session yet. A turn that was still running when the previous
        server stopped is marked failed: it was not re-run."""
        o = record.options
        conv = cls(
            record.id,
            LaunchOptions(
                cwd=o.cwd,
                model=o.model,
                profile=o.profile,
                sandbox=o.sandbox,  # type: ignore[arg-type]
                approval_policy=o.approval_policy,  # type: ignore[arg-type]
                config=dict(o.config),
            ),
            thread_id=record.thread_id,
            threads=list(record.threads),
            created_at=record.created_at,
            end_reason=record.end_reason or "server stopped",
            adopted=record.adopted,
        )
        conv.last_activity = record.last_activity
        for r in record.turns:
            turn = Turn(
                index=r.index,
                prompt=r.prompt,
                recovery=r.recovery,  # type: ignore[arg-type]
                status=TurnStatus(r.status),
                reply=r.reply,
                error=r.error,
                turn_id=r.turn_id,
                thread_id=r.thread_id,
                submitted_at=r.submitted_at,
                finished_at=r.finished_at,
            )
            if not turn.settled:
                turn.status = TurnStatus.FAILED
                turn.error = "the server stopped during this turn; it was not re-run"
            turn.on_change = lambda _turn: conv.changed()
            conv.turns.append(turn)
        return conv
