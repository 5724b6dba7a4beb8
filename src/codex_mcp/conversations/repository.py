"""Conversations by id, in memory and on disk: the one place that turns conversations into stored records and
back, keeps them saved as they change, and holds this process's claim on the ones it runs live. Between the
manager (which decides) and the store (which reads and writes files)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

from ..ending import Ending
from ..errors import ConversationElsewhere
from ..storage.store import ConversationRecord, Ownership, Store, TurnRecord
from ..turn import Turn, TurnStatus
from .conversation import Change, Conversation

log = logging.getLogger(__name__)


def record_of(conv: Conversation) -> ConversationRecord:
    """The conversation as it is stored."""
    return ConversationRecord(
        id=conv.id,
        thread_id=conv.thread_id,
        threads=list(conv.threads),
        options=conv.options,
        created_at=conv.created_at,
        last_activity=conv.last_activity,
        end_reason=conv.end_reason if not conv.live else None,
        adopted=conv.adopted,
        forked_from=conv.forked_from,
        forked_at_turn=conv.forked_at_turn,
        turns=[_turn_record(t) for t in conv.turns],
    )


_TURN_FIELDS = tuple(TurnRecord.model_fields)
"""What a turn record holds: fields of the same names on Turn (a test checks Turn has every one)."""


def _turn_record(turn: Turn) -> TurnRecord:
    """A turn as it is stored; a settled turn's record is built once (Turn.stored), not at every save of a long
    conversation (validating 100 turns' records took ~1 ms per save, two saves per turn)."""
    if isinstance(turn.stored, TurnRecord):
        return turn.stored
    record = TurnRecord(**{name: getattr(turn, name) for name in _TURN_FIELDS})
    if turn.settled:
        turn.stored = record
    return record


def conversation_of(record: ConversationRecord) -> Conversation:
    """A conversation from disk, with no session yet. A turn that was still running when the previous server
    stopped is marked failed: it was not re-run."""
    conv = Conversation(
        record.id,
        record.options,
        thread_id=record.thread_id,
        threads=list(record.threads),
        created_at=record.created_at,
        ending=Ending.stored(record.end_reason or "server stopped"),
        adopted=record.adopted,
    )
    conv.forked_from, conv.forked_at_turn = record.forked_from, record.forked_at_turn
    conv.last_activity = record.last_activity
    for r in record.turns:
        turn = conv.new_turn(**{name: getattr(r, name) for name in _TURN_FIELDS})
        if not turn.settled:
            turn.status = TurnStatus.FAILED
            turn.error = "the server stopped during this turn; it was not re-run"
    return conv


def _take_over(conv: Conversation, newer: Conversation) -> None:
    """Bring conv up to date with what another codex-mcp process recorded since we read it."""
    conv.options = newer.options
    conv.thread_id = newer.thread_id
    conv.threads = newer.threads
    conv.ending = newer.ending
    conv.adopted = newer.adopted
    conv.forked_from, conv.forked_at_turn = newer.forked_from, newer.forked_at_turn
    conv.last_activity = newer.last_activity
    conv.take_turns(newer.turns)


class Repository:
    """Every conversation this process has touched, saved on each change, and its claims on live ones."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._conversations: dict[str, Conversation] = {}
        self._claims: dict[str, Ownership] = {}  # held while this process runs a live session for them
        self._mtimes: dict[str, float] = {}  # of the state file we last read or wrote
        self.listeners: list[Callable[[Conversation], None]] = []
        """Told after each save (a turn settled, the conversation ended...): the MCP resources' subscribers."""

    def __iter__(self) -> Iterator[Conversation]:
        return iter(list(self._conversations.values()))

    def add(self, conv: Conversation) -> Conversation:
        """Keep conv here and save it from now on, whenever it changes."""
        conv.on_change = self._changed
        with contextlib.suppress(OSError):
            self._mtimes[conv.id] = self.store.path(conv.id).stat().st_mtime
        self._conversations[conv.id] = conv
        return conv

    def _changed(self, change: Change) -> None:
        """What every conversation here tells us (Conversation.on_change): save it; let go of a detached one."""
        self.save(change.conversation)
        if change.detached:
            self.release(change.conversation)

    def save(self, conv: Conversation) -> None:
        """Write the conversation's record (a full disk is logged: it must not take a live conversation down)."""
        try:
            self.store.save(record_of(conv))
            self._mtimes[conv.id] = self.store.path(conv.id).stat().st_mtime
        except OSError as exc:
            log.error("could not save conversation %s: %s", conv.id, exc)
        for listener in self.listeners:
            listener(conv)

    def find(self, cid: str) -> Conversation | None:
        """A conversation from memory or from the state dir, brought up to date with what another codex-mcp process
        (sharing the state dir) recorded, unless this process runs it live."""
        conv = self._conversations.get(cid)
        if conv is not None and cid in self._claims:
            return conv
        return self._read(cid, conv)

    def _read(self, cid: str, conv: Conversation | None) -> Conversation | None:
        loaded = self.store.load(cid)
        if loaded is None:
            return conv
        record, mtime = loaded
        if conv is None:
            return self.add(conversation_of(record))
        if mtime > self._mtimes.get(cid, 0.0):
            _take_over(conv, conversation_of(record))
            self._mtimes[cid] = mtime
        return conv

    def claim(self, conv: Conversation) -> None:
        """Make this process the one that runs the conversation live (ConversationElsewhere if another does), and
        read what the previous owner recorded, now that nobody else can write it."""
        if conv.id in self._claims:
            return
        ownership = self.store.claim(conv.id)
        if ownership is None:
            raise ConversationElsewhere(conv.id)
        self._read(conv.id, conv)
        self._claims[conv.id] = ownership

    @contextlib.contextmanager
    def claimed(self, conv: Conversation) -> Iterator[None]:
        """Hold the claim on conv for the block (claim); on the way out, let it go again unless a live session
        backs the conversation by then (a revival that failed, a rewind: nothing of ours runs it)."""
        self.claim(conv)
        try:
            yield
        finally:
            if not conv.live:
                self.release(conv)

    def claim_new(self, conv: Conversation) -> None:
        """Claim a conversation this process just started (nobody else can know its id yet)."""
        ownership = self.store.claim(conv.id)
        if ownership is not None:
            self._claims[conv.id] = ownership

    def changed_elsewhere(self, ids: set[str]) -> list[Conversation]:
        """Conversations another codex-mcp process saved since this one last read them: of ids, and of those
        saved live (another window's server may run them). Each is read again here. A conversation seen for the
        first time is only noted (nothing to compare with)."""
        changed = []
        for cid in ids | set(self.store.index.saved_live()):
            if cid in self._claims:
                continue  # ours: we are the one who writes it
            try:
                mtime = self.store.path(cid).stat().st_mtime
            except OSError:
                continue
            seen = self._mtimes.get(cid)
            if seen is None:
                self._mtimes[cid] = mtime
            elif mtime > seen and (conv := self._read(cid, self._conversations.get(cid))) is not None:
                changed.append(conv)
        return changed

    def note_client(self, client: str) -> None:
        """Name the MCP client this server serves in the notes of its claims (now and from now on)."""
        self.store.client = client
        for cid, ownership in self._claims.items():
            ownership.renote(self.store, cid)

    def owns(self, cid: str) -> bool:
        """True while this process holds the conversation's claim."""
        return cid in self._claims

    def release(self, conv: Conversation) -> None:
        """Let other codex-mcp processes take the conversation on (its session is gone, or never came)."""
        ownership = self._claims.pop(conv.id, None)
        if ownership is not None:
            ownership.release()

    def live(self) -> list[Conversation]:
        """Conversations a live Codex session of this process backs now."""
        return [c for c in self._conversations.values() if c.live]
