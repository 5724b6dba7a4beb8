"""The Windows terminal backend: a process on a ConPTY through pywinpty, behind the same interface as the
POSIX Terminal in posix.py. Windows has no PTY file descriptor to put on the event loop, so a reader thread and a writer
thread move bytes, and results come back to the loop with call_soon_threadsafe. There are no POSIX signals:
termination asks the program first, then ends the whole process tree with taskkill (argv, no shell)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from ..errors import TerminalClosed
from .base import KILL_WAIT_S, READ_CHUNK, ExitInfo, KillStep, ProcessOutput

log = logging.getLogger(__name__)


class WinPtyProcess(Protocol):
    """The part of ``winpty.PtyProcess`` we use (pywinpty reads and writes text)."""

    pid: int
    exitstatus: int | None

    def read(self, size: int = ...) -> str: ...

    def write(self, s: str) -> int: ...

    def setwinsize(self, rows: int, cols: int) -> None: ...

    def isalive(self) -> bool: ...

    def terminate(self, force: bool = ...) -> bool: ...

    def close(self, force: bool = ...) -> None: ...


Spawner = Callable[[list[str], str, dict[str, str], tuple[int, int]], WinPtyProcess]
TreeKiller = Callable[[int, bool], None]


def pywinpty_spawn(argv: list[str], cwd: str, env: dict[str, str], dimensions: tuple[int, int]) -> WinPtyProcess:
    """Start argv on a ConPTY with pywinpty (argv is passed as a list: no shell, no quoting of our own)."""
    from winpty import PtyProcess  # type: ignore[import-not-found,unused-ignore]

    proc: WinPtyProcess = PtyProcess.spawn(argv, cwd=cwd, env=env, dimensions=dimensions)
    return proc


def taskkill(pid: int, force: bool) -> None:
    """End a process and all its children (Windows has no process groups to signal)."""
    args = ["taskkill", "/PID", str(pid), "/T"] + (["/F"] if force else [])
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(args, capture_output=True, timeout=10, check=False)


class ConPtyTerminal(ProcessOutput):
    """One child process on a ConPTY, driven from the asyncio event loop without blocking it."""

    def __init__(
        self, proc: WinPtyProcess, loop: asyncio.AbstractEventLoop, kill_tree: TreeKiller | None = None
    ) -> None:
        super().__init__()
        self.pid = proc.pid
        self._proc = proc
        self._loop = loop
        self._kill_tree = kill_tree or taskkill
        self._writes: queue.Queue[bytes | None] = queue.Queue()
        self._pending = 0
        self._closed = False
        threading.Thread(target=self._read_loop, name=f"conpty-read-{self.pid}", daemon=True).start()
        threading.Thread(target=self._write_loop, name=f"conpty-write-{self.pid}", daemon=True).start()

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        *,
        cwd: str,
        env: dict[str, str],
        rows: int,
        cols: int,
        spawner: Spawner | None = None,
        kill_tree: TreeKiller | None = None,
    ) -> ConPtyTerminal:
        """Start argv on a new ConPTY."""
        loop = asyncio.get_running_loop()
        proc = await asyncio.to_thread(spawner or pywinpty_spawn, list(argv), cwd, env, (rows, cols))
        return cls(proc, loop, kill_tree)

    # --- output -------------------------------------------------------------------------------

    def _read_loop(self) -> None:
        while True:
            try:
                text = self._proc.read(READ_CHUNK)
            except (EOFError, OSError):
                break
            if text:
                self._call_soon(self._deliver, text.encode("utf-8", "replace"))
        while self._proc.isalive():  # output ends a moment before the process does
            threading.Event().wait(0.05)
        self._call_soon(self._on_exit, ExitInfo(code=self._proc.exitstatus, signal=None))

    def _call_soon(self, fn: Callable[..., None], *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening any more
            self._loop.call_soon_threadsafe(fn, *args)

    def _on_exit(self, info: ExitInfo) -> None:
        if self.exit_info is not None:
            return
        self._writes.put(None)
        self._announce_exit(info)

    # --- input --------------------------------------------------------------------------------

    def write_nowait(self, data: bytes) -> None:
        """Queue bytes for the child; the writer thread hands them to the ConPTY."""
        if self._closed or self.exit_info is not None:
            raise TerminalClosed("the process has exited")
        self._pending += 1
        self._drained.clear()
        self._writes.put(data)

    def _write_loop(self) -> None:
        while True:
            data = self._writes.get()
            if data is None:
                return
            with contextlib.suppress(EOFError, OSError):
                self._proc.write(data.decode("utf-8", "replace"))
            self._call_soon(self._wrote)

    def _wrote(self) -> None:
        self._pending -= 1
        if self._pending <= 0:
            self._pending = 0
            self._drained.set()

    def resize(self, rows: int, cols: int) -> None:
        """Set the ConPTY's size."""
        if not self._closed:
            with contextlib.suppress(OSError):
                self._proc.setwinsize(rows, cols)

    # --- termination --------------------------------------------------------------------------

    def _kill_steps(self, step_s: float) -> Sequence[KillStep]:
        """taskkill of the whole tree, politely and then by force; then pywinpty's own forced terminate."""
        return [
            KillStep(functools.partial(asyncio.to_thread, self._kill_tree, self.pid, False), step_s),
            KillStep(functools.partial(asyncio.to_thread, self._kill_tree, self.pid, True), KILL_WAIT_S),
            KillStep(self._force_terminate, None),
        ]

    async def _force_terminate(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._proc.terminate, True)

    def close(self) -> None:
        """Release the ConPTY (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._writes.put(None)
        self._drained.set()
        with contextlib.suppress(Exception):
            self._proc.close(True)
