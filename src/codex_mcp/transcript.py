"""A page of a conversation's transcript (codex_transcript): each turn's prompt and reply, clipped to fit the
output budget, with where to read on."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .conversation import Conversation
from .models import Result, TurnStatusName, iso


class TranscriptTurn(BaseModel):
    """One turn of a transcript."""

    turn: int
    status: TurnStatusName
    prompt: str
    reply: str | None = None
    error: str | None = None
    recovery: Literal["live", "resumed", "replayed"] = "live"
    thread_id: str | None = None
    submitted_at: str
    finished_at: str | None = None
    clipped: bool = Field(
        default=False,
        description="Prompt or reply cut to fit the page; codex_status(turn=N, offset=...) reads a reply whole",
    )

    def text(self) -> str:
        """The turn as a section of a transcript."""
        block = f"## Turn {self.turn} ({self.status}, {self.submitted_at})\n\n> " + self.prompt.replace("\n", "\n> ")
        if self.reply is not None:
            block += "\n\n" + self.reply
        if self.error:
            block += f"\n\nError: {self.error}"
        return block


class TranscriptResult(Result):
    """Result of codex_transcript."""

    conversationId: str  # noqa: N815
    turns_total: int = Field(description="Turns in the conversation")
    turns: list[TranscriptTurn] = Field(description="This page of turns, oldest first")
    next_turn: int | None = Field(
        default=None, description="Pass as from_turn for the next page; null when this page reaches the last turn"
    )

    def text(self) -> str:
        """Each turn as a section (prompt quoted, then the reply), then where the page stands."""
        if not self.turns:
            return f"Conversation {self.conversationId} has no turns there (it has {self.turns_total})."
        blocks = [t.text() for t in self.turns]
        span = f"turns {self.turns[0].turn}-{self.turns[-1].turn} of {self.turns_total}"
        if self.next_turn:
            span += f"; next page: codex_transcript(conversationId='{self.conversationId}', from_turn={self.next_turn})"
        return "\n\n".join([*blocks, f"[{span}]"])


def _clip(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return text[:limit] + f"… [{len(text) - limit} more characters]", True


def transcript_result(conv: Conversation, from_turn: int, limit: int, budget: int) -> TranscriptResult:
    """A page of a conversation's transcript: up to limit turns from from_turn on, within the output budget
    (each prompt and reply clipped to its share; a page always holds at least one turn)."""
    share = max(500, budget // (2 * limit))
    shown: list[TranscriptTurn] = []
    used = 0
    for t in conv.turns[from_turn - 1 : from_turn - 1 + limit]:
        prompt, cut_prompt = _clip(t.prompt, share)
        reply, cut_reply = _clip(t.reply, share) if t.reply is not None else (None, False)
        size = len(prompt) + len(reply or "") + len(t.error or "")
        if shown and used + size > budget:
            break
        used += size
        shown.append(
            TranscriptTurn(
                turn=t.index,
                status=t.status.value,
                prompt=prompt,
                reply=reply,
                error=t.error,
                recovery=t.recovery,
                thread_id=t.thread_id,
                submitted_at=iso(t.submitted_at),
                finished_at=iso(t.finished_at) if t.finished_at else None,
                clipped=cut_prompt or cut_reply,
            )
        )
    last = shown[-1].turn if shown else from_turn - 1
    return TranscriptResult(
        conversationId=conv.id,
        turns_total=len(conv.turns),
        turns=shown,
        next_turn=last + 1 if last < len(conv.turns) else None,
    )
