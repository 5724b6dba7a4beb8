"""The screen model: bytes in, lines out; OSC scanning across chunk boundaries; answers to terminal queries."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest

from codex_mcp.codex.tui import read_screen
from codex_mcp.session.screen import Osc, Screen

THREAD = "01a1fbea-b6ba-73a1-8251-f4e5e362b223"
DONE = b"\x1b]7501;state=done:app=codex"
BEL = b"\x07"
ST = b"\x1b\\"
FG_ANSWER = b"\x1b]10;rgb:c0c0/c0c0/c0c0\x1b\\"
BG_ANSWER = b"\x1b]11;rgb:0000/0000/0000\x1b\\"


def feed_all(screen: Screen, *chunks: bytes) -> list[Osc]:
    """Feed chunks one after another; the OSCs reported across all of them."""
    found: list[Osc] = []
    for chunk in chunks:
        found += screen.feed(chunk)
    return found


# --- rendering ---------------------------------------------------------------------------------


def test_codex_like_frame_renders_to_the_expected_lines() -> None:
    # What a full-screen TUI sends: alternate screen, clear, absolute cursor moves, colours (SGR),
    # a title, a run-state OSC, UTF-8 drawing characters. Only the text must come out, row by row.
    frame = (
        b"\x1b[?1049h\x1b[H\x1b[2J"
        b"\x1b]0;codex\x07"
        b"\x1b[1m>_ OpenAI Codex\x1b[0m (v0.169.0)\r\n"
        b"\x1b[2m\xe2\x94\x82 model: mock-model\x1b[0m"
        b"\x1b[5;1H\x1b[38;5;8m\xe2\x80\xba \x1b[39mAsk Codex to do anything"
        b"\x1b]7501;state=idle:app=codex\x1b\\"
        b"\x1b[7;3H" + THREAD.encode() + b" \xc2\xb7 mock-model \xc2\xb7 Ready"
        b"\x1b[5;3H"
    )
    screen = Screen(cols=60, rows=8)
    oscs = screen.feed(frame)
    assert screen.lines() == [
        ">_ OpenAI Codex (v0.169.0)",
        "│ model: mock-model",
        "",
        "",
        "› Ask Codex to do anything",
        "",
        f"  {THREAD} · mock-model · Ready",
        "",
    ]
    assert screen.text_lines() == [line for line in screen.lines() if line]
    assert screen.title == "codex"
    assert oscs == [Osc("0", "codex"), Osc("7501", "state=idle:app=codex")]
    facts = read_screen(screen.lines())
    assert (facts.ready, facts.thread_id, facts.footer_state) == (True, THREAD, "Ready")


def test_redraws_overwrite_and_erase() -> None:
    screen = Screen(cols=20, rows=3)
    screen.feed(b"Working...\r\n\xe2\x80\xba draft")
    screen.feed(b"\x1b[1;1H\x1b[2KDone\x1b[2;3H\x1b[Kfinal text")
    assert screen.lines() == ["Done", "› final text", ""]


def test_utf8_split_at_every_byte_renders_whole_characters() -> None:
    text = "naïve 日本語 😀 ok"
    data = text.encode()
    for k in range(len(data) + 1):
        screen = Screen(cols=40, rows=2)
        feed_all(screen, data[:k], data[k:])
        assert screen.lines()[0] == text, f"split at byte {k}"


def test_resize_follows_the_terminal() -> None:
    screen = Screen(cols=80, rows=24)
    screen.feed(b"top line")
    screen.resize(rows=10, cols=30)
    assert screen.size == (10, 30)
    assert len(screen.lines()) == 10
    assert screen.lines()[0] == "top line"


# --- OSC scanning ------------------------------------------------------------------------------


def _split_cases() -> Iterator[object]:
    for name, terminator in (("BEL", BEL), ("ST", ST)):
        message = b"before" + DONE + terminator + b"after"
        for k in range(len(message) + 1):
            yield pytest.param(message, k, id=f"{name}-split-at-{k}")


@pytest.mark.parametrize(("message", "k"), list(_split_cases()))
def test_osc_split_at_any_offset_is_reported_once(message: bytes, k: int) -> None:
    screen = Screen(cols=40, rows=2)
    oscs = feed_all(screen, message[:k], message[k:])
    assert oscs == [Osc("7501", "state=done:app=codex")]
    assert screen.lines()[0] == "beforeafter"  # the OSC itself draws nothing


def test_osc_with_bel_fed_one_byte_at_a_time() -> None:
    message = b"x" + DONE + BEL + b"y" + b"\x1b]7501;state=working:app=codex" + BEL
    screen = Screen(cols=40, rows=2)
    oscs = feed_all(screen, *(message[i : i + 1] for i in range(len(message))))
    assert oscs == [Osc("7501", "state=done:app=codex"), Osc("7501", "state=working:app=codex")]
    assert screen.lines()[0] == "xy"


def test_osc_with_st_fed_one_byte_at_a_time() -> None:
    message = b"x" + DONE + ST + b"y" + b"\x1b]7501;state=working:app=codex" + ST
    screen = Screen(cols=40, rows=2)
    oscs = feed_all(screen, *(message[i : i + 1] for i in range(len(message))))
    assert oscs == [Osc("7501", "state=done:app=codex"), Osc("7501", "state=working:app=codex")]


def test_several_oscs_in_one_chunk_come_in_order() -> None:
    screen = Screen(cols=40, rows=2)
    oscs = screen.feed(
        b"\x1b]7501;state=working:app=codex\x1b\\a\x1b]0;title one\x07b"
        b"\x1b]7501;state=blocked:app=codex:kind=permission\x07"
    )
    assert oscs == [
        Osc("7501", "state=working:app=codex"),
        Osc("0", "title one"),
        Osc("7501", "state=blocked:app=codex:kind=permission"),
    ]
    assert screen.lines()[0] == "ab"


def test_esc_at_the_very_end_of_a_chunk_starts_an_osc() -> None:
    screen = Screen(cols=40, rows=2)
    oscs = feed_all(screen, b"abc\x1b", b"]7501;state=done:app=codex\x07def")
    assert oscs == [Osc("7501", "state=done:app=codex")]
    assert screen.lines()[0] == "abcdef"


def test_esc_at_the_end_of_a_chunk_that_starts_a_csi_is_not_an_osc() -> None:
    screen = Screen(cols=40, rows=2)
    oscs = feed_all(screen, b"abc\x1b", b"[1mdef\x1b[0m", b"\x1b]7501;state=idle:app=codex\x07")
    assert oscs == [Osc("7501", "state=idle:app=codex")]
    assert screen.lines()[0] == "abcdef"


def test_abandoned_huge_osc_does_not_hide_later_oscs() -> None:
    screen = Screen(cols=40, rows=2)
    oscs = feed_all(screen, b"\x1b]7501;", b"x" * 20_000, BEL, b"\x1b]7501;state=done:app=codex\x1b\\")
    assert oscs == [Osc("7501", "state=done:app=codex")]


def test_unterminated_huge_osc_does_not_grow_memory() -> None:
    screen = Screen(cols=40, rows=2)
    screen.feed(b"\x1b]7501;")
    chunk = b"x" * 16_384
    tracemalloc.start()
    try:
        for _ in range(4):
            screen.feed(chunk)
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(4):
            screen.feed(chunk)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # 64 KiB more of the same OSC: memory must stay about flat (well under what was fed).
    assert after - before < 16_384


# --- answers to terminal queries ------------------------------------------------------------------


@pytest.mark.parametrize("terminator", [BEL, ST], ids=["BEL", "ST"])
def test_colour_queries_are_answered(terminator: bytes) -> None:
    answers: list[bytes] = []
    screen = Screen(cols=40, rows=2, answer=answers.append)
    screen.feed(b"\x1b]10;?" + terminator + b"\x1b]11;?" + terminator)
    assert answers == [FG_ANSWER, BG_ANSWER]


def test_colour_query_split_across_chunks_is_answered_once() -> None:
    answers: list[bytes] = []
    screen = Screen(cols=40, rows=2, answer=answers.append)
    feed_all(screen, b"\x1b]1", b"1;", b"?", BEL)
    assert answers == [BG_ANSWER]


def test_colour_settings_and_other_oscs_get_no_answer() -> None:
    answers: list[bytes] = []
    screen = Screen(cols=40, rows=2, answer=answers.append)
    screen.feed(b"\x1b]10;rgb:ffff/ffff/ffff\x07\x1b]0;?\x07\x1b]7501;state=idle:app=codex\x1b\\")
    assert answers == []


def test_device_attributes_and_cursor_position_are_answered() -> None:
    answers: list[bytes] = []
    screen = Screen(cols=40, rows=5, answer=answers.append)
    screen.feed(b"\x1b[c")
    screen.feed(b"ab\r\ncde\x1b[6n")
    assert answers == [b"\x1b[?6c", b"\x1b[2;4R"]


def test_colour_answers_come_before_the_device_attributes_sentinel() -> None:
    # Colour detection sends OSC 10/11 then DA1 and treats a DA1 answer arriving first as "unsupported".
    answers: list[bytes] = []
    screen = Screen(cols=40, rows=2, answer=answers.append)
    screen.feed(b"\x1b]10;?\x1b\\\x1b]11;?\x1b\\\x1b[c")
    assert answers == [FG_ANSWER, BG_ANSWER, b"\x1b[?6c"]


def test_queries_without_an_answer_callback_are_ignored() -> None:
    screen = Screen(cols=40, rows=2)
    screen.feed(b"\x1b[c\x1b[6n\x1b]11;?\x07ok")
    assert screen.lines()[0] == "ok"


# --- output nobody reads ------------------------------------------------------------------------


def frame(n: int) -> bytes:
    """One Codex-like repaint: every row rewritten, the cursor parked at the composer (row 4, column 3)."""
    rows = b"".join(b"\x1b[%d;1H\x1b[0m\x1b[Kline %d of frame %d" % (row, row, n) for row in range(1, 4))
    return b"\x1b[?2026h" + rows + b"\x1b[4;3H\x1b[?2026l"


def test_a_backlog_nobody_reads_is_dropped_and_repainted_keeping_the_cursor() -> None:
    """Past the backlog limit, unread output is not rendered (that was most of the server's CPU per turn): it is
    dropped and the screen is stale until the program repaints. The cursor a position query reports is still the
    program's."""
    answers: list[bytes] = []
    asked: list[int] = []
    screen = Screen(cols=40, rows=5, answer=answers.append)

    def may_drop() -> bool:
        asked.append(1)
        return True

    screen.on_backlog(may_drop)
    n = 0
    while not asked and n < 5000:  # 5000 frames: ~300 KB
        n += 1
        screen.feed(frame(n))
    assert len(asked) == 1
    assert screen.stale
    screen.feed(b"\x1b[6n")  # what Codex asks first when its size changes
    assert answers == [b"\x1b[4;3R"]
    repaint = b"\x1b[?2026h\x1b[1;1H\x1b[J" + frame(n + 1)  # clear, then everything
    screen.feed(repaint)  # one that was not asked for at this size (the nudge's narrower one): still stale
    assert screen.stale
    screen.expect_repaint()
    screen.feed(repaint[:30])
    assert screen.stale, "whole before the repaint's frame ended"
    screen.feed(repaint[30:])
    assert not screen.stale
    assert screen.text_lines() == [f"line {row} of frame {n + 1}" for row in (1, 2, 3)]


def test_a_backlog_is_rendered_when_the_program_cannot_repaint() -> None:
    """No repaint (a person watches, or Codex is gone): the backlog is rendered, nothing is dropped."""
    for repaint in (None, lambda: False):
        screen = Screen(cols=40, rows=5)
        if repaint is not None:
            screen.on_backlog(repaint)
        frames = [frame(n) for n in range(1, 5000)]
        for data in frames:
            screen.feed(data)
        assert screen.text_lines() == [f"line {row} of frame 4999" for row in (1, 2, 3)]
