"""A process in a pseudo-terminal: spawn, non-blocking byte I/O on the event loop, resize, and termination
that escalates through signals to the whole process group.

Bytes only: this module knows nothing of screens, Codex or MCP. Output goes to any number of
subscribers (the screen model now; attached terminals later), so one session can be watched by many.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

OutputCallback = Callable[[bytes], None]
ExitCallback = Callable[["ExitInfo"], None]

_READ_CHUNK = 65536


@dataclass(frozen=True)
class ExitInfo:
    """How the process ended: an exit code or the signal that killed it."""

    code: int | None
    signal: int | None

    def describe(self) -> str:
        """A short human phrase, e.g. 'exit code 1' or 'killed by SIGKILL'."""
        if self.code is None and self.signal is None:
            return "exit status unknown"
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = str(self.signal)
            return f"killed by {name}"
        return f"exit code {self.code}"


class ProcessOutput:
    """What every terminal backend shares: output fanned out to subscribers, and the process's exit reported
    once to whoever asks, before or after it happened."""

    def __init__(self) -> None:
        self._subscribers: list[OutputCallback] = []
        self._exit_callbacks: list[ExitCallback] = []
        self.exit_info: ExitInfo | None = None
        self._exited = asyncio.Event()
        self._drained = asyncio.Event()  # set while no written input waits to be taken
        self._drained.set()

    def write_nowait(self, data: bytes) -> None:
        """Queue bytes for the child without blocking (each backend moves them its own way)."""
        raise NotImplementedError

    async def write(self, data: bytes, timeout: float = 10.0) -> None:
        """Write bytes and wait until the terminal has taken them all (bounded by timeout)."""
        self.write_nowait(data)
        try:
            async with asyncio.timeout(timeout):
                await self._drained.wait()
        except TimeoutError:
            from .errors import TerminalClosed

            raise TerminalClosed(f"the terminal did not accept input within {timeout:g}s") from None

    def subscribe(self, callback: OutputCallback) -> Callable[[], None]:
        """Call callback with every chunk of output from now on; returns an unsubscribe function."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def on_exit(self, callback: ExitCallback) -> None:
        """Call callback once when the process has exited (at once if it already has)."""
        if self.exit_info is not None:
            callback(self.exit_info)
        else:
            self._exit_callbacks.append(callback)

    def _deliver(self, data: bytes) -> None:
        for callback in list(self._subscribers):
            try:
                callback(data)
            except Exception:  # a broken consumer must not stop the others
                log.exception("terminal output subscriber failed")

    def _announce_exit(self, info: ExitInfo) -> None:
        self.exit_info = info
        self._exited.set()
        for callback in self._exit_callbacks:
            try:
                callback(info)
            except Exception:
                log.exception("terminal exit callback failed")
        self._exit_callbacks.clear()

    @property
    def alive(self) -> bool:
        """True until the process has exited (and, on POSIX, been reaped)."""
        return self.exit_info is None

    async def wait_exit(self, timeout: float | None = None) -> ExitInfo | None:
        """Wait for the process to exit; None if it is still running after timeout seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._exited.wait()
        return self.exit_info


def _is_dir(path: str) -> bool:
    return os.path.isdir(path)


class PtyTerminal(Protocol):
    """What a session needs from a terminal backend (POSIX PTY here, ConPTY in conpty.py)."""

    pid: int
    exit_info: ExitInfo | None

    @property
    def alive(self) -> bool: ...

    def subscribe(self, callback: OutputCallback) -> Callable[[], None]: ...

    def on_exit(self, callback: ExitCallback) -> None: ...

    def write_nowait(self, data: bytes) -> None: ...

    async def write(self, data: bytes, timeout: float = ...) -> None: ...

    def resize(self, rows: int, cols: int) -> None: ...

    async def wait_exit(self, timeout: float | None = ...) -> ExitInfo | None: ...

    async def terminate(
        self, graceful: Callable[[], None] | None = ..., grace_s: float = ..., step_s: float = ...
    ) -> ExitInfo | None: ...

    def close(self) -> None: ...


async def spawn_terminal(argv: Sequence[str], *, cwd: str, env: dict[str, str], rows: int, cols: int) -> PtyTerminal:
    """Start argv on this platform's terminal backend (chosen once, here): a POSIX PTY, or ConPTY on Windows."""
    if sys.platform == "win32":
        from .conpty import ConPtyTerminal

        return await ConPtyTerminal.spawn(argv, cwd=cwd, env=env, rows=rows, cols=cols)
    return await Terminal.spawn(argv, cwd=cwd, env=env, rows=rows, cols=cols)


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
            data = os.read(self._fd, _READ_CHUNK)
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
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            self._pidfd = None
        if self._pidfd is not None:
            self._loop.add_reader(self._pidfd, self._reap)
        else:  # pragma: no cover - kernels without pidfd
            self._loop.call_later(0.1, self._poll_reap)

    def _poll_reap(self) -> None:  # pragma: no cover - kernels without pidfd
        if not self._reap():
            self._loop.call_later(0.1, self._poll_reap)

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
            from .errors import TerminalClosed

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

    async def terminate(
        self, graceful: Callable[[], None] | None = None, grace_s: float = 2.0, step_s: float = 1.0
    ) -> ExitInfo | None:
        """End the process: first graceful() (the program's own way out) and grace_s to act on it,
        then SIGHUP, SIGTERM and SIGKILL to the whole process group, waiting between steps. Closes
        the PTY afterwards. Never raises."""
        if self.alive and graceful is not None:
            try:
                graceful()
            except Exception as exc:  # the graceful way is best effort
                log.debug("graceful exit request failed: %s", exc)
            await self.wait_exit(grace_s)
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGKILL):
            if not self.alive:
                break
            log.debug("sending %s to process group %d", signal.Signals(sig).name, self.pid)
            self._signal_group(sig)
            if sig != signal.SIGKILL:
                self._signal_group(signal.SIGCONT)  # a stopped process cannot act on the signal
            await self.wait_exit(step_s if sig != signal.SIGKILL else 5.0)
        self.close()
        return self.exit_info

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
