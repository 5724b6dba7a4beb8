"""filelocks: the one lock that claims a conversation and probes Codex's writer lock. The POSIX half runs for real
here (flock between processes and between two opens of one process); the Windows half's logic runs against a fake
of the C runtime's ``_locking`` that keeps what the documentation says LockFileEx keeps."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codex_mcp._internal import filelocks
from codex_mcp.storage.store import Store

HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("HELD", flush=True)
time.sleep(60)
"""


@pytest.fixture
def lock_file(tmp_path: Path) -> Path:
    return tmp_path / "x.lock"


def opened(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


def test_two_opens_in_one_process_conflict_until_released(lock_file: Path) -> None:
    first, second = opened(lock_file), opened(lock_file)
    try:
        assert filelocks.try_lock(first)
        assert not filelocks.try_lock(second), "a second open must see the lock (claims rely on it)"
        filelocks.release(first)
        assert filelocks.try_lock(second)
    finally:
        filelocks.release(second)


def test_a_lock_held_by_another_process_is_seen_and_dies_with_it(lock_file: Path) -> None:
    with subprocess.Popen([sys.executable, "-c", HOLDER, str(lock_file)], stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "HELD"
        fd = opened(lock_file)
        try:
            assert not filelocks.try_lock(fd)
            holder.kill()
            holder.wait(10)
            assert filelocks.try_lock(fd), "the system drops a killed process's lock"
        finally:
            filelocks.release(fd)
            holder.kill()


def test_release_closes_the_file_even_when_nothing_was_locked(lock_file: Path) -> None:
    fd = opened(lock_file)
    filelocks.release(fd)
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)


# --- Windows: LockFileEx ranges, through _locking ---------------------------------------------------------


class FakeLocking:
    """msvcrt.locking as documented (docs.microsoft.com, `_locking`, and `LockFileEx`): it locks nbytes from the
    file's current position; _LK_NBLCK fails with EACCES at once when another handle holds an overlapping range
    (locks belong to the handle: a second handle of the same process conflicts too); _LK_UNLCK unlocks exactly a
    range this handle locked (EACCES otherwise); locking past the end of the file is allowed."""

    NBLCK, UNLCK = 2, 0

    def __init__(self) -> None:
        self.held: list[tuple[int, int, int]] = []  # (fd, start, end)
        self.calls: list[tuple[int, int, int, int]] = []  # (fd, mode, position, nbytes)

    def hold(self, fd: int, start: int, end: int) -> None:
        """Another handle's lock: Codex's File::try_lock on Windows locks from 0 to the end of the range."""
        self.held.append((fd, start, end))

    def __call__(self, fd: int, mode: int, nbytes: int) -> None:
        start = os.lseek(fd, 0, os.SEEK_CUR)
        self.calls.append((fd, mode, start, nbytes))
        end = start + nbytes
        if mode == self.NBLCK:
            if any(other != fd and s < end and start < e for other, s, e in self.held):
                raise OSError(errno.EACCES, "Permission denied")
            self.held.append((fd, start, end))
        elif mode == self.UNLCK:
            if (fd, start, end) not in self.held:
                raise OSError(errno.EACCES, "Permission denied")
            self.held.remove((fd, start, end))


def test_windows_lock_conflicts_with_codex_whole_file_lock(lock_file: Path) -> None:
    locking = FakeLocking()
    codex, ours = opened(lock_file), opened(lock_file)
    try:
        os.lseek(ours, 5, os.SEEK_SET)  # wherever the file pointer is, the lock starts at byte 0
        locking.hold(codex, 0, 2**64 - 1)
        assert not filelocks.try_lock_range(ours, locking, locking.NBLCK)
        locking.held.clear()
        assert filelocks.try_lock_range(ours, locking, locking.NBLCK)
        assert locking.calls[-1] == (ours, locking.NBLCK, 0, 1)
        assert not filelocks.try_lock_range(codex, locking, locking.NBLCK), "a second handle conflicts"
        filelocks.unlock_range(ours, locking, locking.UNLCK)
        assert locking.held == []
        assert filelocks.try_lock_range(codex, locking, locking.NBLCK)
    finally:
        os.close(codex)
        os.close(ours)


def test_windows_lock_errors_other_than_busy_are_raised(lock_file: Path) -> None:
    def broken(fd: int, mode: int, nbytes: int) -> None:
        raise OSError(errno.EBADF, "Bad file descriptor")

    fd = opened(lock_file)
    try:
        with pytest.raises(OSError, match="Bad file descriptor"):
            filelocks.try_lock_range(fd, broken, 2)
    finally:
        os.close(fd)


def test_a_claim_is_free_again_once_its_server_is_killed(tmp_path: Path) -> None:
    """The store's claims are these locks: a server killed with SIGKILL leaves its conversation claimable."""
    cid = "01a1fbea-b6ba-73a1-8251-f4e5e362b223"
    script = (
        "import sys, time\nfrom pathlib import Path\nfrom codex_mcp.storage.store import Store\n"
        f"claim = Store(Path(sys.argv[1])).claim('{cid}')\nprint('CLAIMED' if claim else 'REFUSED', flush=True)\n"
        "time.sleep(60)\n"
    )
    with subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True) as server:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "CLAIMED"
        store = Store(tmp_path)
        assert store.claimed_elsewhere(cid)
        assert store.claim(cid) is None
        server.kill()
        server.wait(10)
        assert not store.claimed_elsewhere(cid), "a killed server's claim is gone once it is reaped"
        claim = store.claim(cid)
        assert claim is not None
        claim.release()
