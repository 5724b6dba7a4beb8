"""Having Codex paint its whole screen again: for a new watcher, and for a screen model that dropped output nobody
read (Screen.stale). A size change is what makes Codex repaint: one column narrower, then back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from .._internal.tasks import Tasks
from ..terminal import PtyTerminal
from .screen import Screen


class Repaints:
    """One session's repaint requests: at most one nudge at a time, and waiting for the screen to be whole."""

    def __init__(
        self, terminal: PtyTerminal, screen: Screen, tasks: Tasks, live: Callable[[], bool], name: Callable[[], str]
    ) -> None:
        self._terminal = terminal
        self._screen = screen
        self._tasks = tasks
        self._live = live
        self._name = name  # the nudge task's name
        self._output = asyncio.Event()  # set on every output chunk (output_seen)
        self._nudging: asyncio.Task[None] | None = None

    def output_seen(self) -> None:
        """The terminal produced output: a wait below looks again."""
        self._output.set()

    def nudge(self) -> None:
        """Make Codex repaint everything (a size change it notices), so a new watcher sees it all in colour, and a
        stale screen model becomes whole (Screen.expect_repaint)."""
        if self._nudging is None or self._nudging.done():
            self._nudging = self._tasks.spawn(self._nudge(), name=self._name())

    def request(self) -> None:
        """Have Codex repaint a stale screen (nothing to do for a whole one, or without Codex)."""
        if self._screen.stale and self._live():
            self.nudge()

    async def fresh(self, timeout: float = 1.0) -> None:
        """Make the screen model whole before someone reads it: after output was dropped unread, Codex repaints
        (within ~0.1 s); without Codex, or past timeout, the screen stays as it is."""
        self.request()
        await self._until(lambda: not self._screen.stale, timeout)

    async def _nudge(self) -> None:
        # One column narrower, then back once Codex has repainted at that size (or 0.3 s passed): sizes restored
        # before Codex looked would read to it as no change, and it would paint nothing.
        rows, cols = self._screen.size
        painted = self._screen.repaints
        self._terminal.resize(rows, max(20, cols - 1))
        await self._until(lambda: self._screen.repaints != painted, 0.3)
        if self._screen.size == (rows, cols):  # nobody resized meanwhile
            self._terminal.resize(rows, cols)
            self._screen.expect_repaint()

    async def _until(self, done: Callable[[], bool], timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not done() and self._live():
                    self._output.clear()
                    await self._output.wait()
