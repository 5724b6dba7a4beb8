"""Codex's rollout files: ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<timestamp>-<thread uuid>.jsonl``.

Codex appends one JSON object per line as a thread runs. The ``event_msg`` lines with payload types
``task_started``, ``task_complete`` (carrying ``last_agent_message`` or an ``error``) and
``turn_aborted`` tell exactly when a turn starts and ends and what the final reply was; this is our
source of truth for turn completion.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

JsonObject = dict[str, object]


def codex_home(env: dict[str, str] | None = None) -> Path:
    """The CODEX_HOME Codex will use: $CODEX_HOME, else ~/.codex."""
    env = dict(os.environ) if env is None else env
    home = env.get("CODEX_HOME")
    return Path(home).expanduser() if home else Path.home() / ".codex"


def find_rollout(home: Path, thread_id: str, *, recent_only: bool = False) -> Path | None:
    """The rollout file of a thread, or None if Codex has not written one (yet).

    recent_only looks only in the day folders of yesterday, today and tomorrow (UTC and local time): where
    a thread started now puts its file. It is cheap enough to call every few milliseconds however long
    the user's session history is."""
    sessions = home / "sessions"
    pattern = f"rollout-*-{thread_id}.jsonl"
    if recent_only:
        now = time.time()
        days = {
            time.strftime("%Y/%m/%d", conv(now + delta))
            for delta in (-86400, 0, 86400)
            for conv in (time.gmtime, time.localtime)
        }
        for recent in sorted(days, reverse=True):
            for found in (sessions / recent).glob(pattern):
                return found
        return None
    if not sessions.is_dir():
        return None
    # Newest day folders first: a live thread's file is almost always in one of the last two.
    for year in sorted((p for p in sessions.iterdir() if p.is_dir()), reverse=True):
        for month in sorted((p for p in year.iterdir() if p.is_dir()), reverse=True):
            for day in sorted((p for p in month.iterdir() if p.is_dir()), reverse=True):
                for path in day.glob(pattern):
                    return path
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


class RolloutTail:
    """Reads a rollout file incrementally: each call returns the complete lines appended since the last."""

    def __init__(self, path: Path, offset: int = 0) -> None:
        self.path = path
        self.offset = offset
        self._partial = b""

    def read_new(self) -> list[JsonObject]:
        """New complete JSON records (a half-written last line waits for the next call)."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size <= self.offset:
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read(size - self.offset)
        self.offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        records: list[JsonObject] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:  # bad JSON or bad UTF-8: skip the line, keep the rest
                continue
            if isinstance(value, dict):
                records.append(cast(JsonObject, value))
        return records

    def size(self) -> int:
        """Bytes consumed so far, including any buffered partial line."""
        return self.offset


def _records(path: Path) -> list[JsonObject]:
    return RolloutTail(path).read_new()


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


def read_history(path: Path) -> list[tuple[str, str | None]]:
    """(prompt, final reply) for every user turn in a rollout, in order. Codex's own context messages
    (environment, instructions: user-role text starting with ``<``) are left out."""
    turns: list[tuple[str, str | None]] = []
    for record in _records(path):
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
    for record in _records(path):
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
