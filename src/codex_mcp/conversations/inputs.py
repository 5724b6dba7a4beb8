"""Checking what a client sends before anything acts on it: conversation ids, timeouts, folders and list
filters. Each check returns the value to use or raises InvalidInput with a message that says what to send."""

from __future__ import annotations

import os
from pathlib import Path

from ..codex.tui import UUID_RE
from ..config import MAX_TIMEOUT_S
from ..errors import InvalidInput

MAX_FILTER_TEXT = 500


def check_conversation_id(conversation_id: str) -> str:
    """A well-formed conversation id (a Codex thread UUID), lower-cased."""
    cid = conversation_id.strip().lower()
    if not UUID_RE.fullmatch(cid):
        raise InvalidInput(
            f"conversationId {conversation_id[:80]!r} is not a Codex thread id (a UUID like "
            "'01a1fbea-b6ba-73a1-8251-f4e5e362b223'); use the conversationId that codex_start returned"
        )
    return cid


def check_timeout(timeout_s: float | None, default: float) -> float:
    """A usable timeout in seconds. 0 means return at once: the turn goes on in the background (codex_status
    collects it)."""
    if timeout_s is None:
        return default
    if not (0 <= timeout_s <= MAX_TIMEOUT_S):
        raise InvalidInput(
            f"timeout_s must be between 0 (return at once, the turn goes on) and {MAX_TIMEOUT_S:g} seconds"
        )
    return float(timeout_s)


def check_cwd(cwd: str | None) -> str:
    """An absolute, existing directory (the server's cwd when none is given)."""
    if cwd is None or not cwd.strip():
        return os.getcwd()
    if "\x00" in cwd:
        raise InvalidInput("cwd contains a NUL byte")
    try:
        cwd.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("cwd must be valid Unicode text") from None
    shown = cwd if len(cwd) <= 200 else cwd[:200] + "…"
    try:
        path = Path(cwd).expanduser()
        if not path.is_absolute():
            raise InvalidInput(f"cwd {shown!r} is not an absolute path: give the full path of the project folder")
        if not path.exists():
            raise InvalidInput(f"cwd {shown!r} does not exist: create it or pass an existing folder")
        if not path.is_dir():
            raise InvalidInput(f"cwd {shown!r} is not a directory: pass the folder, not a file in it")
        return str(path.resolve())
    except (OSError, RuntimeError) as exc:  # a name too long, ~nosuchuser, a loop of symlinks, no permission
        # The OS's words without the path it names: an overlong path is not echoed back whole.
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise InvalidInput(f"cwd {shown!r} cannot be used ({why}): pass an existing absolute folder") from None


def folder_filter(cwd: str | None) -> str | None:
    """A folder to list conversations in (it may no longer exist: old conversations keep their folder)."""
    if cwd is None or not cwd.strip():
        return None
    if "\x00" in cwd or len(cwd) > 4096:
        raise InvalidInput("cwd must be an absolute folder path")
    path = os.path.normpath(os.path.expanduser(cwd.strip()))
    if not os.path.isabs(path):
        raise InvalidInput(f"cwd {cwd[:200]!r} is not an absolute path: give the full path of the project folder")
    return path


def text_filter(text: str | None) -> str | None:
    """Text to find in first prompts, or None for no filter."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_FILTER_TEXT:
        raise InvalidInput(f"text must be at most {MAX_FILTER_TEXT} characters")
    return text.strip()
