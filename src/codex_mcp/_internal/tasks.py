"""Background tasks with an owner: every task is held until it ends, and its owner cancels and awaits whatever is
left when it closes, so no task outlives the object that started it and none is garbage-collected mid-run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class Tasks:
    """The background tasks of one owner (a session, the manager)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[object, object, T], *, name: str) -> asyncio.Task[T]:
        """Run coro as a task held here until it ends."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("background task %s failed: %r", task.get_name(), exc)

    async def cancel(self, task: asyncio.Task[T] | None, timeout: float = 1.0) -> None:
        """Cancel one task and wait for it, at most timeout seconds (ending must never hang on a task)."""
        if task is None or task.done():
            return
        task.cancel()
        await asyncio.wait([task], timeout=timeout)

    async def close(self, timeout: float = 1.0, *, grace_s: float = 0.0) -> None:
        """Cancel every task still running and wait for them, at most timeout seconds; with grace_s, first give
        them that long to end by themselves."""
        if grace_s > 0 and self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace_s)
        left = [t for t in self._tasks if not t.done()]
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left, timeout=timeout)


def call_on_loop(loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: object) -> None:
    """Call callback(*args) on loop: at once when already running on it (a caller that awaits next sees the effect),
    else soon, from whichever thread asks (a closed loop drops it)."""
    try:
        on_loop = asyncio.get_running_loop() is loop
    except RuntimeError:
        on_loop = False
    if on_loop:
        callback(*args)
    elif not loop.is_closed():
        loop.call_soon_threadsafe(callback, *args)


class Ticker:
    """Calls callback every interval seconds, from the running loop, until cancel(): one timer for a whole wait,
    where a timeout per wait would create and cancel one each time."""

    def __init__(self, interval: float, callback: Callable[[], None]) -> None:
        self._interval = interval
        self._callback = callback
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_later(interval, self._fire)

    def _fire(self) -> None:
        self._handle = self._loop.call_later(self._interval, self._fire)
        self._callback()

    def cancel(self) -> None:
        """Stop calling."""
        self._handle.cancel()


async def wait_event(event: asyncio.Event, timeout: float) -> None:
    """Wait until event is set, at most timeout seconds. (asyncio.timeout, not wait_for: in 3.11 wait_for can
    swallow a cancellation that races its timeout, which left a cancelled worker waiting forever.)"""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
