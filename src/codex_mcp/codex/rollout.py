"""Codex's rollout files: ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<timestamp>-<thread uuid>.jsonl``.

Codex appends one JSON object per line as a thread runs. The ``event_msg`` lines with payload types
``task_started``, ``task_complete`` (carrying ``last_agent_message`` or an ``error``) and
``turn_aborted`` tell exactly when a turn starts and ends and what the final reply was; this is our
source of truth for turn completion.

A rollout may also be stored compressed, as ``….jsonl.zst`` (one zstd frame) in the same folder: Codex
compresses rollouts idle for 7 days when its ``local_thread_store_compression`` feature is on, and a resume
decompresses the file back to the plain ``.jsonl`` before appending. Reading (history, settings) works on
either form; the live tail of a running turn only ever follows the plain file Codex appends to.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, Protocol, cast

JsonObject = dict[str, object]

log = logging.getLogger(__name__)

COMPRESSED_SUFFIX = ".zst"
_READ_CHUNK = 1 << 16


def codex_home(env: dict[str, str] | None = None) -> Path:
    """The CODEX_HOME Codex will use: $CODEX_HOME, else ~/.codex."""
    env = dict(os.environ) if env is None else env
    home = env.get("CODEX_HOME")
    return Path(home).expanduser() if home else Path.home() / ".codex"


def is_compressed(path: Path) -> bool:
    """True for a compressed rollout (``….jsonl.zst``)."""
    return path.name.endswith(".jsonl" + COMPRESSED_SUFFIX)


def plain_path(path: Path) -> Path:
    """The plain ``.jsonl`` a rollout has, or gets when Codex decompresses it: same folder, same name."""
    return path.with_name(path.name.removesuffix(COMPRESSED_SUFFIX)) if is_compressed(path) else path


def _pick(found: Iterable[Path], thread_id: str, plain_only: bool) -> Path | None:
    # A thread's current rollout is its newest file: a revert (codex_rewind, Esc Esc in the TUI, the app-server's
    # thread/revert) leaves the old file as it was and writes the thread on in a branch file,
    # ``rollout-<time>-<thread>_<branch>.jsonl``, holding the history that stays; `codex resume` appends there
    # (0.169-0.171, seen). Names start with their creation time, so the newest sorts last ('.' < '_' for a
    # branch made in the same second). Both forms of one file exist only for a moment (Codex writes the new
    # one before removing the old), and the plain one is complete either way: it wins, as it does in Codex
    # (codex-rs/rollout/src/compression.rs).
    best: Path | None = None
    best_key: tuple[str, bool] | None = None
    for path in found:
        compressed = is_compressed(path)
        if (compressed and plain_only) or not (compressed or path.name.endswith(".jsonl")):
            continue
        name = plain_path(path).name
        rest = name[name.find(thread_id) + len(thread_id) :]
        if rest != ".jsonl" and not rest.startswith("_"):
            continue
        key = (name, not compressed)
        if best_key is None or key > best_key:
            best, best_key = path, key
    return best


def thread_named(home: Path, thread_id: str) -> bool:
    """Whether Codex has a name for the thread (``$CODEX_HOME/session_index.jsonl``: one ``{"id", "thread_name",
    "updated_at"}`` line per naming). A thread without one gets a hidden title request to the model after its next
    turn in the TUI. A plain scan: the file holds a short line per named thread."""
    try:
        with (home / "session_index.jsonl").open(encoding="utf-8", errors="replace") as index:
            needle = f'"id":"{thread_id}"'
            return any(needle in line and '"thread_name":' in line for line in index)
    except OSError:
        return False


def find_rollout(home: Path, thread_id: str, *, recent_only: bool = False, plain_only: bool = False) -> Path | None:
    """The rollout file of a thread, plain or compressed, or None if Codex has not written one (yet). After a
    revert, the branch file Codex writes the thread on in (_pick).

    When both ``.jsonl`` and ``.jsonl.zst`` exist, the plain one is returned. plain_only never returns a
    ``.zst``: use it for the file Codex appends to. recent_only looks only in the day folders of yesterday,
    today and tomorrow (UTC and local time): where a thread started now puts its file. It is cheap enough
    to call every few milliseconds however long the user's session history is."""
    sessions = home / "sessions"
    pattern = f"rollout-*-{thread_id}*.jsonl*"
    if recent_only:
        now = time.time()
        days = {
            time.strftime("%Y/%m/%d", conv(now + delta))
            for delta in (-86400, 0, 86400)
            for conv in (time.gmtime, time.localtime)
        }
        for recent in sorted(days, reverse=True):
            if (found := _pick((sessions / recent).glob(pattern), thread_id, plain_only)) is not None:
                return found
        return None
    if not sessions.is_dir():
        return None
    # Newest day folders first: a live thread's file is almost always in one of the last two.
    for year in sorted((p for p in sessions.iterdir() if p.is_dir()), reverse=True):
        for month in sorted((p for p in year.iterdir() if p.is_dir()), reverse=True):
            for day in sorted((p for p in month.iterdir() if p.is_dir()), reverse=True):
                if (found := _pick(day.glob(pattern), thread_id, plain_only)) is not None:
                    return found
    return None


@dataclass(frozen=True)
class TurnEvent:
    """A turn boundary as written to the rollout."""

    kind: Literal["started", "complete", "aborted"]
    turn_id: str | None
    reply: str | None = None
    error: str | None = None
    reason: str | None = None


def turn_event(record: JsonObject) -> TurnEvent | None:
    """The turn boundary one rollout line describes, if any."""
    if record.get("type") != "event_msg":
        return None
    payload = record.get("payload")
    if not isinstance(payload, dict):
        return None
    payload = cast(JsonObject, payload)
    kind = payload.get("type")
    turn_id = payload.get("turn_id")
    tid = turn_id if isinstance(turn_id, str) else None
    if kind == "task_started":
        return TurnEvent("started", tid)
    if kind == "task_complete":
        reply = payload.get("last_agent_message")
        error = payload.get("error")
        message: str | None = None
        if isinstance(error, dict):
            msg = error.get("message")
            message = msg if isinstance(msg, str) else json.dumps(error)
        elif isinstance(error, str):
            message = error
        return TurnEvent("complete", tid, reply=reply if isinstance(reply, str) else None, error=message)
    if kind == "turn_aborted":
        reason = payload.get("reason")
        return TurnEvent("aborted", tid, reason=reason if isinstance(reason, str) else None)
    return None


def _parse(line: bytes) -> JsonObject | None:
    """One rollout line as a JSON object, or None for a blank line, bad JSON, bad UTF-8 or a non-object."""
    if not line.strip():
        return None
    try:
        value = json.loads(line)
    except ValueError:  # bad JSON or bad UTF-8: skip the line, keep the rest
        return None
    return cast(JsonObject, value) if isinstance(value, dict) else None


_TYPE_WITHIN = 96
"""Codex writes a record's type right after its timestamp: {"timestamp":"2026-…Z","type":"event_msg",…}."""


class RolloutTail:
    """Reads a plain rollout file incrementally: each call returns the complete lines appended since the last.

    Only for the plain ``.jsonl`` Codex appends to; a ``.zst`` is never appended to (Codex decompresses it to
    the plain file first), so tailing one would wait forever."""

    def __init__(self, path: Path, offset: int = 0, *, only: tuple[str, ...] = ()) -> None:
        """only: the record types to parse (e.g. "event_msg"); a line that says another type near its start is
        skipped unparsed (Codex's session_meta, turn_context and world_state records are kilobytes each)."""
        if is_compressed(path):
            raise ValueError(f"{path} is compressed: tail its plain .jsonl ({plain_path(path).name}) instead")
        self.path = path
        self.offset = offset
        self._partial = b""
        self._only = tuple(f'"type":"{kind}"'.encode() for kind in only)
        self._file: BinaryIO | None = None

    def read_new(self) -> list[JsonObject]:
        """New complete JSON records (a half-written last line waits for the next call)."""
        data = self._read_open() if self._file is not None else self._read_closed()
        if not data:
            return []
        self.offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if self._only:
            lines = [line for line in lines if self._wanted(line)]
        return [record for line in lines if (record := _parse(line)) is not None]

    def _read_closed(self) -> bytes:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return b""
        if size <= self.offset:
            return b""
        with self.path.open("rb") as f:
            f.seek(self.offset)
            return f.read(size - self.offset)

    def keep_open(self) -> None:
        """Hold the file open from now on: each read is then one read() at the end of it, with no stat and no open
        (a live session's tail is read a dozen times a turn; Codex only appends to it). close() lets it go."""
        if self._file is None and self.path.exists():
            self._file = self.path.open("rb")

    def _read_open(self) -> bytes:
        assert self._file is not None
        self._file.seek(self.offset)
        return self._file.read()

    def close(self) -> None:
        """Let go of the file kept open (keep_open)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _wanted(self, line: bytes) -> bool:
        head = line[:_TYPE_WITHIN]
        if b'"type":"' not in head:  # not the layout we know: parse it and let the reader decide
            return True
        return any(kind in head for kind in self._only)

    def size(self) -> int:
        """Bytes consumed so far, including any buffered partial line."""
        return self.offset


# --- compressed rollouts ----------------------------------------------------------------------------


class DamagedRollout(Exception):
    """A compressed rollout that is not valid zstd, or ends in the middle of a frame."""


class _Frame(Protocol):
    """A decompressor for one zstd frame: zstandard's ``decompressobj()`` or ``compression.zstd``'s
    ``ZstdDecompressor`` (same interface as bz2/lzma)."""

    def decompress(self, data: bytes, /) -> bytes: ...

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...


def _zstd() -> tuple[Callable[[], _Frame], tuple[type[Exception], ...]]:
    """A factory of frame decompressors and the errors they raise: the standard library's on Python >= 3.14
    (when built with zstd), else the zstandard package. Imported on first use, so plain rollouts never
    depend on it."""
    if sys.version_info >= (3, 14):
        try:
            from compression import zstd
        except ImportError:  # a Python built without libzstd
            pass
        else:
            return zstd.ZstdDecompressor, (zstd.ZstdError,)
    import zstandard

    return lambda: zstandard.ZstdDecompressor().decompressobj(), (zstandard.ZstdError,)


def _decompressed(path: Path) -> Generator[bytes, None, None]:
    """The decompressed bytes of a ``.zst`` rollout, a chunk at a time as the file is read (never all of it in
    memory). Raises DamagedRollout, after yielding what could be read, when the file is empty, is not zstd,
    or ends in the middle of a frame (a truncated copy); FileNotFoundError if it is gone."""
    new_frame, errors = _zstd()
    frames = 0
    with path.open("rb") as f:
        frame = new_frame()
        fed = False  # the current frame has had input
        try:
            while chunk := f.read(_READ_CHUNK):
                while chunk:
                    fed = True
                    if out := frame.decompress(chunk):
                        yield out
                    chunk = b""
                    if frame.eof:  # Codex writes one frame, but zstd allows several back to back
                        frames += 1
                        chunk = frame.unused_data
                        frame, fed = new_frame(), False
        except errors as exc:
            raise DamagedRollout(f"not valid zstd: {exc}") from exc
    if fed:
        raise DamagedRollout("it ends in the middle of a zstd frame (truncated)")
    if frames == 0:
        raise DamagedRollout("it is empty")


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Complete lines from a stream of chunks; a last line without its newline is left out, as a plain
    rollout's is (Codex ends every line it writes with one)."""
    partial = b""
    for chunk in chunks:
        lines = (partial + chunk).split(b"\n")
        partial = lines.pop()
        yield from lines


def _records(path: Path) -> list[JsonObject]:
    """Every record of a rollout, plain or compressed. A damaged ``.zst`` is logged and gives the records
    before the damage: callers treat it as they treat a damaged plain file."""
    if not is_compressed(path):
        return RolloutTail(path).read_new()
    records: list[JsonObject] = []
    try:
        for line in _lines(_decompressed(path)):
            if (record := _parse(line)) is not None:
                records.append(record)
    except FileNotFoundError:
        # Codex decompressed it (a resume) since it was found: the plain file holds the same lines, and more.
        return RolloutTail(plain_path(path)).read_new()
    except DamagedRollout as exc:
        log.warning("rollout %s is damaged (%s); using the %d records before the damage", path, exc, len(records))
    except ImportError as exc:
        log.error("cannot read the compressed rollout %s: %s (install the zstandard package)", path, exc)
    return records


def _prefix_records(path: Path, end: int) -> list[JsonObject]:
    """The records in the first end bytes of a rollout (of its decompressed bytes, for a ``.zst``)."""
    if is_compressed(path):
        data = b""
        try:
            for chunk in _decompressed(path):
                data += chunk
                if len(data) >= end:
                    break
        except (DamagedRollout, FileNotFoundError, ImportError) as exc:
            log.warning("rollout %s could not be read whole (%s)", path, exc)
    else:
        with path.open("rb") as f:
            data = f.read(end)
    return [r for line in data[:end].split(b"\n") if (r := _parse(line)) is not None]


def _rollout_by_id(home: Path, rollout_id: str) -> Path | None:
    """A rollout file by its own id: a thread's first file is named after the thread, a branch file after the
    thread and its own id (``…-<thread>_<rollout id>.jsonl``)."""
    found = [
        p
        for p in (home / "sessions").glob(f"*/*/*/rollout-*{rollout_id}.jsonl*")
        if plain_path(p).name.endswith(f"{rollout_id}.jsonl")
    ]
    return min(found, key=is_compressed, default=None)


_BASES_AT_MOST = 64
"""How many files one thread's history may run through (each revert and fork adds one): a loop is damage."""


def thread_records(path: Path) -> list[JsonObject]:
    """Every record of a thread's history, read through its current rollout. Since 0.169 a file may continue
    another instead of copying it: a thread's branch after a revert, or a fork, starts with a session_meta whose
    ``history_base`` names the earlier file's rollout id and the byte where its part of that file ends (seen on
    0.169 and 0.171). That part comes first, itself read the same way."""
    records = _records(path)
    home = path.parents[4] if len(path.parents) > 4 else None
    for _ in range(_BASES_AT_MOST):
        base = _history_base(records[0]) if records and home is not None else None
        if base is None or home is None:
            return records
        rollout_id, end = base
        earlier = _rollout_by_id(home, rollout_id)
        if earlier is None:
            log.warning("rollout %s continues %s, which is gone: its earlier turns cannot be read", path, rollout_id)
            return records
        records = _prefix_records(earlier, end) + records
        path = earlier
    log.warning("rollout %s runs through more than %d files: read as far as that", path, _BASES_AT_MOST)
    return records


def _history_base(record: JsonObject) -> tuple[str, int] | None:
    payload = record.get("payload")
    if record.get("type") != "session_meta" or not isinstance(payload, dict):
        return None
    base = payload.get("history_base")
    if not isinstance(base, dict):
        return None
    rollout_id, end = base.get("thread_id"), base.get("end_byte_offset")
    return (rollout_id, end) if isinstance(rollout_id, str) and isinstance(end, int) else None


def tail_from_end(home: Path, thread_id: str, *, only: tuple[str, ...] = ()) -> RolloutTail | None:
    """A tail that returns only what Codex appends to a thread's rollout from now on (a resumed thread), or
    None when the thread has no rollout (a new one, before its first prompt).

    The tail is always on the plain ``.jsonl``. If only the ``.zst`` is there yet, it waits for the plain
    file Codex decompresses it to (the same bytes, then the new lines), at the offset where the old bytes
    end. (Codex 0.169 and 0.171 decompress before their resumed TUI is ready, so this is a safety net.)"""
    for _ in range(3):
        path = find_rollout(home, thread_id)
        if path is None:
            return None
        try:
            if not is_compressed(path):
                return RolloutTail(path, path.stat().st_size, only=only)
            return RolloutTail(plain_path(path), sum(len(chunk) for chunk in _decompressed(path)), only=only)
        except FileNotFoundError:
            continue  # Codex swapped one form for the other just now: look again
        except (DamagedRollout, ImportError) as exc:
            log.warning("cannot read the compressed rollout %s (%s); following new threads only", path, exc)
            return None
    return None


@dataclass(frozen=True)
class RolloutCount:
    """Codex's rollouts under ``$CODEX_HOME/sessions``, by name only."""

    total: int
    compressed: int
    newest_compressed: Path | None


def count_rollouts(home: Path) -> RolloutCount:
    """How many rollouts Codex keeps and how many of them are compressed. Lists the day folders; reads no file."""
    total = compressed = 0
    newest: Path | None = None
    sessions = home / "sessions"
    if not sessions.is_dir():
        return RolloutCount(0, 0, None)
    for day in sessions.glob("*/*/*"):
        try:
            names = os.listdir(day)
        except OSError:
            continue
        for name in names:
            if not name.startswith("rollout-"):
                continue
            if name.endswith(".jsonl"):
                total += 1
            elif name.endswith(".jsonl" + COMPRESSED_SUFFIX):
                total += 1
                compressed += 1
                if newest is None or (day / name).as_posix() > newest.as_posix():
                    newest = day / name
    return RolloutCount(total, compressed, newest)


# One rollout line (a session_meta), compressed with zstd level 3 as Codex does: a check that does not need a
# compressed rollout on disk.
_SAMPLE = bytes.fromhex(
    "28b52ffd20b42d0200d4037b2274797065223a2273657373696f6e5f6d657461222c227061796c6f6164223a7b22696422"
    "3a22636f6465782d6d637020646f63746f7220227d7d0a010049299d50"
)


def zstd_problem() -> str | None:
    """Why compressed rollouts cannot be read here (no working zstd decompressor), or None when they can.
    Decompresses a built-in sample; touches no file."""
    try:
        new_frame, errors = _zstd()
    except ImportError as exc:
        return f"no zstd decompressor ({exc}): install the zstandard package"
    try:
        frame = new_frame()
        record = _parse(frame.decompress(_SAMPLE))
    except errors as exc:
        return f"zstd decompression does not work ({exc})"
    if not frame.eof or record is None or record.get("type") != "session_meta":
        return "zstd decompression gives wrong results"
    return None


def _first_line(path: Path) -> bytes | None:
    """A rollout's first complete line (None if it has none), reading no more of the file than that."""
    if not is_compressed(path):
        with path.open("rb") as f:
            line = f.readline()
        return line if line.endswith(b"\n") else None
    chunks = _decompressed(path)
    try:
        return next(_lines(chunks), None)
    finally:
        chunks.close()  # the rest of the file is not needed


def rollout_problem(path: Path) -> str | None:
    """Why a rollout's first line (its session_meta) cannot be read, or None when it can. Reads only as much
    of the file as that takes, decompressing a ``.zst`` on the way."""
    try:
        first = _first_line(path)
    except (OSError, ImportError, DamagedRollout) as exc:
        return f"{path.name} cannot be read ({exc})"
    record = None if first is None else _parse(first)
    if record is None or record.get("type") != "session_meta":
        return f"{path.name} does not start with a session_meta line"
    return None


def _message_text(payload: JsonObject) -> str:
    content = payload.get("content")
    if isinstance(content, str):
        return content
    parts: list[str] = []
    if isinstance(content, list):
        for item in content:
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                parts.append(item["text"])
    return "".join(parts)


def user_message(record: JsonObject) -> str | None:
    """The text of a user's message in a rollout line (not Codex's own ``<...>`` context), else None."""
    payload = record.get("payload")
    if record.get("type") != "response_item" or not isinstance(payload, dict):
        return None
    payload = cast(JsonObject, payload)
    if payload.get("type") != "message" or payload.get("role") != "user":
        return None
    text = _message_text(payload)
    return None if text.lstrip().startswith("<") else text


def read_records(path: Path) -> list[JsonObject]:
    """Every record of a rollout, plain or compressed (a damaged file gives the records before the damage)."""
    return _records(path)


def read_history(path: Path) -> list[tuple[str, str | None]]:
    """(prompt, final reply) for every user turn in a rollout, in order. Codex's own context messages
    (environment, instructions: user-role text starting with ``<``) are left out."""
    turns: list[tuple[str, str | None]] = []
    for record in thread_records(path):
        payload = record.get("payload")
        if record.get("type") != "response_item" or not isinstance(payload, dict):
            continue
        payload = cast(JsonObject, payload)
        if payload.get("type") != "message":
            continue
        text = _message_text(payload)
        if payload.get("role") == "user" and not text.lstrip().startswith("<"):
            turns.append((text, None))
        elif payload.get("role") == "assistant" and turns:
            turns[-1] = (turns[-1][0], text)
    return turns


@dataclass(frozen=True)
class RolloutSettings:
    """What a rollout says about the session that wrote it."""

    cwd: str | None
    model: str | None
    approval_policy: str | None
    sandbox: str | None


def read_settings(path: Path) -> RolloutSettings:
    """The working folder (session_meta) and the latest turn's model, approval policy and sandbox."""
    cwd = model = approval = sandbox = None
    for record in thread_records(path):
        payload = record.get("payload")
        if not isinstance(payload, dict):
            continue
        if record.get("type") == "session_meta" and isinstance(payload.get("cwd"), str):
            cwd = payload["cwd"]
        elif record.get("type") == "turn_context":
            if isinstance(payload.get("model"), str):
                model = payload["model"]
            if isinstance(payload.get("approval_policy"), str):
                approval = payload["approval_policy"]
            policy = payload.get("sandbox_policy")
            if isinstance(policy, dict) and isinstance(policy.get("type"), str):
                sandbox = policy["type"]
    return RolloutSettings(cwd, model, approval, sandbox)


@dataclass(frozen=True)
class Compaction:
    """What Codex's compaction of a thread wrote to its rollout."""

    summary: str
    """The model's summary, which replaces the thread's earlier turns in the model's context."""
    tokens_before: int | None
    """The context the model was last sent before the compaction, in tokens (its last token_count)."""
    tokens_after: int | None
    """Codex's count of the context after it (the token_count it writes after the compacted record)."""


_SUMMARY_PREFIX = "Here is the summary produced by the other language model"
"""What Codex puts before the model's summary in the message that replaces the history (compact.rs)."""


def _context_tokens(payload: JsonObject) -> int | None:
    info = payload.get("info")
    last = info.get("last_token_usage") if isinstance(info, dict) else None
    total = last.get("total_tokens") if isinstance(last, dict) else None
    return total if isinstance(total, int) else None


def read_compaction(path: Path, turn_id: str) -> Compaction | None:
    """The compaction Codex ran as turn turn_id (/compact, or its own when the context fills), or None. A
    ``compacted`` record holds the message that replaces the history; token_count events around it say how
    large the context was before and after."""
    before = after = None
    summary: str | None = None
    in_turn = False
    for record in _records(path):
        payload = record.get("payload")
        if not isinstance(payload, dict):
            continue
        payload = cast(JsonObject, payload)
        kind = payload.get("type")
        if record.get("type") == "event_msg" and kind == "task_started":
            in_turn = payload.get("turn_id") == turn_id
        elif record.get("type") == "compacted" and in_turn and isinstance(payload.get("message"), str):
            summary = cast(str, payload["message"])
        elif record.get("type") == "event_msg" and kind == "token_count":
            tokens = _context_tokens(payload)
            if summary is None:
                before = tokens
            elif in_turn and after is None:
                after = tokens
    if summary is None:
        return None
    cut = summary.find(_SUMMARY_PREFIX)
    if cut >= 0:
        summary = summary[summary.find(":", cut) + 1 :].lstrip("\n")
    return Compaction(summary, before, after)
