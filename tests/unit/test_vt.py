"""vt.FastScreen/FastStream against pyte itself: the same screen from real Codex output and from fuzzed input,
split into chunks anywhere. (What it saves is measured in bench/render.py, not timed here.)"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pyte
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codex_mcp.session.vt import FastScreen, FastStream

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "codex"
CAPTURES = sorted(FIXTURES.glob("*/*.pty"))


def state(screen: pyte.Screen) -> object:
    """Everything a reader of the screen can see: cells with their attributes, cursor, modes, margins, title."""
    cells = {y: dict(line) for y, line in screen.buffer.items() if line}
    cursor = (screen.cursor.x, screen.cursor.y, screen.cursor.attrs, screen.cursor.hidden)
    return cells, cursor, frozenset(screen.mode), screen.margins, screen.title


def both(chunks: list[bytes], cols: int = 80, rows: int = 24) -> tuple[object, object]:
    """(pyte's screen, ours) after the same chunks. pyte is fed byte by byte, going on after a sequence it raises
    on (its parser resets itself), which is what FastStream does."""
    reference = pyte.Screen(cols, rows)
    fast = FastScreen(cols, rows)
    reference_stream, fast_stream = pyte.ByteStream(reference), FastStream(fast)
    for chunk in chunks:
        for i in range(len(chunk)):
            with contextlib.suppress(Exception):
                reference_stream.feed(chunk[i : i + 1])
        fast_stream.feed(chunk)
    return state(reference), state(fast)


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_real_codex_output_renders_as_pyte_renders_it(capture: Path) -> None:
    data = capture.read_bytes()
    reference, fast = both([data], cols=160, rows=50)
    assert fast == reference
    plain, ours = pyte.Screen(160, 50), FastScreen(160, 50)
    pyte.ByteStream(plain).feed(data)
    FastStream(ours).feed(data)
    assert ours.display == plain.display
    # Split the same bytes into small chunks: sequences and UTF-8 characters straddle the cuts.
    reference, fast = both([data[i : i + 97] for i in range(0, len(data), 97)], cols=160, rows=50)
    assert fast == reference


# No unprintable characters here: pyte drops the rest of a text run after one, so its result depends on how the
# run was chunked, and the reference is fed byte by byte (test_an_unprintable_character_ends_the_run covers it).
# Nor ESC % @ (Latin-1), which pyte applies from the next chunk on.
_TEXT = st.text(alphabet=st.sampled_from("ab Z~é中›•─\u0301\t\r\n\b"), min_size=1, max_size=12)
_PARAM = st.integers(min_value=0, max_value=120).map(str) | st.just("") | st.just("99999")
_CSI = st.builds(
    lambda private, params, final: f"\x1b[{private}{';'.join(params)}{final}",
    st.sampled_from(["", "?", ">", "<"]),
    st.lists(_PARAM, max_size=4),
    st.sampled_from(list("@ABCDEFGHJKLMPXdfghlmnrsu`")),
)
_SGR = st.builds(
    lambda params: f"\x1b[{';'.join(params)}m",
    st.lists(st.sampled_from(["0", "1", "2", "22", "7", "31", "49", "38;5;183", "48;5;235", "38;2;1;2;3", "97"])),
)
_OTHER = st.sampled_from(
    ["\x1b7", "\x1b8", "\x1bM", "\x1bD", "\x1bE", "\x1b]0;title\x07", "\x1b[1:2m", "\x1b[ q", "\x1b(0"]
)
_STREAM = st.lists(st.one_of(_TEXT, _CSI, _SGR, _OTHER), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=_STREAM, cut=st.integers(min_value=1, max_value=30))
def test_fuzzed_streams_render_as_pyte_renders_them(text: str, cut: int) -> None:
    data = text.encode()
    reference, fast = both([data[i : i + cut] for i in range(0, len(data), cut)], cols=12, rows=5)
    assert fast == reference
    plain, ours = pyte.Screen(12, 5), FastScreen(12, 5)
    FastStream(ours).feed(data)
    try:
        pyte.ByteStream(plain).feed(data)
        expected = plain.display
    except Exception:  # pyte raised on a sequence (and lost the rest), or on a half-overwritten wide character
        return
    assert ours.display == expected


@pytest.mark.parametrize("sequence", [b"\x1b[?1m", b"\x1b[?4@", b"\x1b[?1;2m", b"\x1b[3K", b"\x1b[?3K"])
def test_a_sequence_pyte_raises_on_is_skipped_and_the_rest_drawn(sequence: bytes) -> None:
    """pyte's own parser raises out of feed on these (its methods take no private flag) and loses the rest of the
    chunk; Codex's output must never take the screen down."""
    screen = FastScreen(10, 2)
    FastStream(screen).feed(b"a" + sequence + b"b\x1b[?5;1Hc")
    assert screen.display[0].rstrip() == "abc"


def test_an_unprintable_character_ends_the_run_as_in_pyte() -> None:
    data = b"ab\x01cd\r\nef\x7fgh\x1b[2;1Hx\x02y"
    reference, fast = pyte.Screen(10, 3), FastScreen(10, 3)
    pyte.ByteStream(reference).feed(data)
    FastStream(fast).feed(data)
    assert state(fast) == state(reference)


def test_a_wide_character_half_overwritten_still_displays() -> None:
    """pyte's own display raises IndexError here; the screen must stay readable."""
    screen = FastScreen(6, 2)
    FastStream(screen).feed("中ab\rZ".encode())
    assert screen.display[0] == "Z ab  "
