"""A summary of every stored conversation, in SQLite beside the records (``<state dir>/index.sqlite3``).

The records (one JSON file per conversation, see store.py) stay the truth; the index is what makes listing,
filtering and start-up independent of how many conversations a person has piled up over months: a listing
is one query over short rows, never a read of every transcript. Every record written updates its row; at
start the index is checked against the folder (name, mtime and size of each file: a directory scan, no
parsing) so records written by older versions, or by hand, are picked up. Several servers sharing a state
dir share the index: SQLite's own locking (WAL) serialises their writes. A damaged index is rebuilt from
the records, so losing it loses nothing.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Literal, get_args, get_origin, get_type_hints

from pydantic import BeforeValidator, TypeAdapter

from ..codex.settings import LaunchOptions

log = logging.getLogger(__name__)

PROMPT_PREVIEW_CHARS = 120
"""How much of the first prompt a listing shows."""

_SEARCH_CHARS = 2000
"""How much of the first prompt a text filter searches (case-folded)."""

_SCHEMA_VERSION = 2
"""2 added `effort`. A file of another version is rebuilt from the records at start (they are the truth)."""

SETTING_COLUMNS = ("cwd", "model", "profile", "sandbox", "approval_policy", "effort")
"""The settings a row keeps, in LaunchOptions' order: every setting but the config overrides (LaunchOptions.listed).
A new setting needs a column here, in the CREATE TABLE below and a new _SCHEMA_VERSION (a test holds them to it)."""

_COLUMNS = (
    "id",
    "thread_id",
    *SETTING_COLUMNS,
    "created_at",
    "last_activity",
    "end_reason",
    "saved_live",
    "adopted",
    "turns",
    "first_prompt",
    "search",
    "mtime_ns",
    "size",
)


def _choices() -> dict[str, tuple[object, ...]]:
    """The settings whose values are a fixed set of words (sandbox, approvals, effort), with their words."""
    hints = get_type_hints(LaunchOptions)
    found: dict[str, tuple[object, ...]] = {}
    for setting in fields(LaunchOptions):
        words = tuple(w for arg in get_args(hints[setting.name]) if get_origin(arg) is Literal for w in get_args(arg))
        if words:
            found[setting.name] = words
    return found


_CHOICES = _choices()


def readable_settings(value: object) -> object:
    """Stored settings with a choice outside its words (written by a newer codex-mcp, or edited by hand) read as
    unset, so the record stays readable and its conversation reachable instead of the whole record set aside.
    Anything else wrong (no cwd, a config that is not JSON) still fails validation."""
    if not isinstance(value, Mapping):
        return value
    return {k: None if k in _CHOICES and v not in _CHOICES[k] else v for k, v in value.items()}


StoredSettings = Annotated[LaunchOptions, BeforeValidator(readable_settings)]
"""LaunchOptions as the record and the index read it back."""

_SETTINGS: TypeAdapter[LaunchOptions] = TypeAdapter(StoredSettings)


@dataclass(frozen=True)
class Summary:
    """One stored conversation as a listing shows it (never its transcript)."""

    id: str
    thread_id: str
    options: LaunchOptions
    """Its settings, without the config overrides (LaunchOptions.listed): the record keeps those."""
    created_at: float
    last_activity: float
    end_reason: str | None
    saved_live: bool
    """The record was written while a live session backed it (its server may since have stopped)."""
    adopted: bool
    turns: int
    first_prompt: str
    """The first prompt, cut to PROMPT_PREVIEW_CHARS."""


@dataclass(frozen=True)
class Entry:
    """A summary with what the record's file looked like when it was indexed."""

    summary: Summary
    search: str
    mtime_ns: int
    size: int


def preview(prompt: str) -> str:
    """A prompt on one line, cut to PROMPT_PREVIEW_CHARS."""
    flat = " ".join(prompt.split())
    return flat if len(flat) <= PROMPT_PREVIEW_CHARS else flat[: PROMPT_PREVIEW_CHARS - 1] + "…"


def search_text(prompt: str) -> str:
    """What a text filter matches against: the first prompt, case-folded, on one line."""
    return " ".join(prompt.split())[:_SEARCH_CHARS].casefold()


@dataclass(frozen=True)
class Filters:
    """What a listing is narrowed to."""

    live: bool | None = None
    """True: only conversations a live session backs now; False: only those without one."""
    cwd: str | None = None
    """A folder: conversations that work in it or below it."""
    text: str | None = None
    """Text the first prompt contains (case-insensitive)."""
    id_prefix: str | None = None
    """The start of the conversationId (what a client completing an id has typed)."""

    def digest(self) -> str:
        """A short fingerprint, so a cursor is only used with the filters it was made for."""
        fields: list[object] = [self.live, self.cwd, self.text]
        if self.id_prefix:  # appended only when set: cursors made before this filter existed stay valid
            fields.append(self.id_prefix)
        raw = json.dumps(fields).encode()
        return hashlib.sha256(raw).hexdigest()[:12]


@dataclass(frozen=True)
class Position:
    """Where a listing page ended: the live part (phase 0) or the rest (phase 1), and the last entry's key."""

    phase: int
    last_activity: float
    id: str


class BadCursor(ValueError):
    """A cursor this index did not make, or made for other filters."""


def encode_cursor(position: Position, filters: Filters) -> str:
    """An opaque cursor for the next page."""
    raw = json.dumps([1, position.phase, position.last_activity, position.id, filters.digest()])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, filters: Filters) -> Position:
    """The position a cursor stands for (BadCursor if it is not one of ours, or belongs to other filters)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, phase, last_activity, cid, digest = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise BadCursor("it is not a cursor codex_list returned") from exc
    if version != 1 or phase not in (0, 1) or not isinstance(cid, str) or not isinstance(last_activity, int | float):
        raise BadCursor("it is not a cursor codex_list returned")
    if digest != filters.digest():
        raise BadCursor("it was made for a listing with other filters")
    return Position(int(phase), float(last_activity), cid)


class Index:
    """The summaries, in an SQLite file. Every method survives a damaged file by rebuilding it empty (the
    caller then re-indexes the records: see Store.sync)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            log.warning("index %s is unusable (%s); rebuilding it from the records", self.path, exc)
            self._remove_files()
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # owner-only before SQLite opens it
        os.close(fd)
        db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # the records are fsynced; the index can be rebuilt
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != _SCHEMA_VERSION:
                db.execute("DROP TABLE IF EXISTS conversations")
                db.execute(
                    "CREATE TABLE conversations ("
                    "id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, cwd TEXT NOT NULL, model TEXT, profile TEXT, "
                    "sandbox TEXT, approval_policy TEXT, effort TEXT, created_at REAL NOT NULL, "
                    "last_activity REAL NOT NULL, "
                    "end_reason TEXT, saved_live INTEGER NOT NULL, adopted INTEGER NOT NULL, turns INTEGER NOT NULL, "
                    "first_prompt TEXT NOT NULL, search TEXT NOT NULL, mtime_ns INTEGER NOT NULL, "
                    "size INTEGER NOT NULL)"
                )
                db.execute("CREATE INDEX IF NOT EXISTS by_activity ON conversations (last_activity DESC, id DESC)")
                db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            db.execute("SELECT count(*) FROM conversations").fetchone()  # a damaged file fails here, not later
        except sqlite3.DatabaseError:
            db.close()
            raise
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.chmod(f"{self.path}{suffix}", 0o600)
        return db

    def _remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}{suffix}")

    @contextlib.contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection]:
        """The connection; a DatabaseError (the file damaged under us) rebuilds it and re-raises."""
        try:
            yield self._db
        except sqlite3.OperationalError:
            raise  # busy or locked for longer than the timeout: the file is fine
        except sqlite3.DatabaseError:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._remove_files()
            self._db = self._connect()
            raise

    def close(self) -> None:
        """Close the file (idempotent)."""
        with contextlib.suppress(sqlite3.Error):
            self._db.close()

    # --- writes ----------------------------------------------------------------------------------

    def put(self, entries: Iterable[Entry]) -> None:
        """Add or replace rows, in one transaction."""
        rows = [_row(e) for e in entries]
        if not rows:
            return
        marks = ", ".join("?" for _ in _COLUMNS)
        with self._guard() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(f"INSERT OR REPLACE INTO conversations ({', '.join(_COLUMNS)}) VALUES ({marks})", rows)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def remove(self, ids: Iterable[str]) -> None:
        """Drop rows."""
        keys = [(i,) for i in ids]
        if not keys:
            return
        with self._guard() as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("DELETE FROM conversations WHERE id = ?", keys)
            db.execute("COMMIT")

    # --- reads -----------------------------------------------------------------------------------

    def files(self) -> dict[str, tuple[int, int]]:
        """id → (mtime_ns, size) of the record each row was made from."""
        with self._guard() as db:
            return {row[0]: (row[1], row[2]) for row in db.execute("SELECT id, mtime_ns, size FROM conversations")}

    def get(self, conversation_id: str) -> Summary | None:
        """One row."""
        with self._guard() as db:
            row = db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
        return _summary(row) if row else None

    def saved_live(self) -> list[str]:
        """Ids whose record was last written while live (their server may still run them)."""
        with self._guard() as db:
            return [row[0] for row in db.execute("SELECT id FROM conversations WHERE saved_live = 1")]

    def count(self, filters: Filters, live_ids: set[str]) -> int:
        """How many rows match."""
        where, params = _where(filters, live_ids)
        with self._guard() as db:
            return int(db.execute(f"SELECT count(*) FROM conversations WHERE {where}", params).fetchone()[0])

    def page(
        self, filters: Filters, live_ids: set[str], limit: int, after: Position | None
    ) -> tuple[list[Summary], Position | None]:
        """Up to limit matching summaries, live ones first, then newest activity first; and where the next
        page starts (None after the last). Keyset paging: a page is right even if rows were added or removed
        since the cursor was made."""
        found: list[tuple[int, Summary]] = []
        phases = [p for p in (0, 1) if after is None or p >= after.phase]
        for phase in phases:
            if phase == 0 and (filters.live is False or not live_ids):
                continue
            if phase == 1 and filters.live is True:
                continue
            where, params = _where(filters, live_ids)
            ids = sorted(live_ids)
            marks = ", ".join("?" for _ in ids)
            if ids:
                where += f" AND id {'IN' if phase == 0 else 'NOT IN'} ({marks})"
                params += ids
            if after is not None and after.phase == phase:
                where += " AND (last_activity < ? OR (last_activity = ? AND id < ?))"
                params += [after.last_activity, after.last_activity, after.id]
            params.append(limit + 1 - len(found))
            with self._guard() as db:
                rows = db.execute(
                    f"SELECT {', '.join(_COLUMNS)} FROM conversations WHERE {where} "
                    "ORDER BY last_activity DESC, id DESC LIMIT ?",
                    params,
                ).fetchall()
            found += [(phase, _summary(r)) for r in rows]
            if len(found) > limit:
                break
        if len(found) <= limit:
            return [s for _, s in found], None
        phase, last = found[limit - 1]
        return [s for _, s in found[:limit]], Position(phase, last.last_activity, last.id)

    def older_than(self, cutoff: float) -> list[Summary]:
        """Every row whose last activity is before cutoff (a Unix time), oldest first."""
        with self._guard() as db:
            rows = db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM conversations WHERE last_activity < ? ORDER BY last_activity",
                (cutoff,),
            ).fetchall()
        return [_summary(r) for r in rows]


def _where(filters: Filters, live_ids: set[str]) -> tuple[str, list[object]]:
    clauses = ["1"]
    params: list[object] = []
    if filters.live is not None:
        ids = sorted(live_ids)
        if ids:
            clauses.append(f"id {'IN' if filters.live else 'NOT IN'} ({', '.join('?' for _ in ids)})")
            params += ids
        elif filters.live:
            clauses.append("0")
    if filters.cwd is not None:
        folder = filters.cwd.rstrip("/") or "/"
        prefix = folder if folder.endswith("/") else folder + "/"
        clauses.append("(cwd = ? OR substr(cwd, 1, ?) = ?)")
        params += [folder, len(prefix), prefix]
    if filters.text:
        clauses.append("instr(search, ?) > 0")
        params.append(search_text(filters.text))
    if filters.id_prefix:
        clauses.append("substr(id, 1, ?) = ?")
        params += [len(filters.id_prefix), filters.id_prefix.lower()]
    return " AND ".join(clauses), params


def _row(entry: Entry) -> tuple[object, ...]:
    s = entry.summary
    return (
        s.id,
        s.thread_id,
        *(getattr(s.options, name) for name in SETTING_COLUMNS),
        s.created_at,
        s.last_activity,
        s.end_reason,
        int(s.saved_live),
        int(s.adopted),
        s.turns,
        s.first_prompt,
        entry.search,
        entry.mtime_ns,
        entry.size,
    )


def _summary(row: tuple[object, ...]) -> Summary:
    settings_end = 2 + len(SETTING_COLUMNS)
    (cid, thread), settings = row[:2], row[2:settings_end]
    created, activity, reason, live, adopted, turns, first = row[settings_end : settings_end + 7]
    return Summary(
        id=str(cid),
        thread_id=str(thread),
        options=_SETTINGS.validate_python(dict(zip(SETTING_COLUMNS, settings, strict=True))),
        created_at=float(created),  # type: ignore[arg-type]
        last_activity=float(activity),  # type: ignore[arg-type]
        end_reason=reason if isinstance(reason, str) else None,
        saved_live=bool(live),
        adopted=bool(adopted),
        turns=int(turns),  # type: ignore[call-overload]
        first_prompt=str(first),
    )
