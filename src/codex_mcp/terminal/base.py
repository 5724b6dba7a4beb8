"""What every terminal backend shares: the PtyTerminal protocol a session drives, ExitInfo, and ProcessOutput,
which fans output out to subscribers, reports the exit once, and runs the one terminate() both backends use.

Bytes only: this package knows nothing of screens, Codex or MCP. Backends (posix.py, conpty.py) import this
module, never the reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..errors import TerminalClosed

log = logging.getLogger(__name__)

OutputCallback = Callable[[bytes], None]
ExitCallback = Callable[["ExitInfo"], None]

READ_CHUNK = 65536

# How long terminate() waits after its last forced step: a killed process still has to be reaped or reported.
KILL_WAIT_S = 5.0


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


@dataclass(frozen=True)
class KillStep:
    """One step of terminate()'s escalation: an action, then how long to wait for the exit (None: not at all)."""

    act: Callable[[], Awaitable[None]]
    wait_s: float | None


class ProcessOutput:
    """What every terminal backend shares: output fanned out to subscribers, the process's exit reported
    once to whoever asks, before or after it happened, and terminate()'s order of steps."""

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

    # --- termination --------------------------------------------------------------------------

    def _kill_steps(self, step_s: float) -> Sequence[KillStep]:
        """The backend's escalation, politest first (signals to the group, or taskkill of the tree)."""
        raise NotImplementedError

    async def terminate(
        self, graceful: Callable[[], None] | None = None, grace_s: float = 2.0, step_s: float = 1.0
    ) -> ExitInfo | None:
        """End the process: first graceful() (the program's own way out) and grace_s to act on it, then the
        backend's steps, each followed by a wait for the exit, until one works. Closes the terminal. Never raises."""
        if self.alive and graceful is not None:
            try:
                graceful()
            except Exception as exc:  # the graceful way is best effort
                log.debug("graceful exit request failed: %s", exc)
            await self.wait_exit(grace_s)
        for step in self._kill_steps(step_s):
            if not self.alive:
                break
            await step.act()
            if step.wait_s is not None:
                await self.wait_exit(step.wait_s)
        self.close()
        return self.exit_info

    def close(self) -> None:
        """Release the terminal (idempotent); the backend says how."""
        raise NotImplementedError


class PtyTerminal(Protocol):
    """What a session needs from a terminal backend (a POSIX PTY in posix.py, ConPTY in conpty.py)."""

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
