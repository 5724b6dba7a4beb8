"""What the server knows, on disk: one JSON file per conversation (id, settings, the Codex threads that
backed it, and its transcript) under ``<state dir>/conversations/``, and an index of their summaries
(index.py) so that nothing at start-up or in a listing reads every transcript.

Written as things change (not at shutdown: clients SIGKILL their servers soon after asking them to stop),
atomically (temp file, fsync, rename) and owner-only. A file that cannot be read is reported and set aside;
it never costs the other conversations.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, get_args

from pydantic import BaseModel, BeforeValidator, SerializerFunctionWrapHandler, ValidationError, model_serializer

from .._internal import filelocks
from ..turn import Recovery, TurnKind, TurnStatus
from .index import Entry, Index, StoredSettings, Summary, preview, search_text

log = logging.getLogger(__name__)


def _known_or(literal: object, fallback: object) -> BeforeValidator:
    """Read a value outside the domain (written by a newer codex-mcp, or edited by hand) as fallback, so the
    record stays readable and its conversation reachable, instead of setting the whole record aside."""
    allowed = set(get_args(literal))
    return BeforeValidator(lambda value: value if value in allowed or value is None else fallback)


StoredRecovery = Annotated[Recovery, _known_or(Recovery, "live")]
StoredKind = Annotated[TurnKind, _known_or(TurnKind, "prompt")]
_STATUSES = frozenset(TurnStatus)
StoredStatus = Annotated[TurnStatus, BeforeValidator(lambda v: v if v in _STATUSES else TurnStatus.FAILED)]


def _unless_default(data: object, names: dict[str, object]) -> object:
    """A record's fields without these while they hold their default: a record that uses none of what they are for
    is written byte for byte as the releases before them wrote it."""
    if isinstance(data, dict):
        for name, default in names.items():
            if name in data and data[name] == default:
                del data[name]
    return data


class TurnRecord(BaseModel):
    """One turn of the transcript."""

    index: int
    prompt: str
    status: StoredStatus
    reply: str | None = None
    error: str | None = None
    turn_id: str | None = None
    thread_id: str | None = None
    recovery: StoredRecovery = "live"
    kind: StoredKind = "prompt"
    rewound_at: float | None = None
    submitted_at: float
    finished_at: float | None = None

    @model_serializer(mode="wrap")
    def _as_stored(self, handler: SerializerFunctionWrapHandler) -> object:
        return _unless_default(handler(self), {"kind": "prompt", "rewound_at": None})


class ConversationRecord(BaseModel):
    """Everything needed to bring a conversation back."""

    version: int = 1
    id: str
    thread_id: str
    threads: list[str]
    options: StoredSettings
    """The settings it was started with; re-applied on every resume or replay."""
    created_at: float
    last_activity: float
    end_reason: str | None = None
    adopted: bool = False
    forked_from: str | None = None
    """The conversation this one was forked from (codex_fork), and the last of its turns the fork holds."""
    forked_at_turn: int | None = None
    turns: list[TurnRecord] = []

    @model_serializer(mode="wrap")
    def _as_stored(self, handler: SerializerFunctionWrapHandler) -> object:
        return _unless_default(handler(self), {"forked_from": None, "forked_at_turn": None})


class Ownership:
    """This process's claim on a conversation while it runs a live Codex session for it (a file lock, which the
    system drops if the process dies, so a crashed server never leaves a conversation claimed), and the note
    beside it that says which server holds it (so another server knows whom to pass a call on to)."""

    def __init__(self, fd: int, note: Path | None = None) -> None:
        self._fd: int | None = fd
        self._note = note

    def renote(self, store: Store, conversation_id: str) -> None:
        """Write the note again (the client's name is known now)."""
        if self._fd is not None and self._note is not None:
            with contextlib.suppress(OSError):
                store.write_note(conversation_id)

    def release(self) -> None:
        """Give the claim up (idempotent). The note goes first: once the lock is free, the next owner writes its own."""
        if self._fd is not None:
            if self._note is not None:
                with contextlib.suppress(OSError):
                    self._note.unlink()
            filelocks.release(self._fd)
            self._fd = None


@dataclass(frozen=True)
class Holder:
    """The codex-mcp server that runs a conversation live, as its claim note says (pid None: a server that
    writes no note, from before notes were written)."""

    pid: int | None
    client: str | None = None


def _read_note(path: Path) -> Holder:
    try:
        note = json.loads(path.read_text(encoding="utf-8"))
        pid = note.get("pid")
        client = note.get("client")
        return Holder(pid if isinstance(pid, int) else None, client if isinstance(client, str) else None)
    except (OSError, ValueError, AttributeError):
        return Holder(None)


_STALE_TMP_S = 60.0
"""A temp file older than this is a write a crash interrupted (a live write takes milliseconds); younger ones
may belong to another server sharing the state dir."""


def summary_of(record: ConversationRecord) -> Summary:
    """The index row of a record."""
    return Summary(
        id=record.id,
        thread_id=record.thread_id,
        options=record.options.listed(),
        created_at=record.created_at,
        last_activity=record.last_activity,
        end_reason=record.end_reason,
        saved_live=record.end_reason is None,
        adopted=record.adopted,
        turns=len(record.turns),
        first_prompt=preview(record.turns[0].prompt) if record.turns else "",
    )


def _entry(record: ConversationRecord, stat: os.stat_result) -> Entry:
    first = record.turns[0].prompt if record.turns else ""
    return Entry(summary_of(record), search_text(first), stat.st_mtime_ns, stat.st_size)


@dataclass
class SyncReport:
    """What checking the index against the records found."""

    indexed: int = 0
    """Records (re-)read because the index did not know them as they are now."""
    removed: int = 0
    """Rows dropped because their record is gone."""
    problems: list[str] = field(default_factory=list)
    """One message per record that could not be read (set aside as *.corrupt)."""


@dataclass
class PruneReport:
    """What a prune removed, or would remove (dry run)."""

    removed: list[Summary] = field(default_factory=list)
    skipped_live: list[str] = field(default_factory=list)
    """Old enough, but a live session backs them now (here or in another server)."""
    skipped_recent: list[str] = field(default_factory=list)
    """Old enough in the index, but active since: their record says otherwise."""
    freed_bytes: int = 0


class Store:
    """Conversation records in an owner-only directory, and their index."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.dir = state_dir / "conversations"
        self._ensure_dir()
        self.index = Index(state_dir / "index.sqlite3")
        self.client: str | None = None
        """Who this server serves (the MCP client's name and version), written into the notes of its claims."""

    def _ensure_dir(self) -> None:
        """The owner-only directories, made again if someone removed them while the server runs."""
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.dir.mkdir(exist_ok=True, mode=0o700)
        for d in (self.state_dir, self.dir):
            os.chmod(d, 0o700)

    def path(self, conversation_id: str) -> Path:
        """Where a conversation's record lives (ids are validated UUIDs before they get here)."""
        return self.dir / f"{conversation_id}.json"

    def _lock(self, conversation_id: str) -> int | None:
        """The conversation's lock taken (its fd), or None if another codex-mcp process holds it."""
        if not self.dir.is_dir():
            self._ensure_dir()
        return filelocks.take(self.dir / f"{conversation_id}.lock")

    def claim(self, conversation_id: str) -> Ownership | None:
        """Claim a conversation for this process; None if another codex-mcp process holds it live."""
        fd = self._lock(conversation_id)
        if fd is None:
            return None
        try:
            note = self.write_note(conversation_id)
        except OSError as exc:  # the claim still holds; other servers then cannot pass calls on to us
            log.warning("could not note the claim on %s: %s", conversation_id, exc)
            note = None
        return Ownership(fd, note)

    def write_note(self, conversation_id: str) -> Path:
        """The note of this process's claim: which server holds it, and for whom. Whole or not at all (a reader
        never sees half of it; a crash leaves a .tmp that sync clears)."""
        path = self.dir / f"{conversation_id}.owner"
        tmp = self.dir / f".{path.name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"pid": os.getpid(), "client": self.client}, f)
        os.replace(tmp, path)
        return path

    def holder(self, conversation_id: str) -> Holder | None:
        """The server that holds the conversation live, if another one does."""
        if not self.claimed_elsewhere(conversation_id):
            return None
        return _read_note(self.dir / f"{conversation_id}.owner")

    def claimed_elsewhere(self, conversation_id: str) -> bool:
        """True while another process holds the conversation live."""
        return filelocks.held_elsewhere(self.dir / f"{conversation_id}.lock")  # a look, not a claim: no note

    def load(self, conversation_id: str) -> tuple[ConversationRecord, float] | None:
        """One record and its file's mtime, if there is a readable one."""
        path = self.path(conversation_id)
        try:
            mtime = path.stat().st_mtime
            record = ConversationRecord.model_validate(json.loads(path.read_bytes()))
        except (OSError, ValueError, ValidationError):
            return None
        return (record, mtime) if record.id == conversation_id else None

    def save(self, record: ConversationRecord) -> None:
        """Write a record atomically; a crash mid-write leaves the previous version intact."""
        data = record.model_dump_json(indent=1).encode()
        if not self.dir.is_dir():
            self._ensure_dir()
        fd, tmp = tempfile.mkstemp(prefix=f".{record.id}.", suffix=".tmp", dir=self.dir)
        try:
            if sys.platform != "win32":  # mkstemp's 0600 already; Windows: the per-user folder's ACL
                os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path(record.id))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._index(record)

    def _index(self, record: ConversationRecord) -> None:
        try:
            stat = self.path(record.id).stat()
            self.index.put([_entry(record, stat)])
        except (OSError, sqlite3.Error) as exc:
            # The record is safe on disk; the next start finds it by its mtime and indexes it then.
            log.warning("could not index conversation %s: %s", record.id, exc)

    def sync(self) -> SyncReport:
        """Bring the index up to date with the records: re-read only files whose name, mtime or size the index
        does not know (a directory scan otherwise), drop rows whose file is gone, set unreadable files aside."""
        report = SyncReport()
        if not self.dir.is_dir():
            self._ensure_dir()
        try:
            known = self.index.files()
        except sqlite3.DatabaseError as exc:
            log.warning("index unreadable (%s); rebuilding it", exc)
            known = {}
        seen: set[str] = set()
        fresh: list[Entry] = []
        now = time.time()
        with os.scandir(self.dir) as entries:
            for item in entries:
                name = item.name
                if name.startswith(".") and name.endswith(".tmp"):
                    with contextlib.suppress(OSError):
                        if now - item.stat(follow_symlinks=False).st_mtime > _STALE_TMP_S:
                            os.unlink(item.path)  # a write interrupted by a crash
                    continue
                if not name.endswith(".json") or name.startswith("."):
                    continue
                cid = name[: -len(".json")]
                try:
                    stat = item.stat()
                except OSError:
                    stat = None
                if stat is not None and known.get(cid) == (stat.st_mtime_ns, stat.st_size):
                    seen.add(cid)
                    continue
                path = Path(item.path)
                try:
                    record = ConversationRecord.model_validate(json.loads(path.read_bytes()))
                    if record.id != cid:
                        raise ValueError(f"it holds conversation {record.id}")
                    stat = path.stat()
                except (OSError, ValueError, ValidationError) as exc:
                    report.problems.append(self._set_aside(path, exc))
                    continue
                seen.add(cid)
                fresh.append(_entry(record, stat))
        gone = set(known) - seen
        try:
            self.index.put(fresh)
            self.index.remove(gone)
        except sqlite3.Error as exc:
            log.warning("could not update the index: %s", exc)
        report.indexed, report.removed = len(fresh), len(gone)
        return report

    def _set_aside(self, path: Path, exc: Exception) -> str:
        corrupt = path.with_suffix(".corrupt")
        with contextlib.suppress(OSError):
            os.replace(path, corrupt)
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"{path.name} could not be read ({first_line}); kept as {corrupt.name}"

    def prune(self, older_than_s: float, *, dry_run: bool = False, now: float | None = None) -> PruneReport:
        """Remove the records of conversations with no activity for older_than_s seconds. A conversation a live
        session backs (here or in another server) is never touched: its claim is taken before its files go,
        so it cannot become live while they do. Codex's own rollouts are not ours and stay. Reads the index:
        sync() it first (the server does at start)."""
        if older_than_s <= 0:
            raise ValueError("older_than_s must be positive")
        cutoff = (time.time() if now is None else now) - older_than_s
        report = PruneReport()
        for summary in self.index.older_than(cutoff):
            claim = self.claim(summary.id)
            if claim is None:
                report.skipped_live.append(summary.id)
                continue
            try:
                loaded = self.load(summary.id)
                if loaded is not None and loaded[0].last_activity >= cutoff:
                    report.skipped_recent.append(summary.id)
                    continue
                path = self.path(summary.id)
                with contextlib.suppress(OSError):
                    report.freed_bytes += path.stat().st_size
                report.removed.append(summary)
                if dry_run:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                self.index.remove([summary.id])
                for leftover in (f"{summary.id}.lock", f"{summary.id}.owner"):
                    with contextlib.suppress(FileNotFoundError):
                        (self.dir / leftover).unlink()
            finally:
                claim.release()
        return report
