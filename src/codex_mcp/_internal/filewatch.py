"""Being told when a file grows, instead of looking every few milliseconds.

A turn ends when Codex appends task_complete to its rollout. Looking for it every 4 ms cost ~0.25 ms of CPU a
look (a timer, an event-loop turn, a stat: ~6 ms over a 0.1 s turn, as much as the rest of the server's work);
Codex's own run state (OSC 7501) says "done" ~10 ms after the line is written, too late to wait for. On Linux,
inotify wakes the reader when the file is written; elsewhere ``watch_file`` returns None and the caller polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

_IN_MODIFY = 0x00000002
_IN_NONBLOCK = 0o4000  # O_NONBLOCK on Linux (os has no O_NONBLOCK on Windows, where this is never used)
_IN_CLOEXEC = 0o2000000  # O_CLOEXEC on Linux


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    except (OSError, AttributeError):  # no libc we can load, or one without inotify (musl has it)
        return None
    return libc


_LIBC = _libc()


class FileWatch:
    """Calls on_change (in the event loop) whenever the file is written, until closed."""

    def __init__(self, fd: int, on_change: Callable[[], None]) -> None:
        self._fd: int | None = fd
        self._on_change = on_change
        asyncio.get_running_loop().add_reader(fd, self._readable)

    def _readable(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while os.read(self._fd, 4096):  # the events themselves say nothing we need: drain them
                pass
        self._on_change()

    def close(self) -> None:
        """Stop watching and give the descriptor back (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(RuntimeError, ValueError):  # the loop is closed already
            asyncio.get_running_loop().remove_reader(fd)
        os.close(fd)


def watch_file(path: Path, on_change: Callable[[], None]) -> FileWatch | None:
    """Watch path for writes; None where that is not possible (not Linux, no inotify left: callers poll)."""
    if _LIBC is None:
        return None
    fd = _LIBC.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
    if fd < 0:
        log.debug("inotify_init1 failed (errno %d): polling %s", ctypes.get_errno(), path)
        return None
    if _LIBC.inotify_add_watch(fd, os.fsencode(path), _IN_MODIFY) < 0:
        log.debug("inotify_add_watch failed (errno %d): polling %s", ctypes.get_errno(), path)
        os.close(fd)
        return None
    return FileWatch(fd, on_change)
