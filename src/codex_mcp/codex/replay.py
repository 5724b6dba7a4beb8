"""Replaying a conversation into a fresh Codex session when its own thread cannot be resumed: the prior
history goes in front of the new prompt, bounded so it fits comfortably in one prompt."""

from __future__ import annotations

from collections.abc import Sequence

REPLAY_BUDGET_CHARS = 24_000
"""How much earlier conversation a replay carries (about 6k tokens). The first turn and the most recent
turns are kept; the turns between are left out, and the preamble says how many."""

_PER_MESSAGE_CHARS = 4_000


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[… {len(text) - 2 * half} characters left out …]\n{text[-half:]}"


def _render(index: int, prompt: str, reply: str | None) -> str:
    answer = _clip(reply, _PER_MESSAGE_CHARS) if reply is not None else "(no reply was recorded)"
    return f"--- turn {index} ---\nUser:\n{_clip(prompt, _PER_MESSAGE_CHARS)}\n\nCodex:\n{answer}\n"


def replay_prompt(
    history: Sequence[tuple[str, str | None]], prompt: str, budget: int = REPLAY_BUDGET_CHARS
) -> tuple[str, int]:
    """The first prompt of a replayed session, and how many earlier turns were left out."""
    if not history:
        return prompt, 0
    blocks = [_render(i + 1, p, r) for i, (p, r) in enumerate(history)]
    kept_tail: list[str] = []
    used = len(blocks[0])
    for block in reversed(blocks[1:]):
        if used + len(block) > budget:
            break
        kept_tail.insert(0, block)
        used += len(block)
    omitted = len(blocks) - 1 - len(kept_tail)
    parts = [
        "[codex-mcp: this conversation continues an earlier Codex session that could not be resumed. "
        f"Its {len(history)} earlier turn(s) follow"
        + (f"; {omitted} turn(s) from the middle were left out to keep this short" if omitted else "")
        + ". Treat them as our conversation so far, then answer the new message at the end.]\n",
        blocks[0],
    ]
    if omitted:
        parts.append(f"[… {omitted} earlier turn(s) left out …]\n")
    parts += kept_tail
    parts.append(f"--- end of earlier conversation ---\n\nNew message:\n{prompt}")
    return "\n".join(parts), omitted
