"""What every MCP handler shares, written once: the request context types, the manager a request works with, and
our typed errors mapped to MCP errors (a tool error for a tool call; an MCP error for any other request)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, CallToolResult

from ..conversations.manager import Manager
from ..errors import CodexMcpError, InvalidInput, UnknownConversation
from .appstate import AppState

ToolCtx = Context[AppState]
"""What a tool (and a prompt) is handed: MCPServer's Context."""
RequestCtx = ServerRequestContext[AppState, Any]
"""What a low-level request handler (resources, completion, setLevel) is handed."""

P = ParamSpec("P")
R = TypeVar("R")


def manager_of(ctx: ToolCtx | RequestCtx) -> Manager:
    """The manager this request works with (or the nested server's refusal, raised)."""
    state = ctx.request_context.lifespan_context if isinstance(ctx, Context) else ctx.lifespan_context
    return state.running()[0]


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
