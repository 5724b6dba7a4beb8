"""The server stops on the signals of its platform: the loop's own handlers on POSIX, and on Windows (no
add_signal_handler on the Proactor loop) plain handlers that hand the signal to the loop. Both halves run here,
with real signals sent to this process."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from codex_mcp.cli.main import catch_stop_signals

from ..helpers import await_until

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize("windows", [False, True], ids=["posix", "windows-handlers"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_stop_signal_reaches_the_loop_once_and_is_undone(windows: bool, signum: int) -> None:
    loop = asyncio.get_running_loop()
    seen: list[int] = []
    before = signal.getsignal(signum)
    undo = catch_stop_signals(loop, seen.append, windows=windows)
    try:
        os.kill(os.getpid(), signum)
        assert await await_until(lambda: seen == [signum], 5), f"{signal.Signals(signum).name} did not stop the server"
    finally:
        undo()
    assert signal.getsignal(signum) == before, "the previous handler is back"


async def test_sighup_stops_the_server_on_posix() -> None:
    loop = asyncio.get_running_loop()
    seen: list[int] = []
    undo = catch_stop_signals(loop, seen.append, windows=False)
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        assert await await_until(lambda: seen == [signal.SIGHUP], 5)
    finally:
        undo()
