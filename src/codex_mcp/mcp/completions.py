"""Argument completion (completion/complete) for the prompts and the resource templates: conversation ids (live
first, then the most recently active), git branches for a review's base, turn numbers of a conversation."""

from __future__ import annotations

import logging
import os

from mcp_types import CompleteRequestParams, CompleteResult, Completion, PromptReference

from ..codex.review import git
from ..conversations.listing import ListQuery
from ..conversations.manager import Manager
from ..errors import InvalidInput
from .context import RequestCtx as Ctx
from .context import manager_of, protocol_errors
from .uris import CONVERSATION_TEMPLATE, PAGE_TEMPLATE

MAX_VALUES = 100
"""The most values one completion may carry (the MCP spec's limit)."""

log = logging.getLogger(__name__)


@protocol_errors
async def complete(ctx: Ctx, params: CompleteRequestParams) -> CompleteResult:
    """completion/complete: what the argument being typed can be, matching what has been typed so far."""
    ref, name, typed = params.ref, params.argument.name, params.argument.value
    given = (params.context.arguments if params.context else None) or {}
    if isinstance(ref, PromptReference):
        if ref.name == "review" and name == "base":
            return _completion(await branches(os.getcwd(), typed))
        if ref.name == "continue" and name == "conversationId":
            return conversation_ids(manager_of(ctx), typed)
    elif ref.uri in (CONVERSATION_TEMPLATE, PAGE_TEMPLATE):
        if name == "conversationId":
            return conversation_ids(manager_of(ctx), typed)
        if name == "from_turn" and given.get("conversationId"):
            turns = len(manager_of(ctx).get(given["conversationId"]).turns)
            return _completion([str(n) for n in range(1, turns + 1) if str(n).startswith(typed)])
    return _completion([])


def _completion(values: list[str], total: int | None = None) -> CompleteResult:
    total = len(values) if total is None else total
    shown = values[:MAX_VALUES]
    return CompleteResult(completion=Completion(values=shown, total=total, has_more=total > len(shown)))


def conversation_ids(manager: Manager, typed: str) -> CompleteResult:
    """Ids starting with what was typed, live conversations first, then the most recently active."""
    prefix = typed.strip().lower()
    page = manager.listing(ListQuery(limit=MAX_VALUES, id_prefix=prefix or None))
    return _completion([e.summary.id for e in page.entries], page.total)


async def branches(cwd: str, typed: str) -> list[str]:
    """Local branches, then remote ones, whose name starts with what was typed (none outside a git repository)."""
    try:
        code, out, _ = await git(cwd, "for-each-ref", "--format=%(refname)", "refs/heads", "refs/remotes")
    except InvalidInput as exc:  # no git, or it took too long: no suggestions, not an error
        log.info("no branch completion: %s", exc)
        return []
    return _ordered(out.split(), typed) if code == 0 else []


def _ordered(refs: list[str], typed: str) -> list[str]:
    """Branch names matching typed: local branches first, then remote ones (origin/main), each in git's order; a
    remote's HEAD alias left out."""
    local = [r.removeprefix("refs/heads/") for r in refs if r.startswith("refs/heads/")]
    remote = [
        r.removeprefix("refs/remotes/") for r in refs if r.startswith("refs/remotes/") and not r.endswith("/HEAD")
    ]
    return [n for n in local + remote if n.startswith(typed)]
