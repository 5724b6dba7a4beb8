"""How a conversation's last Codex session ended: a kind (codex-mcp or a person ended it, or Codex went away by
itself) and the words a client is shown. Sessions and conversations carry it typed; a record keeps only the words
(`end_reason`, as every earlier version wrote it), so reading one back is the one place the kind is told from
the words, and the words an exit is made with sit next to it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EndKind(StrEnum):
    """Who ended it (the values are the conversation states results show)."""

    ENDED = "ended"
    """Ended on purpose: by the client, idle, reclaimed, server shutdown, a person's /quit in an attached terminal."""
    EXITED = "exited"
    """Codex went away by itself: it crashed, or exited with nobody asking."""


_EXIT_WORDS = ("crashed", "Codex exited")
"""How every EXITED ending's words begin (Ending.crashed, Ending.codex_exited), so a stored one reads back EXITED."""


@dataclass(frozen=True)
class Ending:
    """A kind and its detail (what results and failed turns say)."""

    kind: EndKind
    detail: str

    @classmethod
    def ended(cls, detail: str) -> Ending:
        """Ended on purpose, for this reason."""
        return cls(EndKind.ENDED, detail)

    @classmethod
    def crashed(cls, how: str) -> Ending:
        """Codex exited with an error (how: its exit code or signal)."""
        return cls(EndKind.EXITED, f"crashed (Codex {how})")

    @classmethod
    def codex_exited(cls, detail: str = "") -> Ending:
        """Codex exited by itself, with nobody asking (detail: more on how, if known)."""
        return cls(EndKind.EXITED, f"Codex exited{' ' + detail if detail else ''}")

    @classmethod
    def stored(cls, detail: str) -> Ending:
        """An ending read back from a record, which keeps only the words."""
        return cls(EndKind.EXITED if detail.startswith(_EXIT_WORDS) else EndKind.ENDED, detail)

    def __str__(self) -> str:
        return self.detail
