"""Conversations by id: start, reply (bringing a conversation back when no live session backs it),
status, interrupt, approve, end, list, shutdown; persistence; the live-session cap and idle reclaim.
Knows nothing of MCP."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

from .._internal.tasks import Tasks
from ..codex.argv import check_name
from ..codex.images import check_images
from ..codex.keys import sanitize_prompt
from ..codex.review import ReviewRequest, ReviewRun
from ..codex.rollout import Compaction
from ..codex.settings import Effort, LaunchOptions
from ..config import MAX_TIMEOUT_S, Settings
from ..errors import (
    CodexMcpError,
    InvalidInput,
    NothingToApprove,
    SettingsRefused,
    TooManySessions,
    UnknownConversation,
)
from ..session.approvals import Decision
from ..storage.store import Holder, Store
from ..turn import Turn, TurnStatus
from .branching import Branching
from .conversation import Conversation
from .deadline import Deadline
from .inputs import check_conversation_id, check_cwd, check_timeout
from .launcher import Launcher, LaunchPlan
from .listing import Listing, ListQuery, list_page
from .repository import Repository
from .reviewer import Reviewer
from .reviver import Reviver, adopt_thread
from .spares import SpareBoard, Spares
from .waiting import Waiter, plain_wait

log = logging.getLogger(__name__)

_INTERRUPT_WITHIN_S = 10.0
"""How long codex_interrupt waits for the turn to be over: Codex stops it in milliseconds; what is left of the turn
(a denied approval, a slow write of the rollout on a loaded machine) is reported as it stands after this."""


def _settings(options: LaunchOptions) -> str:
    """A conversation's model and effort, as a message names them."""
    return f"model {options.model or '(Codex config)'}, effort {options.effort or '(Codex config)'}"


class Manager:
    """Owns every conversation of this server process, live or not."""

    def __init__(self, settings: Settings, env: Mapping[str, str] | None = None, *, depth: int = 0) -> None:
        self.settings = settings
        self.launcher = Launcher(settings, env, depth=depth, make_room=self.make_room)
        self.codex_home = self.launcher.codex_home
        self.store = Store(settings.state_dir)
        self.conversations = Repository(self.store)
        self.load_problems: list[str] = []
        self._closed = False
        self._tasks = Tasks()
        self.reviver = Reviver(settings, self.launcher, self.conversations)
        self.reviewer = Reviewer(settings, self.launcher, self.conversations, self._tasks, make_room=self.make_room)
        self.branching = Branching(settings, self.launcher, self.reviver, self.conversations)
        self.spares = Spares(settings.spare_keep_s, SpareBoard(settings.state_dir / "spares"))

    async def prepare(self) -> None:
        """Check the index of what earlier servers handed out (no transcript is read unless its file changed),
        prune if the settings ask for it, check which Codex we will run, start the idle reaper."""
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
        await self.launcher.check_codex()
        self._tasks.spawn(self._reap_idle(), name="codex-idle-reaper")
        if self.settings.prewarm:
            self._prewarm()

    def _prewarm(self) -> None:
        """Start the warm spare for the server's own folder with default settings: where a client's first
        codex_start most often goes (Claude Code starts its servers in the project folder)."""
        try:
            plan = self.launcher.plan_new(LaunchOptions(cwd=check_cwd(None)))
        except CodexMcpError as exc:  # the first codex_start reports it
            log.info("no warm spare at start: %s", exc)
            return
        self._want_spare(plan)

    def _want_spare(self, plan: LaunchPlan) -> None:
        """Have a spare ready for the next start with this plan (Spares.want), if the cap has room."""
        self.spares.want(
            plan.spare_key,
            lambda: self.launcher.launch_spare(plan),
            room=self._places_taken() < self.settings.max_sessions,
        )

    # --- lookup ----------------------------------------------------------------------------------

    def get(self, conversation_id: str) -> Conversation:
        """The conversation with this id, live or not."""
        cid = check_conversation_id(conversation_id)
        conv = self.conversations.find(cid)
        if conv is None:
            raise UnknownConversation(cid)
        return conv

    def spare_elsewhere(self, options: LaunchOptions) -> int | None:
        """The pid of another window's server that keeps a warm spare for a start with these settings, when this
        one has none (a codex_start is then best passed on to it)."""
        board = self.spares.board
        if board is None or self._closed:
            return None
        key = self.launcher.plan_new(options).spare_key
        return None if self.spares.has(key) else board.holder(key)

    def holder_elsewhere(self, conversation_id: str) -> Holder | None:
        """The other codex-mcp server that runs this conversation live, if one does."""
        if self.conversations.owns(conversation_id):
            return None
        return self.conversations.store.holder(conversation_id)

    def get_or_adopt(self, conversation_id: str) -> Conversation:
        """A known conversation, or one Codex knows (its rollout exists) that this server never handed out."""
        cid = check_conversation_id(conversation_id)
        conv = self.conversations.find(cid)
        if conv is not None:
            return conv
        conv = self.conversations.add(adopt_thread(self.codex_home, cid))
        conv.changed()
        return conv

    def live_conversations(self) -> list[Conversation]:
        """Conversations a live Codex session of this process backs now."""
        return self.conversations.live()

    def listing(self, query: ListQuery) -> Listing:
        """One page of every conversation in the state dir (listing.list_page)."""
        here = {c.id: c for c in self.live_conversations()}
        return list_page(self.store, here, self.load_problems, query)

    # --- sessions --------------------------------------------------------------------------------

    def _places_taken(self) -> int:
        """Live sessions, sessions starting (a starting spare among them), a ready spare and running reviews."""
        return len(self.conversations.live()) + self.launcher.starting + self.spares.ready + self.reviewer.running

    async def make_room(self) -> None:
        """Before a conversation's session starts (the launcher's hook), keep under the cap: the warm spare goes
        first, then the least recently used idle session, which stays resumable."""
        if self._places_taken() < self.settings.max_sessions:
            return
        if await self.spares.give_up() and self._places_taken() < self.settings.max_sessions:
            return
        idle = [c for c in self.conversations.live() if c.idle]
        if not idle:
            raise TooManySessions(self.settings.max_sessions)
        victim = min(idle, key=lambda c: c.session_activity)
        log.info("reclaiming idle session %s to stay under %d", victim.thread_id, self.settings.max_sessions)
        await victim.end("evicted")

    @staticmethod
    async def _show(conv: Conversation, turn: Turn) -> None:
        """A turn returned before it settled: the caller will ask for it by number (keep it on disk), and the
        result carries the screen (have it whole: Repaints.fresh)."""
        if not turn.settled:
            conv.keep_unsettled(turn)
            await conv.fresh_screen()

    def _tell_once(self, conv: Conversation, turn: Turn, notices: Sequence[str]) -> None:
        """Put on this turn's result the notices this conversation has not shown the client yet."""
        new = [n for n in notices if n not in conv.notices_told]
        conv.notices_told.update(new)
        turn.notices = new

    # --- operations ------------------------------------------------------------------------------

    async def start(
        self,
        prompt: str,
        options: LaunchOptions,
        timeout_s: float | None,
        wait: Waiter = plain_wait,
        *,
        images: Sequence[str] | None = None,
    ) -> tuple[Conversation, Turn]:
        """Start a Codex session, send the first prompt (with its images), and wait (bounded) for its reply."""
        if self._closed:
            raise InvalidInput("the server is shutting down")
        deadline = Deadline.after(check_timeout(timeout_s, self.settings.default_timeout_s))
        text = sanitize_prompt(prompt)
        attached = check_images(images)
        plan = self.launcher.plan_new(options)  # validates the config overrides before we spawn
        session = await self.spares.take(plan.spare_key) or await self.launcher.launch(plan, deadline)
        assert session.thread_id is not None
        try:
            conv = Conversation(session.thread_id, options)
            self.conversations.claim_new(conv)
            self.conversations.add(conv)
            conv.attach(session)
        except BaseException:
            await session.end("could not be recorded")  # never a Codex running that nobody knows about
            raise
        log.info("started conversation %s in %s (%.2fs)", conv.id, options.cwd, deadline.elapsed())
        if self.settings.thread_title == "prompt":
            session.name_thread(text)
        turn = conv.submit(text, images=attached)
        self._tell_once(conv, turn, plan.notices)
        await wait(conv, turn, deadline.left())
        await self._show(conv, turn)
        # The next start with these settings finds Codex ready; started now, not during the first turn, which
        # it would slow down on a small machine.
        self._want_spare(plan)
        return conv, turn

    async def reply(
        self,
        conversation_id: str,
        prompt: str,
        timeout_s: float | None,
        wait: Waiter = plain_wait,
        *,
        model: str | None = None,
        effort: Effort | None = None,
        images: Sequence[str] | None = None,
        steer: bool = False,
    ) -> tuple[Conversation, Turn, bool]:
        """Queue the next prompt (with its images) and wait (bounded) for its reply, bringing the conversation back
        first if no live session backs it. A model or effort applies from this turn on and sticks for the
        conversation. steer: add the prompt to the turn Codex is running instead, when one runs. Returns the
        conversation, the turn, and whether the prompt was added to a running turn (steered)."""
        if self._closed:
            raise InvalidInput("the server is shutting down")
        deadline = Deadline.after(check_timeout(timeout_s, self.settings.default_timeout_s))
        text = sanitize_prompt(prompt)
        attached = check_images(images)
        if model:
            check_name("model", model)
        if steer and (model or effort):
            raise InvalidInput(
                "steer adds to the running turn, whose model and effort are set: send them without steer"
            )
        conv = self.get_or_adopt(conversation_id)
        turn, steered = await self._send(conv, text, deadline, wait, model, effort, attached, steer)
        return conv, turn, steered

    async def _send(
        self,
        conv: Conversation,
        text: str,
        deadline: Deadline,
        wait: Waiter,
        model: str | None = None,
        effort: Effort | None = None,
        attached: Sequence[str] = (),
        steer: bool = False,
    ) -> tuple[Turn, bool]:
        """The next turn of conv (text checked, and sanitised once), sent the way codex_reply sends it; the turn,
        and whether it was added to a running one (steered)."""
        async with conv.lock:
            steered = conv.steer(text, list(attached)) if steer else None
            before = conv.options
            conv.options = replace(before, model=model or before.model, effort=effort or before.effort)
            if conv.options != before:
                conv.changed()
            if conv.live and conv.launched_with != conv.options:
                # Codex takes its model and effort at start: resume the thread with the new ones (same thread,
                # same context), as a person would quit and `codex resume -m ...`.
                await conv.end(f"settings changed ({_settings(conv.options)})")
            if steered is not None:
                turn = steered
            elif conv.live:
                turn = conv.submit(text, images=list(attached))
            else:
                with self.conversations.claimed(conv):
                    recovery, payload, notices = await self.reviver.revive(conv, text, deadline)
                turn = conv.submit(text, payload=payload, recovery=recovery, images=list(attached))
                self._tell_once(conv, turn, notices)
        await wait(conv, turn, deadline.left())
        if conv.options != before and turn.status == TurnStatus.FAILED and "model" in (turn.error or "").lower():
            # Codex could not use what was asked for (an unknown model, an effort the model refuses): go back to
            # the settings that worked, so the next reply runs as before.
            asked = _settings(conv.options)
            conv.options = before
            conv.changed()
            raise SettingsRefused(conv.id, asked, _settings(before), turn.error or "")
        await self._show(conv, turn)
        return turn, steered is not None

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
        await conv.fresh_screen()  # the status shows it
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
        current = conv.interrupt()
        if current is None:
            return conv, conv.latest_turn, False
        await conv.until_stopped(current, _INTERRUPT_WITHIN_S)
        return conv, current, True

    async def approve(
        self, conversation_id: str, decision: Decision, timeout_s: float | None, wait: Waiter = plain_wait
    ) -> tuple[Conversation, Turn]:
        """Answer the approval Codex is waiting for, then wait (bounded) for the turn to go on."""
        if self._closed:
            raise InvalidInput("the server is shutting down")
        deadline = Deadline.after(check_timeout(timeout_s, self.settings.default_timeout_s))
        conv = self.get(conversation_id)
        turn = await self.answer_approval(conv, decision)
        await wait(conv, turn, deadline.left())
        await self._show(conv, turn)
        return conv, turn

    async def answer_approval(self, conv: Conversation, decision: Decision) -> Turn:
        """Give Codex the decision and return once the dialog has gone (the turn runs on or was stopped)."""
        turn = conv.answer(decision)
        if turn is None:
            raise NothingToApprove(conv.id)
        loop = asyncio.get_running_loop()
        began = loop.time()
        while turn.status == TurnStatus.WAITING_FOR_APPROVAL and loop.time() - began < 5.0:
            await turn.changed(0.25)
        if decision == "deny":
            await turn.wait(5.0)  # Codex aborts the turn on a denial
            if turn.status == TurnStatus.INTERRUPTED:  # changed while we awaited
                turn.error = "denied: Codex did not run it and stopped the turn; send a new prompt to go on"
                turn.changed_externally()
        return turn

    async def fork(
        self,
        conversation_id: str,
        prompt: str,
        at_turn: int | None,
        timeout_s: float | None,
        wait: Waiter = plain_wait,
        *,
        model: str | None = None,
        effort: Effort | None = None,
    ) -> tuple[Conversation, Turn, Conversation]:
        """A new conversation whose Codex thread holds this one's through at_turn (all of it when None), then the
        prompt as its first turn of its own. Returns the fork, that turn, and the parent (untouched)."""
        if self._closed:
            raise InvalidInput("the server is shutting down")
        deadline = Deadline.after(check_timeout(timeout_s, self.settings.default_timeout_s))
        text = sanitize_prompt(prompt)
        if model:
            check_name("model", model)
        parent = self.get_or_adopt(conversation_id)
        async with parent.lock:
            child = await self.branching.fork(parent, at_turn, deadline, model=model, effort=effort)
        turn, _ = await self._send(child, text, deadline, wait)
        return child, turn, parent

    async def rewind(self, conversation_id: str, to_turn: int) -> tuple[Conversation, list[Turn]]:
        """Take the turns after to_turn out of the conversation's Codex thread (the record keeps them, marked)."""
        if self._closed:
            raise InvalidInput("the server is shutting down")
        deadline = Deadline.after(self.settings.start_timeout_s)
        conv = self.get_or_adopt(conversation_id)
        async with conv.lock:
            return conv, await self.branching.rewind(conv, to_turn, deadline)

    async def compact(
        self, conversation_id: str, timeout_s: float | None, wait: Waiter = plain_wait
    ) -> tuple[Conversation, Turn, Compaction | None]:
        """Codex's own compaction of the conversation's thread, on its live session (resumed first if needed); what
        the compaction wrote, once it is done."""
        if self._closed:
            raise InvalidInput("the server is shutting down")
        deadline = Deadline.after(check_timeout(timeout_s, self.settings.default_timeout_s))
        conv = self.get_or_adopt(conversation_id)
        async with conv.lock:
            turn = await self.branching.compact(conv, deadline)
        await wait(conv, turn, deadline.left())
        found = self.branching.summary_of(conv, turn) if turn.status == TurnStatus.COMPLETED else None
        await self._show(conv, turn)
        return conv, turn, found

    async def end(self, conversation_id: str, reason: str = "ended by client") -> Conversation:
        """End a conversation's Codex session; the conversation stays listed (and resumable)."""
        conv = self.get(conversation_id)
        await conv.end(reason)
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
        for conv in self.conversations:
            if conv.idle and now - conv.session_activity > limit:
                log.info("ending idle session of %s", conv.id)
                await conv.end("idle")

    async def review(
        self, request: ReviewRequest, timeout_s: float | None, wait: Waiter = plain_wait
    ) -> tuple[Conversation, Turn, ReviewRun]:
        """Run Codex's own reviewer and record it as a conversation (Reviewer.review)."""
        if self._closed:
            raise InvalidInput("the server is shutting down")
        deadline = Deadline.after(check_timeout(timeout_s, self.settings.default_timeout_s))
        return await self.reviewer.review(request, deadline, wait)

    async def shutdown(self) -> None:
        """End every live session in parallel (server exit); their conversations stay resumable."""
        self._closed = True
        await self._tasks.close()
        live = [c for c in self.conversations if c.has_process]
        if live:
            log.info("shutting down %d Codex session(s)", len(live))
        await asyncio.gather(
            self.spares.close(self.settings.end_grace_s),
            *(c.end("server shutdown") for c in live),
            return_exceptions=True,
        )
