"""StartupWatch on captured screens, with time driven by the test: ready, stopped by a dialog we must not answer,
stuck on a screen we do not know, or out of time."""

from __future__ import annotations

import pytest

from codex_mcp.codex.tui import UNKNOWN_SCREEN_HINT
from codex_mcp.codex.versions import version_key
from codex_mcp.errors import CodexStartFailed
from codex_mcp.session.startup import StartupWatch

from .golden_screens import FIXTURES, golden_lines

VERSIONS = sorted(
    (p.name for p in FIXTURES.iterdir() if (p / "capture.json").is_file()),
    key=lambda name: version_key(name) or (0, 0, 0, 0),
)
THREAD = "00000000-0000-7000-8000-000000000001"
T0 = 1000.0  # when start-up began, on the test's clock
TIMEOUT = 45.0
STUCK = 2.0
ROWS = 50


def text_of(lines: list[str]) -> list[str]:
    """The rows that hold text (what Screen.text_lines gives the watch)."""
    return [line for line in lines if line.strip()]


def screen_of(*rows: str) -> list[str]:
    return [*rows, *[""] * (ROWS - len(rows))]


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def watch() -> StartupWatch:
    return StartupWatch(T0, TIMEOUT, stuck_s=STUCK)


def test_ready_screen_gives_the_thread_id(version: str) -> None:
    lines = golden_lines(version, "startup")
    assert watch().check(lines, text_of(lines), "idle", T0 + 0.5) == THREAD
    assert watch().check(lines, text_of(lines), None, T0 + 0.5) == THREAD, "no OSC 7501 yet: the footer decides"


def test_ready_screen_while_codex_still_works_is_not_ready_yet(version: str) -> None:
    lines = golden_lines(version, "startup")
    w = watch()
    assert w.check(lines, text_of(lines), "working", T0) is None
    assert w.check(lines, text_of(lines), "working", T0 + 10 * STUCK) is None, "a ready composer is never 'stuck'"
    assert w.check(lines, text_of(lines), "idle", T0 + 10 * STUCK) == THREAD


def test_footer_not_saying_ready_keeps_waiting(version: str) -> None:
    lines = [line.replace("· Ready", "· Starting") for line in golden_lines(version, "startup")]
    assert watch().check(lines, text_of(lines), "idle", T0) is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [("trust", "Codex asks whether to trust this folder"), ("migration", "Codex offers a newer model")],
)
def test_a_dialog_we_must_not_answer_fails_at_once(version: str, name: str, reason: str) -> None:
    lines = golden_lines(version, name)
    with pytest.raises(CodexStartFailed) as caught:
        watch().check(lines, text_of(lines), "idle", T0)
    assert caught.value.reason.startswith(reason)
    assert caught.value.screen == text_of(lines)
    message = str(caught.value)
    assert message.startswith(f"Codex did not start: {reason}")
    assert text_of(lines)[-1].strip() in message, "the error shows the screen"


def test_an_unknown_screen_unchanged_for_stuck_s_fails() -> None:
    lines = screen_of("  Something new from Codex", "  Press enter to go on")
    w = watch()
    assert w.check(lines, text_of(lines), None, T0) is None
    assert w.check(lines, text_of(lines), None, T0 + STUCK - 0.01) is None
    with pytest.raises(CodexStartFailed) as caught:
        w.check(lines, text_of(lines), None, T0 + STUCK)
    assert f"unchanged for {STUCK:g}s" in caught.value.reason
    assert "does not know" in caught.value.reason
    assert UNKNOWN_SCREEN_HINT in caught.value.reason
    assert caught.value.screen == text_of(lines)


def test_a_screen_that_changes_is_not_stuck() -> None:
    first = screen_of("  Loading")
    second = screen_of("  Loading.")
    w = watch()
    assert w.check(first, text_of(first), None, T0) is None
    assert w.check(second, text_of(second), None, T0 + STUCK - 0.5) is None
    assert w.check(second, text_of(second), None, T0 + 2 * STUCK - 0.6) is None, "unchanged since it changed: <stuck"
    with pytest.raises(CodexStartFailed, match="does not know"):
        w.check(second, text_of(second), None, T0 + 2 * STUCK)


def test_a_screen_with_the_thread_id_but_no_composer_yet_is_not_stuck(version: str) -> None:
    lines = [line for line in golden_lines(version, "startup") if not line.startswith("›")]
    w = watch()
    for now in (T0, T0 + STUCK, T0 + 5 * STUCK):
        assert w.check(lines, text_of(lines), None, now) is None


def test_a_blank_screen_waits_until_the_deadline() -> None:
    blank = screen_of()
    w = watch()
    for now in (T0, T0 + STUCK, T0 + TIMEOUT - 0.01):
        assert w.check(blank, [], None, now) is None
    with pytest.raises(CodexStartFailed) as caught:
        w.check(blank, [], None, T0 + TIMEOUT)
    assert caught.value.reason.startswith(f"its composer was not ready after {TIMEOUT:g}s")
    assert UNKNOWN_SCREEN_HINT in caught.value.reason


def test_a_changing_screen_fails_at_the_deadline() -> None:
    w = StartupWatch(T0, TIMEOUT, stuck_s=TIMEOUT * 2)
    now = T0
    while now < T0 + TIMEOUT:
        lines = screen_of(f"  frame {now}")
        assert w.check(lines, text_of(lines), None, now) is None
        now += 1.0
    with pytest.raises(CodexStartFailed, match="was not ready after"):
        w.check(screen_of("  last frame"), ["  last frame"], None, now)


def test_remaining_counts_down_to_zero() -> None:
    w = watch()
    assert w.remaining(T0) == TIMEOUT
    assert w.remaining(T0 + 40) == pytest.approx(5.0)
    assert w.remaining(T0 + TIMEOUT + 10) == 0.0
