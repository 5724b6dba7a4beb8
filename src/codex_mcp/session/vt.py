"""pyte, faster on what Codex writes: the same screen state, a fraction of the CPU.

Codex's TUI repaints its transcript with short runs of text between many CSI sequences (cursor moves, colours,
erase-line): about 10 KB per turn once the screen is full. pyte's parser takes every byte of a control sequence
through a generator, one ``send`` each, and draws every character through ``namedtuple._replace``, which made
rendering a turn's output cost ~20 ms of CPU, most of codex-mcp's own work per turn. Here a regex takes a whole
plain CSI sequence at once and calls the same screen method pyte would, and a run of single-width characters
is written cell by cell without ``_replace``. Anything else (OSC, DCS, a CSI with intermediates or controls
inside, a sequence split across feeds) goes through pyte's own parser, so the result is pyte's in every case:
tests/unit/test_vt.py checks it against pyte on real Codex output and on fuzzed input. One difference: a
sequence pyte's screen raises on (ESC[?@ has no private form, ESC[3K no such mode) makes pyte raise out of feed
and lose the rest of the chunk; here it is skipped, as pyte's parser itself resets after it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pyte
from pyte import modes
from pyte.screens import Char
from wcwidth import wcwidth

# ESC [ [?] digits-and-semicolons final: what pyte's parser would dispatch as csi[final](*params[, private=True]).
# Any other byte in the body (an intermediate, a control, ':' '<' '=' '>') leaves the sequence to pyte.
_PLAIN_CSI = re.compile(r"\x1b\[(\??)([0-9;]*)([@-~])")
_new_char = tuple.__new__


class FastScreen(pyte.Screen):
    """A pyte screen whose ``draw`` skips ``_replace`` for runs of single-width characters, whose erase-in-line
    fills the cells in one dict update, and which remembers what each colour change does to each set of
    attributes (Codex sends the same few hundred times a turn)."""

    def __init__(self, columns: int, lines: int) -> None:
        super().__init__(columns, lines)
        self._sgr: dict[tuple[Char, tuple[int, ...]], Char] = {}

    def draw(self, data: str) -> None:
        data = data.translate(self.g1_charset if self.charset else self.g0_charset)
        if modes.IRM in self.mode or not _single_width(data):
            super().draw(data)
            return
        cursor = self.cursor
        columns = self.columns
        rest = tuple(cursor.attrs)[1:]
        while data:
            if cursor.x == columns:
                if modes.DECAWM not in self.mode:  # pyte overwrites the last column, char by char
                    super().draw(data)
                    return
                self.dirty.add(cursor.y)
                self.carriage_return()
                self.linefeed()
            line = self.buffer[cursor.y]
            x = cursor.x
            take = data[: columns - x]
            for offset, char in enumerate(take, start=x):
                line[offset] = _new_char(Char, (char, *rest))
            cursor.x = x + len(take)
            data = data[len(take) :]
        self.dirty.add(cursor.y)

    @property
    def display(self) -> list[str]:
        """pyte's lines, built from the cells that were written rather than cell by cell (a 160x50 screen is 8000
        cells), and without pyte's IndexError on the stub of a wide character whose first half was overwritten
        (Codex's output can do that): such a stub reads as a space."""
        columns = self.columns
        rows = []
        for y in range(self.lines):
            line = self.buffer[y]
            if not line:
                rows.append(" " * columns)
                continue
            cells = [" "] * columns
            for x, char in line.items():
                if x < columns:
                    cells[x] = char.data
            text = "".join(cells)
            rows.append(text if text.isascii() and len(text) == columns else _join_wide(cells))
        return rows

    def erase_in_line(self, how: int = 0, private: bool = False) -> None:
        cursor = self.cursor
        if how == 0:
            cells = range(cursor.x, self.columns)
        elif how == 2:
            cells = range(self.columns)
        else:
            super().erase_in_line(how, private)
            return
        self.dirty.add(cursor.y)
        self.buffer[cursor.y].update(dict.fromkeys(cells, cursor.attrs))

    def select_graphic_rendition(self, *attrs: int) -> None:
        key = (self.cursor.attrs, attrs)
        known = self._sgr.get(key)
        if known is None:
            super().select_graphic_rendition(*attrs)
            if len(self._sgr) < _MAX_SGR:
                self._sgr[key] = self.cursor.attrs
        else:
            self.cursor.attrs = known


_MAX_SGR = 4096
_WIDE_OR_ODD: set[str] = set()  # characters seen so far whose width is not 1
_NARROW: set[str] = set()


def _join_wide(cells: list[str]) -> str:
    """A row's cells as pyte's display joins them: the stub after a wide character is left out."""
    out = []
    stub = False
    for data in cells:
        if stub:
            stub = False
            continue
        if not data:
            out.append(" ")
            continue
        stub = not data.isascii() and _width(data[0]) == 2
        out.append(data)
    return "".join(out)


def _width(char: str) -> int:
    if char in _NARROW:
        return 1
    width = wcwidth(char)
    if width == 1 and len(_NARROW) < _MAX_SGR:
        _NARROW.add(char)
    return width


def _single_width(data: str) -> bool:
    if data.isascii():
        return data.isprintable()
    for char in data:
        if char not in _NARROW:
            if char in _WIDE_OR_ODD:
                return False
            if wcwidth(char) != 1:
                if len(_WIDE_OR_ODD) < _MAX_SGR:
                    _WIDE_OR_ODD.add(char)
                return False
            if len(_NARROW) < _MAX_SGR:
                _NARROW.add(char)
    return True


class FastStream(pyte.ByteStream):
    """A pyte byte stream that dispatches plain CSI sequences without its per-character parser."""

    def attach(self, screen: pyte.Screen) -> None:
        super().attach(screen)
        self._csi: dict[str, Callable[..., None]] = {final: getattr(screen, name) for final, name in self.csi.items()}
        self._debug: Callable[..., None] = screen.debug

    @staticmethod
    def _dispatch(handler: Callable[..., None], params: list[int], private: str) -> None:
        try:
            if private:
                handler(*params, private=True)
            else:
                handler(*params)
        except Exception:  # pyte's method raises on it (ESC[?m, ESC[3K): skip the sequence
            pass

    def feed(self, data: bytes) -> None:  # type: ignore[override]
        # As pyte's ByteStream: the chunk is decoded whole, as UTF-8 unless ESC % @ switched to Latin-1.
        self._feed_text(self.utf8_decoder.decode(data) if self.use_utf8 else "".join(map(chr, data)))

    def _feed_text(self, data: str) -> None:
        # pyte's Stream.feed, with one more branch: at an ESC in the ground state, a plain CSI is dispatched here.
        assert self.listener is not None
        draw = self.listener.draw
        match_text = self._text_pattern.match
        match_csi = _PLAIN_CSI.match
        send = self._send_to_parser
        csi = self._csi
        plain = self._taking_plain_text
        length = len(data)
        offset = 0
        while offset < length:
            if plain:
                text = match_text(data, offset)
                if text:
                    start, offset = text.span()
                    draw(data[start:offset])
                    continue
                found = match_csi(data, offset) if data[offset] == "\x1b" else None
                if found:
                    offset = found.end()
                    private, body, final = found.groups()
                    params = [min(int(p or 0), 9999) for p in body.split(";")]
                    self._dispatch(csi.get(final, self._debug), params, private)
                    continue
                plain = False
            else:
                try:
                    plain = send(data[offset])
                except Exception:  # pyte raised on a sequence (ESC[?@, ESC[3K) and reset its parser
                    plain = True
                offset += 1
        self._taking_plain_text = plain
