"""Conversations by id: start, reply, status, end, list, shutdown. Knows nothing of MCP."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from . import codex
from .codex import LaunchOptions
from .config import MAX_TIMEOUT_S, Settings
from .conversation import Conversation, State, Turn
from .errors import CodexNotFound, ConversationEnded, InvalidInput, TooManySessions, UnknownConversation
from .rollout import codex_home

log = logging.getLogger(__name__)


def check_conversation_id(conversation_id: str) -> str:
    """A well-formed conversation id (a Codex thread UUID), lower-cased."""
    cid = conversation_id.strip().lower()
    if not codex.UUID_RE.fullmatch(cid):
        raise InvalidInput(
            f"conversationId {conversation_id[:80]!r} is not a Codex thread id (a UUID like "
            "'01a1fbea-b6ba-73a1-8251-f4e5e362b223'); use the conversationId that codex_start returned"
        )
    return cid


def check_timeout(timeout_s: float | None, default: float) -> float:
    """A usable timeout in seconds."""
    if timeout_s is None:
        return default
    if not (0 < timeout_s <= MAX_TIMEOUT_S):
        raise InvalidInput(f"timeout_s must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds")
    return float(timeout_s)


def check_cwd(cwd: str | None) -> str:
    """An absolute, existing directory (the server's cwd when none is given)."""
    if cwd is None or not cwd.strip():
        return os.getcwd()
    if "\x00" in cwd:
        raise InvalidInput("cwd contains a NUL byte")
    try:
        cwd.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("cwd must be valid Unicode text") from None
    path = Path(cwd).expanduser()
    if not path.is_absolute():
        raise InvalidInput(f"cwd {cwd!r} is not an absolute path: give the full path of the project folder")
    if not path.exists():
        raise InvalidInput(f"cwd {cwd!r} does not exist: create it or pass an existing folder")
    if not path.is_dir():
        raise InvalidInput(f"cwd {cwd!r} is not a directory: pass the folder, not a file in it")
    return str(path.resolve())


class Manager:
    """Owns every conversation of this server process."""

    def __init__(self, settings: Settings, env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.env = codex.codex_env(env)
        self.codex_home = codex_home(self.env)
        self._conversations: dict[str, Conversation] = {}
        self._starting = 0
        self._closed = False
        self.codex_version: str | None = None

    async def prepare(self) -> None:
        """Create the state dir (owner-only) and check which Codex we will run. A missing Codex is logged,
        not fatal: every tool call then says how to install it."""
        state = self.settings.state_dir
        state.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(state, 0o700)
        try:
            binary = codex.resolve_binary(self.settings.codex_bin)
        except CodexNotFound as exc:
            log.warning("%s", exc)
            return
        self.codex_version = await codex.codex_version(binary, self.env)
        if self.codex_version not in codex.TESTED_VERSIONS:
            log.warning(
                "Codex %s at %s is not a version codex-mcp is tested with (%s); it may still work",
                self.codex_version,
                binary,
                ", ".join(codex.TESTED_VERSIONS),
            )
        else:
            log.info("using Codex %s at %s", self.codex_version, binary)

    # --- lookup ----------------------------------------------------------------------------------

    def get(self, conversation_id: str) -> Conversation:
        """The conversation with this id, live or not."""
        cid = check_conversation_id(conversation_id)
        conv = self._conversations.get(cid)
        if conv is None:
            raise UnknownConversation(cid)
        return conv

    def conversations(self) -> list[Conversation]:
        """Every conversation this server knows, oldest first."""
        return sorted(self._conversations.values(), key=lambda c: c.created_at)

    def live_count(self) -> int:
        """Codex sessions running or starting now."""
        return self._starting + sum(1 for c in self._conversations.values() if c.live)

    # --- operations ------------------------------------------------------------------------------

    async def start(self, prompt: str, options: LaunchOptions, timeout_s: float | None) -> tuple[Conversation, Turn]:
        """Start a Codex session, send the first prompt, and wait (bounded) for its reply."""
        if self._closed:
            raise InvalidInput("the server is shutting down")
        timeout = check_timeout(timeout_s, self.settings.default_timeout_s)
        text = codex.sanitize_prompt(prompt)
        binary = codex.resolve_binary(self.settings.codex_bin)
        argv = codex.new_session_argv(binary, options)  # validates config overrides before we spawn
        if self.live_count() >= self.settings.max_sessions:
            raise TooManySessions(self.settings.max_sessions)
        loop = asyncio.get_running_loop()
        started = loop.time()
        self._starting += 1
        try:
            conv = await Conversation.launch(
                argv,
                options,
                env=self.env,
                codex_home=self.codex_home,
                rows=self.settings.rows,
                cols=self.settings.cols,
                # Start-up has its own bound: without a conversationId there is nothing to return early.
                timeout=self.settings.start_timeout_s,
                grace_s=self.settings.end_grace_s,
            )
        finally:
            self._starting -= 1
        assert conv.id is not None
        self._conversations[conv.id] = conv
        log.info("started conversation %s in %s (%.2fs)", conv.id, options.cwd, loop.time() - started)
        turn = conv.submit(text)
        await turn.wait(max(0.0, timeout - (loop.time() - started)))
        return conv, turn

    async def reply(self, conversation_id: str, prompt: str, timeout_s: float | None) -> tuple[Conversation, Turn]:
        """Queue the next prompt on a live conversation and wait (bounded) for its reply."""
        timeout = check_timeout(timeout_s, self.settings.default_timeout_s)
        text = codex.sanitize_prompt(prompt)
        conv = self.get(conversation_id)
        if not conv.live:
            raise ConversationEnded(conv.id or conversation_id, conv.end_reason or "Codex is not running")
        turn = conv.submit(text)
        await turn.wait(timeout)
        return conv, turn

    async def status(
        self, conversation_id: str, wait_s: float, turn: int | None = None
    ) -> tuple[Conversation, Turn | None]:
        """The conversation and one of its turns (the latest unless a number is given), after waiting up to
        wait_s for that turn to settle."""
        if wait_s < 0 or wait_s > MAX_TIMEOUT_S:
            raise InvalidInput(f"wait_s must be between 0 and {MAX_TIMEOUT_S:g} seconds")
        conv = self.get(conversation_id)
        if turn is None:
            chosen = conv.latest_turn
        elif 1 <= turn <= len(conv.turns):
            chosen = conv.turns[turn - 1]
        else:
            raise InvalidInput(f"turn {turn} does not exist: conversation {conv.id} has turns 1 to {len(conv.turns)}")
        if wait_s > 0 and chosen is not None and not chosen.settled:
            await chosen.wait(wait_s)
        return conv, chosen

    async def end(self, conversation_id: str, reason: str = "ended by client") -> Conversation:
        """End a conversation's Codex session; the conversation stays listed."""
        conv = self.get(conversation_id)
        await conv.end(reason)
        return conv

    async def shutdown(self) -> None:
        """End every live session in parallel (server exit)."""
        self._closed = True
        live = [
            c for c in self._conversations.values() if c.state not in (State.ENDED, State.EXITED) or c.terminal.alive
        ]
        if live:
            log.info("shutting down %d Codex session(s)", len(live))
        await asyncio.gather(*(c.end("server shutdown") for c in live), return_exceptions=True)
