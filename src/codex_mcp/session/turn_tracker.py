"""Which turn Codex is running and how it ended, read from the thread's rollout: the turn we sent, or one a person
started from an attached terminal. No PTY and no screen: fed rollout records, it settles turns, so it can be
tested on records alone. The session owns one and pumps it while a turn runs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .._internal.filewatch import FileWatch, watch_file
from ..codex.rollout import JsonObject, RolloutTail, find_rollout, tail_from_end, turn_event, user_message
from ..codex.tui import is_activity_line
from ..turn import Turn, TurnStatus

log = logging.getLogger(__name__)

_TURN_RECORDS = ("event_msg", "response_item")
"""The rollout records turns are settled with (turn events, a person's prompt); the rest is not even parsed."""

_PEOPLE_POLL_S = 0.1
"""How often the rollout is read while terminals are attached and no turn of ours runs."""


class TurnTracker:
    """What was sent and what a person typed, settled by the events Codex writes to the thread's rollout."""

    def __init__(
        self,
        codex_home: Path,
        *,
        on_person_done: Callable[[], None] | None = None,
        on_sent_settled: Callable[[], None] | None = None,
    ) -> None:
        self.codex_home = codex_home
        self.thread_id: str | None = None
        self.sent: Turn | None = None  # our turn, once pasted and until it settles
        self.person_turn: Turn | None = None  # a turn a person started from an attached terminal
        self.on_person_turn: Callable[[], Turn] | None = None  # the conversation records a person's turn
        self._on_person_done = on_person_done  # a person's turn settled: queued turns may go ahead
        self._tail: RolloutTail | None = None
        self._on_sent_settled = on_sent_settled  # our turn settled in the rollout watch's callback (_written)
        self._watch: FileWatch | None = None
        self._watching = on_sent_settled is not None  # False once a watch could not be set up, or after close()
        self.last_record_at = 0.0  # time.monotonic() when Codex last appended to the rollout (as we read it)
        self._began_at = 0.0  # when our running turn was sent
        self._seen_screen = 0  # a fingerprint of the screen without its activity line, and when it last changed
        self._seen_at = 0.0

    def began(self) -> None:
        """Our turn is being sent now: progress is counted from here."""
        self._began_at = time.monotonic()

    def quiet_s(self, screen: Sequence[str]) -> float:
        """Seconds since Codex last showed progress on the running turn: appended to its rollout, or changed its
        screen (its rows with text) other than the ticking "Working (12s • esc to interrupt)" line. A model that
        has stalled shows nothing else for long; a slow stream keeps drawing text. The screen is compared when
        asked (codex_status, progress notifications), so a change is dated when it is first seen."""
        now = time.monotonic()
        seen = hash(tuple(line for line in screen if not is_activity_line(line)))
        if seen != self._seen_screen:
            self._seen_screen, self._seen_at = seen, now
        return round(now - max(self._seen_at, self.last_record_at, self._began_at), 1)

    def follow_resumed_thread(self, tail: RolloutTail | None = None) -> None:
        """The thread existed before this session: read its rollout only from what Codex appends from now on (in
        the plain file, even if the thread was compressed), so earlier turns are never taken for new ones. tail:
        one taken before the session started (resume_tail), so that a turn Codex runs as soon as it is up (a
        message queued with `codex queue`) is seen, and recorded as a person's turn."""
        if self._tail is None:
            self._tail = tail or tail_from_end(self.codex_home, self.thread_id or "", only=_TURN_RECORDS)

    async def follow_people(self, live: Callable[[], bool]) -> None:
        """While terminals are attached, notice turns a person starts (we are not sending one then). Runs until
        cancelled; live says whether the session still runs."""
        while True:
            await asyncio.sleep(_PEOPLE_POLL_S)
            if self.sent is None and live():
                try:
                    self.pump()
                except Exception:  # the follower must outlive any one bad record
                    log.exception("following a person's turn failed")

    def pump(self) -> None:
        """Read what Codex appended to the rollout and settle turns with it. The only reader of the rollout, so no
        event is lost."""
        if self._tail is None:
            path = find_rollout(self.codex_home, self.thread_id or "", recent_only=True, plain_only=True)
            if path is None:
                return
            # A new thread's rollout appears with its first prompt; everything in it is new.
            self._tail = RolloutTail(path, 0, only=_TURN_RECORDS)
        if self._watch is None and self._watching:
            self._watch_rollout(self._tail.path)
        for record in self._tail.read_new():
            self.last_record_at = time.monotonic()
            self.apply(record)

    @property
    def watched(self) -> bool:
        """True while writes to the rollout are read as they happen (_written): the worker needs no tight polling."""
        return self._watch is not None

    def _watch_rollout(self, path: Path) -> None:
        if not path.exists():  # a resumed thread's plain file, still being decompressed: next pump
            return
        assert self._tail is not None
        self._watch = watch_file(path, self._written)
        self._watching = self._watch is not None
        self._tail.keep_open()

    def _written(self) -> None:
        # Codex wrote to the rollout: read it right here, in the watch's callback. The session hears only of our
        # turn settling (most writes are the turn's own progress; a step of its worker each would cost more).
        sent = self.sent
        if sent is None:  # a person's turn: its follower reads the rollout
            return
        try:
            self.pump()
        except Exception:  # the session's worker pumps again (its tick), and reports what is wrong there
            log.exception("reading the rollout of %s failed", self.thread_id)
            return
        if sent.settled and self._on_sent_settled is not None:
            self._on_sent_settled()

    def close(self) -> None:
        """The session is over: stop watching the rollout."""
        self._watching = False
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        if self._tail is not None:
            self._tail.close()

    def apply(self, record: JsonObject) -> None:
        """Settle or start turns with one rollout record."""
        person = self.person_turn
        if person is not None and not person.prompt and (text := user_message(record)) is not None:
            person.prompt = text
            person.payload = text
            return
        event = turn_event(record)
        if event is None:
            return
        if event.kind == "started":
            self._started(event.turn_id)
            return
        # The turn with this id; else one whose id is not known yet (a turn we sent but whose start we did not
        # see). Exact first: a message queued with `codex queue` runs as a person's turn just before ours.
        open_turns = [t for t in (self.sent, self.person_turn) if t is not None and not t.settled]
        target = next((t for t in open_turns if t.turn_id == event.turn_id), None) or next(
            (t for t in open_turns if t.turn_id is None), None
        )
        if target is None:
            return
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
            if self._on_person_done is not None:
                self._on_person_done()

    def _started(self, turn_id: str | None) -> None:
        # Codex started a turn: ours, once pasted; otherwise a person typed one in an attached terminal.
        if self.sent is not None and self.sent.turn_id is None:
            self.sent.turn_id = turn_id
        elif self.on_person_turn is not None and self.person_turn is None:
            self.person_turn = self.on_person_turn()
            self.person_turn.turn_id = turn_id
            self.person_turn.thread_id = self.thread_id
            self.person_turn.set_status(TurnStatus.RUNNING)


def resume_tail(codex_home: Path, thread_id: str) -> RolloutTail | None:
    """Where a resumed session's new turns will start in the thread's rollout: taken before Codex starts."""
    return tail_from_end(codex_home, thread_id, only=_TURN_RECORDS)
