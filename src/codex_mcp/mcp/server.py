"""The MCP server: the lifespan that owns all state (the Manager, the control channel, resource subscriptions and
the client log) and what is registered on it: the tools (tools.py), prompts (prompts.py), conversations as resources
(resources.py), argument completion (completions.py) and logging (clientlog.py). The SDK's private parts are reached
through _sdk.py alone."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.server.subscriptions import InMemorySubscriptionBus, SubscriptionBus
from mcp_types import (
    CompleteRequestParams,
    PaginatedRequestParams,
    ReadResourceRequestParams,
    SetLevelRequestParams,
    SubscribeRequestParams,
    UnsubscribeRequestParams,
)

from .. import __version__
from ..codex import mcpentries, nesting
from ..config import Settings
from ..control.server import ControlServer
from ..conversations.manager import Manager
from ..errors import NestedServer
from . import clientlog, completions, forwarding, resources
from ._sdk import lowlevel_of
from .appstate import AppState
from .clientlog import ClientLog
from .prompts import prompts
from .stdio import loop_stdio
from .subscriptions import Subscriptions
from .tools import TOOLS, reject_unknown_arguments

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
- codex_fork(conversationId, prompt, at_turn=...) branches a conversation into a new one (new conversationId) holding
  its history up to that turn, then answers prompt; the original is untouched. codex_rewind(conversationId, to_turn)
  takes the later turns out of Codex's thread (same conversationId; the transcript keeps them, marked rewound).
  codex_compact(conversationId) has Codex summarise a long thread so later turns fit the context window.
- codex_list shows conversations a page at a time (live first, then newest; filter by state, cwd or text);
  codex_transcript reads one conversation's turns, also of old or ended ones. Conversations of other client
  windows are listed too and can be continued from here: the calls reach the live session where it runs.
- codex_attach_info gives the command a person runs to watch a live conversation or take the keyboard; while they
  hold it, new turns wait (status "queued").
- Each conversation is also the resource codex://conversations/{conversationId} (its transcript as Markdown).
"""

log = logging.getLogger(__name__)


def lifespan_for(
    settings: Settings, bus: SubscriptionBus, on_closed: Callable[[], None] | None = None
) -> Callable[[MCPServer[AppState]], AbstractAsyncContextManager[AppState]]:
    """The server's lifespan: it creates the manager, the control channel, the resource subscriptions (told of
    every saved conversation, publishing on bus) and the client log, hands them to the handlers, and ends every
    Codex session on the way out (then calls on_closed)."""

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
            subscriptions = Subscriptions(bus)
            manager.conversations.listeners.append(subscriptions.changed)
            subscriptions.follow(manager.conversations.changed_elsewhere)  # what other windows' servers save
            client_log = ClientLog()
            client_log.install()
            state = AppState(manager, control, subscriptions=subscriptions, client_log=client_log)
            control.calls = functools.partial(forwarding.answer_call, state)
            try:
                yield state
            finally:
                # Shielded: cancellation (a signal, the client going away) must not cut the clean-up short.
                with anyio.CancelScope(shield=True):
                    await control.close("the codex-mcp server is shutting down")
                    await manager.shutdown()
                    await subscriptions.close()
                    await client_log.shut()
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
    # An entry the outer server did not recognise as ours: it turns it off in its next sessions.
    if (learned := mcpentries.learn_own_entry()) is not None:
        log.info("noted Codex's MCP entry %r as codex-mcp: the server that started Codex leaves it off", learned)
    return AppState(None, None, NestedServer(depth, max_nesting))


def create_server(settings: Settings, on_closed: Callable[[], None] | None = None) -> MCPServer[AppState]:
    """Build the MCP server. Each call returns an independent server with its own state; on_closed is called
    once every Codex session has been ended at shutdown."""
    bus = InMemorySubscriptionBus()
    server: MCPServer[AppState] = MCPServer(
        "codex-mcp",
        title="Codex",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan_for(settings, bus, on_closed),
        subscriptions=bus,
    )
    for spec in TOOLS:
        server.add_tool(spec.fn, title=spec.title, description=spec.description, annotations=spec.annotations)
    for prompt in prompts():
        server.add_prompt(prompt)
    server.middleware.append(reject_unknown_arguments)
    server.middleware.append(note_client)
    server.middleware.append(clientlog.log_middleware)
    _serve_resources(server)
    return server


async def note_client(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Server middleware: the client's name and version (from its initialize, or a 2026-07-28 request's envelope)
    go into the notes of this server's claims, once, so that every window's listing says whom a live
    conversation's server serves."""
    state = ctx.lifespan_context
    if isinstance(state, AppState) and state.manager is not None and state.manager.conversations.store.client is None:
        params = ctx.session.client_params
        if params is not None:
            info = params.client_info
            state.manager.conversations.note_client(f"{info.name[:80]} {info.version[:40]}".strip())
    return await call_next(ctx)


def _serve_resources(server: MCPServer[AppState]) -> None:
    """Conversations as resources, their subscriptions, argument completion and logging/setLevel. MCPServer's own
    resource registry has no request context for a fixed resource, its list is static and it serves neither
    resources/subscribe nor logging/setLevel, so these go on its low-level server (the SDK's own completion()
    registers there the same way)."""
    lowlevel = lowlevel_of(server, what="resources, completion and logging not served")
    if lowlevel is None:
        return
    lowlevel.add_request_handler("resources/list", PaginatedRequestParams, resources.list_resources)
    lowlevel.add_request_handler("resources/templates/list", PaginatedRequestParams, resources.list_templates)
    lowlevel.add_request_handler("resources/read", ReadResourceRequestParams, resources.read_resource)
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, resources.subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, resources.unsubscribe)
    lowlevel.add_request_handler("completion/complete", CompleteRequestParams, completions.complete)
    lowlevel.add_request_handler("logging/setLevel", SetLevelRequestParams, clientlog.set_level)


async def serve_stdio(server: MCPServer) -> None:
    """Serve MCP on stdin/stdout until stdin closes: on the event loop where both are pipes (stdio.loop_stdio), with
    the SDK's own transport otherwise (or if the SDK no longer has the low-level server this needs)."""
    lowlevel = lowlevel_of(server, what="served on the SDK's own stdio transport")
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
