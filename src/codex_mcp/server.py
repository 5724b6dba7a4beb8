"""The MCP boundary: tool definitions, the lifespan that owns the Manager, and the one place where our
typed errors become MCP tool errors. The only module that imports ``mcp``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, TypeVar

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field, JsonValue

from . import __version__
from .codex import ApprovalPolicy, LaunchOptions, Sandbox
from .config import DEFAULT_TIMEOUT_S, Settings
from .errors import CodexMcpError
from .manager import Manager, check_cwd
from .models import (
    EndResult,
    ListResult,
    ReplyResult,
    StartResult,
    StatusResult,
    conversation_info,
    render_text,
    status_result,
    turn_fields,
)

INSTRUCTIONS = """\
Hold multi-turn conversations with the OpenAI Codex CLI (a real, live Codex session per conversation).
- codex_start(prompt, cwd=...) starts Codex in a project folder and returns its first reply and a conversationId.
- codex_reply(conversationId, prompt) continues the same conversation; Codex remembers everything before.
- If a result says status "running" or "queued", the turn is still going: call codex_status(conversationId,
  wait_s=...) to collect the reply. Do not resend the prompt.
- codex_list shows every conversation; codex_end stops one when you are done with it.
"""

T = TypeVar("T")

TIMEOUT_DOC = (
    f"Seconds to wait for the reply (default {DEFAULT_TIMEOUT_S:g}). When it expires the turn keeps running "
    "and the result says status 'running'; collect it with codex_status."
)


@dataclass
class AppState:
    """Everything the server holds, created and torn down by the lifespan."""

    manager: Manager


def result(model: BaseModel) -> CallToolResult:
    """A tool result whose structured content and text say the same thing."""
    return CallToolResult(
        content=[TextContent(type="text", text=render_text(model))],
        structured_content=model.model_dump(mode="json"),
    )


async def mapped(call: Awaitable[T]) -> T:
    """Run a tool body, turning our typed errors into MCP tool errors (isError results)."""
    try:
        return await call
    except CodexMcpError as exc:
        raise ToolError(str(exc)) from exc


def create_server(settings: Settings, on_closed: Callable[[], None] | None = None) -> MCPServer[AppState]:
    """Build the MCP server. Each call returns an independent server with its own state; on_closed is called
    once every Codex session has been ended at shutdown."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        manager = Manager(settings)
        await manager.prepare()
        try:
            yield AppState(manager)
        finally:
            # Shielded: cancellation (a signal, the client going away) must not cut the clean-up short.
            with anyio.CancelScope(shield=True):
                await manager.shutdown()
            if on_closed is not None:
                on_closed()

    mcp: MCPServer[AppState] = MCPServer("codex-mcp", version=__version__, instructions=INSTRUCTIONS, lifespan=lifespan)

    def manager_of(ctx: Context[AppState]) -> Manager:
        return ctx.request_context.lifespan_context.manager

    @mcp.tool()
    async def codex_start(
        prompt: Annotated[str, Field(description="The first message to Codex")],
        ctx: Context[AppState],
        cwd: Annotated[
            str | None, Field(description="Absolute path of the project folder (default: the server's cwd)")
        ] = None,
        model: Annotated[
            str | None, Field(description="Model name, e.g. 'gpt-5-codex' (default: Codex's config)")
        ] = None,
        profile: Annotated[str | None, Field(description="A Codex config profile name")] = None,
        sandbox: Annotated[Sandbox | None, Field(description="Sandbox for commands Codex runs")] = None,
        approval_policy: Annotated[ApprovalPolicy | None, Field(description="When Codex asks before acting")] = None,
        config: Annotated[
            dict[str, JsonValue] | None,
            Field(
                description="Codex config overrides, each passed as `-c key=value` "
                '(e.g. {"model_reasoning_effort": "high"})'
            ),
        ] = None,
        timeout_s: Annotated[float | None, Field(description=TIMEOUT_DOC)] = None,
    ) -> Annotated[CallToolResult, StartResult]:
        """Start a new Codex conversation in a project folder and return Codex's first reply.

        The result's conversationId identifies the conversation for codex_reply, codex_status and codex_end."""
        began = time.monotonic()

        async def body() -> CallToolResult:
            options = LaunchOptions(
                cwd=check_cwd(cwd),
                model=model or None,
                profile=profile or None,
                sandbox=sandbox,
                approval_policy=approval_policy,
                config=dict(config or {}),
            )
            conv, turn = await manager_of(ctx).start(prompt, options, timeout_s)
            return result(StartResult(cwd=options.cwd, **turn_fields(conv, turn, time.monotonic() - began)))  # type: ignore[arg-type]

        return await mapped(body())

    @mcp.tool()
    async def codex_reply(
        conversationId: Annotated[str, Field(description="The id codex_start returned")],  # noqa: N803
        prompt: Annotated[str, Field(description="The next message to Codex")],
        ctx: Context[AppState],
        timeout_s: Annotated[float | None, Field(description=TIMEOUT_DOC)] = None,
    ) -> Annotated[CallToolResult, ReplyResult]:
        """Send the next message in an existing Codex conversation and return Codex's reply.

        Calls on one conversation run in the order they arrive; a call made while a turn runs waits for it."""
        began = time.monotonic()

        async def body() -> CallToolResult:
            conv, turn = await manager_of(ctx).reply(conversationId, prompt, timeout_s)
            return result(ReplyResult(recovery="live", **turn_fields(conv, turn, time.monotonic() - began)))  # type: ignore[arg-type]

        return await mapped(body())

    @mcp.tool()
    async def codex_status(
        conversationId: Annotated[str, Field(description="The conversation to look at")],  # noqa: N803
        ctx: Context[AppState],
        wait_s: Annotated[float, Field(description="Wait up to this many seconds for the turn to finish")] = 0,
        turn: Annotated[
            int | None, Field(description="A turn number (from an earlier result) to show instead of the latest")
        ] = None,
    ) -> Annotated[CallToolResult, StatusResult]:
        """Show a conversation's state, its latest reply and Codex's screen; optionally wait for a running turn.

        Use it to collect a reply after a call returned status 'running' or 'queued'."""

        async def body() -> CallToolResult:
            conv, shown = await manager_of(ctx).status(conversationId, wait_s, turn)
            return result(status_result(conv, shown, latest=turn is None))

        return await mapped(body())

    @mcp.tool()
    async def codex_end(
        conversationId: Annotated[str, Field(description="The conversation to end")],  # noqa: N803
        ctx: Context[AppState],
    ) -> Annotated[CallToolResult, EndResult]:
        """End a conversation: Codex exits and nothing is left running. It stays listed as ended."""

        async def body() -> CallToolResult:
            conv = await manager_of(ctx).end(conversationId)
            info = conv.terminal.exit_info
            return result(
                EndResult(
                    conversationId=conv.id or "",
                    ended=not conv.terminal.alive,
                    state=conv.state.value,
                    reason=conv.end_reason,
                    exit=info.describe() if info else None,
                )
            )

        return await mapped(body())

    @mcp.tool()
    async def codex_list(ctx: Context[AppState]) -> Annotated[CallToolResult, ListResult]:
        """List every conversation this server knows, live or ended, oldest first."""
        manager = manager_of(ctx)
        return result(ListResult(conversations=[conversation_info(c) for c in manager.conversations()]))

    return mcp
