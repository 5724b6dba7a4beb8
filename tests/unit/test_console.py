"""The person's terminal under `codex-mcp attach` (control/console.py and attach's key handling).

The Windows console runs here against a fake kernel32 that keeps what the console documentation says
("Console Virtual Terminal Sequences", SetConsoleMode, ReadConsoleW: GetConsoleMode fills a DWORD and returns
nonzero; ReadConsoleW fills the buffer with UTF-16 code units, stores how many, and returns 0 once the console is
gone; a surrogate pair can be split between two reads when it straddles the buffer's end). Never run on Windows
itself."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from codex_mcp.control import console as consoles
from codex_mcp.control.attach import DETACH_KEY, _Keys
from codex_mcp.control.protocol import data_frame

pytestmark = pytest.mark.anyio

COOKED_INPUT = 0x01F7  # a new console's input mode: processed, line, echo, window, mouse, insert, quick edit, ...
COOKED_OUTPUT = 0x0003  # processed output, wrap at end of line


class FakeConsoleApi:
    def __init__(self, reads: list[str]) -> None:
        self.modes = {0x10: COOKED_INPUT, 0x20: COOKED_OUTPUT}
        self.pages = {"in": 437, "out": 437}
        self.reads = list(reads)
        self.history: list[tuple[str, Any]] = []
        self.more = threading.Event()

    def GetStdHandle(self, which: int) -> int:  # noqa: N802
        return {consoles.STD_INPUT_HANDLE: 0x10, consoles.STD_OUTPUT_HANDLE: 0x20}[which]

    def GetConsoleMode(self, handle: int, mode: Any) -> int:  # noqa: N802
        mode._obj.value = self.modes[handle]
        return 1

    def SetConsoleMode(self, handle: int, mode: int) -> int:  # noqa: N802
        self.modes[handle] = mode
        self.history.append(("mode", (handle, mode)))
        return 1

    def GetConsoleCP(self) -> int:  # noqa: N802
        return self.pages["in"]

    def SetConsoleCP(self, page: int) -> int:  # noqa: N802
        self.pages["in"] = page
        return 1

    def GetConsoleOutputCP(self) -> int:  # noqa: N802
        return self.pages["out"]

    def SetConsoleOutputCP(self, page: int) -> int:  # noqa: N802
        self.pages["out"] = page
        return 1

    def ReadConsoleW(self, handle: int, buffer: Any, size: int, read: Any, control: Any) -> int:  # noqa: N802
        assert handle == 0x10
        if not self.reads:
            return 0  # the console is gone
        units = self.reads.pop(0)
        assert len(units) <= size
        buffer[: len(units)] = units
        read._obj.value = len(units)
        return 1


def halves(char: str) -> tuple[str, str]:
    """A character beyond the BMP as the two UTF-16 code units ReadConsoleW gives for it."""
    units = char.encode("utf-16-le")
    return units[:2].decode("utf-16-le", "surrogatepass"), units[2:].decode("utf-16-le", "surrogatepass")


def test_utf16_keys_become_utf8_with_a_split_pair_kept_whole() -> None:
    keys = consoles.Utf16Keys()
    assert keys.feed("ls -la\r") == b"ls -la\r"
    assert keys.feed("日本語と中文") == "日本語と中文".encode()
    assert keys.feed("\x1b[A") == b"\x1b[A"  # an arrow key, as VT input gives it
    high, low = halves("🙂")
    assert keys.feed("a" + high) == b"a"  # the pair's first half waits...
    assert keys.feed(low + "b") == "🙂b".encode()  # ... for its second
    assert keys.feed(low) == "\ufffd".encode()  # a stray half is no crash


def test_raw_modes_pass_keys_through_and_draw_vt() -> None:
    raw = consoles.raw_input_mode(COOKED_INPUT)
    for off in (consoles.ENABLE_LINE_INPUT, consoles.ENABLE_ECHO_INPUT, consoles.ENABLE_PROCESSED_INPUT):
        assert not raw & off
    assert not raw & consoles.ENABLE_QUICK_EDIT_MODE
    assert raw & consoles.ENABLE_EXTENDED_FLAGS  # without it the quick-edit bit is not taken away
    assert raw & consoles.ENABLE_VIRTUAL_TERMINAL_INPUT
    out = consoles.vt_output_mode(COOKED_OUTPUT)
    assert out & consoles.ENABLE_VIRTUAL_TERMINAL_PROCESSING
    assert out & consoles.DISABLE_NEWLINE_AUTO_RETURN


def test_a_windows_console_is_put_back_as_it_was_even_after_an_error() -> None:
    api = FakeConsoleApi([])
    console = consoles.WindowsConsole(api, 1, size=lambda: (30, 100))
    inside: list[object] = []

    def attached() -> None:
        with console.raw():
            inside.extend([api.modes[0x10], api.modes[0x20], dict(api.pages)])
            raise RuntimeError("the server went away")

    with pytest.raises(RuntimeError, match="went away"):
        attached()
    raw_pages = {"in": consoles.CP_UTF8, "out": consoles.CP_UTF8}
    assert inside == [consoles.raw_input_mode(COOKED_INPUT), consoles.vt_output_mode(COOKED_OUTPUT), raw_pages]
    assert api.modes == {0x10: COOKED_INPUT, 0x20: COOKED_OUTPUT}
    assert api.pages == {"in": 437, "out": 437}
    assert console.size() == (30, 100)


async def test_a_windows_console_tells_its_keys_and_resizes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consoles, "RESIZE_POLL_S", 0.01)
    high, low = halves("🙂")
    api = FakeConsoleApi(["こんにちは\r", "\x03", "x" + high, low, "\x1d"])
    sizes = [(24, 80)]
    console = consoles.WindowsConsole(api, 1, size=lambda: sizes[-1])
    got: list[bytes] = []
    resized = asyncio.Event()
    all_read = asyncio.Event()

    def on_keys(data: bytes) -> None:
        got.append(data)
        if DETACH_KEY in data:
            all_read.set()

    console.listen(asyncio.get_running_loop(), on_keys, resized.set)
    try:
        await asyncio.wait_for(all_read.wait(), 10)
        assert b"".join(got) == "こんにちは\r\x03x🙂\x1d".encode()
        assert not resized.is_set()
        sizes.append((40, 120))
        await asyncio.wait_for(resized.wait(), 10)
    finally:
        console.stop()


class Sent:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def __call__(self, message: dict[str, Any]) -> None:
        self.frames.append(message)


def keys(watch: bool) -> tuple[_Keys, Sent, asyncio.Future[str]]:
    sent = Sent()
    done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    return _Keys(watch, sent, done), sent, done


async def test_keys_go_to_codex_up_to_ctrl_close_bracket_which_detaches() -> None:
    on_keys, sent, done = keys(watch=False)
    on_keys(b"hello")
    on_keys(b"\x03 then" + DETACH_KEY + b"after")
    on_keys(b"later")
    assert sent.frames == [data_frame(b"hello"), data_frame(b"\x03 then"), {"detach": True}]
    assert done.result() == "detached"


async def test_watching_sends_no_keys_but_still_detaches() -> None:
    on_keys, sent, done = keys(watch=True)
    on_keys(b"typed while watching")
    on_keys(DETACH_KEY)
    assert sent.frames == [{"detach": True}]
    assert done.done()
