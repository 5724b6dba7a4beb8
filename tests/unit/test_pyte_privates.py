"""session/vt.py speeds pyte up by reaching into its stream's private parts (pyproject bounds pyte to the releases it
was checked on). If a pyte release renames or reshapes one of them, this says which, instead of vt.py failing on
the first Codex output or, worse, drawing a wrong screen."""

from __future__ import annotations

import re
from importlib.metadata import version

import pyte
from pyte.screens import Char

from codex_mcp.session.vt import FastScreen, FastStream


def _stream() -> pyte.ByteStream:
    stream = pyte.ByteStream()
    stream.attach(pyte.Screen(20, 3))
    return stream


def test_the_stream_privates_vt_relies_on_are_there_and_shaped_as_expected() -> None:
    stream = _stream()
    pattern = getattr(stream, "_text_pattern", None)
    assert isinstance(pattern, re.Pattern), (
        f"pyte {version('pyte')}: Stream._text_pattern is {pattern!r}, not a compiled regex; session/vt.py matches "
        "runs of plain text with it"
    )
    run = pattern.match("plain text\x1b[1m", 0)
    assert run is not None, "pyte's _text_pattern no longer matches plain text"
    assert run.group(0) == "plain text", "pyte's _text_pattern no longer stops at ESC"
    send = getattr(stream, "_send_to_parser", None)
    assert callable(send), f"pyte {version('pyte')}: Stream._send_to_parser is gone; session/vt.py feeds escapes to it"
    assert not send("\x1b"), "pyte's _send_to_parser no longer says (a falsy value) that a sequence is in progress"
    assert send("c") is True, "pyte's _send_to_parser no longer says (True) that the parser is back in plain text"
    assert isinstance(getattr(stream, "_taking_plain_text", None), bool), (
        f"pyte {version('pyte')}: Stream._taking_plain_text is gone; session/vt.py keeps the parser state in it"
    )
    assert isinstance(stream.csi, dict), "pyte's Stream.csi is no longer a dict of CSI finals"
    assert stream.csi.get("m") == "select_graphic_rendition", "pyte's Stream.csi no longer names screen methods"
    for name in ("utf8_decoder", "use_utf8", "listener"):
        assert hasattr(stream, name), f"pyte {version('pyte')}: ByteStream.{name} is gone (session/vt.py reads it)"


def test_the_screen_parts_vt_writes_are_there() -> None:
    screen = pyte.Screen(20, 3)
    for name in ("buffer", "cursor", "dirty", "mode", "g0_charset", "g1_charset", "charset", "columns"):
        assert hasattr(screen, name), f"pyte {version('pyte')}: Screen.{name} is gone (session/vt.py writes cells)"
    assert Char._fields[:2] == ("data", "fg"), f"pyte's Char fields changed: {Char._fields}"


def test_vt_still_draws_what_pyte_draws() -> None:
    """The point of the checks above: the fast path and pyte agree on a line with text and attributes."""
    data = b"ab\x1b[1mcd\x1b[0m\x1b[2;3Hxy\x1b[K"
    fast, plain = FastScreen(20, 3), pyte.Screen(20, 3)
    stream = FastStream()
    stream.attach(fast)
    stream.feed(data)
    reference = pyte.ByteStream()
    reference.attach(plain)
    reference.feed(data)
    assert fast.display == plain.display
    assert fast.buffer[0][2] == plain.buffer[0][2]
