"""The terminal screen as a pure model: feed it the bytes a program writes, read back lines.

Built on pyte. It also answers the terminal queries a full-screen program sends at start-up (device
attributes, cursor position, colours) through an ``answer`` callback, and reports the OSC sequences
it sees (window title, Codex's ``OSC 7501`` run state). No I/O happens here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pyte

AnswerCallback = Callable[[bytes], None]

_OSC_START = b"\x1b]"
_KITTY_KEYBOARD = re.compile(rb"\x1b\[[<>=?][0-9;]*u")
_MAX_OSC = 4096

# Answers for OSC 10/11 colour queries: a plain light-on-dark terminal. crossterm-based TUIs ask and
# fall back to a slow timeout when nobody answers.
_COLOUR_ANSWERS = {
    b"10": b"\x1b]10;rgb:c0c0/c0c0/c0c0\x1b\\",
    b"11": b"\x1b]11;rgb:0000/0000/0000\x1b\\",
}


@dataclass(frozen=True)
class Osc:
    """One operating-system command, e.g. code ``7501`` with data ``state=done:app=codex``."""

    code: str
    data: str


class Screen:
    """A pyte screen plus an OSC scanner and the answer-back wiring."""

    def __init__(self, cols: int, rows: int, answer: AnswerCallback | None = None) -> None:
        self._answer = answer
        self._screen = pyte.Screen(cols, rows)
        # pyte calls write_process_input for DA1 (ESC[c) and CPR (ESC[6n) replies.
        self._screen.write_process_input = self._answer_text  # type: ignore[method-assign,assignment]
        self._stream = pyte.ByteStream(self._screen)
        self._osc_buf: bytearray | None = None

    def _answer_text(self, text: str) -> None:
        if self._answer is not None:
            self._answer(text.encode())

    def feed(self, data: bytes) -> list[Osc]:
        """Render data and return the OSC sequences completed in it (in order)."""
        oscs = self._scan_osc(data)
        # pyte draws the kitty keyboard-protocol sequences (ESC[>1u, ESC[<1u, ESC[=..u) as text.
        self._stream.feed(_KITTY_KEYBOARD.sub(b"", data))
        return oscs

    def _scan_osc(self, data: bytes) -> list[Osc]:
        found: list[Osc] = []
        i = 0
        n = len(data)
        while i < n:
            if self._osc_buf is None:
                start = data.find(_OSC_START, i)
                if start < 0:
                    # An ESC at the very end may begin an OSC in the next chunk.
                    if data.endswith(b"\x1b"):
                        self._osc_buf = bytearray(b"\x1b")
                    return found
                self._osc_buf = bytearray()
                i = start + 2
                continue
            if self._osc_buf == b"\x1b":  # carried-over ESC: is this an OSC after all?
                self._osc_buf = bytearray() if data[i : i + 1] == b"]" else None
                i += 1
                continue
            bel = data.find(b"\x07", i)
            st = data.find(b"\x1b\\", i)
            ends = [e for e in (bel, st) if e >= 0]
            if not ends:
                self._osc_buf += data[i:]
                if len(self._osc_buf) > _MAX_OSC:  # not an OSC we care about; stop buffering it
                    self._osc_buf = None
                return found
            end = min(ends)
            self._osc_buf += data[i:end]
            i = end + (1 if end == bel else 2)
            body = bytes(self._osc_buf)
            self._osc_buf = None
            found.append(self._handle_osc(body))
        return found

    def _handle_osc(self, body: bytes) -> Osc:
        code, _, rest = body.partition(b";")
        if rest == b"?" and code in _COLOUR_ANSWERS and self._answer is not None:
            self._answer(_COLOUR_ANSWERS[code])
        return Osc(code.decode("ascii", "replace"), rest.decode("utf-8", "replace"))

    def lines(self) -> list[str]:
        """The visible screen, one string per row, trailing spaces removed."""
        return [line.rstrip() for line in self._screen.display]

    def text_lines(self) -> list[str]:
        """The visible rows that hold any text."""
        return [line for line in self.lines() if line.strip()]

    @property
    def title(self) -> str:
        """The window title the program last set (OSC 0/2)."""
        return str(self._screen.title)

    @property
    def size(self) -> tuple[int, int]:
        """(rows, cols)."""
        return self._screen.lines, self._screen.columns

    def resize(self, rows: int, cols: int) -> None:
        """Follow a terminal resize."""
        self._screen.resize(rows, cols)
