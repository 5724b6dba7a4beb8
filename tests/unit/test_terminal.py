"""A process in a PTY, with real child processes (small purpose-built Python scripts, no mocks)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from codex_mcp.errors import TerminalClosed
from codex_mcp.terminal import ExitInfo, Terminal, posix

from ..helpers import await_until
from ..platforms import posix_pty

pytestmark = [
    pytest.mark.anyio,
    posix_pty("the POSIX backend (ptyprocess); the ConPTY one is tests/unit/test_conpty.py"),
]

ROWS, COLS = 24, 80

# Prints every line it reads, upper-cased: proof that the bytes reached the child.
UPPER = "import sys\nfor line in sys.stdin:\n    print('GOT', line.strip().upper(), flush=True)\n"

# Raw mode, then reads N bytes slowly and reports how many arrived and their digest.
SLOW_READER = """
import hashlib, os, sys, time, tty
tty.setraw(0)
want, got, digest = int(sys.argv[1]), 0, hashlib.sha256()
os.write(1, b"READY\\n")
while got < want:
    data = os.read(0, 4096)
    got += len(data)
    digest.update(data)
    time.sleep(0.002)
os.write(1, f"DONE {got} {digest.hexdigest()}\\n".encode())
"""

# Exits 0 on "quit"; any SIGHUP/SIGTERM makes it exit 42 instead, so exit code 0 proves no signal came.
POLITE = """
import os, signal, sys
for sig in (signal.SIGHUP, signal.SIGTERM):
    signal.signal(sig, lambda *_: os._exit(42))
print("READY", flush=True)
for line in sys.stdin:
    if line.strip() == "quit":
        sys.exit(0)
"""

# Survives SIGHUP and SIGTERM (and says so), with a grandchild in its process group that ignores them too.
STUBBORN = """
import signal, subprocess, sys, time
def note(sig, _frame):
    print("GOT", signal.Signals(sig).name, flush=True)
signal.signal(signal.SIGHUP, note)
signal.signal(signal.SIGTERM, note)
grandchild = subprocess.Popen([sys.executable, "-c",
    "import signal, time\\n"
    "signal.signal(signal.SIGHUP, signal.SIG_IGN)\\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n"
    "print('GRANDCHILD READY', flush=True)\\n"
    "time.sleep(600)\\n"])
print("GRANDCHILD", grandchild.pid, flush=True)
while True:
    time.sleep(1)
"""

SLEEPER = "import time\nprint('UP', flush=True)\ntime.sleep(600)\n"


class Output:
    """Everything a terminal printed, as text."""

    def __init__(self) -> None:
        self.data = bytearray()

    def __call__(self, chunk: bytes) -> None:
        self.data += chunk

    @property
    def text(self) -> str:
        """The output decoded (lossy)."""
        return self.data.decode("utf-8", "replace")


def py(script: str, *args: str) -> list[str]:
    """argv running a Python script."""
    return [sys.executable, "-c", script, *args]


@contextlib.asynccontextmanager
async def spawned(argv: list[str], tmp_path: Path, **env: str) -> AsyncIterator[tuple[Terminal, Output]]:
    """A terminal running argv with its output collected; always terminated afterwards."""
    term = await Terminal.spawn(
        argv, cwd=str(tmp_path), env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}, rows=ROWS, cols=COLS
    )
    out = Output()
    term.subscribe(out)
    try:
        yield term, out
    finally:
        with contextlib.suppress(Exception):  # teardown never raises
            await term.terminate(grace_s=0, step_s=0.2)


async def shows(out: Output, text: str, timeout: float = 10.0) -> None:
    """Wait until the output contains text."""
    assert await await_until(lambda: text in out.text, timeout), f"never saw {text!r}; output: {out.text!r}"


def gone(pid: int) -> bool:
    """True if pid is not running (absent, or a zombie nobody has reaped yet)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def reaped(pid: int) -> bool:
    """True once pid has exited and its parent has collected it (no zombie entry left)."""
    return not psutil.pid_exists(pid)


def fd_count() -> int:
    """Open file descriptors of this process, once what earlier tests left for the garbage collector is closed (a
    transport of an earlier test closed during the count was seen to make it drop by 3 in a full run)."""
    gc.collect()
    return int(psutil.Process().num_fds())


# --- output and input ---------------------------------------------------------------------------------


async def test_output_reaches_subscribers_with_cwd_env_and_a_tty(tmp_path: Path) -> None:
    script = "import os, sys\nprint('HELLO', os.getcwd(), os.environ['MARK'], sys.stdin.isatty(), flush=True)\n"
    async with spawned(py(script), tmp_path, MARK="mark-5b1e") as (_, out):
        await shows(out, f"HELLO {tmp_path} mark-5b1e True")


async def test_output_written_just_before_exit_is_not_lost(tmp_path: Path) -> None:
    script = "import sys\nsys.stdout.write('x' * 100000 + 'LAST-LINE')\nsys.stdout.flush()\n"
    async with spawned(py(script), tmp_path) as (term, out):
        await shows(out, "LAST-LINE")
        assert out.text.count("x") == 100000
        assert await term.wait_exit(10) == ExitInfo(code=0, signal=None)


async def test_write_reaches_the_child(tmp_path: Path) -> None:
    async with spawned(py(UPPER), tmp_path) as (term, out):
        await term.write(b"hello pty\n")
        await shows(out, "GOT HELLO PTY")
        term.write_nowait("ünïcode\n".encode())
        await shows(out, "GOT ÜNÏCODE")


async def test_unsubscribe_and_a_failing_subscriber(tmp_path: Path) -> None:
    def broken(_: bytes) -> None:
        raise RuntimeError("a broken consumer")

    async with spawned(py(UPPER), tmp_path) as (term, out):
        term.subscribe(broken)  # must not keep the others from getting output
        late = Output()
        unsubscribe = term.subscribe(late)
        await term.write(b"one\n")
        await shows(out, "GOT ONE")
        await shows(late, "GOT ONE")
        unsubscribe()
        await term.write(b"two\n")
        await shows(out, "GOT TWO")
        assert "TWO" not in late.text


async def test_big_write_to_a_slow_reader_does_not_block_the_loop(tmp_path: Path) -> None:
    payload = (b"0123456789abcdefghijklmnopqrstuvwxyz" * 30000)[: 1 << 20]
    async with spawned(py(SLOW_READER, str(len(payload))), tmp_path) as (term, out):
        await shows(out, "READY")
        loop = asyncio.get_running_loop()
        gaps: list[float] = []
        writing = True

        async def ticker() -> None:
            last = loop.time()
            while writing:
                await asyncio.sleep(0.005)
                now = loop.time()
                gaps.append(now - last)
                last = now

        ticks = asyncio.create_task(ticker())
        started = loop.time()
        try:
            await term.write(payload, timeout=60)
        finally:
            writing = False
            await ticks
        took = loop.time() - started
        # The child takes its time, so the write had to wait for it...
        assert took > 0.25, f"the write finished in {took:.3f}s: the reader was not slow enough to prove anything"
        # ...and meanwhile the loop kept running other tasks, never stalled for long.
        longest = max(gaps, default=took)
        assert longest < 0.1, f"the event loop stalled for {longest:.3f}s during the write"
        assert len(gaps) > took / 0.05
        await shows(out, f"DONE {len(payload)} {hashlib.sha256(payload).hexdigest()}", timeout=30)


# --- exit -----------------------------------------------------------------------------------------------


async def test_exit_code_and_on_exit(tmp_path: Path) -> None:
    async with spawned(py("import sys\nsys.exit(7)\n"), tmp_path) as (term, _):
        seen: list[ExitInfo] = []
        term.on_exit(seen.append)
        assert await term.wait_exit(10) == ExitInfo(code=7, signal=None)
        assert seen == [ExitInfo(code=7, signal=None)]
        assert not term.alive
        assert term.exit_info is not None
        assert term.exit_info.describe() == "exit code 7"
        late: list[ExitInfo] = []
        term.on_exit(late.append)  # registered after the exit: called at once
        assert late == [ExitInfo(code=7, signal=None)]
        await asyncio.sleep(0)
        assert seen == [ExitInfo(code=7, signal=None)]  # once only


async def test_exit_by_signal(tmp_path: Path) -> None:
    async with spawned(py(SLEEPER), tmp_path) as (term, out):
        seen: list[ExitInfo] = []
        term.on_exit(seen.append)
        await shows(out, "UP")
        os.kill(term.pid, signal.SIGUSR1)
        assert await term.wait_exit(10) == ExitInfo(code=None, signal=signal.SIGUSR1)
        assert seen == [ExitInfo(code=None, signal=signal.SIGUSR1)]
        assert seen[0].describe() == "killed by SIGUSR1"


async def test_write_after_exit_raises_terminal_closed(tmp_path: Path) -> None:
    async with spawned(py("pass"), tmp_path) as (term, _):
        await term.wait_exit(10)
        with pytest.raises(TerminalClosed):
            term.write_nowait(b"anyone there?\n")
        with pytest.raises(TerminalClosed):
            await term.write(b"anyone there?\n")


async def test_wait_exit_times_out_with_none(tmp_path: Path) -> None:
    async with spawned(py(SLEEPER), tmp_path) as (term, _):
        assert await term.wait_exit(0.05) is None
        assert term.alive


# --- terminate ------------------------------------------------------------------------------------------


async def test_terminate_uses_the_graceful_way_first(tmp_path: Path) -> None:
    async with spawned(py(POLITE), tmp_path) as (term, out):
        await shows(out, "READY")
        info = await term.terminate(lambda: term.write_nowait(b"quit\n"), grace_s=5, step_s=1)
        assert info == ExitInfo(code=0, signal=None)  # 42 (or a signal) had any signal been sent


async def test_terminate_escalates_to_sigkill_for_the_whole_group(tmp_path: Path) -> None:
    async with spawned(py(STUBBORN), tmp_path) as (term, out):
        await shows(out, "GRANDCHILD READY")
        match = re.search(r"GRANDCHILD (\d+)", out.text)
        assert match is not None
        grandchild = int(match.group(1))
        assert not gone(grandchild)
        try:
            graceful_calls: list[bool] = []
            info = await term.terminate(lambda: graceful_calls.append(True), grace_s=0.1, step_s=0.3)
            assert graceful_calls == [True]
            assert info == ExitInfo(code=None, signal=signal.SIGKILL)
            # It was asked politely first, in order, before being killed.
            assert out.text.index("GOT SIGHUP") < out.text.index("GOT SIGTERM")
            assert await await_until(lambda: gone(grandchild), 5), "the grandchild outlived terminate()"
            assert gone(term.pid)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(grandchild, signal.SIGKILL)  # if the test failed, leave nothing behind


async def test_terminate_never_raises_and_is_idempotent(tmp_path: Path) -> None:
    def failing_graceful() -> None:
        raise RuntimeError("the graceful way failed")

    async with spawned(py(SLEEPER), tmp_path) as (term, out):
        await shows(out, "UP")
        first = await term.terminate(failing_graceful, grace_s=0.1, step_s=1)
        assert first == ExitInfo(code=None, signal=signal.SIGHUP)
        assert await term.terminate(failing_graceful, grace_s=0.1) == first
        assert await term.terminate() == first
        term.close()
        term.resize(30, 100)  # harmless on a closed terminal
        with pytest.raises(TerminalClosed):
            term.write_nowait(b"x")


async def test_concurrent_terminates_agree(tmp_path: Path) -> None:
    async with spawned(py(SLEEPER), tmp_path) as (term, out):
        await shows(out, "UP")
        results = await asyncio.gather(*(term.terminate(grace_s=0, step_s=1) for _ in range(3)))
        assert results == [ExitInfo(code=None, signal=signal.SIGHUP)] * 3


async def test_spawn_and_terminate_leak_no_file_descriptors(tmp_path: Path) -> None:
    async def cycle() -> None:
        term = await Terminal.spawn(["cat"], cwd=str(tmp_path), env={"PATH": os.environ["PATH"]}, rows=5, cols=20)
        await term.write(b"x\n")
        await term.terminate(grace_s=0, step_s=1)
        assert not term.alive

    await cycle()  # warm up: the thread pool and anything else created once
    before = fd_count()
    for _ in range(20):
        await cycle()
    assert fd_count() == before


async def test_exit_reaps_the_child_and_closes_its_pidfd(tmp_path: Path) -> None:
    async def one() -> int:
        term = await Terminal.spawn(py("pass"), cwd=str(tmp_path), env={}, rows=5, cols=20)
        await term.wait_exit(10)
        term.close()
        return term.pid

    await one()
    before = fd_count()
    pids = [await one() for _ in range(10)]
    assert fd_count() == before
    assert all(reaped(pid) for pid in pids), "an exited child was left a zombie"


async def test_without_a_pidfd_the_exit_is_polled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """macOS has no pidfd_open (nor do Linux kernels before 5.3): the exit must still be seen and reaped."""
    monkeypatch.setattr(posix, "open_pidfd", lambda _pid: None)
    before = fd_count()
    async with spawned(py("import sys, time\ntime.sleep(0.3)\nsys.exit(3)\n"), tmp_path) as (term, _):
        assert await term.wait_exit(10) == ExitInfo(code=3, signal=None)
        pid = term.pid
    assert reaped(pid), "the polled exit left a zombie"
    assert fd_count() == before


# --- resize -------------------------------------------------------------------------------------------


async def test_resize_changes_what_the_child_sees(tmp_path: Path) -> None:
    script = "while read -r _; do printf 'SIZE %s\\n' \"$(stty size)\"; done"
    async with spawned(["sh", "-c", script], tmp_path) as (term, out):
        await term.write(b"\n")
        await shows(out, f"SIZE {ROWS} {COLS}")
        term.resize(40, 132)
        await term.write(b"\n")
        await shows(out, "SIZE 40 132")
