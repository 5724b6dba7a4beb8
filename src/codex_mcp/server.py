"""The MCP server: the lifespan that owns all state (the Manager and the control channel) and the tools
(tools.py) registered on it. With tools.py, the only place that knows MCP."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
from mcp.server import MCPServer
from mcp.server.stdio import stdio_server

from . import __version__, nesting
from .config import Settings
from .control import ControlServer
from .errors import NestedServer
from .manager import Manager
from .stdio import loop_stdio
from .tools import TOOLS, AppState, reject_unknown_arguments

INSTRUCTIONS = """\
Hold multi-turn conversations with the OpenAI Codex CLI (a real, live Codex session per conversation).
- codex_start(prompt, cwd=...) starts Codex in a project folder and returns its first reply and a conversationId.
- codex_reply(conversationId, prompt) continues the same conversation; Codex remembers everything before. It works
  after restarts too: the server resumes the Codex thread, or replays the history if Codex cannot.
- If a result says status "running" or "queued", the turn is still going: call codex_status(conversationId,
  wait_s=...) to collect the reply. Do not resend the prompt.
- If a result says "waiting_for_approval", show the user what Codex asks and answer with codex_approve.
- codex_interrupt stops a running turn; codex_end stops one.
- codex_review(cwd, base=..., commit=..., instructions=...) has Codex's own reviewer review git changes (read-only)
  and returns its findings; codex_reply on its conversationId asks follow-ups in the same Codex thread.
- codex_list shows conversations a page at a time (live first, then newest; filter by state, cwd or text);
  codex_transcript reads one conversation's turns, also of old or ended ones.
- codex_attach_info gives the command a person runs to watch a live conversation or take the keyboard; while they
  hold it, new turns wait (status "queued").
"""

log = logging.getLogger(__name__)


def lifespan_for(
    settings: Settings, on_closed: Callable[[], None] | None = None
) -> Callable[[MCPServer[AppState]], AbstractAsyncContextManager[AppState]]:
    """The server's lifespan: it creates the manager and the control channel, hands them to the tools, and ends
    every Codex session on the way out (then calls on_closed)."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        depth = nesting.current_depth()
        try:
            if depth > settings.max_nesting:
                yield _refusing(depth, settings.max_nesting)
                return
            # Nested on purpose: a state dir of its own, so the outer server's conversations are not listed here.
            own = settings.model_copy(update={"state_dir": nesting.nested_state_dir(settings.state_dir, depth)})
            manager = Manager(own, depth=depth)
            await manager.prepare()
            control = ControlServer(manager, own.state_dir)
            await control.start()
            try:
                yield AppState(manager, control)
            finally:
                # Shielded: cancellation (a signal, the client going away) must not cut the clean-up short.
                with anyio.CancelScope(shield=True):
                    await control.close("the codex-mcp server is shutting down")
                    await manager.shutdown()
        finally:
            if on_closed is not None:
                on_closed()

    return lifespan


def _refusing(depth: int, max_nesting: int) -> AppState:
    """Started inside a Codex session codex-mcp launched (Codex's config registers codex-mcp in a way we did not
    recognise): serve, so that Codex starts normally, but refuse every call."""
    log.warning(
        "running inside a Codex session that codex-mcp started (depth %d, CODEX_MCP_MAX_NESTING=%d): "
        "refusing to start Codex",
        depth,
        max_nesting,
    )
    return AppState(None, None, NestedServer(depth, max_nesting))


def create_server(settings: Settings, on_closed: Callable[[], None] | None = None) -> MCPServer[AppState]:
    """Build the MCP server. Each call returns an independent server with its own state; on_closed is called
    once every Codex session has been ended at shutdown."""
    server: MCPServer[AppState] = MCPServer(
        "codex-mcp", version=__version__, instructions=INSTRUCTIONS, lifespan=lifespan_for(settings, on_closed)
    )
    for tool, hints in TOOLS:
        server.add_tool(tool, annotations=hints)
    server.middleware.append(reject_unknown_arguments)
    return server


async def serve_stdio(server: MCPServer) -> None:
    """Serve MCP on stdin/stdout until stdin closes: on the event loop where both are pipes (stdio.loop_stdio), with
    the SDK's own transport otherwise (or if the SDK no longer has the low-level server this needs)."""
    lowlevel = getattr(server, "_lowlevel_server", None)
    if lowlevel is None:
        await server.run_stdio_async()
        return
    async with loop_stdio() as streams:
        if streams is None:
            await server.run_stdio_async()
            return
        # MCPServer.run_stdio_async, with our streams: the SDK's stdio_server takes them as they are.
        async with stdio_server(*streams) as (read_stream, write_stream):  # type: ignore[arg-type]
            await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
