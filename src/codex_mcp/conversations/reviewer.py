"""Running Codex's own reviewer for codex_review: `codex review` on a git target (review.py says why not the TUI's
/review), recorded as a conversation whose first turn is the review, so codex_reply asks follow-ups in the same
Codex thread."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

from .._internal.tasks import Tasks
from ..codex.keys import sanitize_prompt
from ..codex.review import (
    RecordedReview,
    ReviewProcess,
    ReviewRequest,
    ReviewRun,
    describe,
    read_review,
    resolve_target,
)
from ..codex.rollout import find_rollout, read_records
from ..codex.settings import LaunchOptions
from ..config import Settings
from ..ending import Ending
from ..errors import CodexStartFailed
from ..turn import Turn, TurnStatus
from .conversation import Conversation
from .deadline import Deadline
from .launcher import Launcher, MakeRoom
from .repository import Repository
from .waiting import Waiter, plain_wait

log = logging.getLogger(__name__)


class Reviewer:
    """Starts reviews and settles them when Codex's review process ends."""

    def __init__(
        self,
        settings: Settings,
        launcher: Launcher,
        conversations: Repository,
        tasks: Tasks,
        make_room: MakeRoom | None = None,
    ) -> None:
        self.settings = settings
        self.launcher = launcher
        self.codex_home = launcher.codex_home
        self.conversations = conversations
        self._tasks = tasks
        self._make_room = make_room
        self.running = 0
        """Reviews whose `codex review` runs now: each is a Codex process, and counts in the live-session cap."""

    async def review(
        self, request: ReviewRequest, deadline: Deadline, wait: Waiter = plain_wait
    ) -> tuple[Conversation, Turn, ReviewRun]:
        """Run Codex's own reviewer on a git target (`codex review`: review.py says why not the TUI's /review),
        record it as a conversation whose first turn is the review, and wait (bounded) for it. Nothing runs
        unless git shows something to review. codex_reply on the conversation resumes the review's thread."""
        focus = request.instructions
        focus = sanitize_prompt(focus) if focus and focus.strip() else None
        target = await resolve_target(request.options.cwd, request.base, request.commit, self.launcher.env)
        # What `codex review` runs with anyway (read-only, approval never): a resume for a follow-up keeps it.
        options = replace(request.options, sandbox="read-only", approval_policy="never")
        plan = self.launcher.plan_review(target, options, focus)
        if self._make_room is not None:
            await self._make_room()  # a review is a Codex process too: under the cap, as a session's start is
        self.running += 1
        try:
            proc = await ReviewProcess.start(list(plan.argv), plan.cwd, dict(plan.env))
        except BaseException:
            self.running -= 1
            raise
        try:
            # Codex prints the thread id in its header before it asks the model: the conversationId from then on.
            cid = await proc.thread_id(deadline.startup_s(self.settings.start_timeout_s))
            if cid is None:
                await proc.kill()
                raise CodexStartFailed("`codex review` started no thread", proc.problem().splitlines())
            conv, turn = self._review_conversation(cid, options, describe(target, focus))
        except BaseException:
            await proc.kill()
            self.running -= 1
            raise
        run = ReviewRun(target)
        # Held until the review ends: a codex_reply on it meanwhile waits, then resumes the finished thread.
        await conv.lock.acquire()
        self._tasks.spawn(self._finish_review(conv, turn, proc, run), name=f"codex-review-{cid}")
        try:
            await wait(conv, turn, deadline.left())
        except asyncio.CancelledError:
            run.stopped = True  # the client gave up on the call: stop Codex's review with it
            proc.stop()
            raise
        return conv, turn, run

    def _review_conversation(self, cid: str, options: LaunchOptions, prompt: str) -> tuple[Conversation, Turn]:
        """The conversation a review becomes: no live session (Codex's review process is not a TUI), one running
        turn."""
        conv = Conversation(cid, options, ending=Ending.ended(REVIEW_END_REASON))
        turn = conv.new_turn(prompt, status=TurnStatus.RUNNING, thread_id=cid, started_at=time.time())
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
            self.running -= 1
            conv.lock.release()


REVIEW_END_REASON = "codex review (no live session: codex_reply resumes its thread)"
"""What a review's conversation says about its session: `codex review` ran it and exited."""
