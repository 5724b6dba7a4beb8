"""A page of a conversation's transcript (codex_transcript, and the conversation read as a Markdown resource):
each turn's prompt and reply, clipped to fit the output budget, with where to read on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from ..conversations.conversation import Conversation
from .results import Result, TurnStatusName, iso


class TranscriptTurn(BaseModel):
    """One turn of a transcript."""

    turn: int
    status: TurnStatusName
    prompt: str
    reply: str | None = None
    error: str | None = None
    recovery: Literal["live", "resumed", "replayed"] = "live"
    thread_id: str | None = None
    kind: Literal["prompt", "compact"] = Field(
        default="prompt", description="compact: Codex's compaction of the thread (codex_compact), its summary as reply"
    )
    rewound_at: str | None = Field(
        default=None, description="When codex_rewind took this turn out of the thread: it no longer reaches the model"
    )
    submitted_at: str
    finished_at: str | None = None
    clipped: bool = Field(
        default=False,
        description="Prompt or reply cut to fit the page; codex_status(turn=N, offset=...) reads a reply whole",
    )

    def text(self) -> str:
        """The turn as a section of a transcript."""
        how = "" if self.recovery == "live" else f", {self.recovery}"
        if self.kind == "compact":
            how += ", compaction"
        if self.rewound_at:
            how += f", rewound {self.rewound_at}: no longer in the thread"
        quoted = "> " + self.prompt.replace("\n", "\n> ")
        block = f"## Turn {self.turn} ({self.status}{how}, {self.submitted_at})\n\n{quoted}"
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


def _share(budget: int, limit: int) -> int:
    """How long a prompt or a reply may be on a page of limit turns."""
    return max(500, budget // (2 * limit))


def _size(prompt: str, reply: str | None, error: str | None) -> int:
    """What a turn, as clipped, takes of a page's budget."""
    return len(prompt) + len(reply or "") + len(error or "")


def transcript_result(conv: Conversation, from_turn: int, limit: int, budget: int) -> TranscriptResult:
    """A page of a conversation's transcript: up to limit turns from from_turn on, within the output budget
    (each prompt and reply clipped to its share; a page always holds at least one turn)."""
    share = _share(budget, limit)
    shown: list[TranscriptTurn] = []
    used = 0
    for t in conv.turns[from_turn - 1 : from_turn - 1 + limit]:
        prompt, cut_prompt = _clip(t.prompt, share)
        reply, cut_reply = _clip(t.reply, share) if t.reply is not None else (None, False)
        size = _size(prompt, reply, t.error)
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
                kind=t.kind,
                rewound_at=iso(t.rewound_at) if t.rewound_at else None,
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


def latest_start(conv: Conversation, budget: int, limit: int = 100) -> int:
    """The first turn of the newest run of turns that fits the budget as one transcript page (at least the last
    turn): what someone opening the conversation wants to see first."""
    share = _share(budget, limit)
    start, used = len(conv.turns), 0
    for turn in reversed(conv.turns[-limit:]):
        size = _size(_clip(turn.prompt, share)[0], _clip(turn.reply or "", share)[0], turn.error)
        if start < len(conv.turns) and used + size > budget:
            break
        used += size
        start = turn.index
    return max(1, start)


def transcript_markdown(
    conv: Conversation, from_turn: int | None, budget: int, page_uri: Callable[[int], str], limit: int = 100
) -> str:
    """The conversation as one Markdown document: what it is (state, folder, model, threads), then its turns.
    from_turn None shows the newest turns that fit the budget; a number shows a page from that turn on. Turns
    left out are named, with page_uri(turn) to read them."""
    start = latest_start(conv, budget, limit) if from_turn is None else from_turn
    page = transcript_result(conv, start, limit, budget)
    lines = [f"# Codex conversation {conv.id}", "", *_facts(conv), ""]
    if conv.turns and start > 1:
        lines += [f"> Turns 1-{start - 1} are not shown here. Read them at {page_uri(1)}.", ""]
    if not page.turns:
        lines.append(f"No turns from turn {start} on (the conversation has {len(conv.turns)})." if conv.turns else "")
    lines += [t.text() + "\n" for t in page.turns]
    if page.next_turn is not None:
        lines.append(f"> Turns {page.next_turn}-{len(conv.turns)} follow at {page_uri(page.next_turn)}.")
    if any(t.clipped for t in page.turns):
        lines.append(
            "> Some prompts or replies are cut to fit; codex_status(conversationId, turn=N, offset=...) reads a "
            "reply whole."
        )
    return "\n".join(lines).rstrip() + "\n"


def _facts(conv: Conversation) -> list[str]:
    """The conversation's settings and state, as a Markdown list."""
    o = conv.options
    state = conv.state.value
    if not conv.live and conv.end_reason:
        state += f" ({conv.end_reason})"
    facts = [
        f"- State: {state}",
        f"- Folder: {o.cwd}",
        f"- Model: {o.model or 'Codex config'}; effort: {o.effort or 'Codex config'}",
        f"- Sandbox: {o.sandbox or 'Codex config'}; approvals: {o.approval_policy or 'Codex config'}",
        f"- Started {iso(conv.created_at)}; last activity {iso(conv.last_activity)}; {len(conv.turns)} turn(s)",
    ]
    if conv.thread_id != conv.id or len(conv.threads) > 1:
        facts.append(
            f"- Codex thread now: {conv.thread_id} (the history was replayed into it; earlier: "
            f"{', '.join(t for t in conv.threads if t != conv.thread_id)})"
        )
    if conv.adopted:
        facts.append("- Adopted: a Codex thread started outside codex-mcp")
    if conv.forked_from:
        facts.append(
            f"- Forked from conversation {conv.forked_from} through its turn {conv.forked_at_turn} (codex_fork): "
            "the turns before this conversation's own are that conversation's, as its thread held them"
        )
    rewound = [t.index for t in conv.turns if t.rewound_at is not None]
    if rewound:
        facts.append(
            f"- Rewound (codex_rewind): turn(s) {', '.join(map(str, rewound))} no longer reach the model; "
            f"Codex thread {conv.thread_id} goes on without them"
        )
    return facts
