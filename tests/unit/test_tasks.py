"""Tasks: background tasks held by their owner until they end, cancelled and awaited (within a bound) when it
closes, and a failure logged rather than lost or raised."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest

from codex_mcp._internal.tasks import Tasks

from ..helpers import await_until

pytestmark = pytest.mark.anyio


class Stubborn:
    """A coroutine that swallows cancellation until the test lets it go (a task stuck in cleanup)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.cancels = 0
        self.task: asyncio.Task[object] | None = None

    async def run(self) -> str:
        self.task = asyncio.current_task()
        while True:
            try:
                await self.release.wait()
                return "let go"
            except asyncio.CancelledError:
                self.cancels += 1


@pytest.fixture
async def stubborn() -> AsyncIterator[Stubborn]:
    """A Stubborn whose task is let go at teardown, so no task outlives the test."""
    s = Stubborn()
    yield s
    s.release.set()
    if s.task is not None:
        await asyncio.wait([s.task], timeout=5)  # teardown never raises: wait, do not await the result


async def forever() -> None:
    await asyncio.Event().wait()


async def test_spawn_holds_the_task_until_it_ends() -> None:
    tasks = Tasks()
    go = asyncio.Event()

    async def work() -> int:
        await go.wait()
        return 42

    task = tasks.spawn(work(), name="work")
    assert task.get_name() == "work"
    assert len(tasks) == 1
    go.set()
    assert await task == 42
    assert await await_until(lambda: len(tasks) == 0, timeout=5)


async def test_close_cancels_and_awaits_what_is_left() -> None:
    tasks = Tasks()
    cleaned: list[str] = []

    async def with_cleanup(name: str) -> None:
        try:
            await forever()
        finally:
            cleaned.append(name)

    first = tasks.spawn(with_cleanup("a"), name="a")
    second = tasks.spawn(with_cleanup("b"), name="b")
    done = tasks.spawn(asyncio.sleep(0), name="done")
    await done
    await tasks.close(timeout=5)
    assert first.cancelled()
    assert second.cancelled()
    assert sorted(cleaned) == ["a", "b"], "close returned before the tasks had cleaned up"
    assert len(tasks) == 0


async def test_close_with_nothing_left_returns_at_once() -> None:
    tasks = Tasks()
    started = time.monotonic()
    await tasks.close(timeout=5)
    assert time.monotonic() - started < 1


async def test_close_returns_within_its_timeout_when_a_task_ignores_cancellation(stubborn: Stubborn) -> None:
    tasks = Tasks()
    task = tasks.spawn(stubborn.run(), name="stubborn")
    assert await await_until(lambda: stubborn.task is not None, timeout=5)  # it runs (and will swallow cancel)
    started = time.monotonic()
    await tasks.close(timeout=0.2)
    took = time.monotonic() - started
    assert 0.15 <= took < 2, f"close took {took:.2f}s"
    assert stubborn.cancels == 1
    assert not task.done()
    stubborn.release.set()
    assert await task == "let go"


async def test_cancel_returns_within_its_timeout_when_the_task_ignores_it(stubborn: Stubborn) -> None:
    tasks = Tasks()
    task = tasks.spawn(stubborn.run(), name="stubborn")
    assert await await_until(lambda: stubborn.task is not None, timeout=5)
    started = time.monotonic()
    await tasks.cancel(task, timeout=0.2)
    took = time.monotonic() - started
    assert 0.15 <= took < 2, f"cancel took {took:.2f}s"
    assert not task.done()
    assert len(tasks) == 1, "a task that is still running stays held"
    stubborn.release.set()
    await task
    assert await await_until(lambda: len(tasks) == 0, timeout=5)


async def test_cancel_waits_for_a_task_that_ends() -> None:
    tasks = Tasks()
    task = tasks.spawn(forever(), name="forever")
    await tasks.cancel(task, timeout=5)
    assert task.cancelled()
    await tasks.cancel(task)  # already done: nothing to do
    await tasks.cancel(None)


async def test_a_failing_task_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="codex_mcp._internal.tasks")
    tasks = Tasks()

    async def boom() -> None:
        raise RuntimeError("it broke")

    task = tasks.spawn(boom(), name="boom-task")
    assert await await_until(task.done, timeout=5)
    assert await await_until(lambda: len(tasks) == 0, timeout=5)
    [logged] = [r for r in caplog.records if r.name == "codex_mcp._internal.tasks"]
    assert logged.levelno == logging.ERROR
    assert "boom-task" in logged.getMessage()
    assert "it broke" in logged.getMessage()
    await tasks.close(timeout=1)  # closing after a failure raises nothing either


async def test_a_cancelled_task_is_not_logged_as_failed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="codex_mcp._internal.tasks")
    tasks = Tasks()
    task = tasks.spawn(forever(), name="quiet")
    await tasks.cancel(task, timeout=5)
    assert await await_until(lambda: len(tasks) == 0, timeout=5)
    assert [r for r in caplog.records if r.name == "codex_mcp._internal.tasks"] == []
