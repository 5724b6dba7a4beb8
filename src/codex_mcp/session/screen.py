"""The terminal screen as a pure model: feed it the bytes a program writes, read back lines.

Built on pyte. It also answers the terminal queries a full-screen program sends at start-up (device
attributes, cursor position, colours) through an ``answer`` callback, and reports the OSC sequences
it sees (window title, Codex's ``OSC 7501`` run state). No I/O happens here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .vt import FastScreen, FastStream

AnswerCallback = Callable[[bytes], None]

_OSC_START = b"\x1b]"
_KITTY_KEYBOARD = re.compile(rb"\x1b\[[<>=?][0-9;]*u")
_QUERY = re.compile(rb"\x1b\[[0-9;?>]*[cn]")  # DA and DSR/CPR: pyte answers them from the screen state
_MAX_PENDING = 64 * 1024
# An absolute cursor move: Codex ends every frame with one (the cursor back at its composer).
_CURSOR_TO = re.compile(rb"\x1b\[[0-9]*;?[0-9]*H")
# What a full repaint begins with: home and erase below (Codex after a size change), or erase all; and the end of a
# synchronized update, which ends Codex's frames.
_REPAINT = re.compile(rb"\x1b\[(?:1;1)?H\x1b\[0?J|\x1b\[2J")
_FRAME_END = b"\x1b[?2026l"
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
        self._may_drop: Callable[[], bool] | None = None
        self.stale = False
        """Output was dropped unread: the screen shows less than the program painted, until it repaints."""
        self.repaints = 0
        """Full repaints seen so far (a program's answer to a size change)."""
        self._repaint_due = False  # expect_repaint was called: the next full repaint makes the screen whole
        self._repainting = False  # that repaint has begun; its frame has not ended yet
        self._screen = FastScreen(cols, rows)
        # pyte calls write_process_input for DA1 (ESC[c) and CPR (ESC[6n) replies.
        self._screen.write_process_input = self._answer_text  # type: ignore[method-assign,assignment]
        self._stream = FastStream(self._screen)
        self._osc: bytearray | None = None  # the body of an OSC being read, across chunks
        self._discarding = False  # inside an over-long OSC whose body we no longer keep
        self._esc_pending = False  # the previous chunk ended with an ESC we could not classify yet
        self._title = ""
        self._pending = bytearray()  # output not rendered yet (see feed)
        self._lines: list[str] | None = None  # lines() of the screen as rendered, until it changes

    def _answer_text(self, text: str) -> None:
        if self._answer is not None:
            self._answer(text.encode())

    def feed(self, data: bytes) -> list[Osc]:
        """Take the program's output and return the OSC sequences completed in it (in order).

        OSC sequences are taken out here, at once: we parse them ourselves (split across chunks, bounded in
        size; pyte's own OSC parser buffers without limit), and they carry Codex's run state. Rendering the rest
        with pyte is deferred until someone reads the screen: pure-Python parsing of every repaint costs tens
        of milliseconds of CPU per turn, on the critical path, for a screen nobody looks at mid-turn. A
        terminal query (device attributes, cursor position) is rendered at once, since its answer depends on
        the screen state.

        A backlog nobody read is not rendered either: past _MAX_PENDING it is dropped (if ``on_backlog`` allows)
        and the screen is ``stale`` until the program paints all of it again (Codex does on a size change:
        Repaints.fresh asks for that when someone reads). What is kept is the tail from the last absolute
        cursor move, so the cursor (which a position query reports) stays where the program put it."""
        text, oscs = self._split_osc(data)
        start = max(0, len(self._pending) - 8)  # a query or a repaint's start may straddle two chunks
        self._pending += text
        if _REPAINT.search(self._pending, start):
            self.repaints += 1
        if self.stale and self._repaint_due:
            start = self._follow_repaint(start)
        if _QUERY.search(self._pending, start):
            self.flush()
        elif len(self._pending) > _MAX_PENDING:
            self._drop_or_render()
        return oscs

    def expect_repaint(self) -> None:
        """The program was asked to repaint everything (at the size the screen has now): a stale screen is whole
        again once that repaint's frame has ended."""
        self._repaint_due = True
        self._repainting = False

    def _follow_repaint(self, start: int) -> int:
        if not self._repainting:
            repaint = _REPAINT.search(self._pending, start)
            if repaint is None:
                return start
            del self._pending[: repaint.start()]  # painted over: never rendered
            self._repainting = True
            start = 0
        if self._pending.find(_FRAME_END, start) >= 0:
            self.stale = self._repaint_due = self._repainting = False
            self.flush()  # someone waits to read it (and dropping it as backlog would make it stale again)
        return start

    def on_backlog(self, may_drop: Callable[[], bool]) -> None:
        """Ask may_drop whether output nobody read may be dropped (the program can repaint) when it piles up;
        if not, it is rendered."""
        self._may_drop = may_drop

    def _drop_or_render(self) -> None:
        moves = list(_CURSOR_TO.finditer(self._pending, max(0, len(self._pending) - 4096)))
        if not moves or self._repainting or self._may_drop is None or not self._may_drop():
            self.flush()
            return
        del self._pending[: moves[-1].start()]
        self.stale = True  # a repaint already asked for (expect_repaint) still makes it whole

    def flush(self) -> None:
        """Render everything received so far."""
        if self._pending:
            data = bytes(self._pending)
            self._pending.clear()
            self._lines = None
            # pyte draws the kitty keyboard-protocol sequences (ESC[>1u, ESC[<1u, ESC[=..u) as text.
            self._stream.feed(_KITTY_KEYBOARD.sub(b"", data))

    def _split_osc(self, data: bytes) -> tuple[bytes, list[Osc]]:
        """(data without OSC sequences, the OSCs completed in it)."""
        found: list[Osc] = []
        out = bytearray()
        i = 0
        n = len(data)
        if self._esc_pending and n:
            self._esc_pending = False
            if self._osc is None and not self._discarding:
                if data[0:1] == b"]":
                    self._osc = bytearray()
                    i = 1
                else:
                    out += b"\x1b"  # an ordinary escape sequence: give pyte its ESC back
            elif data[0:1] == b"\\":
                self._end_osc(found)
                i = 1
            else:  # ESC inside an OSC starts a new sequence and abandons the OSC
                self._abandon_osc()
                out += b"\x1b"
        while i < n:
            if self._osc is None and not self._discarding:
                start = data.find(_OSC_START, i)
                if start < 0:
                    if data[-1] == 0x1B and n - 1 >= i:  # may begin an OSC in the next chunk
                        out += data[i:-1]
                        self._esc_pending = True
                    else:
                        out += data[i:]
                    break
                out += data[i:start]
                self._osc = bytearray()
                i = start + 2
                continue
            bel = data.find(b"\x07", i)
            esc = data.find(b"\x1b", i)
            ends = [e for e in (bel, esc) if e >= 0]
            if not ends:
                self._keep(data[i:])
                break
            end = min(ends)
            self._keep(data[i:end])
            if end == bel:
                self._end_osc(found)
                i = end + 1
            elif end + 1 >= n:
                self._esc_pending = True
                break
            elif data[end + 1 : end + 2] == b"\\":
                self._end_osc(found)
                i = end + 2
            else:
                self._abandon_osc()
                i = end  # the ESC begins whatever comes next
        return bytes(out), found

    def _keep(self, chunk: bytes) -> None:
        if self._osc is None:
            return
        self._osc += chunk
        if len(self._osc) > _MAX_OSC:  # not an OSC we care about: skip the rest of it, keep nothing
            self._osc = None
            self._discarding = True

    def _abandon_osc(self) -> None:
        self._osc = None
        self._discarding = False

    def _end_osc(self, found: list[Osc]) -> None:
        body, self._osc = self._osc, None
        if self._discarding:
            self._discarding = False
            return
        if body is not None:
            found.append(self._handle_osc(bytes(body)))

    def _handle_osc(self, body: bytes) -> Osc:
        code, _, rest = body.partition(b";")
        osc = Osc(code.decode("ascii", "replace"), rest.decode("utf-8", "replace"))
        if rest == b"?" and code in _COLOUR_ANSWERS and self._answer is not None:
            self._answer(_COLOUR_ANSWERS[code])
        elif osc.code in ("0", "2"):
            self._title = osc.data
        return osc

    def lines(self) -> list[str]:
        """The visible screen, one string per row, trailing spaces removed."""
        self.flush()
        if self._lines is None:  # kept until the screen changes: readers often ask twice in a row
            self._lines = [line.rstrip() for line in self._screen.display]
        return list(self._lines)

    def text_lines(self) -> list[str]:
        """The visible rows that hold any text."""
        return [line for line in self.lines() if line.strip()]

    def render(self) -> bytes:
        """ANSI bytes that redraw the current screen on a terminal of the same size (text and cursor; the
        program's next repaint brings the colours back)."""
        self.flush()
        out = [b"\x1b[0m\x1b[H\x1b[2J"]
        for row, line in enumerate(self.lines(), start=1):
            if line:
                out.append(f"\x1b[{row};1H{line}".encode())
        cursor = self._screen.cursor
        out.append(f"\x1b[{cursor.y + 1};{cursor.x + 1}H".encode())
        return b"".join(out)

    @property
    def title(self) -> str:
        """The window title the program last set (OSC 0/2)."""
        return self._title

    @property
    def size(self) -> tuple[int, int]:
        """(rows, cols)."""
        return self._screen.lines, self._screen.columns

    def resize(self, rows: int, cols: int) -> None:
        """Follow a terminal resize."""
        self.flush()
        self._screen.resize(rows, cols)
        self._lines = None
