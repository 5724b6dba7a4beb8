"""Branching a conversation's Codex thread: a fork through one of its turns (a new conversation), a rewind to
after one of them (the same conversation, the later turns out of the thread), and Codex's own compaction. Fork
and rewind are Codex's app-server's (codex/appserver.py); compaction is the TUI's /compact on the live session.
Nothing here changes anything before every check has passed: a refused call leaves the conversation as it was."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from ..codex.appserver import fork_thread, revert_thread
from ..codex.rollout import Compaction, find_rollout, read_compaction
from ..codex.settings import Effort
from ..config import Settings
from ..errors import InvalidInput, ThreadOpenElsewhere
from ..turn import Recovery, Turn, TurnStatus
from .conversation import Conversation
from .deadline import Deadline
from .launcher import Launcher
from .repository import Repository
from .reviver import Reviver

log = logging.getLogger(__name__)

_APP_SERVER_S = 30.0
"""How long one app-server request may take (a fork copies the parent's rollout: ~0.1 s for 10 MB, measured)."""


def _no_turn_running(conv: Conversation, what: str) -> None:
    latest = conv.latest_turn
    if latest is not None and not latest.settled:
        raise InvalidInput(
            f"turn {latest.index} of conversation {conv.id} is {latest.status.value}: wait for it "
            f"(codex_status with wait_s) or stop it (codex_interrupt), then {what}"
        )


def _check_number(conv: Conversation, number: int, name: str, *, lowest: int) -> None:
    last = len(conv.turns)
    if not lowest <= number <= last:
        have = f"turns 1 to {last}" if last else "no turns"
        raise InvalidInput(f"{name} {number} is out of range: conversation {conv.id} has {have}")
    if number and conv.turns[number - 1].rewound_at is not None:
        raise InvalidInput(f"turn {number} of conversation {conv.id} was rewound: it is no longer in the thread")


def _first_in_thread(conv: Conversation) -> int | None:
    """The number of the first turn Codex's current thread of the conversation ran (after a replay, the turns
    before it reached that thread only as one replayed message)."""
    return next((turn.index for turn in conv.in_thread() if _codex_turn(turn, conv)), None)


def _codex_turn(turn: Turn, conv: Conversation) -> bool:
    # A turn Codex ran in the conversation's current thread (a failed start or a withdrawn turn never reached it).
    return turn.thread_id == conv.thread_id and turn.turn_id is not None


class Branching:
    """Fork, rewind and compact, with the manager's launcher, reviver and conversations."""

    def __init__(self, settings: Settings, launcher: Launcher, reviver: Reviver, conversations: Repository) -> None:
        self.settings = settings
        self.launcher = launcher
        self.reviver = reviver
        self.conversations = conversations

    def _replayed_before(self, conv: Conversation, number: int, name: str) -> None:
        first = _first_in_thread(conv)
        if first is not None and number < first - 1:
            raise InvalidInput(
                f"turns 1 to {first - 1} of conversation {conv.id} reached its Codex thread only as one replayed "
                f"message (the thread it first ran on was lost): {name} must be {first - 1} or later"
            )

    async def fork(
        self,
        parent: Conversation,
        at_turn: int | None,
        deadline: Deadline,
        *,
        model: str | None,
        effort: Effort | None,
    ) -> Conversation:
        """A new conversation on a new Codex thread that holds parent's thread through at_turn (all of it when
        None); its record holds copies of those turns. The parent is not touched, live or not."""
        if at_turn is None:
            _no_turn_running(parent, "fork")
            through = len(parent.turns)
        else:
            _check_number(parent, at_turn, "at_turn", lowest=1)
            if not parent.turns[at_turn - 1].settled:
                raise InvalidInput(
                    f"turn {at_turn} of conversation {parent.id} is still running: fork at an earlier turn"
                )
            self._replayed_before(parent, at_turn, "at_turn")
            through = at_turn
        kept = [t for t in parent.in_thread() if t.index <= through]
        codex_turns = [t for t in kept if _codex_turn(t, parent)]
        if not codex_turns:
            raise InvalidInput(
                f"conversation {parent.id} has no turn Codex ran in its thread up to turn {through}: nothing to fork; "
                "start a new conversation with codex_start"
            )
        if find_rollout(self.launcher.codex_home, parent.thread_id) is None:
            raise InvalidInput(
                f"Codex no longer has the thread of conversation {parent.id} (its rollout is gone), so it cannot fork "
                "it: reply to it first (its history is replayed into a new thread), then fork"
            )
        last = codex_turns[-1].turn_id if at_turn is not None else None
        plan = self.launcher.plan_app_server(parent.options)
        async with self.launcher.app_server(plan, deadline) as server:
            thread = await fork_thread(server, parent.thread_id, last, _APP_SERVER_S)
        options = replace(parent.options, model=model or parent.options.model, effort=effort or parent.options.effort)
        child = Conversation(thread, options)
        child.forked_from, child.forked_at_turn = parent.id, through
        for number, turn in enumerate(kept, start=1):
            child.new_turn(
                turn.prompt,
                index=number,
                kind=turn.kind,
                status=turn.status,
                reply=turn.reply,
                error=turn.error,
                turn_id=turn.turn_id,
                thread_id=turn.thread_id,
                submitted_at=turn.submitted_at,
                finished_at=turn.finished_at,
            )
        self.conversations.claim_new(child)
        self.conversations.add(child)
        child.changed()
        log.info("forked %s through turn %d into %s (thread %s)", parent.id, through, child.id, thread)
        return child

    async def rewind(self, conv: Conversation, to_turn: int, deadline: Deadline) -> list[Turn]:
        """Take every turn after to_turn out of the conversation's Codex thread (Codex's own revert); the record
        keeps them, marked rewound. Returns them. The next reply resumes the thread from after to_turn."""
        _no_turn_running(conv, "rewind")
        if conv.input_holder is not None:
            # The rewind ends the live session, which would pull the keyboard from under them.
            raise InvalidInput(f"{conv.input_holder} is at the keyboard of this conversation: rewind once they detach")
        _check_number(conv, to_turn, "to_turn", lowest=0)
        later = [t for t in conv.in_thread() if t.index > to_turn]
        if not later:
            raise InvalidInput(f"nothing to rewind: turn {to_turn} is the last turn of conversation {conv.id}")
        self._replayed_before(conv, to_turn, "to_turn")
        first = next((t for t in later if _codex_turn(t, conv)), None)
        if first is not None and find_rollout(self.launcher.codex_home, conv.thread_id) is not None:
            with self.conversations.claimed(conv):
                if conv.live:
                    await conv.end(f"rewinding to turn {to_turn}")
                writer = await self.reviver.writer_elsewhere(conv.thread_id)
                if writer is not None:
                    raise ThreadOpenElsewhere(conv.id, conv.thread_id, writer.describe(), writer.server_pid)
                plan = self.launcher.plan_app_server(conv.options)
                assert first.turn_id is not None
                async with self.launcher.app_server(plan, deadline) as server:
                    await revert_thread(server, conv.thread_id, first.turn_id, _APP_SERVER_S)
        # else nothing of them is in a Codex thread: a replay leaves rewound turns out (Conversation.history)
        now = time.time()
        for turn in later:
            turn.rewound_at = now
            turn.stored = None
        conv.changed()
        log.info("rewound %s to turn %d (%d turns out of thread %s)", conv.id, to_turn, len(later), conv.thread_id)
        return later

    async def compact(self, conv: Conversation, deadline: Deadline) -> Turn:
        """Run Codex's /compact on the conversation's live session (resumed first when none backs it) as a turn
        of its own; returns it (sent: the caller waits for it)."""
        _no_turn_running(conv, "compact")
        if not any(t.kind == "prompt" and t.status == TurnStatus.COMPLETED for t in conv.in_thread()):
            raise InvalidInput(f"nothing to compact: conversation {conv.id} has no completed turn in its thread")
        recovery: Recovery = "live"
        if not conv.live:
            with self.conversations.claimed(conv):
                recovery = await self.reviver.resume_only(conv, deadline)
        return conv.submit("/compact", kind="compact", recovery=recovery)

    def summary_of(self, conv: Conversation, turn: Turn) -> Compaction | None:
        """What Codex's compaction wrote (its summary, the context before and after); the summary becomes the
        compaction turn's reply."""
        rollout = find_rollout(self.launcher.codex_home, conv.thread_id)
        found = read_compaction(rollout, turn.turn_id) if rollout is not None and turn.turn_id else None
        if found is not None:
            turn.reply = found.summary
            turn.changed_externally()
        return found
