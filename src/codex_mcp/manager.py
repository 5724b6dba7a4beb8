"""Conversations by id: start, reply (bringing a conversation back when no live session backs it),
status, interrupt, approve, end, list, shutdown; persistence; the live-session cap and idle reclaim.
Knows nothing of MCP."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from . import codex, mcpentries, writers
from .approvals import Decision
from .codex import Effort, LaunchOptions
from .config import MAX_TIMEOUT_S, Settings
from .conversation import Conversation
from .errors import (
    CodexStartFailed,
    InvalidInput,
    NothingToApprove,
    SettingsRefused,
    ThreadOpenElsewhere,
    TooManySessions,
    UnknownConversation,
)
from .images import check_images
from .inputs import check_conversation_id, check_timeout
from .launcher import MIN_START_S, Launcher
from .listing import Listing, ListQuery, list_page
from .replay import replay_prompt
from .repository import Repository
from .review import (
    RecordedReview,
    ReviewProcess,
    ReviewRequest,
    ReviewRun,
    ReviewTarget,
    describe,
    focus_instructions,
    read_review,
    resolve_target,
    review_argv,
)
from .rollout import find_rollout, read_history, read_records, read_settings
from .session import SESSION_MARKER, Session
from .store import Store
from .tasks import Tasks
from .turn import Recovery, Turn, TurnStatus

log = logging.getLogger(__name__)

Waiter = Callable[[Conversation, Turn, float], Awaitable[None]]
"""How a call waits for its turn (at most the given seconds). The server's waiter also sends progress
notifications, asks the client about approvals and interrupts the turn if the call is cancelled."""


async def plain_wait(conv: Conversation, turn: Turn, timeout: float) -> None:
    """Wait for the turn to settle or to need a decision, at most timeout seconds."""
    await turn.wait(timeout)


def _settings(options: LaunchOptions) -> str:
    """A conversation's model and effort, as a message names them."""
    return f"model {options.model or '(Codex config)'}, effort {options.effort or '(Codex config)'}"


def _folder_exists(path: str) -> bool:
    return Path(path).is_dir()


_OWN_EXIT_WAIT_S = 5.0
"""How long a Codex this server is ending may take to exit before its thread counts as open elsewhere (Codex
exits on /quit within 0.1 s; Session.end escalates to signals after its grace period)."""

_SANDBOXES = ("read-only", "workspace-write", "danger-full-access")
_APPROVALS = ("on-request", "never")


class Manager:
    """Owns every conversation of this server process, live or not."""

    def __init__(self, settings: Settings, env: Mapping[str, str] | None = None, *, depth: int = 0) -> None:
        self.settings = settings
        self.launcher = Launcher(settings, env, depth=depth)
        self.codex_home = self.launcher.codex_home
        self.store = Store(settings.state_dir)
        self.conversations = Repository(self.store)
        self.load_problems: list[str] = []
        self._closed = False
        self._tasks = Tasks()

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

    # --- lookup ----------------------------------------------------------------------------------

    def get(self, conversation_id: str) -> Conversation:
        """The conversation with this id, live or not."""
        cid = check_conversation_id(conversation_id)
        conv = self.conversations.find(cid)
        if conv is None:
            raise UnknownConversation(cid)
        return conv

    def get_or_adopt(self, conversation_id: str) -> Conversation:
        """A known conversation, or one Codex knows (its rollout exists) that this server never handed out."""
        cid = check_conversation_id(conversation_id)
        conv = self.conversations.find(cid)
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
        self.conversations.add(conv)
        conv.changed()
        log.info("adopted conversation %s from its rollout (%d earlier turns)", cid, len(conv.turns))
        return conv

    def live_conversations(self) -> list[Conversation]:
        """Conversations a live Codex session of this process backs now."""
        return self.conversations.live()

    def listing(self, query: ListQuery) -> Listing:
        """One page of every conversation in the state dir (listing.list_page)."""
        here = {c.id: c for c in self.live_conversations()}
        return list_page(self.store, here, self.load_problems, query)

    # --- sessions --------------------------------------------------------------------------------

    async def _make_room(self) -> None:
        """Keep under the cap: reclaim the least recently used idle session, which stays resumable."""
        live = self.conversations.live()
        if len(live) + self.launcher.starting < self.settings.max_sessions:
            return
        idle = [c for c in live if c.idle]
        if not idle:
            raise TooManySessions(self.settings.max_sessions)
        victim = min(idle, key=lambda c: c.session_activity)
        log.info("reclaiming idle session %s to stay under %d", victim.thread_id, self.settings.max_sessions)
        await victim.end("evicted")

    def _tell_once(self, conv: Conversation, turn: Turn, notices: list[str]) -> None:
        """Put on this turn's result the notices this conversation has not shown the client yet."""
        new = [n for n in notices if n not in conv.notices_told]
        conv.notices_told.update(new)
        turn.notices = new

    async def _launch(self, argv: list[str], cwd: str, binary: codex.CodexBinary, timeout: float | None) -> Session:
        await self._make_room()
        return await self.launcher.launch(argv, cwd, binary, timeout)

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
        return any(conv.runs_process(writer.pid, writer.marker) for conv in self.conversations)

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
                argv = self.launcher.resume_argv(binary, conv.thread_id, conv.options, upgrades)
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
                session.turns.follow_resumed_thread()
                conv.attach(session)
                log.info("resumed %s (thread %s) in %.2fs", conv.id, conv.thread_id, time.monotonic() - began)
                return "resumed", prompt
        history = conv.history()
        if not history and (rollout := find_rollout(self.codex_home, conv.thread_id)) is not None:
            history = read_history(rollout)
        payload, omitted = replay_prompt(history, prompt, self.settings.replay_budget_chars)
        argv = self.launcher.new_argv(binary, conv.options, upgrades)
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
        timeout = check_timeout(timeout_s, self.settings.default_timeout_s)
        text = codex.sanitize_prompt(prompt)
        attached = check_images(images)
        binary = codex.find_codex(self.settings.codex_bin)
        # Validates the config overrides before we spawn.
        upgrades, notices = self.launcher.screens(options)
        argv = self.launcher.new_argv(binary, options, upgrades)
        loop = asyncio.get_running_loop()
        started = loop.time()
        session = await self._launch(argv, options.cwd, binary, timeout)
        assert session.thread_id is not None
        try:
            conv = Conversation(session.thread_id, options)
            self.conversations.claim_new(conv)
            self.conversations.add(conv)
            conv.attach(session)
        except BaseException:
            await session.end("could not be recorded")  # never a Codex running that nobody knows about
            raise
        log.info("started conversation %s in %s (%.2fs)", conv.id, options.cwd, loop.time() - started)
        turn = conv.submit(text, images=attached)
        self._tell_once(conv, turn, notices)
        await wait(conv, turn, max(0.0, timeout - (loop.time() - started)))
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
    ) -> tuple[Conversation, Turn]:
        """Queue the next prompt (with its images) and wait (bounded) for its reply, bringing the conversation back
        first if no live session backs it. A model or effort applies from this turn on and sticks for the
        conversation. steer: add the prompt to the turn Codex is running instead, when one runs."""
        if self._closed:
            raise InvalidInput("the server is shutting down")
        timeout = check_timeout(timeout_s, self.settings.default_timeout_s)
        text = codex.sanitize_prompt(prompt)
        attached = check_images(images)
        if model:
            codex.check_name("model", model)
        if steer and (model or effort):
            raise InvalidInput(
                "steer adds to the running turn, whose model and effort are set: send them without steer"
            )
        conv = self.get_or_adopt(conversation_id)
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with conv.lock:
            steered = conv.steer(text, attached) if steer else None
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
                turn = conv.submit(text, images=attached)
            else:
                self.conversations.claim(conv)
                upgrades, notices = self.launcher.screens(conv.options)
                try:
                    recovery, payload = await self._revive(conv, text, timeout, upgrades)
                except BaseException:
                    if not conv.live:
                        self.conversations.release(conv)
                    raise
                turn = conv.submit(text, payload=payload, recovery=recovery, images=attached)
                self._tell_once(conv, turn, notices)
        await wait(conv, turn, max(0.0, timeout - (loop.time() - started)))
        if conv.options != before and turn.status == TurnStatus.FAILED and "model" in (turn.error or "").lower():
            # Codex could not use what was asked for (an unknown model, an effort the model refuses): go back to
            # the settings that worked, so the next reply runs as before.
            asked = _settings(conv.options)
            conv.options = before
            conv.changed()
            raise SettingsRefused(conv.id, asked, _settings(before), turn.error or "")
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
        current = conv.interrupt()
        if current is None:
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

    async def shutdown(self) -> None:
        """End every live session in parallel (server exit); their conversations stay resumable."""
        self._closed = True
        await self._tasks.close()
        live = [c for c in self.conversations if c.has_process]
        if live:
            log.info("shutting down %d Codex session(s)", len(live))
        await asyncio.gather(*(c.end("server shutdown") for c in live), return_exceptions=True)

    # --- reviews ---------------------------------------------------------------------------------

    async def review(
        self, request: ReviewRequest, timeout_s: float | None, wait: Waiter = plain_wait
    ) -> tuple[Conversation, Turn, ReviewRun]:
        """Run Codex's own reviewer on a git target (`codex review`: review.py says why not the TUI's /review),
        record it as a conversation whose first turn is the review, and wait (bounded) for it. Nothing runs
        unless git shows something to review. codex_reply on the conversation resumes the review's thread."""
        if self._closed:
            raise InvalidInput("the server is shutting down")
        timeout = check_timeout(timeout_s, self.settings.default_timeout_s)
        focus = request.instructions
        focus = codex.sanitize_prompt(focus) if focus and focus.strip() else None
        target = await resolve_target(request.cwd, request.base, request.commit, self.launcher.env)
        binary = codex.find_codex(self.settings.codex_bin)
        # What `codex review` runs with anyway (read-only, approval never): a resume for a follow-up keeps it.
        options = LaunchOptions(
            cwd=request.cwd,
            model=request.model or None,
            sandbox="read-only",
            approval_policy="never",
            effort=request.effort,
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        proc = await ReviewProcess.start(
            self._review_argv(binary, target, options, focus),
            request.cwd,
            {
                **self.launcher.env,
                **binary.env,
            },
        )
        try:
            # Codex prints the thread id in its header before it asks the model: the conversationId from then on.
            cid = await proc.thread_id(min(self.settings.start_timeout_s, max(timeout, MIN_START_S)))
            if cid is None:
                await proc.kill()
                raise CodexStartFailed("`codex review` started no thread", proc.problem().splitlines())
            conv, turn = self._review_conversation(cid, options, describe(target, focus))
        except BaseException:
            await proc.kill()
            raise
        run = ReviewRun(target)
        # Held until the review ends: a codex_reply on it meanwhile waits, then resumes the finished thread.
        await conv.lock.acquire()
        self._tasks.spawn(self._finish_review(conv, turn, proc, run), name=f"codex-review-{cid}")
        try:
            await wait(conv, turn, max(0.0, timeout - (loop.time() - started)))
        except asyncio.CancelledError:
            run.stopped = True  # the client gave up on the call: stop Codex's review with it
            proc.stop()
            raise
        return conv, turn, run

    def _review_argv(
        self, binary: codex.CodexBinary, target: ReviewTarget, options: LaunchOptions, focus: str | None
    ) -> list[str]:
        developer = None
        if focus:
            # A -c developer_instructions replaces the config's own: keep the user's in front of the focus.
            config = mcpentries.effective_config(self.codex_home, cwd=options.cwd)
            existing = config.get("developer_instructions")
            developer = focus_instructions(focus, existing if isinstance(existing, str) else None)
        return review_argv(
            binary.path,
            target,
            model=options.model,
            effort=options.effort,
            developer_instructions=developer,
            extra=codex.disable_entries(self.launcher.own_entries(options), {}),
        )

    def _review_conversation(self, cid: str, options: LaunchOptions, prompt: str) -> tuple[Conversation, Turn]:
        """The conversation a review becomes: no live session (Codex's review process is not a TUI), one running
        turn."""
        conv = Conversation(cid, options, end_reason=REVIEW_END_REASON)
        turn = Turn(index=1, prompt=prompt, status=TurnStatus.RUNNING, thread_id=cid, started_at=time.time())
        turn.on_change = lambda _turn: conv.changed()
        conv.turns.append(turn)
        self.conversations.add(conv)
        conv.changed()
        log.info("review %s started in %s", cid, options.cwd)
        return conv, turn

    async def _finish_review(self, conv: Conversation, turn: Turn, proc: ReviewProcess, run: ReviewRun) -> None:
        """Wait for `codex review` to end and settle the review's turn from what its rollout records."""
        try:
            code, stdout = await proc.finish()
            rollout = find_rollout(self.codex_home, conv.id)
            recorded = read_review(read_records(rollout)) if rollout else RecordedReview(None, None, None)
            run.output = recorded.output
            turn.payload = recorded.request or turn.payload
            if run.stopped:
                turn.fail("the caller cancelled the review; Codex was stopped")
            elif code == 0 and (recorded.reply or stdout.strip()):
                turn.reply = recorded.reply or stdout.strip()
                turn.set_status(TurnStatus.COMPLETED)
            else:
                turn.fail(f"`codex review` failed (exit code {code}): {proc.problem() or 'no output'}")
            log.info("review %s: %s", conv.id, turn.status.value)
        except asyncio.CancelledError:  # server shutdown
            await proc.kill()
            turn.fail("the server shut down during the review")
            raise
        finally:
            conv.lock.release()


REVIEW_END_REASON = "codex review (no live session: codex_reply resumes its thread)"
"""What a review's conversation says about its session: `codex review` ran it and exited."""
