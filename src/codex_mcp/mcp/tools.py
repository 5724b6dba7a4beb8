"""The MCP tools: one module-level async function per tool, registered on the server by server.py. Each takes
the call's Context, asks the manager, and returns a typed result (models.py) as structured content and text.
tool_errors maps our typed errors to MCP tool errors, in one place; the waiter is how a call that sent a turn
waits for it (progress notifications, approval questions to the client, interrupting on cancellation)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, ParamSpec

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field, JsonValue, WithJsonSchema

from ..codex.review import ReviewRequest
from ..codex.settings import ApprovalPolicy, Effort, LaunchOptions, Sandbox
from ..codex.tui import is_activity_line
from ..codex.versions import SUPPORTED_VERSIONS, version_support
from ..config import DEFAULT_TIMEOUT_S
from ..conversations.conversation import Conversation
from ..conversations.inputs import check_cwd
from ..conversations.listing import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, ListQuery, ListState
from ..conversations.manager import Manager
from ..conversations.waiting import Waiter
from ..errors import CodexMcpError
from ..session.approvals import Decision
from ..turn import Turn, TurnStatus
from .context import Caller, Forwarded, caller_of, manager_of, state_of, tool_errors
from .context import ToolCtx as Ctx
from .forwarding import forward_start, forwardable, startable
from .results import (
    STALL_HINT_S,
    ApproveResult,
    AttachInfo,
    CompactResult,
    EndResult,
    ForkResult,
    InterruptResult,
    ListResult,
    ReplyResult,
    ReviewResult,
    RewindResult,
    ServerInfo,
    StartResult,
    StatusResult,
    attach_info,
    conversation_info,
    result,
    status_result,
)
from .transcript import TranscriptResult, transcript_result

P = ParamSpec("P")

log = logging.getLogger(__name__)

CONFIG_SCHEMA: dict[str, JsonValue] = {
    "type": "object",
    "additionalProperties": {
        "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "array"}, {"type": "object"}]
    },
}
"""What `config` holds: dotted Codex config keys to TOML-able values (null is not one)."""

TIMEOUT_DOC = (
    f"Seconds to wait for the reply (default {DEFAULT_TIMEOUT_S:g}). When it expires the turn keeps running "
    "and the result says status 'running'; collect it with codex_status. 0: return at once and let the turn run "
    "in the background (codex_status(wait_s=...) collects it, codex_interrupt stops it)."
)

IMAGES_DOC = (
    "Absolute paths of images (PNG, JPEG, GIF, WebP; at most 20 MB each, 10 per prompt) sent to the model with "
    "this prompt, as a person attaches them in Codex"
)

EFFORT_DOC = (
    "Codex's reasoning effort for this conversation (model_reasoning_effort; default: Codex's config). Which "
    "levels a model accepts is the model's business: Codex reports a level it refuses as the turn's error"
)


# --- how a call waits for its turn ---------------------------------------------------------------


def one_line_status(conv: Conversation, turn: Turn, elapsed: float) -> str:
    """What a progress notification says: the turn, its state, and Codex's own activity line (e.g.
    "Working (12s • esc to interrupt)"), not the footer."""
    doing = ""
    for line in reversed(conv.screen_tail(20)):
        if is_activity_line(line):
            doing = " · " + line.strip(" •◦")
            break
    quiet = conv.quiet_s
    if quiet is not None and quiet >= STALL_HINT_S:
        doing += f" · no progress from Codex for {quiet:.0f}s"
    return f"turn {turn.index} {turn.status.value} for {elapsed:.0f}s{doing}"


async def ask_client(caller: Caller, conv: Conversation) -> Decision | None:
    """Ask the person behind the client (MCP elicitation) what to answer Codex; None if they don't say."""
    request = conv.pending_approval
    message = request.message() if request is not None else "Codex asks for approval:\n" + "\n".join(conv.screen_tail())
    return await caller.ask(f"Codex ({conv.options.cwd}) asks:\n{message}")


def make_waiter(ctx: Ctx | Forwarded, manager: Manager, *, owns_turn: bool = True) -> Waiter:
    """How a tool call waits: progress notifications at an interval (a client's idle watchdog resets on
    them), an approval question to the client when it can answer one, and, for the call that sent the turn
    (owns_turn), an interrupt of the turn if the client cancels the call. Cancelling a mere codex_status wait
    (a client's own request timeout, say) leaves the turn alone."""
    interval = manager.settings.progress_interval_s
    caller = caller_of(ctx)
    can_elicit = caller.can_elicit

    async def wait(conv: Conversation, turn: Turn, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        asked = False
        if owns_turn:
            await caller.waiting(conv, turn)
        try:
            while not turn.settled:
                remaining = timeout - (loop.time() - began)
                if remaining <= 0:
                    return
                await turn.wait(min(remaining, interval))
                if turn.status == TurnStatus.WAITING_FOR_APPROVAL:
                    if not can_elicit or asked:
                        return
                    asked = True
                    if not await _settle_through_client(caller, manager, conv, max(0.1, remaining)):
                        return
                    continue
                if not turn.settled:
                    elapsed = loop.time() - began
                    await conv.fresh_screen()  # the line quotes Codex's activity line from it
                    await caller.progress(elapsed, one_line_status(conv, turn, elapsed))
        except asyncio.CancelledError:
            # The client gave up on the call that sent this turn: stop the turn, or take it back if it has
            # not reached Codex yet.
            if owns_turn:
                conv.withdraw_or_interrupt(turn)
            raise

    return wait


async def _settle_through_client(caller: Caller, manager: Manager, conv: Conversation, timeout: float) -> bool:
    """Ask the client what to answer the approval and give Codex the answer; False when the caller should get
    the approval instead (no decision, no answer in time, or a choice Codex does not offer)."""
    try:
        async with asyncio.timeout(timeout):
            decision = await ask_client(caller, conv)
        if decision is None:
            return False  # the person did not decide: Codex keeps waiting, the caller hears about it
        await manager.answer_approval(conv, decision)
    except (MCPError, CodexMcpError, TimeoutError) as exc:
        # e.g. a 2026-07-28 connection (no server-to-client requests inside a tool call), no answer in time, or a
        # choice Codex does not offer: the caller gets the approval.
        log.info("approval not settled through the client (%s); returning it", exc)
        return False
    return True


# --- the tools -----------------------------------------------------------------------------------

ConversationId = Annotated[str, Field(description="The id codex_start returned")]


@tool_errors
@startable
async def codex_start(
    prompt: Annotated[str, Field(description="The first message to Codex")],
    ctx: Ctx,
    cwd: Annotated[
        str | None, Field(description="Absolute path of the project folder (default: the server's cwd)")
    ] = None,
    model: Annotated[str | None, Field(description="Model name, e.g. 'gpt-5-codex' (default: Codex's config)")] = None,
    profile: Annotated[str | None, Field(description="A Codex config profile name")] = None,
    sandbox: Annotated[Sandbox | None, Field(description="Sandbox for commands Codex runs")] = None,
    approval_policy: Annotated[ApprovalPolicy | None, Field(description="When Codex asks before acting")] = None,
    config: Annotated[
        Annotated[dict[str, JsonValue], WithJsonSchema(CONFIG_SCHEMA)] | None,
        Field(
            description="Codex config overrides, each passed as `-c key=value` "
            '(e.g. {"model_reasoning_effort": "high"})'
        ),
    ] = None,
    timeout_s: Annotated[float | None, Field(description=TIMEOUT_DOC)] = None,
    effort: Annotated[Effort | None, Field(description=EFFORT_DOC)] = None,
    images: Annotated[list[str] | None, Field(description=IMAGES_DOC)] = None,
) -> Annotated[CallToolResult, StartResult]:
    """Start a conversation with OpenAI Codex (the Codex CLI coding agent) in a project folder: ask a question, get
    a second opinion, or delegate a coding task, and get Codex's first reply. The result's conversationId continues
    it with codex_reply (also after restarts) and identifies it for codex_status and codex_end."""
    given = {name: value for name, value in locals().items() if name != "ctx"}  # the call's arguments, as sent
    began = time.monotonic()
    manager = manager_of(ctx)
    options = LaunchOptions(
        cwd=check_cwd(cwd),
        model=model or None,
        profile=profile or None,
        sandbox=sandbox,
        approval_policy=approval_policy,
        config=dict(config or {}),
        effort=effort,
    )
    if not isinstance(ctx, Forwarded) and (keeper := manager.spare_elsewhere(options)) is not None:
        # Another window's server keeps a warm spare for these settings: the start is quicker there, and the
        # conversation is reachable from here all the same.
        # The folder as resolved here: the keeper's own default folder may be another.
        started = await forward_start(manager, keeper, {**given, "cwd": options.cwd}, caller_of(ctx))
        if started is not None:
            return started
    conv, turn = await manager.start(prompt, options, timeout_s, make_waiter(ctx, manager), images=images)
    budget = manager.settings.reply_budget_chars
    return result(StartResult.of(conv, turn, time.monotonic() - began, budget, cwd=options.cwd))


@tool_errors
@forwardable
async def codex_reply(
    conversationId: ConversationId,  # noqa: N803
    prompt: Annotated[str, Field(description="The next message to Codex")],
    ctx: Ctx,
    timeout_s: Annotated[float | None, Field(description=TIMEOUT_DOC)] = None,
    model: Annotated[
        str | None,
        Field(
            description="Switch the conversation to this model from this turn on (it keeps its context; the "
            "change sticks). If Codex cannot use it, the call is an error and the conversation keeps its model"
        ),
    ] = None,
    effort: Annotated[Effort | None, Field(description=EFFORT_DOC + "; a change sticks for the conversation")] = None,
    images: Annotated[list[str] | None, Field(description=IMAGES_DOC)] = None,
    steer: Annotated[
        bool,
        Field(
            description="Add this prompt to the turn Codex is running (as a person typing into the running Codex "
            "does) instead of queueing a new turn; the result is that turn's reply. With no turn running it is "
            "an ordinary reply"
        ),
    ] = False,
) -> Annotated[CallToolResult, ReplyResult]:
    """Continue a Codex conversation: send the next message and get Codex's reply; Codex remembers the whole
    conversation. Calls on one conversation run in the order they arrive; one made while a turn runs is queued
    behind it. A conversation whose Codex is gone (server restart, crash, codex_end, idle) is brought back first:
    its Codex thread is resumed with the original settings, or its history is replayed into a new session."""
    began = time.monotonic()
    manager = manager_of(ctx)
    waiter = make_waiter(ctx, manager)
    conv, turn, steered = await manager.reply(
        conversationId, prompt, timeout_s, waiter, model=model or None, effort=effort, images=images, steer=steer
    )
    budget = manager.settings.reply_budget_chars
    return result(ReplyResult.of(conv, turn, time.monotonic() - began, budget, recovery=turn.recovery, steered=steered))


@tool_errors
@forwardable
async def codex_fork(
    conversationId: Annotated[str, Field(description="The conversation to branch from")],  # noqa: N803
    prompt: Annotated[str, Field(description="The first message of the new branch")],
    ctx: Ctx,
    at_turn: Annotated[
        int | None,
        Field(
            ge=1,
            description="Branch after this turn (1-based, as results number them): the new conversation holds the "
            "turns up to and including it. Default: the whole conversation",
        ),
    ] = None,
    model: Annotated[str | None, Field(description="Model for the new conversation (default: the original's)")] = None,
    effort: Annotated[Effort | None, Field(description=EFFORT_DOC + "; default: the original's")] = None,
    timeout_s: Annotated[float | None, Field(description=TIMEOUT_DOC)] = None,
) -> Annotated[CallToolResult, ForkResult]:
    """Branch a Codex conversation: a new conversation (its own conversationId) whose Codex thread holds the
    original's history, all of it or up to at_turn, then answers prompt. The original is not touched and goes on by
    itself. Use it to try another approach from an earlier point without losing the first."""
    began = time.monotonic()
    manager = manager_of(ctx)
    conv, turn, parent = await manager.fork(
        conversationId, prompt, at_turn, timeout_s, make_waiter(ctx, manager), model=model or None, effort=effort
    )
    budget = manager.settings.reply_budget_chars
    fields = {"recovery": turn.recovery, "forked_from": parent.id, "forked_at_turn": conv.forked_at_turn or 0}
    return result(ForkResult.of(conv, turn, time.monotonic() - began, budget, **fields))


@tool_errors
@forwardable
async def codex_rewind(
    conversationId: Annotated[str, Field(description="The conversation to rewind")],  # noqa: N803
    to_turn: Annotated[
        int,
        Field(
            ge=0,
            description="Go on from after this turn (1-based; 0: from the start): every later turn is taken out of "
            "Codex's thread and no longer reaches the model",
        ),
    ],
    ctx: Ctx,
) -> Annotated[CallToolResult, RewindResult]:
    """Undo the last turns of a Codex conversation: the same conversationId goes on from after to_turn, and the
    later turns no longer reach the model (Codex's own revert of its thread). The transcript keeps them, marked
    rewound. Files Codex changed in them stay as they are."""
    conv, rewound = await manager_of(ctx).rewind(conversationId, to_turn)
    return result(
        RewindResult(
            conversationId=conv.id,
            to_turn=to_turn,
            rewound=[t.index for t in rewound],
            thread_id=conv.thread_id,
            state=conv.state.value,
        )
    )


@tool_errors
@forwardable
async def codex_compact(
    conversationId: Annotated[str, Field(description="The conversation to compact")],  # noqa: N803
    ctx: Ctx,
    timeout_s: Annotated[float | None, Field(description=TIMEOUT_DOC)] = None,
) -> Annotated[CallToolResult, CompactResult]:
    """Have Codex compact a long conversation (its /compact): the model summarises the thread, and later turns
    start from that summary and the conversation's own messages instead of the whole history, so a long
    conversation stays within the context window. Same conversationId; the result says how the context changed."""
    began = time.monotonic()
    manager = manager_of(ctx)
    conv, turn, found = await manager.compact(conversationId, timeout_s, make_waiter(ctx, manager))
    budget = manager.settings.reply_budget_chars
    fields: dict[str, object] = {"compacted": found is not None, "recovery": turn.recovery}
    if found is not None:
        fields |= {"context_tokens_before": found.tokens_before, "context_tokens_after": found.tokens_after}
    return result(CompactResult.of(conv, turn, time.monotonic() - began, budget, **fields))


@tool_errors
@forwardable
async def codex_status(
    conversationId: Annotated[str, Field(description="The conversation to look at")],  # noqa: N803
    ctx: Ctx,
    wait_s: Annotated[float, Field(description="Wait up to this many seconds for the turn to finish")] = 0,
    turn: Annotated[
        int | None, Field(description="A turn number (from an earlier result) to show instead of the latest")
    ] = None,
    offset: Annotated[
        int, Field(ge=0, description="Show the reply from this character on (to read a truncated reply)")
    ] = 0,
) -> Annotated[CallToolResult, StatusResult]:
    """Check on a Codex conversation: its state, its latest reply and Codex's screen; optionally wait for a
    running turn. Use it to collect a reply after a call returned status 'running' or 'queued'."""
    manager = manager_of(ctx)
    conv, shown = await manager.status(conversationId, wait_s, turn, make_waiter(ctx, manager, owns_turn=False))
    budget = manager.settings.reply_budget_chars
    here = ServerInfo(pid=os.getpid(), client=manager.conversations.store.client)
    return result(status_result(conv, shown, latest=turn is None, budget=budget, offset=offset, server=here))


@tool_errors
@forwardable
async def codex_interrupt(
    conversationId: Annotated[str, Field(description="The conversation whose running turn to stop")],  # noqa: N803
    ctx: Ctx,
) -> Annotated[CallToolResult, InterruptResult]:
    """Stop the turn Codex is running (like pressing Esc). The conversation stays usable for codex_reply."""
    conv, turn, interrupted = await manager_of(ctx).interrupt(conversationId)
    return result(
        InterruptResult(
            conversationId=conv.id,
            interrupted=interrupted,
            turn=turn.index if turn else None,
            status=turn.status.value if turn else None,
            state=conv.state.value,
        )
    )


@tool_errors
@forwardable
async def codex_approve(
    conversationId: Annotated[str, Field(description="The conversation waiting for approval")],  # noqa: N803
    decision: Annotated[
        Decision,
        Field(
            description="approve: run it this once. approve_for_session: allow it for the rest of this session, "
            "only where Codex offers that (Codex 0.169 does not). approve_always: run it and let Codex stop asking "
            "for this kind of action (Codex saves a lasting rule; only if the user said so). deny: do not run it "
            "(Codex stops the turn)"
        ),
    ],
    ctx: Ctx,
    timeout_s: Annotated[float | None, Field(description=TIMEOUT_DOC)] = None,
) -> Annotated[CallToolResult, ApproveResult]:
    """Answer the approval Codex is waiting for (status 'waiting_for_approval': a command or change it wants to
    make), then wait for the turn. Only answer with what the user decided: never approve on the user's behalf."""
    began = time.monotonic()
    manager = manager_of(ctx)
    conv, turn = await manager.approve(conversationId, decision, timeout_s, make_waiter(ctx, manager))
    budget = manager.settings.reply_budget_chars
    return result(ApproveResult.of(conv, turn, time.monotonic() - began, budget, decision=decision))


@tool_errors
@forwardable
async def codex_end(
    conversationId: Annotated[str, Field(description="The conversation to end")],  # noqa: N803
    ctx: Ctx,
) -> Annotated[CallToolResult, EndResult]:
    """End a Codex conversation's session: Codex exits and nothing is left running. It stays listed as ended,
    and codex_reply can still bring it back later."""
    conv = await manager_of(ctx).end(conversationId)
    info = conv.exit_info
    return result(
        EndResult(
            conversationId=conv.id,
            ended=not conv.live,
            state=conv.state.value,
            reason=conv.end_reason,
            exit=info.describe() if info else None,
        )
    )


@tool_errors
@forwardable
async def codex_attach_info(
    conversationId: Annotated[str, Field(description="The conversation a person wants to see")],  # noqa: N803
    ctx: Ctx,
) -> Annotated[CallToolResult, AttachInfo]:
    """The command a person runs in their own terminal to watch this conversation's live Codex, or take the
    keyboard (hand it to the user when they want to see what Codex is doing or help it)."""
    manager, control = state_of(ctx).running()
    return result(attach_info(manager.get(conversationId), manager.settings, control.path))


@tool_errors
async def codex_list(
    ctx: Ctx,
    limit: Annotated[
        int, Field(ge=1, le=MAX_LIST_LIMIT, description="Conversations per page (default 20)")
    ] = DEFAULT_LIST_LIMIT,
    cursor: Annotated[
        str | None, Field(description="The next_cursor of the previous page, to read on (same filters)")
    ] = None,
    state: Annotated[
        ListState | None, Field(description="live: only those a Codex session runs now; ended: only the others")
    ] = None,
    cwd: Annotated[str | None, Field(description="Only conversations working in this folder or below it")] = None,
    text: Annotated[str | None, Field(description="Only conversations whose first prompt contains this text")] = None,
) -> Annotated[CallToolResult, ListResult]:
    """List Codex conversations (also from earlier runs and other windows), a page at a time: live ones first,
    then the most recently active; filter by state, folder or text. Each entry is a summary; read one with
    codex_transcript."""
    manager = manager_of(ctx)
    page = manager.listing(ListQuery(limit=limit, cursor=cursor, state=state, cwd=cwd, text=text))
    return result(
        ListResult(
            conversations=[conversation_info(e) for e in page.entries],
            total=page.total,
            next_cursor=page.next_cursor,
            codex_version=manager.launcher.codex_version,
            codex_support=version_support(manager.launcher.codex_version),
            codex_supported_versions=list(SUPPORTED_VERSIONS),
            state_problems=manager.load_problems,
        )
    )


@tool_errors
@forwardable
async def codex_transcript(
    conversationId: Annotated[str, Field(description="The conversation to read")],  # noqa: N803
    ctx: Ctx,
    from_turn: Annotated[int, Field(ge=1, description="First turn to show (1-based)")] = 1,
    limit: Annotated[int, Field(ge=1, le=100, description="Turns per page (default 10)")] = 10,
) -> Annotated[CallToolResult, TranscriptResult]:
    """Read a Codex conversation's transcript (each turn's prompt and reply) a page at a time, also of an old or
    ended conversation. Pages stay within the output budget; next_turn reads on."""
    manager = manager_of(ctx)
    budget = manager.settings.reply_budget_chars
    return result(transcript_result(manager.get(conversationId), from_turn, limit, budget))


@tool_errors
async def codex_review(
    ctx: Ctx,
    cwd: Annotated[
        str | None, Field(description="Absolute path of a folder in the git repository (default: the server's cwd)")
    ] = None,
    base: Annotated[str | None, Field(description="Review the changes against this branch (e.g. 'main')")] = None,
    commit: Annotated[str | None, Field(description="Review the changes this commit introduced (a SHA)")] = None,
    instructions: Annotated[
        str | None, Field(description="What the reviewer should focus on or challenge (e.g. 'the error handling')")
    ] = None,
    model: Annotated[str | None, Field(description="Model name (default: Codex's config)")] = None,
    effort: Annotated[Effort | None, Field(description=EFFORT_DOC)] = None,
    timeout_s: Annotated[float | None, Field(description=TIMEOUT_DOC)] = None,
) -> Annotated[CallToolResult, ReviewResult]:
    """Code review by Codex's own reviewer, a second opinion on changes in a git repository: the uncommitted
    changes (staged, unstaged, untracked; the default), a branch against its base, or one commit. Read-only;
    returns the findings. The result is a conversation: ask follow-ups about the findings with codex_reply on its
    conversationId."""
    began = time.monotonic()
    manager = manager_of(ctx)
    options = LaunchOptions(cwd=check_cwd(cwd), model=model or None, effort=effort)
    request = ReviewRequest(options, base=base, commit=commit, instructions=instructions)
    conv, turn, run = await manager.review(request, timeout_s, make_waiter(ctx, manager))
    budget = manager.settings.reply_budget_chars
    fields = ReviewResult.fields_of(run.output)
    return result(
        ReviewResult.of(
            conv, turn, time.monotonic() - began, budget, cwd=options.cwd, target=run.target.label, **fields
        )
    )


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the server registers it: the function (name, schema and description come from it), a title for
    people, and hints for clients."""

    fn: Callable[..., Awaitable[CallToolResult]]
    title: str
    annotations: ToolAnnotations

    @property
    def description(self) -> str:
        """The docstring on one line: indentation and line breaks are tokens every client pays for."""
        return " ".join((self.fn.__doc__ or "").split())


def _hints(
    *, read_only: bool = False, destructive: bool = False, idempotent: bool = False, open_world: bool = False
) -> ToolAnnotations:
    """Every hint spelled out (the spec's defaults for a tool without hints are the most alarming ones). A tool
    that makes Codex act is neither idempotent nor closed: Codex runs commands, edits files and may reach the
    network."""
    return ToolAnnotations(
        read_only_hint=read_only,
        destructive_hint=destructive,
        idempotent_hint=idempotent or read_only,
        open_world_hint=open_world,
    )


READ_ONLY = _hints(read_only=True)
"""For tools that change nothing: Codex's MCP client (0.169+) runs them without asking for approval, also under
`codex exec`. The other tools start, steer or end Codex sessions, so a client asks before each call."""
ACTS = _hints(destructive=True, open_world=True)
"""For tools after which Codex works: it may run commands, change files and reach the network."""

TOOLS: list[ToolSpec] = [
    ToolSpec(codex_start, "Start a Codex conversation", ACTS),
    ToolSpec(codex_reply, "Reply in a Codex conversation", ACTS),
    ToolSpec(codex_status, "Codex conversation status", READ_ONLY),
    ToolSpec(codex_interrupt, "Interrupt Codex", _hints(idempotent=True)),
    ToolSpec(codex_approve, "Answer a Codex approval", ACTS),
    ToolSpec(codex_end, "End a Codex conversation", _hints(idempotent=True)),
    ToolSpec(codex_attach_info, "Watch or take over a live Codex", READ_ONLY),
    ToolSpec(codex_list, "List Codex conversations", READ_ONLY),
    ToolSpec(codex_transcript, "Read a Codex transcript", READ_ONLY),
    ToolSpec(codex_review, "Codex code review", _hints(open_world=True)),
    ToolSpec(codex_fork, "Branch a Codex conversation", ACTS),
    ToolSpec(codex_rewind, "Rewind a Codex conversation", _hints(destructive=True)),
    ToolSpec(codex_compact, "Compact a Codex conversation", _hints(open_world=True)),
]
"""Every tool, in the order clients list them."""

_PARAMETERS = {
    spec.fn.__name__: frozenset(p for p in inspect.signature(spec.fn).parameters if p != "ctx") for spec in TOOLS
}


async def reject_unknown_arguments(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Server middleware: a tools/call with an argument the tool does not take is a tool error naming it. The SDK
    would drop it silently, and a client that sent model= to a tool without one would never learn it was ignored."""
    params = ctx.params or {}
    known = _PARAMETERS.get(str(params.get("name"))) if ctx.method == "tools/call" else None
    arguments = params.get("arguments")
    unknown = sorted(set(arguments) - known) if known is not None and isinstance(arguments, dict) else []
    if not unknown:
        return await call_next(ctx)
    names = ", ".join(repr(n[:80]) for n in unknown[:10])
    message = (
        f"Error executing tool {params.get('name')}: it does not take {names}; its arguments are "
        f"{', '.join(sorted(known or ()))}. Remove the unknown argument(s) and call again"
    )
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)
