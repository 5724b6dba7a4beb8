"""Codex's thread writer lock: reading /proc/locks, naming the holder, stale and malformed lock files, pid reuse,
the probe used where there is no /proc/locks, and recognising Codex's own "open elsewhere" texts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from codex_mcp.codex.writers import (
    HeldLock,
    Writer,
    conflict_shown,
    lock_path,
    parse_locks,
    read_proc_locks,
    thread_writer,
)

THREAD = "01a1fbea-b6ba-73a1-8251-f4e5e362b223"

HOLD = """
import fcntl, sys
f = open(sys.argv[1], "rb")
fcntl.flock(f, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""

needs_proc_locks = pytest.mark.skipif(read_proc_locks() is None, reason="no /proc/locks (not Linux)")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "thread-writer-locks").mkdir()
    return tmp_path


@pytest.fixture
def holders() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start processes that hold an flock on a file, as Codex does; all are killed at teardown."""
    started: list[subprocess.Popen[str]] = []

    def hold(path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        started.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield hold
    for proc in started:
        proc.kill()
        proc.communicate()  # reaps it and closes its pipes


def locks_line(path: Path, pid: int, *, device: tuple[int, int] | None = None, kind: str = "FLOCK") -> str:
    """A /proc/locks line for a lock on path."""
    st = path.stat()
    major, minor = device if device is not None else (os.major(st.st_dev), os.minor(st.st_dev))
    return f"1: {kind}  ADVISORY  WRITE {pid} {major:02x}:{minor:02x}:{st.st_ino} 0 EOF\n"


def reads(*texts: str | None) -> Callable[[], str | None]:
    """A read_locks that returns these texts in turn, then the last one forever."""
    queue = list(texts)

    def read() -> str | None:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return read


# --- parsing -----------------------------------------------------------------------------------


def test_parse_locks_reads_granted_locks_and_skips_waiters_and_junk() -> None:
    text = (
        "1: FLOCK  ADVISORY  WRITE 4035 fe:00:2147073 0 EOF\n"
        "1: -> FLOCK  ADVISORY  WRITE 4100 fe:00:2147073 0 EOF\n"  # waiting, not holding
        "2: POSIX  ADVISORY  READ 77 08:1a:12 0 EOF\n"
        "3: OFDLCK ADVISORY  WRITE -1 00:2f:99 0 EOF\n"
        "garbage\n"
        "4: FLOCK  ADVISORY  WRITE notapid fe:00:1 0 EOF\n"
        "5: FLOCK  ADVISORY  WRITE 12 fe:00 0 EOF\n"
        "\n"
    )
    assert parse_locks(text) == [
        HeldLock("FLOCK", 4035, (0xFE, 0), 2147073),
        HeldLock("POSIX", 77, (8, 0x1A), 12),
        HeldLock("OFDLCK", -1, (0, 0x2F), 99),
    ]


def test_lock_path_is_per_thread_under_codex_home(tmp_path: Path) -> None:
    assert lock_path(tmp_path, THREAD) == tmp_path / "thread-writer-locks" / f"{THREAD}.lock"


def test_conflict_texts_of_both_codex_versions() -> None:
    lock_screen = [
        "  🔒  This conversation is open in another app                  r to retry",
        "      Close it there and press R to continue here.",
        "   r retry   f fork   ←/esc command center   ^c/q exit   ^t transcript",
    ]
    assert conflict_shown(lock_screen)
    assert conflict_shown(["Error: thread 01a1fbea-b6ba-73a1-8251-f4e5e362b223 already has an active writer"])
    assert conflict_shown(["This thread is open elsewhere. Close it there and retry resume to continue."])
    assert not conflict_shown(["Codex is not logged in: run `codex login` or configure an API key"])
    assert not conflict_shown(["ERROR: No saved session found with ID 01a1fbea-b6ba-73a1-8251-f4e5e362b223"])


def test_conflict_texts_count_only_at_the_bottom_of_the_screen() -> None:
    """The transcript a resumed Codex shows may quote the very words; only the bottom lines are Codex's own."""
    transcript = [
        "› what does 'This conversation is open in another app' mean?",
        "• It means the thread already has an active writer.",
    ]
    failed = ["Error: config.toml: unknown variant `weird`", "", "  in `sandbox_mode`", "", "", "", ""]
    assert not conflict_shown(transcript + [f"  line {n}" for n in range(6)] + failed)
    assert conflict_shown(["  line"] * 30 + ["  🔒  This conversation is open in another app    r to retry", "", ""])


# --- the real kernel ---------------------------------------------------------------------------


def test_no_lock_file_means_no_writer(home: Path) -> None:
    assert thread_writer(home, THREAD) is None
    assert thread_writer(home / "missing-home", THREAD) is None


@needs_proc_locks
def test_the_holder_is_named_with_its_command_line_and_marker(home: Path, holders: Callable[..., Any]) -> None:
    path = lock_path(home, THREAD)
    path.touch()
    proc = holders(path, {"CODEX_MCP_SESSION": "abc123"})
    writer = thread_writer(home, THREAD)
    assert writer is not None
    assert writer.pid == proc.pid
    assert sys.executable in writer.command
    assert str(path) in writer.command
    assert writer.marker == "abc123"
    assert writer.describe().startswith(f"pid {proc.pid}: ")


@needs_proc_locks
def test_a_lock_left_by_a_killed_writer_is_stale(home: Path, holders: Callable[..., Any]) -> None:
    path = lock_path(home, THREAD)
    path.touch()
    proc = holders(path)
    assert thread_writer(home, THREAD) is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert path.exists(), "SIGKILL leaves the file behind (as it does for Codex)"
    assert thread_writer(home, THREAD) is None


@needs_proc_locks
def test_malformed_lock_files_are_judged_by_the_lock_alone(home: Path, holders: Callable[..., Any]) -> None:
    path = lock_path(home, THREAD)
    path.write_bytes(b"\xff\xfe not a pid \x00\n" * 100)  # Codex writes nothing; content is never trusted
    assert thread_writer(home, THREAD) is None
    proc = holders(path)
    writer = thread_writer(home, THREAD)
    assert writer is not None
    assert writer.pid == proc.pid


def test_a_directory_in_place_of_the_lock_file_is_no_writer(home: Path) -> None:
    lock_path(home, THREAD).mkdir()
    assert thread_writer(home, THREAD) is None


def test_another_threads_lock_does_not_count(home: Path) -> None:
    other = lock_path(home, "0199a0b1-0000-7000-8000-000000000001")
    other.touch()
    lock_path(home, THREAD).touch()
    assert thread_writer(home, THREAD, read_locks=reads(locks_line(other, os.getpid()))) is None


# --- what /proc/locks may say ------------------------------------------------------------------


def test_a_listed_pid_whose_process_cannot_be_read_is_still_the_holder(home: Path) -> None:
    """Still listed on a second look, but unreadable: a process on its way out (its memory goes before its files
    and locks) or another user's. It holds the thread all the same."""
    path = lock_path(home, THREAD)
    path.touch()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    writer = thread_writer(home, THREAD, read_locks=reads(locks_line(path, dead.pid)))
    assert writer == Writer(dead.pid)
    assert writer.describe() == f"pid {dead.pid}"


def test_a_holder_in_another_pid_namespace_is_unnamed(home: Path) -> None:
    path = lock_path(home, THREAD)
    path.touch()
    writer = thread_writer(home, THREAD, read_locks=reads(locks_line(path, 0)))
    assert writer == Writer(None)
    assert writer.describe() == "the system does not say which"


def test_a_holder_gone_between_two_looks_is_no_writer(home: Path) -> None:
    """pid reuse: the listed pid is read (here it is a live process, us), but the second look no longer lists it;
    the process read may be a newcomer with the old pid, so it is not reported."""
    path = lock_path(home, THREAD)
    path.touch()
    writer = thread_writer(home, THREAD, read_locks=reads(locks_line(path, os.getpid()), ""))
    assert writer is None


def test_a_holder_that_changes_between_looks_is_looked_up_again(home: Path) -> None:
    path = lock_path(home, THREAD)
    path.touch()
    parent = os.getppid()
    writer = thread_writer(
        home,
        THREAD,
        read_locks=reads(locks_line(path, os.getpid()), locks_line(path, parent), locks_line(path, parent)),
    )
    assert writer is not None
    assert writer.pid == parent


@needs_proc_locks
def test_overlay_device_mismatch_counts_only_for_a_process_that_has_the_file_open(
    home: Path, holders: Callable[..., Any]
) -> None:
    path = lock_path(home, THREAD)
    path.touch()
    proc = holders(path)
    elsewhere = (0xAB, 0xCD)
    writer = thread_writer(home, THREAD, read_locks=reads(locks_line(path, proc.pid, device=elsewhere)))
    assert writer is not None
    assert writer.pid == proc.pid
    assert thread_writer(home, THREAD, read_locks=reads(locks_line(path, os.getpid(), device=elsewhere))) is None


# --- without /proc/locks -------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_probe_finds_the_holder_and_lets_go(home: Path, holders: Callable[..., Any]) -> None:
    import fcntl

    path = lock_path(home, THREAD)
    path.touch()
    (home / "thread-writer-locks" / ".coordination.lock").touch()
    assert thread_writer(home, THREAD, read_locks=reads(None)) is None
    with path.open("rb") as f:  # the probe released what it tried
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(f, fcntl.LOCK_UN)
    proc = holders(path)
    writer = thread_writer(home, THREAD, read_locks=reads(None))
    assert writer is not None
    assert writer.pid == proc.pid
