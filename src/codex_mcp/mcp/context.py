"""What every MCP handler shares, written once: the request context types, the manager a request works with, the
client a call came from (its own, or another codex-mcp server's that passed the call on), and our typed errors
mapped to MCP errors (a tool error for a tool call; an MCP error for any other request)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Literal, ParamSpec, Protocol, TypeVar

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, CallToolResult, ClientCapabilities, ElicitationCapability
from pydantic import BaseModel, Field

from ..conversations.conversation import Conversation
from ..conversations.manager import Manager
from ..errors import CodexMcpError, InvalidInput, UnknownConversation
from ..session.approvals import Decision
from ..turn import Turn
from .appstate import AppState

ToolCtx = Context[AppState]
"""What a tool (and a prompt) is handed: MCPServer's Context."""
RequestCtx = ServerRequestContext[AppState, Any]
"""What a low-level request handler (resources, completion, setLevel) is handed."""

P = ParamSpec("P")
R = TypeVar("R")


class ApprovalAnswer(BaseModel):
    """The form a client shows when Codex asks for approval."""

    decision: Literal["approve", "approve_always", "deny"] = Field(
        description="approve: run it this once; approve_always: run it and let Codex stop asking for this kind "
        "of action (Codex saves a lasting rule); deny: do not run it (Codex stops the turn)"
    )


class Caller(Protocol):
    """The client a tool call came from, as a waiting call needs it: told of progress, asked about approvals."""

    @property
    def can_elicit(self) -> bool:
        """Whether it can be asked (MCP elicitation)."""
        ...

    async def waiting(self, conv: Conversation, turn: Turn) -> None:
        """The call waits for this turn (it sent or answered it)."""
        ...

    async def progress(self, elapsed: float, message: str) -> None:
        """A progress notification."""
        ...

    async def ask(self, message: str) -> Decision | None:
        """What the person behind it answers Codex; None if they don't say (MCPError if it cannot be asked)."""
        ...


class ClientCaller:
    """This server's own MCP client."""

    def __init__(self, ctx: ToolCtx) -> None:
        self._ctx = ctx

    @property
    def can_elicit(self) -> bool:
        return self._ctx.request_context.session.check_client_capability(
            ClientCapabilities(elicitation=ElicitationCapability())
        )

    async def waiting(self, conv: Conversation, turn: Turn) -> None:
        pass  # its own client: the call's result tells it

    async def progress(self, elapsed: float, message: str) -> None:
        await self._ctx.report_progress(elapsed, None, message)

    async def ask(self, message: str) -> Decision | None:
        answer = await self._ctx.elicit(message, ApprovalAnswer)
        return answer.data.decision if answer.action == "accept" else None


class QuietCaller:
    """A request that is not a tool call (a resource read passed on to the server holding the conversation):
    nothing to report progress to, nobody to ask."""

    @property
    def can_elicit(self) -> bool:
        return False

    async def waiting(self, conv: Conversation, turn: Turn) -> None:
        pass

    async def progress(self, elapsed: float, message: str) -> None:
        pass

    async def ask(self, message: str) -> Decision | None:
        return None


class Forwarded:
    """A tool call another codex-mcp server passed on to this one, the server that runs the conversation live
    (mcp/forwarding.py). It stands where the SDK's Context stands for a call of our own client, and gives the
    same three things: the state, the caller, no request of its own."""

    def __init__(self, state: AppState, caller: Caller) -> None:
        self.state = state
        self.caller = caller


def state_of(ctx: ToolCtx | RequestCtx | Forwarded) -> AppState:
    """What the server holds, for this request."""
    if isinstance(ctx, Forwarded):
        return ctx.state
    return ctx.request_context.lifespan_context if isinstance(ctx, Context) else ctx.lifespan_context


def manager_of(ctx: ToolCtx | RequestCtx | Forwarded) -> Manager:
    """The manager this request works with (or the nested server's refusal, raised)."""
    return state_of(ctx).running()[0]


def caller_of(ctx: ToolCtx | RequestCtx | Forwarded) -> Caller:
    """The client this call came from."""
    if isinstance(ctx, Forwarded):
        return ctx.caller
    return ClientCaller(ctx) if isinstance(ctx, Context) else QuietCaller()


def tool_errors(tool: Callable[P, Awaitable[CallToolResult]]) -> Callable[P, Awaitable[CallToolResult]]:
    """Turn our typed errors into MCP tool errors (isError results whose text says what to do). functools.wraps
    keeps the tool's signature, docstring and annotations, from which the SDK builds its input schema."""

    @functools.wraps(tool)
    async def call(*args: P.args, **kwargs: P.kwargs) -> CallToolResult:
        try:
            return await tool(*args, **kwargs)
        except CodexMcpError as exc:
            raise ToolError(str(exc)) from exc

    return call


def protocol_errors(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Our typed errors as MCP errors (for requests other than tool calls), their message saying what to do: bad
    input or an unknown id is invalid params. functools.wraps keeps the signature the SDK reads prompt arguments
    from."""

    @functools.wraps(handler)
    async def handle(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await handler(*args, **kwargs)
        except (InvalidInput, UnknownConversation) as exc:
            raise MCPError(code=INVALID_PARAMS, message=str(exc)) from exc
        except CodexMcpError as exc:
            raise MCPError(code=INTERNAL_ERROR, message=str(exc)) from exc

    return handle
