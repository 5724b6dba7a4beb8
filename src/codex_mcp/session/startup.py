"""Judging Codex's start-up from its screen: ready (the composer is drawn and the footer names the thread), stopped
by a dialog we must not answer for the user, stuck on a screen we do not know, or out of time. No process: fed
what the screen shows over time, so it is tested on captured screens alone."""

from __future__ import annotations

from collections.abc import Sequence

from ..codex.tui import UNKNOWN_SCREEN_HINT, read_screen
from ..errors import CodexStartFailed

STUCK_S = 5.0
"""How long a start-up screen may stay unchanged, with text on it but no composer and no dialog we know, before we
call it a screen Codex waits on (a prompt new to us) and fail instead of waiting out the whole start-up bound.
Codex draws its composer within ~1 s of its first frame (~4 s the first time in a new CODEX_HOME, while it keeps
redrawing)."""


class StartupWatch:
    """Decides, each time the screen is looked at, whether Codex is ready, has failed, or may still come up."""

    def __init__(self, started: float, timeout: float, *, stuck_s: float = STUCK_S) -> None:
        self._deadline = started + timeout
        self._timeout = timeout
        self._stuck_s = stuck_s
        self._seen: list[str] = []
        self._seen_since = started

    def check(self, lines: Sequence[str], text: list[str], tui_state: str | None, now: float) -> str | None:
        """The thread id once Codex is ready; None to keep waiting. Raises CodexStartFailed (with the screen's
        text lines) for a dialog we must not answer, a screen unchanged for stuck_s with no composer, or the
        deadline passing. lines: the whole screen; text: its rows that hold text."""
        facts = read_screen(lines)
        if facts.ready and facts.thread_id and facts.footer_state == "Ready" and tui_state != "working":
            return facts.thread_id
        if facts.blocker and not facts.ready:
            raise CodexStartFailed(facts.blocker, text)
        if text != self._seen:
            self._seen, self._seen_since = text, now
        elif text and not facts.ready and not facts.thread_id and now - self._seen_since >= self._stuck_s:
            raise CodexStartFailed(
                f"it waits on a screen codex-mcp does not know (unchanged for {self._stuck_s:g}s, no composer); "
                + UNKNOWN_SCREEN_HINT,
                text,
            )
        if now >= self._deadline:
            raise CodexStartFailed(f"its composer was not ready after {self._timeout:g}s; {UNKNOWN_SCREEN_HINT}", text)
        return None

    def remaining(self, now: float) -> float:
        """Seconds left before the deadline."""
        return max(0.0, self._deadline - now)
