"""What the server knows, on disk: one JSON file per conversation (id, settings, the Codex threads that
backed it, and its transcript) under ``<state dir>/conversations/``.

Written as things change (not at shutdown: clients SIGKILL their servers soon after asking them to stop),
atomically (temp file, fsync, rename) and owner-only. A file that cannot be read is reported and set aside;
it never costs the other conversations.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, JsonValue, ValidationError

log = logging.getLogger(__name__)


class OptionsRecord(BaseModel):
    """The settings a conversation was started with; re-applied on every resume or replay."""

    cwd: str
    model: str | None = None
    profile: str | None = None
    sandbox: str | None = None
    approval_policy: str | None = None
    config: dict[str, JsonValue] = {}


class TurnRecord(BaseModel):
    """One turn of the transcript."""

    index: int
    prompt: str
    status: str
    reply: str | None = None
    error: str | None = None
    turn_id: str | None = None
    thread_id: str | None = None
    recovery: str = "live"
    submitted_at: float
    finished_at: float | None = None


class ConversationRecord(BaseModel):
    """Everything needed to bring a conversation back."""

    version: int = 1
    id: str
    thread_id: str
    threads: list[str]
    options: OptionsRecord
    created_at: float
    last_activity: float
    end_reason: str | None = None
    adopted: bool = False
    turns: list[TurnRecord] = []


class Ownership:
    """This process's claim on a conversation while it runs a live Codex session for it (an flock, which the
    kernel drops if the process dies, so a crashed server never leaves a conversation claimed)."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        """Give the claim up (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Store:
    """Conversation records in an owner-only directory."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.dir = state_dir / "conversations"
        self._ensure_dir()

    def _ensure_dir(self) -> None:
        """The owner-only directories, made again if someone removed them while the server runs."""
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.dir.mkdir(exist_ok=True, mode=0o700)
        for d in (self.state_dir, self.dir):
            os.chmod(d, 0o700)

    def path(self, conversation_id: str) -> Path:
        """Where a conversation's record lives (ids are validated UUIDs before they get here)."""
        return self.dir / f"{conversation_id}.json"

    def claim(self, conversation_id: str) -> Ownership | None:
        """Claim a conversation for this process; None if another codex-mcp process holds it live."""
        if not self.dir.is_dir():
            self._ensure_dir()
        fd = os.open(self.dir / f"{conversation_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return Ownership(fd)

    def claimed_elsewhere(self, conversation_id: str) -> bool:
        """True while another process holds the conversation live."""
        if not (self.dir / f"{conversation_id}.lock").exists():
            return False
        claim = self.claim(conversation_id)
        if claim is None:
            return True
        claim.release()
        return False

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

    def load_all(self) -> tuple[list[ConversationRecord], list[str]]:
        """Every readable record, and one message per file that is not (renamed to *.corrupt, kept)."""
        records: list[ConversationRecord] = []
        problems: list[str] = []
        for path in sorted(self.dir.glob("*.json")):
            try:
                record = ConversationRecord.model_validate(json.loads(path.read_bytes()))
                if record.id != path.stem:
                    raise ValueError(f"it holds conversation {record.id}")
            except (OSError, ValueError, ValidationError) as exc:
                corrupt = path.with_suffix(".corrupt")
                with contextlib.suppress(OSError):
                    os.replace(path, corrupt)
                first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                problems.append(f"{path.name} could not be read ({first_line}); kept as {corrupt.name}")
                continue
            records.append(record)
        for stale in self.dir.glob(".*.tmp"):  # a write interrupted by a crash
            with contextlib.suppress(OSError):
                stale.unlink()
        return records, problems
