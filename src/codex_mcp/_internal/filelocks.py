"""An exclusive, non-blocking lock on an open file, which the system drops when the process dies: what codex-mcp's
claims on conversations are made of, and how it asks whether another Codex holds a thread's writer lock.

POSIX: ``flock(2)`` on the whole file (Codex's own lock on Linux and macOS, so a probe conflicts with it).
Windows: ``LockFileEx`` through the C runtime's ``_locking`` (``msvcrt.locking``) on the first byte. Codex locks
with Rust's ``File::try_lock``, which on Windows is ``LockFileEx(LOCKFILE_EXCLUSIVE_LOCK |
LOCKFILE_FAIL_IMMEDIATELY)`` over the whole range from offset 0, so any range that starts at 0 overlaps it and
conflicts. Both kinds belong to the open file (the handle), so a second open in the same process conflicts too,
and both are released by the system when the process dies (LockFileEx's documentation: "If a process terminates
with a portion of a file locked ..., the locks are unlocked by the operating system"). Windows says to unlock
before closing, hence ``release``.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from pathlib import Path

_BUSY_ERRNOS = frozenset({errno.EACCES, errno.EAGAIN, getattr(errno, "EDEADLOCK", errno.EDEADLK), errno.EDEADLK})
"""How ``_locking(_LK_NBLCK)`` says another handle holds the range (EACCES; the CRT maps ERROR_LOCK_VIOLATION to
it) and how flock says it (EWOULDBLOCK = EAGAIN)."""

LockCall = Callable[[int, int, int], None]
"""msvcrt.locking(fd, mode, nbytes): locks or unlocks nbytes from the file's current position."""


def try_lock_range(fd: int, locking: LockCall, mode: int) -> bool:
    """Lock the first byte with ``locking`` (Windows' ``msvcrt.locking`` in ``mode`` LK_NBLCK): True if taken,
    False if another handle holds an overlapping range. Byte 0 need not exist (locking past the end of a file is
    allowed), so an empty lock file works."""
    os.lseek(fd, 0, os.SEEK_SET)  # _locking counts from the current position
    try:
        locking(fd, mode, 1)
    except OSError as exc:
        if exc.errno in _BUSY_ERRNOS:
            return False
        raise
    return True


def unlock_range(fd: int, locking: LockCall, mode: int) -> None:
    """Unlock what try_lock_range locked (``mode`` LK_UNLCK)."""
    os.lseek(fd, 0, os.SEEK_SET)
    locking(fd, mode, 1)


if sys.platform == "win32":
    import msvcrt

    def try_lock(fd: int) -> bool:
        """Take the exclusive lock without waiting: False if another open file (any process) holds it."""
        return try_lock_range(fd, msvcrt.locking, msvcrt.LK_NBLCK)

    def unlock(fd: int) -> None:
        """Let go of the lock (the file stays open)."""
        unlock_range(fd, msvcrt.locking, msvcrt.LK_UNLCK)

else:
    import fcntl

    def try_lock(fd: int) -> bool:
        """Take the exclusive lock without waiting: False if another open file (any process) holds it. OSError
        for a filesystem without locks (some network mounts)."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def unlock(fd: int) -> None:
        """Let go of the lock (the file stays open)."""
        fcntl.flock(fd, fcntl.LOCK_UN)


def release(fd: int) -> None:
    """Unlock and close: closing alone releases a flock at once, but Windows may keep a range locked for a while
    after its handle closes."""
    try:
        unlock(fd)
    except OSError:
        pass  # not locked, or the filesystem forgot: closing is what matters
    finally:
        os.close(fd)


def take(path: Path) -> int | None:
    """The lock of the file at path (created 0600 if missing), as the open fd that holds it; None if another
    open file (any process) holds it. Let go with release."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        taken = try_lock(fd)
    except BaseException:
        os.close(fd)
        raise
    if not taken:
        os.close(fd)
        return None
    return fd


def held_elsewhere(path: Path) -> bool:
    """Whether another open file holds the lock of an existing file at path (a look: taken and let go at once)."""
    if not path.exists():
        return False
    fd = take(path)
    if fd is None:
        return True
    release(fd)
    return False
