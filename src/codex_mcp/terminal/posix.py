"""The POSIX terminal backend: a process on a PTY through ptyprocess, its fd served from the asyncio event loop,
its exit watched with a pidfd (Linux; polled where there is none: macOS), and termination that escalates through
signals to the whole process group."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import signal
import sys
from collections.abc import Sequence

from ..errors import TerminalClosed
from .base import KILL_WAIT_S, READ_CHUNK, ExitInfo, KillStep, ProcessOutput

assert sys.platform != "win32", "the POSIX backend; Windows has conpty.py"  # also tells mypy where this runs

log = logging.getLogger(__name__)


EXIT_POLL_S = 0.1
"""How often a child's exit is checked where no pidfd tells (macOS, Linux before 5.3)."""


def open_pidfd(pid: int) -> int | None:
    """A descriptor that turns readable when the process exits (Linux 5.3+), or None where there is none (macOS
    has no pidfd: the exit is then polled every EXIT_POLL_S)."""
    if sys.platform != "linux":
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:  # an old kernel, or a seccomp filter that refuses it
        return None


def _is_dir(path: str) -> bool:
    return os.path.isdir(path)


class Terminal(ProcessOutput):
    """One child process on a POSIX PTY, driven from the asyncio event loop without blocking it."""

    def __init__(self, pid: int, fd: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.pid = pid
        self._fd = fd
        self._loop = loop
        self._pending = bytearray()
        self._eof = False
        self._fd_closed = False
        self._pidfd: int | None = None
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._on_readable)
        self._watch_exit()

    # --- spawning -----------------------------------------------------------------------------

    @classmethod
    async def spawn(cls, argv: Sequence[str], *, cwd: str, env: dict[str, str], rows: int, cols: int) -> Terminal:
        """Start argv in a new PTY (its own session and process group). No shell is involved."""
        from ptyprocess import PtyProcess

        # ptyprocess changes directory in the forked child outside its error reporting: a missing folder there
        # leaves a copy of this process running and the parent waiting forever. Check before forking.
        if not _is_dir(cwd):
            raise FileNotFoundError(f"folder {cwd} does not exist")

        loop = asyncio.get_running_loop()
        # fork+exec waits for the exec to succeed; keep that off the event loop.
        proc = await asyncio.to_thread(PtyProcess.spawn, list(argv), cwd=cwd, env=env, dimensions=(rows, cols))
        # We own the fd from here on; ptyprocess's file object must not close it behind our back.
        fd = os.dup(proc.fd)
        proc.fileobj.close()
        proc.closed = True
        return cls(proc.pid, fd, loop)

    # --- output -------------------------------------------------------------------------------

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            # Linux reports a hung-up PTY master as EIO: every slave end is closed.
            if exc.errno not in (errno.EIO, errno.EBADF):
                log.warning("pty read failed: %s", exc)
            data = b""
        if not data:
            self._on_eof()
            return
        self._deliver(data)

    def _on_eof(self) -> None:
        if self._eof:
            return
        self._eof = True
        self._loop.remove_reader(self._fd)
        self._drop_writes()

    # --- process exit -------------------------------------------------------------------------

    def _watch_exit(self) -> None:
        self._pidfd = open_pidfd(self.pid)
        if self._pidfd is not None:
            self._loop.add_reader(self._pidfd, self._reap)
        else:
            self._loop.call_later(EXIT_POLL_S, self._poll_reap)

    def _poll_reap(self) -> None:
        if not self._reap():
            self._loop.call_later(EXIT_POLL_S, self._poll_reap)

    def _reap(self) -> bool:
        if self.exit_info is not None:
            return True
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: the status is lost
            pid, status = -1, 0
        if pid == 0:
            return False
        if pid == -1:
            info = ExitInfo(code=None, signal=None)
        elif os.WIFSIGNALED(status):
            info = ExitInfo(code=None, signal=os.WTERMSIG(status))
        else:
            info = ExitInfo(code=os.waitstatus_to_exitcode(status), signal=None)
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        # Anything the leader left in its process group goes with it.
        self._signal_group(signal.SIGKILL)
        self._announce_exit(info)
        return True

    # --- input --------------------------------------------------------------------------------

    def write_nowait(self, data: bytes) -> None:
        """Queue bytes for the child; they are written as the PTY accepts them, never blocking the loop."""
        if self._eof or self._fd_closed or self.exit_info is not None:
            raise TerminalClosed("the process has exited")
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        while self._pending:
            try:
                n = os.write(self._fd, self._pending)
            except BlockingIOError:
                n = 0
            except OSError:
                self._drop_writes()
                return
            if n == 0:
                if self._drained.is_set():
                    self._drained.clear()
                    self._loop.add_writer(self._fd, self._flush)
                return
            del self._pending[:n]
        if not self._drained.is_set():
            self._loop.remove_writer(self._fd)
        self._drained.set()

    def _drop_writes(self) -> None:
        self._pending.clear()
        if not self._drained.is_set():
            with contextlib.suppress(Exception):
                self._loop.remove_writer(self._fd)
            self._drained.set()

    def resize(self, rows: int, cols: int) -> None:
        """Set the PTY's window size (the child gets SIGWINCH)."""
        import fcntl
        import struct
        import termios

        if not self._fd_closed:
            with contextlib.suppress(OSError):
                fcntl.ioctl(self._fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    # --- termination --------------------------------------------------------------------------

    def _signal_group(self, sig: int) -> None:
        # The child is a session leader (setsid in pty fork), so its pid is its process group id.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    async def _send(self, sig: int) -> None:
        log.debug("sending %s to process group %d", signal.Signals(sig).name, self.pid)
        self._signal_group(sig)
        if sig != signal.SIGKILL:
            self._signal_group(signal.SIGCONT)  # a stopped process cannot act on the signal

    def _kill_steps(self, step_s: float) -> Sequence[KillStep]:
        """SIGHUP, SIGTERM and SIGKILL to the whole process group."""
        return [
            KillStep(functools.partial(self._send, signal.SIGHUP), step_s),
            KillStep(functools.partial(self._send, signal.SIGTERM), step_s),
            KillStep(functools.partial(self._send, signal.SIGKILL), KILL_WAIT_S),
        ]

    def close(self) -> None:
        """Release the PTY fd and loop registrations (idempotent). The process sees a hang-up."""
        if self._fd_closed:
            return
        if not self._eof:
            self._eof = True
            self._loop.remove_reader(self._fd)
        self._drop_writes()
        self._fd_closed = True
        os.close(self._fd)
