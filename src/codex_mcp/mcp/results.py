"""Tool results as pydantic models (they become each tool's outputSchema and structuredContent), and the
matching human-readable text. Field names are a contract with clients: change them only additively."""

from __future__ import annotations

import shlex
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Self

from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from ..codex.review import ReviewOutput
from ..codex.settings import LaunchOptions
from ..codex.versions import VersionSupport
from ..config import Settings
from ..conversations.conversation import Conversation
from ..conversations.listing import Listed
from ..ending import Ending
from ..session.approvals import ApprovalRequest
from ..storage.store import Holder
from ..turn import Turn, TurnStatus

TurnStatusName = Literal["queued", "running", "waiting_for_approval", "completed", "failed", "interrupted"]
StateName = Literal["starting", "idle", "running", "waiting_for_approval", "ended", "exited"]


def iso(ts: float) -> str:
    """A UTC ISO-8601 timestamp."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


STALL_HINT_S = 60.0
"""Quiet this long while a turn runs, a result says the model may have stalled (a real turn that thinks long still
streams reasoning or runs commands within a minute)."""

_NEXT_STEP = {
    "running": "The turn is still running: call codex_status with wait_s to collect the reply.",
    "queued": "The turn waits behind an earlier one: call codex_status with wait_s to collect the reply.",
    "waiting_for_approval": "Codex is waiting for an approval decision.",
}


class Result(BaseModel):
    """A tool result: its fields are the structured content, text() the same for a person (or a model) to read."""

    def text(self) -> str:
        """The result as text content."""
        return self.model_dump_json()


class Approval(BaseModel):
    """What Codex asks before it goes on."""

    question: str
    command: str | None = None
    reason: str | None = None
    choices: list[str] = Field(description="The options Codex shows, with their keys")

    @classmethod
    def of(cls, request: ApprovalRequest | None) -> Approval:
        """The dialog as a result shows it (a generic question when the dialog is not drawn yet)."""
        if request is None:
            return cls(question="Codex is waiting for a decision (see the screen lines)", choices=[])
        return cls(
            question=request.question,
            command=request.command,
            reason=request.reason,
            choices=request.choice_labels(),
        )

    def text(self) -> str:
        """What to ask the user, and how to answer."""
        return (
            "Approval requested: "
            + self.question
            + (f"\nCommand: {self.command}" if self.command else "")
            + (f"\nReason: {self.reason}" if self.reason else "")
            + (f"\nChoices: {'; '.join(self.choices)}" if self.choices else "")
            + "\nAsk the user, then answer with codex_approve(conversationId, decision='approve' | 'deny' | "
            "'approve_always')."
        )


class TurnResult(Result):
    """The outcome of sending a prompt (codex_start, codex_reply, codex_approve)."""

    conversationId: str = Field(description="Codex's thread id; pass it to codex_reply/codex_status/codex_end")  # noqa: N815
    status: TurnStatusName = Field(
        description="completed: reply holds Codex's final message. running/queued: the turn goes on, "
        "collect it with codex_status(wait_s=...). waiting_for_approval: Codex asks for a decision. "
        "failed/interrupted: see error"
    )
    reply: str | None = Field(description="Codex's final agent message for this turn, when completed")
    reply_chars: int | None = Field(default=None, description="Length of the whole reply")
    reply_truncated: bool = Field(
        default=False, description="The reply was longer than the output budget; page it with codex_status(offset)"
    )
    turn: int = Field(description="1-based number of this turn in the conversation")
    turn_id: str | None = Field(default=None, description="Codex's own id for the turn")
    state: StateName = Field(description="The conversation's state now")
    error: str | None = Field(default=None, description="Why the turn failed, when it did")
    screen: list[str] | None = Field(default=None, description="The last lines of Codex's screen, when not completed")
    approval: Approval | None = Field(default=None, description="What Codex asks, when waiting_for_approval")
    thread_id: str | None = Field(default=None, description="The Codex thread that ran this turn")
    input_holder: str | None = Field(
        default=None, description="A person at the keyboard (attached terminal): turns wait until they detach"
    )
    elapsed_s: float = Field(description="Seconds this call took")
    notices: list[str] = Field(
        default_factory=list,
        description="What Codex offered when this call started its session (e.g. a newer model), said once per "
        "conversation; codex-mcp kept the conversation's settings",
    )

    @classmethod
    def of(cls, conv: Conversation, turn: Turn, elapsed_s: float, budget: int, **extra: object) -> Self:
        """The result of a call that sent (or answered) this turn, after elapsed_s seconds; the reply within the
        output budget. extra: the fields a kind of turn result adds."""
        return cls.model_validate({**turn_fields(conv, turn, elapsed_s, budget), **extra})

    def text(self) -> str:
        """The reply first, then a short summary of the rest and the next step."""
        meta = f"[conversationId: {self.conversationId} · turn {self.turn} · status: {self.status}]"
        parts = [self.reply, meta] if self.reply else [meta]
        if self.error:
            parts.append(f"Error: {self.error}")
        if self.status in _NEXT_STEP:
            parts.append(_NEXT_STEP[self.status])
        if self.input_holder:
            parts.append(f"{self.input_holder} is at the keyboard: this turn waits until they detach.")
        if self.approval is not None:
            parts.append(self.approval.text())
        parts.extend(f"Notice: {n}" for n in self.notices)
        parts.extend(self._more())
        if self.screen:
            parts.append("Screen:\n" + "\n".join(self.screen))
        return "\n\n".join(parts)

    def _more(self) -> list[str]:
        """What a kind of turn result adds before the screen lines."""
        return []


class StartResult(TurnResult):
    """Result of codex_start."""

    cwd: str


class ReplyResult(TurnResult):
    """Result of codex_reply."""

    recovery: Literal["live", "resumed", "replayed"] = Field(
        default="live",
        description="How the conversation's Codex session was reached for this turn: live (it was running), "
        "resumed (codex resume of its thread, settings re-applied), replayed (a fresh session given the history)",
    )

    steered: bool = Field(
        default=False,
        description="The prompt was added to the turn Codex was running (steer) instead of starting a new one: "
        "turn and reply are that turn's",
    )

    def _more(self) -> list[str]:
        more = ["Steered: the prompt was added to the running turn."] if self.steered else []
        if self.recovery != "live":
            more.append(f"Recovery: {self.recovery} (Codex thread {self.thread_id}).")
        return more


class ForkResult(ReplyResult):
    """Result of codex_fork: the new conversation and its first turn of its own."""

    forked_from: str = Field(description="The conversation it was forked from, which goes on untouched")
    forked_at_turn: int = Field(description="The last turn of that conversation the fork's thread holds")

    def _more(self) -> list[str]:
        return [
            f"Forked from {self.forked_from} through its turn {self.forked_at_turn}: a new conversation "
            "(this conversationId); the original goes on by itself."
        ]


class RewindResult(Result):
    """Result of codex_rewind."""

    conversationId: str  # noqa: N815
    to_turn: int = Field(description="The conversation goes on from after this turn")
    rewound: list[int] = Field(
        description="The turns taken out of the thread: they no longer reach the model; codex_transcript and the "
        "resource still show them, marked rewound"
    )
    thread_id: str = Field(description="The Codex thread that backs the conversation now")
    state: StateName

    def text(self) -> str:
        """Which turns went, and what happens next."""
        turns = ", ".join(str(n) for n in self.rewound)
        return (
            f"Conversation {self.conversationId} rewound to after turn {self.to_turn}: turn(s) {turns} no longer "
            f"reach the model (the transcript keeps them, marked rewound). Codex thread {self.thread_id}; the next "
            "codex_reply goes on from there. Files Codex changed in those turns are not changed back."
        )


class CompactResult(TurnResult):
    """Result of codex_compact: Codex's compaction, run as a turn of the conversation."""

    compacted: bool = Field(description="Codex compacted the thread")
    recovery: Literal["live", "resumed", "replayed"] = Field(
        default="live", description="live: on the running session; resumed: its thread was resumed first"
    )
    context_tokens_before: int | None = Field(
        default=None, description="Tokens of the context the model was last sent before the compaction"
    )
    context_tokens_after: int | None = Field(
        default=None, description="Codex's count of the context the next turn starts from"
    )

    def _more(self) -> list[str]:
        if not self.compacted:
            return []
        sizes = ""
        if self.context_tokens_before is not None and self.context_tokens_after is not None:
            sizes = f" (context: {self.context_tokens_before} tokens before, {self.context_tokens_after} after)"
        return [
            f"Compacted{sizes}: the next turn's context is this summary and the conversation's own messages "
            "instead of the whole thread."
        ]


class ReviewFinding(BaseModel):
    """One finding of Codex's reviewer."""

    title: str = Field(description="What is wrong, tagged with its priority (e.g. '[P1] ...')")
    body: str = Field(description="Why it is a problem (Markdown)")
    priority: int | None = Field(default=None, description="0 (P0: drop everything) to 3 (P3: nice to have)")
    confidence: float | None = Field(default=None, description="The reviewer's confidence, 0.0 to 1.0")
    file: str | None = Field(default=None, description="The file it is in (absolute path)")
    line_start: int | None = None
    line_end: int | None = None


class ReviewResult(TurnResult):
    """Result of codex_review: the turn fields (reply: the review as Codex renders it), and its findings."""

    cwd: str
    target: str = Field(description="What was reviewed: 'uncommitted', 'base:<branch>' or 'commit:<sha>'")
    findings: list[ReviewFinding] = Field(
        default_factory=list,
        description="The findings as structured data, when Codex's reviewer returned them (the reply holds them too)",
    )
    verdict: str | None = Field(
        default=None, description="The reviewer's overall verdict: 'patch is correct' or 'patch is incorrect'"
    )
    explanation: str | None = Field(default=None, description="Why the reviewer gave that verdict")
    confidence: float | None = Field(default=None, description="The reviewer's confidence in the verdict")

    @staticmethod
    def fields_of(output: ReviewOutput | None) -> dict[str, object]:
        """The review fields of Codex's structured output (none when it gave none)."""
        if output is None:
            return {}
        return {
            "findings": [ReviewFinding.model_validate(vars(f)) for f in output.findings],
            "verdict": output.verdict,
            "explanation": output.explanation,
            "confidence": output.confidence,
        }

    def _more(self) -> list[str]:
        said = f"Review of {self.target} in {self.cwd}: {len(self.findings)} finding(s)"
        if self.verdict:
            said += f"; verdict: {self.verdict}" + (f" (confidence {self.confidence:g})" if self.confidence else "")
        return [said + ". Ask follow-ups with codex_reply on this conversationId."]


class ApproveResult(TurnResult):
    """Result of codex_approve."""

    decision: str


class InterruptResult(Result):
    """Result of codex_interrupt."""

    conversationId: str  # noqa: N815
    interrupted: bool = Field(description="Whether a running turn was stopped")
    turn: int | None
    status: TurnStatusName | None
    state: StateName

    def text(self) -> str:
        """Which turn was stopped, or that none ran."""
        if not self.interrupted:
            return f"Nothing to interrupt in conversation {self.conversationId} (state: {self.state})."
        return f"Interrupted turn {self.turn} of conversation {self.conversationId} (status: {self.status})."


class StatusResult(Result):
    """Result of codex_status."""

    conversationId: str  # noqa: N815
    state: StateName
    status: TurnStatusName | None = Field(description="Status of the turn shown (the latest unless one was asked for)")
    reply: str | None = Field(description="The latest completed reply, or the asked-for turn's reply")
    reply_chars: int | None = Field(default=None, description="Length of the whole reply")
    reply_offset: int = Field(default=0, description="Where the shown part of the reply starts")
    reply_truncated: bool = Field(default=False, description="More of the reply follows; ask again with offset")
    turn: int | None = Field(description="Number of the turn shown")
    reply_turn: int | None = Field(default=None, description="Number of the turn that `reply` answers")
    turns: int
    error: str | None = None
    end_reason: str | None = None
    thread_id: str = Field(description="The Codex thread that backs the conversation now")
    quiet_s: float | None = Field(
        default=None,
        description="While a turn runs: seconds since Codex last showed progress (a new event in its rollout, or "
        "its screen changing other than the ticking 'Working' line). Long quiet stretches mean the model may "
        "have stalled: codex_interrupt stops the turn",
    )
    model: str | None = Field(default=None, description="The model the conversation asks for (None: Codex's config)")
    effort: str | None = Field(default=None, description="The reasoning effort it asks for (None: Codex's config)")
    input_holder: str | None = Field(default=None, description="A person at the keyboard, if any")
    approval: Approval | None = None
    screen: list[str] = Field(description="The last lines of Codex's screen")
    server: ServerInfo | None = Field(
        default=None, description="The codex-mcp server that runs it live (it answers this call from any window)"
    )
    rewound: list[int] = Field(
        default_factory=list, description="Turns codex_rewind took out of the thread (they no longer reach the model)"
    )
    forked_from: str | None = Field(default=None, description="The conversation this one was forked from (codex_fork)")
    forked_at_turn: int | None = Field(default=None, description="The last turn of that conversation the fork holds")

    def text(self) -> str:
        """The reply first, then the state of the conversation and the turn."""
        shown = f"latest turn {self.turn}: {self.status}" if self.turn is not None else "no turns yet"
        meta = f"[conversationId: {self.conversationId} · state: {self.state} · {shown}]"
        parts = [self.reply, meta] if self.reply else [meta]
        if self.error:
            parts.append(f"Error: {self.error}")
        if self.end_reason:
            parts.append(f"Ended: {self.end_reason}")
        if self.status in _NEXT_STEP:
            parts.append(_NEXT_STEP[self.status])
        if self.quiet_s is not None and self.quiet_s >= STALL_HINT_S:
            parts.append(
                f"Codex has shown no progress for {self.quiet_s:.0f}s: the model may have stalled. Wait longer, or "
                "stop the turn with codex_interrupt and send the prompt again."
            )
        if self.input_holder:
            parts.append(f"{self.input_holder} is at the keyboard: turns wait until they detach.")
        if self.approval is not None:
            parts.append(self.approval.text())
        if self.forked_from:
            parts.append(f"Forked from {self.forked_from} through its turn {self.forked_at_turn}.")
        if self.rewound:
            parts.append(f"Rewound: turn(s) {', '.join(map(str, self.rewound))} no longer reach the model.")
        if self.status in ("running", "queued", "waiting_for_approval") and self.screen:
            parts.append("Screen:\n" + "\n".join(self.screen))
        return "\n\n".join(parts)


class EndResult(Result):
    """Result of codex_end."""

    conversationId: str  # noqa: N815
    ended: bool
    state: StateName
    reason: str | None = None
    exit: str | None = Field(default=None, description="How the Codex process ended")

    def text(self) -> str:
        """Why and how the session ended."""
        return (
            f"Conversation {self.conversationId} ended ({self.reason or 'no reason recorded'}; "
            f"Codex {self.exit or 'was not running'})."
        )


class ServerInfo(BaseModel):
    """The codex-mcp server that runs a conversation live (each client window starts one of its own)."""

    pid: int = Field(description="Its process id")
    client: str | None = Field(default=None, description="The MCP client it serves (name and version), if known")

    @classmethod
    def of(cls, holder: Holder | None) -> ServerInfo | None:
        """From a claim's note (None when no server is named)."""
        return cls(pid=holder.pid, client=holder.client) if holder is not None and holder.pid is not None else None


class ConversationInfo(BaseModel):
    """One conversation in codex_list. Its settings are LaunchOptions' own names (filled by listed_settings), flat
    as clients have always read them."""

    conversationId: str  # noqa: N815
    state: StateName
    cwd: str
    model: str | None
    effort: str | None = None
    profile: str | None = None
    sandbox: str | None = None
    approval_policy: str | None = None
    created_at: str
    last_activity: str
    turns: int
    first_prompt: str = Field(default="", description="The conversation's first prompt, cut to 120 characters")
    end_reason: str | None = Field(default=None, description="Why its last Codex session ended")
    thread_id: str = Field(description="The Codex thread that backs it now (differs from the id after a replay)")
    adopted: bool = Field(default=False, description="Started outside codex-mcp and adopted from its rollout")
    viewers: list[str] = Field(default_factory=list, description="Attached terminals: 'watch' or 'control'")
    input_holder: str | None = Field(default=None, description="A person at the keyboard, if any")
    server: ServerInfo | None = Field(
        default=None,
        description="The codex-mcp server that runs it live (this one or another window's); calls on it from any "
        "window reach that session",
    )

    def line(self) -> str:
        """The conversation in one line of a listing (and its first prompt under it)."""
        return (
            f"{self.conversationId}  {self.state}  turns={self.turns}  last={self.last_activity}  cwd={self.cwd}"
            + (f"  ({self.end_reason})" if self.end_reason else "")
            + (f"  server={self.server.pid}" if self.server else "")
            + (f" ({self.server.client})" if self.server and self.server.client else "")
            + (f"\n    {self.first_prompt}" if self.first_prompt else "")
        )


class AttachInfo(Result):
    """Result of codex_attach_info."""

    conversationId: str  # noqa: N815
    live: bool = Field(description="Whether a live Codex session runs now (attach needs one)")
    command: str = Field(description="Run this in a terminal to take the keyboard (Ctrl-] detaches)")
    watch_command: str = Field(description="Run this to watch without typing")
    socket: str = Field(description="This server's control socket")
    viewers: list[str]
    input_holder: str | None

    def text(self) -> str:
        """The commands to run, or why there is nothing to attach to."""
        if not self.live:
            return f"Conversation {self.conversationId} has no live Codex session now; reply to it first."
        return (
            f"To see Codex in your terminal: {self.command}  (takes the keyboard; Ctrl-] detaches)\n"
            f"To watch only: {self.watch_command}"
        )


class ListResult(Result):
    """Result of codex_list."""

    conversations: list[ConversationInfo] = Field(description="This page: live ones first, then newest activity")
    total: int = Field(description="How many conversations match the filters, over all pages")
    next_cursor: str | None = Field(
        default=None, description="Pass as cursor (with the same filters) for the next page; null on the last"
    )
    codex_version: str | None = Field(default=None, description="The Codex CLI version this server runs")
    codex_support: VersionSupport = Field(
        default="unknown",
        description="Where codex_version stands: supported (in the tested window), newer_untested (newer than "
        "the window: it runs, untested), older_unsupported, or unknown (Codex not found)",
    )
    codex_supported_versions: list[str] = Field(
        default_factory=list, description="The window of Codex versions codex-mcp is tested with"
    )
    state_problems: list[str] = Field(
        default_factory=list, description="State files that could not be read at start (set aside as *.corrupt)"
    )

    def text(self) -> str:
        """One line per conversation (and its first prompt), then how to read on, then any problems."""
        problems = "".join(f"\nState problem: {p}" for p in self.state_problems)
        if self.codex_support in ("newer_untested", "older_unsupported"):
            window = " to ".join(self.codex_supported_versions[:: max(1, len(self.codex_supported_versions) - 1)])
            problems += f"\nCodex {self.codex_version} is {self.codex_support.replace('_', ' ')} (supported: {window})."
        if not self.conversations:
            none = "No conversations match." if self.total else "No conversations yet: call codex_start."
            return none + problems
        more = f"\n[{len(self.conversations)} of {self.total} shown"
        more += f"; next page: codex_list(cursor='{self.next_cursor}')]" if self.next_cursor else "]"
        return "\n".join(c.line() for c in self.conversations) + more + problems


def approval_of(conv: Conversation, turn: Turn | None) -> Approval | None:
    """The approval dialog on screen, when the turn waits for one."""
    if turn is None or turn.status != TurnStatus.WAITING_FOR_APPROVAL:
        return None
    return Approval.of(conv.pending_approval)


def clip_reply(
    conv: Conversation, turn: Turn | None, budget: int, offset: int = 0
) -> tuple[str | None, int | None, bool]:
    """(the part of the turn's reply to show, the reply's length, whether it was cut). A cut part ends with a
    marker that says how to read on, so a client's output limit never cuts a reply silently."""
    reply = turn.reply if turn is not None and turn.status == TurnStatus.COMPLETED else None
    if reply is None:
        return None, None, False
    total = len(reply)
    if offset == 0 and total <= budget:
        return reply, total, False
    end = min(total, offset + budget)
    part = reply[offset:end]
    if end < total:
        part += (
            f"\n\n[codex-mcp: reply truncated: characters {offset}-{end} of {total} shown. Read on with "
            f"codex_status(conversationId='{conv.id}', turn={turn.index if turn else 0}, offset={end})]"
        )
    return part, total, end < total


def turn_fields(conv: Conversation, turn: Turn, elapsed_s: float, budget: int) -> dict[str, object]:
    """The fields every TurnResult subclass shares."""
    done = turn.status == TurnStatus.COMPLETED
    reply, chars, truncated = clip_reply(conv, turn, budget)
    return {
        "conversationId": conv.id,
        "status": turn.status.value,
        "reply": reply,
        "reply_chars": chars,
        "reply_truncated": truncated,
        "turn": turn.index,
        "turn_id": turn.turn_id,
        "state": conv.state.value,
        "error": turn.error,
        "screen": None if done else conv.screen_tail(),
        "approval": approval_of(conv, turn),
        "thread_id": turn.thread_id,
        "input_holder": conv.input_holder,
        "elapsed_s": round(elapsed_s, 3),
        "notices": list(turn.notices),
    }


def status_result(
    conv: Conversation,
    turn: Turn | None,
    *,
    latest: bool = True,
    budget: int,
    offset: int = 0,
    server: ServerInfo | None = None,
) -> StatusResult:
    """codex_status's view of a conversation: one turn's status, and the latest completed reply (or, when a
    turn was asked for by number, that turn's reply), from offset on and within the output budget."""
    answered = conv.latest_completed if latest else (turn if turn is not None and turn.status == "completed" else None)
    reply, chars, truncated = clip_reply(conv, answered, budget, offset)
    return StatusResult(
        conversationId=conv.id or "",
        state=conv.state.value,
        status=turn.status.value if turn else None,
        reply=reply,
        reply_chars=chars,
        reply_offset=offset if reply is not None else 0,
        reply_truncated=truncated,
        turn=turn.index if turn else None,
        reply_turn=answered.index if answered else None,
        turns=len(conv.turns),
        error=turn.error if turn else None,
        end_reason=conv.end_reason,
        thread_id=conv.thread_id,
        quiet_s=conv.quiet_s if turn is not None and turn is conv.current_turn else None,
        model=conv.options.model,
        effort=conv.options.effort,
        input_holder=conv.input_holder,
        approval=approval_of(conv, turn),
        screen=conv.screen_tail(),
        server=server if conv.live else None,
        rewound=[t.index for t in conv.turns if t.rewound_at is not None],
        forked_from=conv.forked_from,
        forked_at_turn=conv.forked_at_turn,
    )


def attach_info(conv: Conversation, settings: Settings, socket: Path) -> AttachInfo:
    """How a person attaches a terminal to this conversation."""
    base = f"codex-mcp attach {conv.id}"
    if settings.state_dir != Settings().state_dir:
        base += f" --state-dir {shlex.quote(str(settings.state_dir))}"
    return AttachInfo(
        conversationId=conv.id,
        live=conv.live,
        command=base,
        watch_command=base + " --watch",
        socket=str(socket),
        viewers=conv.viewer_modes,
        input_holder=conv.input_holder,
    )


def listed_settings(options: LaunchOptions) -> dict[str, Any]:  # Any: each field has its own type
    """A conversation's settings as a listing's fields, named as LaunchOptions names them (all but the config
    overrides, which a listing does not show)."""
    return {name: value for name, value in asdict(options.listed()).items() if name != "config"}


def conversation_info(listed: Listed) -> ConversationInfo:
    """codex_list's view of a conversation: its index summary, and the live session's state when this process
    runs it."""
    s, conv = listed.summary, listed.conversation
    live = conv if conv is not None and conv.live else None
    if live is not None:
        state: StateName = live.state.value
        end_reason = None
    else:
        reason = s.end_reason or "server stopped"
        state = Ending.stored(reason).kind.value  # the index keeps the words only
        end_reason = "live in another codex-mcp process" if listed.elsewhere else reason
    return ConversationInfo(
        conversationId=s.id,
        state=state,
        **listed_settings(s.options),
        created_at=iso(s.created_at),
        last_activity=iso(s.last_activity),
        turns=s.turns,
        first_prompt=s.first_prompt,
        end_reason=end_reason,
        thread_id=s.thread_id,
        adopted=s.adopted,
        viewers=live.viewer_modes if live else [],
        input_holder=live.input_holder if live else None,
        server=ServerInfo.of(listed.holder),
    )


def result(model: Result) -> CallToolResult:
    """A tool result whose structured content and text say the same thing."""
    return CallToolResult(
        content=[TextContent(type="text", text=model.text())],
        structured_content=model.model_dump(mode="json"),
    )
