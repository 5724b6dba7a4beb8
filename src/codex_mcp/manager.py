"""Conversations by id: start, reply (bringing a conversation back when no live session backs it),
status, interrupt, approve, end, list, shutdown; persistence; the live-session cap and idle reclaim.
Knows nothing of MCP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from . import codex, mcpentries, nesting, writers
from .codex import LaunchOptions
from .config import MAX_TIMEOUT_S, Settings
from .conversation import Conversation
from .errors import (
    CodexNotFound,
    CodexStartFailed,
    ConversationElsewhere,
    InvalidInput,
    NothingToApprove,
    ThreadOpenElsewhere,
    TooManySessions,
    UnknownConversation,
)
from .index import BadCursor, Filters, Position, Summary, decode_cursor, encode_cursor
from .replay import replay_prompt
from .rollout import codex_home, find_rollout, read_history, read_settings
from .session import SESSION_MARKER, Session, State
from .store import Store, summary_of
from .turn import Recovery, Turn, TurnStatus

log = logging.getLogger(__name__)

Decision = Literal["approve", "approve_for_session", "approve_always", "deny"]
ListState = Literal["live", "ended"]

DEFAULT_LIST_LIMIT = 20
MAX_LIST_LIMIT = 200
_MAX_FILTER_TEXT = 500


@dataclass(frozen=True)
class Listed:
    """One conversation in a listing: its summary, and the conversation itself when this process runs it live."""

    summary: Summary
    conversation: Conversation | None
    elsewhere: bool
    """Another codex-mcp process runs it live."""


@dataclass(frozen=True)
class Listing:
    """A page of conversations."""

    entries: list[Listed]
    total: int
    """How many conversations match the filters, over all pages."""
    next_cursor: str | None


Waiter = Callable[[Conversation, Turn, float], Awaitable[None]]
"""How a call waits for its turn (at most the given seconds). The server's waiter also sends progress
notifications, asks the client about approvals and interrupts the turn if the call is cancelled."""


def start_screens(home: Path, options: LaunchOptions) -> tuple[dict[str, str], list[str]]:
    """The model migrations Codex's catalog offers (answered "keep the configured model" by a ``-c`` override,
    so the prompt never shows: codex.notice_override), and what to tell the client about the one that concerns a
    session with these options.

    The catalog is the config's `model_catalog_json` file, else Codex's cache of the provider's /models
    (`$CODEX_HOME/models_cache.json`); either missing or unreadable means no migration is known, and should Codex
    show the prompt anyway, start-up fails at once saying so (codex.read_screen)."""
    config = mcpentries.effective_config(home, cwd=options.cwd, profile=options.profile, config=options.config)
    named = config.get("model_catalog_json")
    path = Path(os.path.expanduser(named)) if isinstance(named, str) and named else home / "models_cache.json"
    if not path.is_absolute():
        path = home / path
    try:
        upgrades = codex.model_upgrades(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        upgrades = {}
    model = options.model
    profiles = config.get("profiles")
    if model is None and options.profile and isinstance(profiles, dict):
        chosen = profiles.get(options.profile)
        if isinstance(chosen, dict) and isinstance(chosen.get("model"), str):
            model = chosen["model"]
    if model is None and isinstance(config.get("model"), str):
        model = cast(str, config["model"])
    notices = []
    if model is not None and model in upgrades:
        notices.append(
            f"Codex offers a newer model, {upgrades[model]}, in place of {model}. This conversation keeps "
            f"{model}; to use the newer one, start a conversation with model={upgrades[model]!r}."
        )
    return upgrades, notices


async def plain_wait(conv: Conversation, turn: Turn, timeout: float) -> None:
    """Wait for the turn to settle or to need a decision, at most timeout seconds."""
    await turn.wait(timeout)


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
    shown = cwd if len(cwd) <= 200 else cwd[:200] + "…"
    try:
        path = Path(cwd).expanduser()
        if not path.is_absolute():
            raise InvalidInput(f"cwd {shown!r} is not an absolute path: give the full path of the project folder")
        if not path.exists():
            raise InvalidInput(f"cwd {shown!r} does not exist: create it or pass an existing folder")
        if not path.is_dir():
            raise InvalidInput(f"cwd {shown!r} is not a directory: pass the folder, not a file in it")
        return str(path.resolve())
    except (OSError, RuntimeError) as exc:  # a name too long, ~nosuchuser, a loop of symlinks, no permission
        raise InvalidInput(f"cwd {shown!r} cannot be used ({exc}): pass an existing absolute folder") from None


def _folder_filter(cwd: str | None) -> str | None:
    """A folder to list conversations in (it may no longer exist: old conversations keep their folder)."""
    if cwd is None or not cwd.strip():
        return None
    if "\x00" in cwd or len(cwd) > 4096:
        raise InvalidInput("cwd must be an absolute folder path")
    path = os.path.normpath(os.path.expanduser(cwd.strip()))
    if not os.path.isabs(path):
        raise InvalidInput(f"cwd {cwd[:200]!r} is not an absolute path: give the full path of the project folder")
    return path


def _text_filter(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    if len(text) > _MAX_FILTER_TEXT:
        raise InvalidInput(f"text must be at most {_MAX_FILTER_TEXT} characters")
    return text.strip()


def _folder_exists(path: str) -> bool:
    return Path(path).is_dir()


_OWN_EXIT_WAIT_S = 5.0
"""How long a Codex this server is ending may take to exit before its thread counts as open elsewhere (Codex
exits on /quit within 0.1 s; Session.end escalates to signals after its grace period)."""

_MIN_START_S = 10.0
"""The least a start-up may take whatever the call's timeout_s: a first start in a new CODEX_HOME takes ~4 s."""

_SANDBOXES = ("read-only", "workspace-write", "danger-full-access")
_APPROVALS = ("on-request", "never")


class Manager:
    """Owns every conversation of this server process, live or not."""

    def __init__(self, settings: Settings, env: Mapping[str, str] | None = None, *, depth: int = 0) -> None:
        self.settings = settings
        self.depth = depth
        self.env = codex.codex_env(env)
        # A codex-mcp started inside a session of ours finds this on its parent Codex (nesting.py).
        self.env[nesting.DEPTH_ENV] = str(depth + 1)
        self.codex_home = codex_home(self.env)
        self._turned_off: set[str] = set()
        self.store = Store(settings.state_dir)
        self.codex_version: str | None = None
        self.load_problems: list[str] = []
        self._conversations: dict[str, Conversation] = {}
        self._starting = 0
        self._closed = False
        self._reaper: asyncio.Task[None] | None = None

    async def prepare(self) -> None:
        """Check the index of what earlier servers handed out (no transcript is read unless its file changed),
        prune if the settings ask for it, check which Codex we will run, start the idle reaper. A missing Codex
        is logged, not fatal: every tool call then says how to install it."""
        report = self.store.sync()
        self.load_problems = report.problems
        for problem in self.load_problems:
            log.error("state: %s", problem)
        if report.indexed or report.removed:
            log.info("index: %d record(s) indexed, %d dropped", report.indexed, report.removed)
        if self.settings.prune_after_days is not None:
            pruned = self.store.prune(self.settings.prune_after_days * 86400)
            if pruned.removed:
                log.info(
                    "pruned %d conversation(s) with no activity for %g days",
                    len(pruned.removed),
                    self.settings.prune_after_days,
                )
        try:
            binary = codex.find_codex(self.settings.codex_bin).path
        except CodexNotFound as exc:
            log.warning("%s", exc)
        else:
            self.codex_version = await codex.codex_version(binary, self.env)
            support = codex.version_support(self.codex_version)
            if support == "supported":
                log.info("using Codex %s at %s", self.codex_version, binary)
            else:
                log.warning(
                    "Codex %s at %s is %s: codex-mcp supports %s to %s (`npm install -g @openai/codex@%s`); "
                    "it may still work",
                    self.codex_version,
                    binary,
                    support.replace("_", " "),
                    codex.SUPPORTED_VERSIONS[0],
                    codex.SUPPORTED_VERSIONS[-1],
                    codex.RECOMMENDED_VERSION,
                )
        self._reaper = asyncio.create_task(self._reap_idle(), name="codex-idle-reaper")

    def _remember(self, conv: Conversation) -> Conversation:
        conv.on_change = self._persist
        with contextlib.suppress(OSError):
            conv.stored_mtime = self.store.path(conv.id).stat().st_mtime
        self._conversations[conv.id] = conv
        return conv

    def _persist(self, conv: Conversation) -> None:
        try:
            self.store.save(conv.record())
            conv.stored_mtime = self.store.path(conv.id).stat().st_mtime
        except OSError as exc:  # a full disk must not take the live conversation down with it
            log.error("could not save conversation %s: %s", conv.id, exc)

    def _known(self, cid: str) -> Conversation | None:
        """A conversation from memory or from the state dir, brought up to date with what another codex-mcp
        process (sharing the state dir) recorded, unless this process runs it live."""
        conv = self._conversations.get(cid)
        if conv is not None and conv.ownership is not None:
            return conv
        loaded = self.store.load(cid)
        if loaded is None:
            return conv
        record, mtime = loaded
        if conv is None:
            return self._remember(Conversation.from_record(record))
        if mtime > conv.stored_mtime:
            conv.refresh(Conversation.from_record(record))
            conv.stored_mtime = mtime
        return conv

    def _claim(self, conv: Conversation) -> None:
        """Make this process the one that runs the conversation live (ConversationElsewhere if another does)."""
        if conv.ownership is not None:
            return
        ownership = self.store.claim(conv.id)
        if ownership is None:
            raise ConversationElsewhere(conv.id)
        conv.ownership = ownership
        self._known(conv.id)  # read what the previous owner recorded, now that nobody else can write it

    # --- lookup ----------------------------------------------------------------------------------

    def get(self, conversation_id: str) -> Conversation:
        """The conversation with this id, live or not."""
        cid = check_conversation_id(conversation_id)
        conv = self._known(cid)
        if conv is None:
            raise UnknownConversation(cid)
        return conv

    def get_or_adopt(self, conversation_id: str) -> Conversation:
        """A known conversation, or one Codex knows (its rollout exists) that this server never handed out."""
        cid = check_conversation_id(conversation_id)
        conv = self._known(cid)
        if conv is not None:
            return conv
        rollout = find_rollout(self.codex_home, cid)
        if rollout is None:
            raise UnknownConversation(cid)
        found = read_settings(rollout)
        if not found.cwd:
            raise InvalidInput(
                f"Codex's rollout of thread {cid} ({rollout.name}) could not be read: it is damaged or not a rollout. "
                "Resume it in a terminal with `codex resume` to see what Codex says, or start a new conversation"
            )
        if not Path(found.cwd).is_dir():
            raise InvalidInput(
                f"conversation {cid} ran in {found.cwd!r}, which no longer exists: recreate the folder, "
                "or start a new conversation with codex_start"
            )
        options = LaunchOptions(
            cwd=found.cwd,
            model=found.model,
            sandbox=found.sandbox if found.sandbox in _SANDBOXES else None,  # type: ignore[arg-type]
            approval_policy=found.approval_policy if found.approval_policy in _APPROVALS else None,  # type: ignore[arg-type]
        )
        conv = Conversation(cid, options, end_reason="started outside codex-mcp", adopted=True)
        for index, (prompt, reply) in enumerate(read_history(rollout), start=1):
            turn = Turn(index=index, prompt=prompt, status=TurnStatus.COMPLETED, reply=reply, thread_id=cid)
            turn.on_change = lambda _turn: conv.changed()
            conv.turns.append(turn)
        self._remember(conv)
        conv.changed()
        log.info("adopted conversation %s from its rollout (%d earlier turns)", cid, len(conv.turns))
        return conv

    def live_conversations(self) -> list[Conversation]:
        """Conversations a live Codex session of this process backs now."""
        return [c for c in self._conversations.values() if c.live]

    def listing(
        self,
        *,
        limit: int = DEFAULT_LIST_LIMIT,
        cursor: str | None = None,
        state: ListState | None = None,
        cwd: str | None = None,
        text: str | None = None,
    ) -> Listing:
        """One page of every conversation in the state dir (also those other codex-mcp processes started):
        live ones first, then the most recently active. Read from the index: never a transcript."""
        if not (1 <= limit <= MAX_LIST_LIMIT):
            raise InvalidInput(f"limit must be between 1 and {MAX_LIST_LIMIT}")
        filters = Filters(
            live=None if state is None else state == "live",
            cwd=_folder_filter(cwd),
            text=_text_filter(text),
        )
        try:
            after = None if not cursor else decode_cursor(cursor, filters)
        except BadCursor as exc:
            raise InvalidInput(
                f"cursor {(cursor or '')[:40]!r} cannot be used: {exc}. Call codex_list without a cursor (and with the "
                "same filters) to start from the first page"
            ) from None
        try:
            return self._listing(filters, limit, after)
        except sqlite3.DatabaseError as exc:
            # A damaged index has been rebuilt empty by now: fill it from the records and try once more.
            log.warning("conversation index: %s; re-indexing the records", exc)
            self.load_problems += self.store.sync().problems
            return self._listing(filters, limit, after)

    def _listing(self, filters: Filters, limit: int, after: Position | None) -> Listing:
        here = {c.id: c for c in self.live_conversations()}
        elsewhere = {
            cid for cid in self.store.index.saved_live() if cid not in here and self.store.claimed_elsewhere(cid)
        }
        live_ids = set(here) | elsewhere
        summaries, position = self.store.index.page(filters, live_ids, limit, after)
        entries = [
            Listed(summary_of(here[s.id].record()) if s.id in here else s, here.get(s.id), s.id in elsewhere)
            for s in summaries
        ]
        return Listing(
            entries=entries,
            total=self.store.index.count(filters, live_ids),
            next_cursor=None if position is None else encode_cursor(position, filters),
        )

    def live_sessions(self) -> list[Session]:
        """Codex sessions running now."""
        return [c.session for c in self._conversations.values() if c.session is not None and c.session.live]

    # --- sessions --------------------------------------------------------------------------------

    async def _make_room(self) -> None:
        """Keep under the cap: reclaim the least recently used idle session, which stays resumable."""
        live = self.live_sessions()
        if len(live) + self._starting < self.settings.max_sessions:
            return
        idle = [s for s in live if s.state == State.IDLE and not s.busy]
        if not idle:
            raise TooManySessions(self.settings.max_sessions)
        victim = min(idle, key=lambda s: s.last_activity)
        log.info("reclaiming idle session %s to stay under %d", victim.thread_id, self.settings.max_sessions)
        await victim.end("evicted")

    def own_entries(self, options: LaunchOptions) -> list[mcpentries.Entry]:
        """The entries of Codex's config for this session that would start codex-mcp again inside it; none when
        nesting one level deeper is allowed on purpose (Settings.max_nesting)."""
        if self.depth + 1 <= self.settings.max_nesting:
            return []
        config = mcpentries.effective_config(
            self.codex_home, cwd=options.cwd, profile=options.profile, config=options.config
        )
        found = mcpentries.self_entries(config, self.env)
        new = sorted({e.name for e in found} - self._turned_off)
        if new:
            log.info("Codex's config registers codex-mcp (%s): turned off in the sessions we start", ", ".join(new))
            self._turned_off.update(new)
        return found

    def screens(self, options: LaunchOptions) -> tuple[dict[str, str], list[str]]:
        """The model migrations Codex offers and what to tell the client (start_screens)."""
        return start_screens(self.codex_home, options)

    def _tell_once(self, conv: Conversation, turn: Turn, notices: list[str]) -> None:
        """Put on this turn's result the notices this conversation has not shown the client yet."""
        new = [n for n in notices if n not in conv.notices_told]
        conv.notices_told.update(new)
        turn.notices = new

    async def _launch(
        self, argv: list[str], cwd: str, binary: codex.CodexBinary, timeout: float | None = None
    ) -> Session:
        await self._make_room()
        self._starting += 1
        try:
            return await Session.launch(
                argv,
                cwd,
                env={**self.env, **binary.env},
                codex_home=self.codex_home,
                rows=self.settings.rows,
                cols=self.settings.cols,
                # Start-up has its own bound (without a conversationId there is nothing to return early), held to
                # the call's own timeout; never below _MIN_START_S, the time a first start in a new CODEX_HOME can
                # take. A screen that is neither the composer nor a known dialog fails sooner (Session.launch).
                timeout=min(self.settings.start_timeout_s, max(timeout or 0.0, _MIN_START_S)),
                grace_s=self.settings.end_grace_s,
            )
        finally:
            self._starting -= 1

    async def _writer_elsewhere(self, thread_id: str) -> writers.Writer | None:
        """The Codex process that has this thread open, if any. A Codex this server started and is ending (its
        /quit or the signals are on the way) gets a few seconds to exit and let go of the thread first."""
        deadline = time.monotonic() + _OWN_EXIT_WAIT_S
        while True:
            writer = await asyncio.to_thread(
                writers.thread_writer, self.codex_home, thread_id, marker_env=SESSION_MARKER
            )
            if writer is None or not self._own_exiting(writer) or time.monotonic() > deadline:
                return writer
            await asyncio.sleep(0.05)

    def _own_exiting(self, writer: writers.Writer) -> bool:
        """True if the writer is a Codex of ours that is ending but has not exited yet."""
        for conv in self._conversations.values():
            session = conv.session
            if session is None or session.live or not session.terminal.alive:
                continue
            if writer.pid == session.terminal.pid or (writer.marker is not None and writer.marker == session.marker):
                return True
        return False

    async def _revive(
        self, conv: Conversation, prompt: str, timeout: float | None = None, upgrades: Mapping[str, str] | None = None
    ) -> tuple[Recovery, str]:
        """Bring back a conversation with no live session: resume its Codex thread, or, when Codex cannot,
        replay its history into a fresh session. Returns how, and the text to send for the prompt."""
        binary = codex.find_codex(self.settings.codex_bin)
        if not _folder_exists(conv.options.cwd):
            raise InvalidInput(
                f"conversation {conv.id} works in {conv.options.cwd}, which no longer exists: recreate the folder, "
                "or start a new conversation with codex_start"
            )
        began = time.monotonic()
        for attempt in (1, 2):
            # Never fork a thread another Codex has open (a person's `codex resume` in a terminal): it holds the
            # thread's writer lock, so resuming would fail, and replaying would split the conversation in two.
            writer = await self._writer_elsewhere(conv.thread_id)
            if writer is not None:
                log.info("thread %s is open in another Codex process (%s)", conv.thread_id, writer.describe())
                raise ThreadOpenElsewhere(conv.id, conv.thread_id, writer.describe(), writer.server_pid)
            if find_rollout(self.codex_home, conv.thread_id) is None:
                # Codex cannot resume a thread without its rollout; asking it would only cost a failed start.
                log.info("thread %s has no rollout; replaying its history", conv.thread_id)
                break
            try:
                argv = codex.resume_argv(
                    binary.path, conv.thread_id, conv.options, self.own_entries(conv.options), upgrades
                )
                session = await self._launch(argv, conv.options.cwd, binary, timeout)
            except CodexStartFailed as exc:
                if not writers.conflict_shown(exc.screen):
                    log.info("resume of %s failed (%s); replaying its history", conv.thread_id, exc.reason)
                    break
                # Another Codex took the thread between our look and Codex's start: look again (it names the
                # holder, or it has gone and the resume is worth one more try).
                log.info("resume of %s: Codex says the thread is open in another process", conv.thread_id)
                if attempt == 2:
                    raise ThreadOpenElsewhere(conv.id, conv.thread_id, "the system does not say which", None) from exc
            else:
                session.follow_resumed_thread()
                conv.attach(session)
                log.info("resumed %s (thread %s) in %.2fs", conv.id, conv.thread_id, time.monotonic() - began)
                return "resumed", prompt
        history = conv.history()
        if not history and (rollout := find_rollout(self.codex_home, conv.thread_id)) is not None:
            history = read_history(rollout)
        payload, omitted = replay_prompt(history, prompt, self.settings.replay_budget_chars)
        argv = codex.new_session_argv(binary.path, conv.options, self.own_entries(conv.options), upgrades)
        session = await self._launch(argv, conv.options.cwd, binary, timeout)
        conv.attach(session)
        log.info(
            "replayed %s into thread %s (%d turns, %d left out) in %.2fs",
            conv.id,
            conv.thread_id,
            len(history),
            omitted,
            time.monotonic() - began,
        )
        return "replayed", payload

    # --- operations ------------------------------------------------------------------------------

    async def start(
        self, prompt: str, options: LaunchOptions, timeout_s: float | None, wait: Waiter = plain_wait
    ) -> tuple[Conversation, Turn]:
        """Start a Codex session, send the first prompt, and wait (bounded) for its reply."""
        if self._closed:
            raise InvalidInput("the server is shutting down")
        timeout = check_timeout(timeout_s, self.settings.default_timeout_s)
        text = codex.sanitize_prompt(prompt)
        binary = codex.find_codex(self.settings.codex_bin)
        # Validates the config overrides before we spawn.
        upgrades, notices = self.screens(options)
        argv = codex.new_session_argv(binary.path, options, self.own_entries(options), upgrades)
        loop = asyncio.get_running_loop()
        started = loop.time()
        session = await self._launch(argv, options.cwd, binary, timeout)
        assert session.thread_id is not None
        try:
            conv = Conversation(session.thread_id, options)
            conv.ownership = self.store.claim(conv.id)
            self._remember(conv)
            conv.attach(session)
        except BaseException:
            await session.end("could not be recorded")  # never a Codex running that nobody knows about
            raise
        log.info("started conversation %s in %s (%.2fs)", conv.id, options.cwd, loop.time() - started)
        turn = conv.submit(text)
        self._tell_once(conv, turn, notices)
        await wait(conv, turn, max(0.0, timeout - (loop.time() - started)))
        return conv, turn

    async def reply(
        self, conversation_id: str, prompt: str, timeout_s: float | None, wait: Waiter = plain_wait
    ) -> tuple[Conversation, Turn]:
        """Queue the next prompt and wait (bounded) for its reply, bringing the conversation back first if
        no live session backs it."""
        if self._closed:
            raise InvalidInput("the server is shutting down")
        timeout = check_timeout(timeout_s, self.settings.default_timeout_s)
        text = codex.sanitize_prompt(prompt)
        conv = self.get_or_adopt(conversation_id)
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with conv.lock:
            if conv.live:
                turn = conv.submit(text)
            else:
                self._claim(conv)
                upgrades, notices = self.screens(conv.options)
                try:
                    recovery, payload = await self._revive(conv, text, timeout, upgrades)
                except BaseException:
                    if conv.ownership is not None and not conv.live:
                        conv.ownership.release()
                        conv.ownership = None
                    raise
                turn = conv.submit(text, payload=payload, recovery=recovery)
                self._tell_once(conv, turn, notices)
        await wait(conv, turn, max(0.0, timeout - (loop.time() - started)))
        return conv, turn

    async def status(
        self, conversation_id: str, wait_s: float, turn: int | None = None, wait: Waiter = plain_wait
    ) -> tuple[Conversation, Turn | None]:
        """The conversation and one of its turns (the latest unless a number is given), after waiting up to
        wait_s for that turn to settle."""
        if wait_s < 0 or wait_s > MAX_TIMEOUT_S:
            raise InvalidInput(f"wait_s must be between 0 and {MAX_TIMEOUT_S:g} seconds")
        conv = self.get(conversation_id)
        chosen = self.turn_of(conv, turn)
        if wait_s > 0 and chosen is not None and not chosen.settled:
            await wait(conv, chosen, wait_s)
        return conv, chosen

    @staticmethod
    def turn_of(conv: Conversation, number: int | None) -> Turn | None:
        """Turn number `number` (1-based), or the latest."""
        if number is None:
            return conv.latest_turn
        if 1 <= number <= len(conv.turns):
            return conv.turns[number - 1]
        raise InvalidInput(f"turn {number} does not exist: conversation {conv.id} has turns 1 to {len(conv.turns)}")

    async def interrupt(self, conversation_id: str) -> tuple[Conversation, Turn | None, bool]:
        """Stop the running turn (the session stays usable). Returns whether a turn was interrupted."""
        conv = self.get(conversation_id)
        session = conv.session
        current = session.current if session is not None else None
        if session is None or current is None or not session.interrupt():
            return conv, conv.latest_turn, False
        await current.wait(5.0)
        if not current.settled:
            await current.changed(5.0)
        return conv, current, True

    async def approve(
        self, conversation_id: str, decision: Decision, timeout_s: float | None, wait: Waiter = plain_wait
    ) -> tuple[Conversation, Turn]:
        """Answer the approval Codex is waiting for, then wait (bounded) for the turn to go on."""
        if self._closed:
            raise InvalidInput("the server is shutting down")
        timeout = check_timeout(timeout_s, self.settings.default_timeout_s)
        conv = self.get(conversation_id)
        turn = await self.answer_approval(conv, decision)
        await wait(conv, turn, timeout)
        return conv, turn

    async def answer_approval(self, conv: Conversation, decision: Decision) -> Turn:
        """Give Codex the decision and return once the dialog has gone (the turn runs on or was stopped)."""
        session = conv.session
        turn = session.current if session is not None else None
        if session is None or turn is None or turn.status != TurnStatus.WAITING_FOR_APPROVAL:
            raise NothingToApprove(conv.id)
        keys = codex.approval_keys(decision, codex.read_approval(session.screen.lines()))
        session.press(keys)
        loop = asyncio.get_running_loop()
        began = loop.time()
        while turn.status == TurnStatus.WAITING_FOR_APPROVAL and loop.time() - began < 5.0:
            await turn.changed(0.25)
        if decision == "deny":
            await turn.wait(5.0)  # Codex aborts the turn on a denial
            if cast(TurnStatus, turn.status) == TurnStatus.INTERRUPTED:  # changed while we awaited
                turn.error = "denied: Codex did not run it and stopped the turn; send a new prompt to go on"
                turn.changed_externally()
        return turn

    async def end(self, conversation_id: str, reason: str = "ended by client") -> Conversation:
        """End a conversation's Codex session; the conversation stays listed (and resumable)."""
        conv = self.get(conversation_id)
        if conv.session is not None:
            await conv.session.end(reason)
        return conv

    async def _reap_idle(self) -> None:
        """End sessions idle for longer than the idle timeout; their conversations stay resumable."""
        limit = self.settings.idle_timeout_s
        interval = max(0.5, min(30.0, limit / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await self._reap_once(limit)
            except Exception:  # the reaper must outlive any one bad session
                log.exception("idle reaper failed")

    async def _reap_once(self, limit: float) -> None:
        now = time.time()
        for conv in list(self._conversations.values()):
            session = conv.session
            if (
                session is not None
                and session.live
                and session.state == State.IDLE
                and not session.busy
                and now - session.last_activity > limit
            ):
                log.info("ending idle session of %s", conv.id)
                await session.end("idle")

    async def shutdown(self) -> None:
        """End every live session in parallel (server exit); their conversations stay resumable."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        live = [c for c in self._conversations.values() if c.session is not None and c.session.terminal.alive]
        if live:
            log.info("shutting down %d Codex session(s)", len(live))

        await asyncio.gather(*(c.session.end("server shutdown") for c in live if c.session), return_exceptions=True)
