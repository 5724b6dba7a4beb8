"""The Windows (ConPTY) backend with pywinpty faked, and finding the native Codex behind npm's shims.
What is and is not tested on Windows itself is stated in the README."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from codex_mcp import terminal
from codex_mcp.codex.binary import find_codex, native_binary
from codex_mcp.codex.keys import QUIT_KEYS, encode_prompt
from codex_mcp.errors import TerminalClosed
from codex_mcp.terminal import ExitInfo, conpty
from codex_mcp.terminal.conpty import ConPtyTerminal

from ..helpers import await_until

pytestmark = pytest.mark.anyio


class FakeWinPty:
    """Stands in for winpty.PtyProcess: text in, text out, a process that exits when told."""

    def __init__(self, *, obeys_quit: bool = True) -> None:
        self.pid = 4242
        self.exitstatus: int | None = None
        self.written: list[str] = []
        self.sizes: list[tuple[int, int]] = []
        self.closed = False
        self.obeys_quit = obeys_quit
        self._output: list[str] = []
        self._cond = threading.Condition()
        self._alive = True

    def emit(self, text: str) -> None:
        with self._cond:
            self._output.append(text)
            self._cond.notify_all()

    def exit(self, status: int) -> None:
        with self._cond:
            self.exitstatus = status
            self._alive = False
            self._cond.notify_all()

    def read(self, size: int = 1024) -> str:
        with self._cond:
            while not self._output and self._alive:
                self._cond.wait(0.05)
            if self._output:
                return self._output.pop(0)
            raise EOFError

    def write(self, s: str) -> int:
        self.written.append(s)
        if self.obeys_quit and "/quit" in s:
            self.exit(0)
        return len(s)

    def setwinsize(self, rows: int, cols: int) -> None:
        self.sizes.append((rows, cols))

    def isalive(self) -> bool:
        return self._alive

    def terminate(self, force: bool = False) -> bool:
        self.exit(1)
        return True

    def close(self, force: bool = False) -> None:
        self.closed = True


async def spawn(fake: FakeWinPty, kills: list[tuple[int, bool]] | None = None) -> ConPtyTerminal:
    calls: list[list[str]] = []

    def spawner(argv: list[str], cwd: str, env: dict[str, str], dims: tuple[int, int]) -> FakeWinPty:
        calls.append(argv)
        return fake

    def kill_tree(pid: int, force: bool) -> None:
        if kills is not None:
            kills.append((pid, force))
        if force:
            fake.exit(1)

    term = await ConPtyTerminal.spawn(
        ["codex.exe", "--no-daemon"], cwd=".", env={}, rows=24, cols=80, spawner=spawner, kill_tree=kill_tree
    )
    assert calls == [["codex.exe", "--no-daemon"]]  # argv as a list: no shell, no quoting of ours
    return term


async def test_output_reaches_every_subscriber_as_utf8() -> None:
    fake = FakeWinPty()
    term = await spawn(fake)
    a: list[bytes] = []
    b: list[bytes] = []
    term.subscribe(a.append)
    unsubscribe = term.subscribe(b.append)
    fake.emit("héllo ✓")
    assert await await_until(lambda: a == ["héllo ✓".encode()], 2)
    unsubscribe()
    fake.emit("more")
    assert await await_until(lambda: len(a) == 2, 2)
    assert b == ["héllo ✓".encode()]
    await term.terminate(grace_s=0.1)


async def test_writes_go_through_without_blocking_the_loop() -> None:
    fake = FakeWinPty()
    term = await spawn(fake)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    await term.write(encode_prompt("ünïcode prompt"))
    task.cancel()
    assert "".join(fake.written) == encode_prompt("ünïcode prompt").decode()
    assert ticks >= 1
    term.resize(40, 120)
    assert fake.sizes == [(40, 120)]
    await term.terminate(grace_s=0.1)


async def test_exit_is_reported_once_with_the_status() -> None:
    fake = FakeWinPty()
    term = await spawn(fake)
    seen: list[ExitInfo] = []
    term.on_exit(seen.append)
    fake.exit(3)
    assert await term.wait_exit(2) == ExitInfo(code=3, signal=None)
    assert seen == [ExitInfo(code=3, signal=None)]
    assert not term.alive
    with pytest.raises(TerminalClosed):
        term.write_nowait(b"x")
    late: list[ExitInfo] = []
    term.on_exit(late.append)
    assert late == seen  # told at once when it has already exited
    term.close()
    term.close()
    assert fake.closed


async def test_terminate_asks_first_then_kills_the_tree() -> None:
    polite = FakeWinPty()
    kills: list[tuple[int, bool]] = []
    term = await spawn(polite, kills)
    info = await term.terminate(lambda: term.write_nowait(QUIT_KEYS), grace_s=2)
    assert info == ExitInfo(code=0, signal=None)
    assert kills == []  # Codex left by its own /quit

    stubborn = FakeWinPty(obeys_quit=False)
    kills = []
    term = await spawn(stubborn, kills)
    info = await term.terminate(lambda: term.write_nowait(QUIT_KEYS), grace_s=0.1, step_s=0.1)
    assert kills == [(4242, False), (4242, True)]  # the whole tree, politely and then by force
    assert info == ExitInfo(code=1, signal=None)
    assert stubborn.closed
    assert await term.terminate() == info  # idempotent, never raises


async def test_the_backend_is_chosen_once_by_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeWinPty()
    monkeypatch.setattr("codex_mcp.terminal.sys.platform", "win32")
    monkeypatch.setattr(conpty, "pywinpty_spawn", lambda argv, cwd, env, dims: fake)
    term = await terminal.spawn_terminal(["codex.exe"], cwd=".", env={}, rows=24, cols=80)
    assert isinstance(term, ConPtyTerminal)
    fake.exit(0)
    await term.terminate()


def _touch_exe(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    path.chmod(0o755)
    return path


def test_native_codex_behind_the_windows_npm_shim(tmp_path: Path) -> None:
    prefix = tmp_path / "npm"
    shim = _touch_exe(prefix / "codex.cmd")
    (prefix / "node_modules" / "@openai" / "codex" / "bin").mkdir(parents=True)
    exe = _touch_exe(
        prefix
        / "node_modules"
        / "@openai"
        / "codex-win32-x64"
        / "vendor"
        / "x86_64-pc-windows-msvc"
        / "bin"
        / "codex.exe"
    )
    found = native_binary(str(shim), platform="win32", machine="AMD64")
    assert found is not None
    assert found[0] == str(exe)
    assert found[1]["CODEX_MANAGED_BY_NPM"] == "1"
    # A shim with nothing behind it is refused rather than run through cmd.exe.
    assert native_binary(str(tmp_path / "elsewhere" / "codex.cmd"), platform="win32", machine="AMD64") is None


def test_native_codex_behind_the_posix_npm_symlink(tmp_path: Path) -> None:
    package = tmp_path / "lib" / "node_modules" / "@openai" / "codex"
    wrapper = _touch_exe(package / "bin" / "codex.js")
    nested = _touch_exe(
        package
        / "node_modules"
        / "@openai"
        / "codex-linux-x64"
        / "vendor"
        / "x86_64-unknown-linux-musl"
        / "bin"
        / "codex"
    )
    link = tmp_path / "bin" / "codex"
    link.parent.mkdir()
    os.symlink(wrapper, link)
    found = native_binary(str(link), platform="linux", machine="x86_64")
    assert found is not None
    assert found[0] == str(nested)
    assert found[1]["CODEX_MANAGED_PACKAGE_ROOT"] == str(package.resolve())
    # A plain binary (not the npm wrapper) is used as it is.
    plain = _touch_exe(tmp_path / "plain" / "codex")
    assert native_binary(str(plain), platform="linux", machine="x86_64") is None
    assert find_codex(str(plain)).path == str(plain)
