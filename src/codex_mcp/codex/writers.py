"""Who writes a Codex thread now. Codex (0.169, 0.171) lets one process at a time write a thread: that
process holds an exclusive ``flock`` on ``$CODEX_HOME/thread-writer-locks/<thread id>.lock``, an empty file,
from start-up until it exits. A clean exit removes the file; a killed Codex leaves it behind unlocked, and the
next writer takes it over. So the file itself says nothing (no pid, no host): whether it is held, and by whom,
is the kernel's to say. See docs/compatibility.md (writer locks) for the measurements.

Pure apart from reading the lock file's metadata, /proc/locks and the holder's process details."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from .._internal import filelocks

LOCK_DIR = "thread-writer-locks"
COORDINATION_LOCK = ".coordination.lock"
"""Codex takes this (blocking) before it creates, locks or removes a thread's lock file."""

PROC_LOCKS = Path("/proc/locks")

# What Codex shows or prints when another process writes the thread: the TUI's lock screen ("This
# conversation is open in another app ... press R to continue here"), and the writer-lock error itself.
_CONFLICT_TEXTS = ("open in another app", "open in another codex", "is open elsewhere", "already has an active writer")


@dataclass(frozen=True)
class HeldLock:
    """One lock the kernel lists in /proc/locks."""

    kind: str
    """FLOCK, POSIX, OFDLCK, ..."""
    pid: int
    """The process that took it; 0 or -1 when it lives in another pid namespace or the kernel does not say."""
    device: tuple[int, int]
    inode: int


@dataclass(frozen=True)
class Writer:
    """The process that holds a thread's writer lock, as far as the system tells."""

    pid: int | None
    """None when the lock is held but the holder cannot be named (another pid namespace, no /proc/locks)."""
    command: str = ""
    """Its command line, when readable."""
    marker: str | None = None
    """codex-mcp's session marker in its environment: a Codex some codex-mcp server started."""
    server_pid: int | None = None
    """That codex-mcp server process, when found among its ancestors."""

    def describe(self) -> str:
        """'pid 1234: codex resume 01a2… --no-daemon' (the program without its folder), for messages."""
        if self.pid is None:
            return "the system does not say which"
        if not self.command:
            return f"pid {self.pid}"
        program, _, args = self.command.partition(" ")
        command = " ".join(filter(None, (os.path.basename(program) or program, args)))
        command = command if len(command) <= 160 else command[:159] + "…"
        return f"pid {self.pid}: {command}"


def lock_path(codex_home: Path, thread_id: str) -> Path:
    """Where Codex keeps the writer lock of a thread."""
    return codex_home / LOCK_DIR / f"{thread_id}.lock"


def parse_locks(text: str) -> list[HeldLock]:
    """The granted locks in /proc/locks text (``1: FLOCK  ADVISORY  WRITE 4035 fe:00:2147073 0 EOF``).
    Requests still waiting for a lock (``1: -> FLOCK ...``) and lines that do not parse are skipped."""
    found: list[HeldLock] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[1] == "->":
            continue
        kind, pid_text, ident = fields[1], fields[4], fields[5]
        parts = ident.split(":")
        if len(parts) != 3:
            continue
        try:
            found.append(HeldLock(kind, int(pid_text), (int(parts[0], 16), int(parts[1], 16)), int(parts[2])))
        except ValueError:
            continue
    return found


def read_proc_locks() -> str | None:
    """The kernel's list of file locks, or None where there is none (not Linux)."""
    try:
        return PROC_LOCKS.read_text(errors="replace")
    except OSError:
        return None


def conflict_shown(screen: Sequence[str], tail: int = 6) -> bool:
    """True if the bottom of Codex's screen says another process has the thread open (its lock screen, or the
    writer-lock error), as when a writer appeared between our look and Codex's start. Only the last text lines
    count: the transcript above them may quote anything."""
    text = "\n".join(line for line in screen if line.strip())
    bottom = "\n".join(text.splitlines()[-tail:]).lower()
    return any(needle in bottom for needle in _CONFLICT_TEXTS)


def thread_writer(
    codex_home: Path,
    thread_id: str,
    *,
    marker_env: str = "CODEX_MCP_SESSION",
    read_locks: Callable[[], str | None] = read_proc_locks,
) -> Writer | None:
    """The process writing the thread now, or None when nobody does: no lock file (never opened, or its last
    writer exited cleanly) or a stale one (its writer was killed; Codex takes such a file over).

    Linux: the kernel's /proc/locks names the holder, and nothing is locked to ask. Elsewhere (macOS, Windows)
    the lock is probed the way Codex itself takes it (filelocks: flock, or LockFileEx from byte 0), under its
    coordination lock so that a Codex starting meanwhile waits instead of failing, and the holder is looked for
    among the processes that have the file open. Codex's own lock screen stays the last word (conflict_shown)."""
    path = lock_path(codex_home, thread_id)
    for _ in range(3):  # the holder may change while we look; a few looks settle it
        try:
            st = path.stat()
        except OSError:  # FileNotFoundError mostly: no writer
            return None
        text = read_locks()
        if text is None:
            return _probe(path, marker_env)
        pids = _holders(parse_locks(text), st, path)
        if not pids:
            return None
        pid = pids[0]
        writer = _process(pid, marker_env) if pid > 0 else Writer(None)
        # Confirm: between reading the list and reading the process, the holder may have exited and its pid
        # been reused. A pid that still holds the lock is the same process (a process keeps its pid to the end);
        # one that holds it but cannot be read lives in another pid namespace.
        again = read_locks()
        if again is None or pid in _holders(parse_locks(again), st, path):
            return writer
    return None


def _holders(locks: list[HeldLock], st: os.stat_result, path: Path) -> list[int]:
    """Pids holding a lock on this file. Device numbers match on most filesystems; on overlayfs stat() gives the
    overlay's device while locks are taken on the underlying one, so an inode match on another device counts
    when that process has this very file open."""
    if sys.platform == "win32":  # no /proc/locks there: never called
        return []
    device = (os.major(st.st_dev), os.minor(st.st_dev))
    exact = [lock.pid for lock in locks if lock.inode == st.st_ino and lock.device == device]
    if exact:
        return exact
    return [lock.pid for lock in locks if lock.inode == st.st_ino and lock.pid > 0 and _has_open(lock.pid, path)]


def _has_open(pid: int, path: Path) -> bool:
    real = os.path.realpath(path)
    try:
        return any(os.path.realpath(f.path) == real for f in psutil.Process(pid).open_files())
    except psutil.Error:
        return False


def _process(pid: int, marker_env: str) -> Writer:
    """What can be read about the holder: command line, codex-mcp's marker, the codex-mcp server above it."""
    try:
        proc = psutil.Process(pid)
        command = " ".join(proc.cmdline()) or proc.name()
    except psutil.Error:  # exiting (its memory is gone before its files and locks are), or not ours to read
        return Writer(pid)
    marker: str | None = None
    with contextlib.suppress(psutil.Error):
        marker = proc.environ().get(marker_env)
    server: int | None = None
    if marker:
        with contextlib.suppress(psutil.Error):
            for parent in proc.parents():
                line = " ".join(parent.cmdline())
                if "codex_mcp" in line or "codex-mcp" in line:
                    server = parent.pid
                    break
    return Writer(pid, command, marker, server)


def _probe(path: Path, marker_env: str) -> Writer | None:
    """Without /proc/locks: try the lock ourselves, under Codex's coordination lock, and let go at once."""
    coordination = path.parent / COORDINATION_LOCK
    try:
        coord_fd = os.open(coordination, os.O_RDONLY)
    except OSError:
        coord_fd = -1
    try:
        if coord_fd >= 0:
            deadline = time.monotonic() + 1.0
            while True:
                try:
                    if filelocks.try_lock(coord_fd):
                        break
                except OSError:  # a filesystem without locks
                    break
                if time.monotonic() > deadline:
                    break  # a Codex stuck holding it: probe anyway
                time.sleep(0.01)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            held = not filelocks.try_lock(fd)
        except OSError:  # a filesystem without locks: Codex then writes unlocked too
            held = False
        if held:
            os.close(fd)
        else:
            filelocks.release(fd)
    finally:
        if coord_fd >= 0:
            filelocks.release(coord_fd)  # our coordination lock, if we took it
    if not held:
        return None
    for proc in psutil.process_iter():
        if _has_open(proc.pid, path):
            return _process(proc.pid, marker_env)
    return Writer(None)
