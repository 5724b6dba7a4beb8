"""A tool call's time: made once from its timeout_s when the call comes in, and passed down to whatever waits
(the launch, the start-up bound, the turn), so that "the time left" is one sum in one place."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

MIN_START_S = 10.0
"""The least a start-up may take whatever the call's timeout_s: a first start in a new CODEX_HOME takes ~4 s."""


@dataclass(frozen=True)
class Deadline:
    """timeout seconds from `began` (time.monotonic). A timeout of 0 means: return at once, the turn goes on."""

    timeout: float
    began: float = field(default_factory=time.monotonic)

    @classmethod
    def after(cls, timeout: float) -> Deadline:
        """A deadline timeout seconds from now."""
        return cls(timeout)

    def elapsed(self) -> float:
        """Seconds since the call came in."""
        return time.monotonic() - self.began

    def left(self) -> float:
        """Seconds left of the timeout (never below 0)."""
        return max(0.0, self.timeout - self.elapsed())

    def startup_s(self, start_timeout_s: float) -> float:
        """How long a Codex start-up may take in this call: start-up has its own bound (without a conversationId
        there is nothing to return early), held to the time left, and never below MIN_START_S, the time a first
        start in a new CODEX_HOME can take."""
        return min(start_timeout_s, max(self.left(), MIN_START_S))
