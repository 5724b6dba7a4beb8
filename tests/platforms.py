"""What the tests do differently per platform: end a process outright, and say why a test cannot run somewhere.

A test that needs a POSIX PTY, a POSIX signal or Linux's /proc either uses the portable way here (psutil) or
carries one of the marks below, whose reason says what the platform lacks and where that piece is tested instead.
None of them ever skips on Linux, where CI runs."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import psutil
import pytest

LINUX = sys.platform.startswith("linux")
WINDOWS = sys.platform == "win32"


def kill_hard(pid: int) -> None:
    """End a process with no chance to clean up: SIGKILL on POSIX, TerminateProcess on Windows (Task Manager's
    "End task"). A process that is already gone is no error."""
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(pid).kill()


def posix_pty(why: str) -> pytest.MarkDecorator:
    """A test that drives a POSIX terminal itself (os.fork, pty, termios, SIGWINCH): not on Windows."""
    return pytest.mark.skipif(WINDOWS, reason=f"needs a POSIX terminal: {why}")


def posix_signals(why: str) -> pytest.MarkDecorator:
    """A test of what a POSIX signal does (SIGSTOP, a process group's SIGKILL): not on Windows."""
    return pytest.mark.skipif(WINDOWS, reason=f"needs POSIX signals: {why}")


def linux_proc(why: str) -> pytest.MarkDecorator:
    """A test that reads the kernel's tables in /proc (sockets by inode): Linux only."""
    return pytest.mark.skipif(not LINUX, reason=f"reads Linux's /proc: {why}")


KILLED = "exit code 15" if WINDOWS else "SIGKILL"
"""How a session's end reads after kill_hard: psutil ends a Windows process with TerminateProcess(handle, SIGTERM),
so its exit code is 15; on POSIX the signal is named."""


def script(path: Path, *, sh: str, cmd: str) -> Path:
    """An executable stand-in: a POSIX shell script at path, or on Windows a batch file beside it (path.cmd,
    which CreateProcess runs through cmd.exe). sh and cmd are the bodies, without the #! line or @echo off."""
    if WINDOWS:
        target = path.with_suffix(".cmd")
        target.write_text("@echo off\r\n" + cmd.replace("\n", "\r\n"), encoding="utf-8")
        return target
    path.write_text("#!/bin/sh\n" + sh)
    path.chmod(0o755)
    return path
