"""The MCP prompts: ready-made requests a person picks in their client (Claude Code shows them as
/mcp__<server>__<name>), each a user message that leads the client's model to the right tool calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from mcp.server.mcpserver.prompts.base import Prompt
from pydantic import Field

from ..errors import InvalidInput
from .context import ToolCtx as Ctx
from .context import manager_of, protocol_errors
from .results import iso

REPLY_EXCERPT_CHARS = 600
"""How much of a conversation's last reply the continue prompt quotes, so the client's model knows where it stands."""

_COLLECT = (
    "If the result says status 'running' or 'queued', call codex_status with its conversationId and wait_s 50 until "
    "it has settled; never send the request again. If it says 'waiting_for_approval', show the user what Codex asks "
    "and pass on their answer with codex_approve."
)


_WHOLE_TEXT = (
    "Some clients pass only the first word of an argument to a prompt (Claude Code splits what follows a slash "
    "command on spaces): if the text typed after this command says more than the {what} below, use the whole of it."
)


def _argument(text: str | None) -> str:
    return " ".join((text or "").split())


@protocol_errors
async def review(
    base: Annotated[
        str | None,
        Field(description="Branch to review the current branch against (e.g. main); empty: the uncommitted changes"),
    ] = None,
    focus: Annotated[
        str | None, Field(description="What the reviewer should look at or challenge (e.g. error handling)")
    ] = None,
) -> str:
    """Have Codex's own code reviewer review your changes (a second opinion) and show its findings."""
    base, focus = _argument(base), (focus or "").strip()
    target = f"the current branch against '{base}'" if base else "the uncommitted changes (staged, unstaged, untracked)"
    call = "codex_review(cwd=<the repository's top-level folder>" + (f", base={base!r}" if base else "")
    call += ", instructions=<the focus below>)" if focus else ")"
    lines = [
        f"Have Codex review {target} in this git repository, read-only, with the codex_review tool: {call}.",
        _COLLECT,
        "Then show Codex's findings as it gave them (priority, file and line), say which you agree with and why, and "
        "do not change any code unless I ask. Finish with the conversationId: codex_reply on it asks Codex about a "
        "finding or has it fix one.",
    ]
    if focus:
        lines += [_WHOLE_TEXT.format(what="focus"), "", "Focus of the review:", focus]
    return "\n".join(lines)


@protocol_errors
async def ask(
    task: Annotated[str, Field(description="The question for Codex, or the task to delegate to it")],
) -> str:
    """Ask Codex a question or delegate a task to it, in a live Codex conversation you can continue."""
    task = task.strip()
    if not task:
        raise InvalidInput("task is empty: give the question or task for Codex")
    return "\n".join(
        [
            "Ask Codex (OpenAI's coding agent) with the codex_start tool: prompt = the request below, word for word, "
            "and cwd = this project's folder.",
            _COLLECT,
            "Then tell me Codex's answer (and what it changed, if it changed files) and its conversationId; follow-ups "
            "go to the same conversation with codex_reply, where Codex remembers everything before.",
            _WHOLE_TEXT.format(what="request"),
            "",
            "Request for Codex:",
            task,
        ]
    )


@protocol_errors
async def continue_conversation(
    conversationId: Annotated[  # noqa: N803
        str, Field(description="The Codex conversation to continue (completion lists recent ones)")
    ],
    message: Annotated[str, Field(description="What to tell or ask Codex next")],
    ctx: Ctx,
) -> str:
    """Continue a Codex conversation (also an old or ended one) with your next message."""
    conv = manager_of(ctx).get(conversationId)
    message = message.strip()
    if not message:
        raise InvalidInput("message is empty: give what to tell Codex next")
    last = conv.latest_completed
    where = f"Codex conversation {conv.id} ({len(conv.turns)} turn(s), in {conv.options.cwd}, {conv.state.value})"
    lines = [
        f"Continue {where} with the codex_reply tool: conversationId = {conv.id!r}, prompt = the message below, word "
        "for word. It works even if that Codex session ended: the server resumes it.",
        _COLLECT,
        "Then tell me Codex's reply.",
        _WHOLE_TEXT.format(what="message"),
    ]
    if last is not None and last.reply:
        excerpt = last.reply[-REPLY_EXCERPT_CHARS:]
        cut = "…" if len(last.reply) > REPLY_EXCERPT_CHARS else ""
        stamp = iso(last.finished_at or last.submitted_at)
        lines += ["", f"Codex's last reply there (turn {last.index}, {stamp}), for context:", cut + excerpt]
    lines += ["", "Message for Codex:", message]
    return "\n".join(lines)


PROMPTS: list[tuple[Callable[..., Awaitable[str]], str, str]] = [
    (review, "review", "Codex review (second opinion on your changes)"),
    (ask, "ask", "Ask Codex or delegate a task"),
    (continue_conversation, "continue", "Continue a Codex conversation"),
]
"""Every prompt with its name and title, in the order clients list them."""


def prompts() -> list[Prompt]:
    """The prompts as the SDK registers them (MCPServer.add_prompt), descriptions on one line."""
    return [
        Prompt.from_function(fn, name=name, title=title, description=" ".join((fn.__doc__ or "").split()))
        for fn, name, title in PROMPTS
    ]
