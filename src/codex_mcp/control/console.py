"""The person's terminal under `codex-mcp attach`: raw keys in, VT out, its size and its resizes, on each platform.

POSIX: termios raw mode, the loop reading stdin, SIGWINCH for resizes.

Windows: the console is put into VT mode both ways ("Console Virtual Terminal Sequences" in the Windows console
documentation): on the input handle ENABLE_VIRTUAL_TERMINAL_INPUT with line input, echo and processed input off
(so arrows, Ctrl-C and Ctrl-] arrive as the bytes a POSIX terminal sends, and Ctrl-C goes to Codex rather than
ending the client), quick-edit off (a stray click would otherwise freeze the output); on the output handle
ENABLE_VIRTUAL_TERMINAL_PROCESSING, so Codex's own VT is drawn as it is. Both code pages go to UTF-8 (65001) for
the output; keys are read with ReadConsoleW (UTF-16, which conhost gets right in every code page, where ReadFile
under 65001 loses non-ASCII on older builds) and turned into UTF-8 by ``Utf16Keys``, which holds a surrogate
pair's first half until its second arrives. A console has no SIGWINCH: the size is polled. Every mode and code
page is put back on the way out.

The kernel32 calls sit behind ``ConsoleApi`` so that the Windows half runs here against a fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Protocol

Keys = Callable[[bytes], None]

RESIZE_POLL_S = 0.25
"""How often a Windows console's size is looked at (it tells no one when it changes)."""

# Console modes (consoleapi.h / wincon.h).
ENABLE_PROCESSED_INPUT = 0x0001
ENABLE_LINE_INPUT = 0x0002
ENABLE_ECHO_INPUT = 0x0004
ENABLE_QUICK_EDIT_MODE = 0x0040
ENABLE_EXTENDED_FLAGS = 0x0080
ENABLE_VIRTUAL_TERMINAL_INPUT = 0x0200
ENABLE_PROCESSED_OUTPUT = 0x0001
ENABLE_VIRTUAL_TERMINAL_PROCESSING = 0x0004
DISABLE_NEWLINE_AUTO_RETURN = 0x0008
CP_UTF8 = 65001
STD_INPUT_HANDLE = -10
STD_OUTPUT_HANDLE = -11


def raw_input_mode(mode: int) -> int:
    """A console input mode that passes every key through as VT bytes."""
    cooked = ENABLE_PROCESSED_INPUT | ENABLE_LINE_INPUT | ENABLE_ECHO_INPUT | ENABLE_QUICK_EDIT_MODE
    return (mode & ~cooked) | ENABLE_VIRTUAL_TERMINAL_INPUT | ENABLE_EXTENDED_FLAGS


def vt_output_mode(mode: int) -> int:
    """A console output mode that draws VT sequences (and leaves line feeds to them)."""
    return mode | ENABLE_PROCESSED_OUTPUT | ENABLE_VIRTUAL_TERMINAL_PROCESSING | DISABLE_NEWLINE_AUTO_RETURN


class Utf16Keys:
    """UTF-16 code units from ReadConsoleW to UTF-8 bytes, a surrogate pair split across two reads kept whole."""

    def __init__(self) -> None:
        self._high = ""

    def feed(self, units: str) -> bytes:
        """The bytes for these units (a trailing high surrogate waits for the next read)."""
        text = self._high + units
        self._high = ""
        if text and "\ud800" <= text[-1] <= "\udbff":
            text, self._high = text[:-1], text[-1]
        raw = text.encode("utf-16-le", "surrogatepass")
        return raw.decode("utf-16-le", "replace").encode("utf-8")


class Console(Protocol):
    """What attach needs of the person's terminal."""

    def size(self) -> tuple[int, int]:
        """(rows, columns)."""
        ...

    def raw(self) -> contextlib.AbstractContextManager[None]:
        """Raw keys and VT output while inside; the terminal as it was afterwards."""
        ...

    def listen(self, loop: asyncio.AbstractEventLoop, on_keys: Keys, on_resize: Callable[[], None]) -> None:
        """Start telling of keys and resizes."""
        ...

    def stop(self) -> None:
        """Stop telling of them."""
        ...

    def write(self, data: bytes) -> None:
        """Draw."""
        ...


def _size(fd: int) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return 24, 80
    return size.lines, size.columns


class PosixConsole:
    """A POSIX terminal: termios raw mode, stdin read by the loop, SIGWINCH."""

    def __init__(self, stdin: int, stdout: int) -> None:
        self.stdin, self.stdout = stdin, stdout
        self._loop: asyncio.AbstractEventLoop | None = None

    def size(self) -> tuple[int, int]:
        return _size(self.stdout)

    @contextlib.contextmanager
    def raw(self) -> Iterator[None]:
        if sys.platform == "win32":  # never used there; the guard tells the type checker
            yield
            return
        import termios
        import tty

        saved = termios.tcgetattr(self.stdin) if os.isatty(self.stdin) else None
        if saved is not None:
            tty.setraw(self.stdin)
        try:
            yield
        finally:
            if saved is not None:
                termios.tcsetattr(self.stdin, termios.TCSADRAIN, saved)

    def listen(self, loop: asyncio.AbstractEventLoop, on_keys: Keys, on_resize: Callable[[], None]) -> None:
        def readable() -> None:
            data = os.read(self.stdin, 65536)
            if data:
                on_keys(data)

        self._loop = loop
        loop.add_reader(self.stdin, readable)
        if sys.platform != "win32":
            loop.add_signal_handler(signal.SIGWINCH, on_resize)

    def stop(self) -> None:
        if self._loop is None:
            return
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self.stdin)
        if sys.platform != "win32":
            with contextlib.suppress(Exception):
                self._loop.remove_signal_handler(signal.SIGWINCH)
        self._loop = None

    def write(self, data: bytes) -> None:
        os.write(self.stdout, data)


class ConsoleApi(Protocol):
    """The kernel32 console calls (BOOL ones return 0 on failure)."""

    def GetStdHandle(self, which: int) -> int: ...  # noqa: N802

    def GetConsoleMode(self, handle: int, mode: object) -> int: ...  # noqa: N802

    def SetConsoleMode(self, handle: int, mode: int) -> int: ...  # noqa: N802

    def GetConsoleCP(self) -> int: ...  # noqa: N802

    def SetConsoleCP(self, page: int) -> int: ...  # noqa: N802

    def GetConsoleOutputCP(self) -> int: ...  # noqa: N802

    def SetConsoleOutputCP(self, page: int) -> int: ...  # noqa: N802

    def ReadConsoleW(self, handle: int, buffer: object, size: int, read: object, control: object) -> int: ...  # noqa: N802


class WindowsConsole:
    """A Windows console in VT mode (see the module's docstring)."""

    def __init__(self, api: ConsoleApi, stdout: int, *, size: Callable[[], tuple[int, int]] | None = None) -> None:
        self.api = api
        self.stdout = stdout
        self._size = size or (lambda: _size(stdout))
        self._in = api.GetStdHandle(STD_INPUT_HANDLE)
        self._out = api.GetStdHandle(STD_OUTPUT_HANDLE)
        self._running = False
        self._poller: asyncio.Task[None] | None = None

    def size(self) -> tuple[int, int]:
        return self._size()

    def _mode(self, handle: int) -> int | None:
        mode = ctypes.c_uint32()
        return int(mode.value) if self.api.GetConsoleMode(handle, ctypes.byref(mode)) else None

    @contextlib.contextmanager
    def raw(self) -> Iterator[None]:
        saved_in, saved_out = self._mode(self._in), self._mode(self._out)
        pages = self.api.GetConsoleCP(), self.api.GetConsoleOutputCP()
        if saved_in is not None:
            self.api.SetConsoleMode(self._in, raw_input_mode(saved_in))
        if saved_out is not None:
            self.api.SetConsoleMode(self._out, vt_output_mode(saved_out))
        self.api.SetConsoleCP(CP_UTF8)
        self.api.SetConsoleOutputCP(CP_UTF8)
        try:
            yield
        finally:
            if saved_in is not None:
                self.api.SetConsoleMode(self._in, saved_in)
            if saved_out is not None:
                self.api.SetConsoleMode(self._out, saved_out)
            self.api.SetConsoleCP(pages[0])
            self.api.SetConsoleOutputCP(pages[1])

    def listen(self, loop: asyncio.AbstractEventLoop, on_keys: Keys, on_resize: Callable[[], None]) -> None:
        self._running = True
        # A daemon thread: ReadConsoleW blocks, and the process must still be free to exit after a detach.
        threading.Thread(target=self._read_keys, args=(loop, on_keys), name="console-keys", daemon=True).start()
        self._poller = loop.create_task(self._poll_size(on_resize), name="console-size")

    def _read_keys(self, loop: asyncio.AbstractEventLoop, on_keys: Keys) -> None:
        decoder = Utf16Keys()
        buffer = ctypes.create_unicode_buffer(4096)
        count = ctypes.c_uint32()
        while self._running:
            if not self.api.ReadConsoleW(self._in, buffer, len(buffer), ctypes.byref(count), None):
                return  # the console is gone
            data = decoder.feed(ctypes.wstring_at(buffer, count.value))
            if data and self._running:
                with contextlib.suppress(RuntimeError):  # the loop has closed
                    loop.call_soon_threadsafe(on_keys, data)

    async def _poll_size(self, on_resize: Callable[[], None]) -> None:
        last = self._size()
        while True:
            await asyncio.sleep(RESIZE_POLL_S)
            now = self._size()
            if now != last:
                last = now
                on_resize()

    def stop(self) -> None:
        self._running = False
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None

    def write(self, data: bytes) -> None:
        os.write(self.stdout, data)


def _console_api() -> ConsoleApi:
    """kernel32 with each call's types declared (HANDLEs are pointer-sized)."""
    if sys.platform != "win32":
        raise OSError("the console API is Windows'")
    lib = ctypes.WinDLL("kernel32", use_last_error=True)
    handle, boolean, dword = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32
    lib.GetStdHandle.argtypes, lib.GetStdHandle.restype = [dword], handle
    lib.GetConsoleMode.argtypes, lib.GetConsoleMode.restype = [handle, ctypes.POINTER(dword)], boolean
    lib.SetConsoleMode.argtypes, lib.SetConsoleMode.restype = [handle, dword], boolean
    lib.GetConsoleCP.argtypes, lib.GetConsoleCP.restype = [], dword
    lib.SetConsoleCP.argtypes, lib.SetConsoleCP.restype = [dword], boolean
    lib.GetConsoleOutputCP.argtypes, lib.GetConsoleOutputCP.restype = [], dword
    lib.SetConsoleOutputCP.argtypes, lib.SetConsoleOutputCP.restype = [dword], boolean
    lib.ReadConsoleW.argtypes = [handle, ctypes.c_wchar_p, dword, ctypes.POINTER(dword), ctypes.c_void_p]
    lib.ReadConsoleW.restype = boolean
    api: ConsoleApi = lib
    return api


def this_console() -> Console:
    """The terminal this process runs in."""
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    if sys.platform == "win32":
        return WindowsConsole(_console_api(), stdout)
    return PosixConsole(stdin, stdout)
