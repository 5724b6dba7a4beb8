"""One conversation from every client window: a tool call on a conversation that another codex-mcp server runs
live is passed on to that server, over its control channel, and answered there by the same tool function on the
one live session. Every Claude Code window starts a server of its own; they share the state dir, and a
conversation's claim note (storage/store.py) says which server holds it.

The caller's side (``forwardable``, around each conversation tool): find the holder, send it the call, relay its
progress notifications and approval questions to our own client, and return its result as ours. A cancelled
call closes the connection, and the holder cancels the call there, as it would its own client's (the turn is
withdrawn or interrupted when the cancelled call sent it). If the holder goes away mid-call, the call ends with
its turn's real fate as the record says it (a turn that was running is "not re-run"), and the next call runs
here (resuming the thread). A holder that does not answer is the one case left for ConversationElsewhere.

The holder's side (``answer_call``, the control channel's "call" op): run the tool with a ``Forwarded`` context
whose caller is the connection.

Frames (JSON lines, control/protocol.py): the caller sends ``{"op": "call", "tool": T, "arguments": {...},
"can_elicit": B}``; the holder answers ``{"accepted": true}`` at once, then any number of ``{"progress": [elapsed,
message]}`` and ``{"ask": message}`` (the caller answers ``{"answer": decision | null}``), and last
``{"result": <CallToolResult>}``, ``{"error": message}`` or ``{"not_here": true}`` (it no longer holds the
conversation: run the call where you are).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import time
import typing
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ParamSpec, cast, get_args

import psutil
from mcp_types import CallToolResult
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from ..codex.keys import sanitize_prompt
from ..control import transport
from ..control.protocol import MAX_FRAME, Message, frame
from ..control.server import Link
from ..conversations.conversation import Conversation
from ..conversations.inputs import check_conversation_id
from ..conversations.manager import Manager
from ..errors import CodexMcpError, ConversationElsewhere
from ..session.approvals import Decision
from ..storage.store import Holder
from ..turn import Turn
from .appstate import AppState
from .context import Caller, Forwarded, RequestCtx, ToolCtx, caller_of, manager_of
from .results import ApproveResult, ReplyResult, Result, result

P = ParamSpec("P")
Tool = Callable[..., Awaitable[CallToolResult]]

log = logging.getLogger(__name__)

ANSWER_WITHIN_S = 10.0
"""How long a holder has to accept a call before it counts as not answering (hung)."""
_ATTEMPTS = 10
_LOOK_AGAIN_S = 0.1
"""A call looks for the conversation's holder up to _ATTEMPTS times, this far apart (a conversation handed on
between servers while the call looks for it: the new holder's note is written as it takes the claim)."""

TOOLS: dict[str, tuple[Tool, type[BaseModel]]] = {}
"""The tools a holder runs for another server, by name, each with the model its arguments are checked against
(filled by forwardable): a call on the channel is held to the tool's own signature, as the SDK holds a client's."""


def _arguments_model(tool: Callable[..., object]) -> type[BaseModel]:
    """The tool's parameters but the context, as a model that refuses anything else."""
    hints = typing.get_type_hints(tool, include_extras=True)
    fields: dict[str, Any] = {
        name: (hints[name], ... if p.default is inspect.Parameter.empty else p.default)
        for name, p in inspect.signature(tool).parameters.items()
        if name != "ctx"
    }
    model: type[BaseModel] = create_model(f"{tool.__name__}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
    return model


class HolderGone(CodexMcpError):
    """The server running the call went away before answering it (turn: the one it had said the call sent)."""

    def __init__(self, message: str, turn: int | None = None) -> None:
        super().__init__(message)
        self.turn = turn


# --- the caller's side ----------------------------------------------------------------------------


def forwardable(tool: Callable[P, Awaitable[CallToolResult]]) -> Callable[P, Awaitable[CallToolResult]]:
    """Run a conversation tool where the conversation lives: here, or on the server that holds it live."""
    name = tool.__name__
    TOOLS[name] = (cast(Tool, tool), _arguments_model(tool))

    @functools.wraps(tool)
    async def call(*args: P.args, **kwargs: P.kwargs) -> CallToolResult:
        ctx = kwargs.get("ctx")
        if isinstance(ctx, Forwarded) or ctx is None:
            return await tool(*args, **kwargs)  # passed on to us: we hold it
        ours = cast(ToolCtx | RequestCtx, ctx)  # a call (or a resource read) of this server's own client
        manager = manager_of(ours)
        # The id checked, not the record read: the holder reads its own copy, and a long transcript costs
        # milliseconds to parse. An unknown id has no holder: the tool itself then says it is unknown.
        cid = check_conversation_id(str(kwargs["conversationId"]))
        arguments = {k: v for k, v in kwargs.items() if k != "ctx"}
        holder: Holder | None = None
        for attempt in range(_ATTEMPTS):
            if attempt:
                await asyncio.sleep(_LOOK_AGAIN_S)
            holder = manager.holder_elsewhere(cid)
            if holder is None:
                try:
                    return await tool(*args, **kwargs)
                except ConversationElsewhere:
                    continue  # another server took it on meanwhile: pass the call on to it
            answered = await forward(manager, holder, name, cid, arguments, caller_of(ours))
            if answered is not None:
                return answered
        raise ConversationElsewhere(cid, holder.pid if holder else None)

    return call


async def forward(
    manager: Manager, holder: Holder, tool: str, cid: str, arguments: dict[str, Any], caller: Caller
) -> CallToolResult | None:
    """The holder's answer to the call; None when no holder has it any more (run it here)."""
    began = time.time()
    for endpoint in _endpoints(manager.settings.state_dir, holder):
        try:
            return await _call(endpoint, tool, arguments, caller)
        except _NotHere:
            return None
        except HolderGone as gone:
            return await _fate(manager, tool, cid, arguments, began, gone.turn)
        except _Hung:
            raise ConversationElsewhere(cid, endpoint.pid) from None
        except OSError:
            continue  # a stale endpoint (a server that died): try the next
    return None  # nobody there yet (a server taking the conversation on): look again


def _endpoints(state_dir: Path, holder: Holder) -> list[transport.Endpoint]:
    """Where the holder listens: its own endpoint when its note names a running process, else every server's (a
    server from before notes, or a note left by a server that died, read before the new holder wrote its own)."""
    found = transport.endpoints(state_dir)
    if holder.pid is None or not psutil.pid_exists(holder.pid):
        return found
    return [e for e in found if e.pid == holder.pid]


class _NotHere(Exception):
    """The server asked no longer holds the conversation."""


class _Hung(Exception):
    """The server took the connection and did not answer it."""


async def _call(endpoint: transport.Endpoint, tool: str, arguments: dict[str, Any], caller: Caller) -> CallToolResult:
    reader, writer = await transport.connect(endpoint, limit=MAX_FRAME)
    try:
        writer.write(frame({"op": "call", "tool": tool, "arguments": arguments, "can_elicit": caller.can_elicit}))
        await writer.drain()
        try:
            async with asyncio.timeout(ANSWER_WITHIN_S):
                first = await _next(reader)
        except TimeoutError:
            raise _Hung from None
        if first.get("not_here"):
            raise _NotHere
        if not first.get("accepted"):
            raise CodexMcpError(str(first.get("error") or "the server holding the conversation refused the call"))
        turn: int | None = None
        while True:
            try:
                message = await _next(reader)
            except HolderGone as gone:
                raise HolderGone(str(gone), turn) from None
            if "turn" in message:
                turn = int(message["turn"])
            elif "progress" in message:
                elapsed, text = message["progress"]
                await caller.progress(float(elapsed), str(text))
            elif "ask" in message:
                decision = await _ask(caller, str(message["ask"]))
                writer.write(frame({"answer": decision}))
                await writer.drain()
            elif "result" in message:
                return CallToolResult.model_validate(message["result"])
            elif "error" in message:
                raise CodexMcpError(str(message["error"]))
            elif message.get("not_here"):
                raise _NotHere
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _next(reader: asyncio.StreamReader) -> Message:
    line = await reader.readline()
    if not line:
        raise HolderGone("the server holding the conversation went away")
    try:
        message: Message = json.loads(line)
    except ValueError as exc:
        raise HolderGone(f"the server holding the conversation sent {line[:80]!r}") from exc
    return message


async def _ask(caller: Caller, message: str) -> Decision | None:
    """The person's answer through our client (None when they don't say or it cannot ask)."""
    from mcp.shared.exceptions import MCPError

    try:
        return await caller.ask(message)
    except MCPError as exc:
        log.info("approval question not put to the client (%s)", exc)
        return None


async def _fate(
    manager: Manager, tool: str, cid: str, arguments: dict[str, Any], began: float, turn: int | None
) -> CallToolResult | None:
    """The holder died mid-call: what became of the turn the call sent or answered, from the record (a running turn
    is "not re-run"), once its claim is free; None for calls that can simply run here now."""
    fate = _FATES.get(tool)
    if fate is None:
        return None
    deadline = time.monotonic() + 5
    while manager.holder_elsewhere(cid) is not None:  # the system frees a dead process's lock at once
        if time.monotonic() > deadline:
            raise ConversationElsewhere(cid, None)
        await asyncio.sleep(0.05)
    conv = manager.get(cid)  # read again: the record as the holder left it
    ours = conv.turns[turn - 1] if turn is not None and 0 < turn <= len(conv.turns) else None
    model = fate(conv, ours, arguments, began, manager.settings.reply_budget_chars)
    if model is None:
        raise CodexMcpError(
            f"the codex-mcp server running conversation {cid} exited before it recorded your call, so it most "
            "likely did not reach Codex: check codex_transcript, and if it is not there, send it again (the next "
            "codex_reply resumes the conversation here)"
        )
    return result(model)


def _reply_fate(
    conv: Conversation, turn: Turn | None, arguments: dict[str, Any], began: float, budget: int
) -> Result | None:
    if turn is None:  # the holder died before it said which turn: the one with our prompt, sent since we asked
        sent = sanitize_prompt(str(arguments.get("prompt", "")))
        turn = next((t for t in conv.turns if t.submitted_at >= began - 1 and t.prompt == sent), None)
    if turn is None:
        return None
    return ReplyResult.of(conv, turn, time.time() - began, budget, recovery=turn.recovery, steered=False)


def _approve_fate(
    conv: Conversation, turn: Turn | None, arguments: dict[str, Any], began: float, budget: int
) -> Result | None:
    turn = turn or conv.latest_turn
    if turn is None:
        return None
    return ApproveResult.of(conv, turn, time.time() - began, budget, decision=str(arguments.get("decision")))


_FATES: dict[str, Callable[[Conversation, Turn | None, dict[str, Any], float, int], Result | None]] = {
    "codex_reply": _reply_fate,
    "codex_approve": _approve_fate,
}
"""Calls that must not run twice: their answer, when the holder dies, is their turn's fate."""


def startable(tool: Callable[P, Awaitable[CallToolResult]]) -> Callable[P, Awaitable[CallToolResult]]:
    """codex_start, which another window's server passes on to this one when this one keeps the warm spare for
    its settings (Manager.spare_elsewhere)."""
    TOOLS[tool.__name__] = (cast(Tool, tool), _arguments_model(tool))
    return tool


async def forward_start(manager: Manager, pid: int, arguments: dict[str, Any], caller: Caller) -> CallToolResult | None:
    """The start, made by the server that keeps a spare for it (the conversation then lives there, and this
    window's calls on it are passed on too); None: start it here."""
    for endpoint in [e for e in transport.endpoints(manager.settings.state_dir) if e.pid == pid]:
        try:
            return await _call(endpoint, "codex_start", arguments, caller)
        except (_NotHere, _Hung):
            return None
        except HolderGone:
            raise CodexMcpError(
                "the codex-mcp server of another window, which was starting this conversation on its warm spare, "
                "went away during the call: codex_list shows whether the conversation started (then codex_reply "
                "continues it here), else call codex_start again"
            ) from None
        except OSError:
            continue
    return None


# --- the holder's side ----------------------------------------------------------------------------


class LinkCaller:
    """The caller of a forwarded call: the server that passed it on, over the connection."""

    def __init__(self, link: Link, can_elicit: bool) -> None:
        self._link = link
        self._can_elicit = can_elicit
        self._answers: asyncio.Queue[Decision | None] = asyncio.Queue()

    @property
    def can_elicit(self) -> bool:
        return self._can_elicit

    async def waiting(self, conv: Conversation, turn: Turn) -> None:
        # The caller is in another process: should we die, it finds this turn's fate on disk, by its number.
        conv.keep_unsettled(turn)
        await self._link.send({"turn": turn.index})

    async def progress(self, elapsed: float, message: str) -> None:
        await self._link.send({"progress": [elapsed, message]})

    async def ask(self, message: str) -> Decision | None:
        await self._link.send({"ask": message})
        return await self._answers.get()

    async def listen(self) -> None:
        """Read the caller's frames (its answers) until it hangs up."""
        while (message := await self._link.receive()) is not None:
            if "answer" in message:
                answer = message["answer"]
                self._answers.put_nowait(answer if answer in get_args(Decision) else None)


async def answer_call(state: AppState, request: Message, link: Link) -> Message:
    """Run a call another server passed on, if this server holds its conversation; the last frame to send."""
    found = TOOLS.get(str(request.get("tool")))
    if found is None:
        return {"error": f"not a conversation tool: {str(request.get('tool'))[:80]!r}"}
    tool, model = found
    try:
        checked = model.model_validate(request.get("arguments"))
    except ValidationError as exc:
        return {"error": f"invalid arguments for {request.get('tool')}: {exc.errors(include_url=False)}"[:2000]}
    arguments = {name: getattr(checked, name) for name in type(checked).model_fields}
    manager = state.running()[0]
    if "conversationId" in arguments:  # a conversation's call: only where it lives
        try:
            cid = manager.get(str(arguments["conversationId"])).id
        except CodexMcpError as exc:
            return {"error": str(exc)}
        if not manager.conversations.owns(cid):
            return {"not_here": True}
    await link.send({"accepted": True})
    caller = LinkCaller(link, bool(request.get("can_elicit")))
    running = asyncio.ensure_future(tool(**arguments, ctx=Forwarded(state, caller)))
    listening = asyncio.ensure_future(caller.listen())
    try:
        await asyncio.wait({running, listening}, return_when=asyncio.FIRST_COMPLETED)
        if not running.done():  # the caller hung up: its call was cancelled (or its server died)
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError, CodexMcpError):
                await running
            return {"error": "cancelled"}
        try:
            outcome = running.result()
        except CodexMcpError as exc:
            return {"error": str(exc)}
        except Exception as exc:  # as the SDK answers a tool that raised: an error result, the server goes on
            log.exception("a call passed on from another server failed")
            return {"error": f"Error executing tool {request.get('tool')}: {exc}"}
        return {"result": outcome.model_dump(mode="json", by_alias=True, exclude_none=True)}
    finally:
        listening.cancel()
        running.cancel()
