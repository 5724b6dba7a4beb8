"""Bringing a conversation back when no live session backs it: resume its Codex thread with the conversation's
settings, or replay its history into a new session when Codex cannot resume it; never fork a thread another Codex
process has open. Also adopting a thread Codex knows that codex-mcp never handed out."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import get_args

from ..codex import writers
from ..codex.replay import replay_prompt
from ..codex.rollout import find_rollout, read_history, read_settings, thread_named
from ..codex.settings import ApprovalPolicy, LaunchOptions, Sandbox
from ..config import Settings
from ..ending import Ending
from ..errors import CodexStartFailed, InvalidInput, ThreadOpenElsewhere, UnknownConversation
from ..session.session import SESSION_MARKER
from ..turn import Recovery, TurnStatus
from .conversation import Conversation
from .deadline import Deadline
from .launcher import Launcher
from .repository import Repository

log = logging.getLogger(__name__)

_OWN_EXIT_WAIT_S = 5.0
"""How long a Codex this server is ending may take to exit before its thread counts as open elsewhere (Codex
exits on /quit within 0.1 s; Session.end escalates to signals after its grace period)."""

_SANDBOXES: dict[str | None, Sandbox] = {s: s for s in get_args(Sandbox)}
_APPROVALS: dict[str | None, ApprovalPolicy] = {a: a for a in get_args(ApprovalPolicy)}
"""What an adopted rollout may say that our tools accept too (anything else: Codex's config decides)."""


def _folder_exists(path: str) -> bool:
    return Path(path).is_dir()


def adopt_thread(codex_home: Path, cid: str) -> Conversation:
    """A conversation for a thread Codex knows (its rollout exists) that codex-mcp never handed out, with the
    settings and turns its rollout records. UnknownConversation when Codex has no rollout for it either."""
    rollout = find_rollout(codex_home, cid)
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
        sandbox=_SANDBOXES.get(found.sandbox),
        approval_policy=_APPROVALS.get(found.approval_policy),
    )
    conv = Conversation(cid, options, ending=Ending.ended("started outside codex-mcp"), adopted=True)
    for prompt, reply in read_history(rollout):
        conv.new_turn(prompt, status=TurnStatus.COMPLETED, reply=reply, thread_id=cid)
    log.info("adopted conversation %s from its rollout (%d earlier turns)", cid, len(conv.turns))
    return conv


class Reviver:
    """Resumes or replays conversations, with the manager's launcher, settings and conversations: it chooses a
    plan (resume, else new for a replay) and the launcher starts it."""

    def __init__(self, settings: Settings, launcher: Launcher, conversations: Repository) -> None:
        self.settings = settings
        self.launcher = launcher
        self.codex_home = launcher.codex_home
        self.conversations = conversations

    async def writer_elsewhere(self, thread_id: str) -> writers.Writer | None:
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

    def _check_folder(self, conv: Conversation) -> None:
        if not _folder_exists(conv.options.cwd):
            raise InvalidInput(
                f"conversation {conv.id} works in {conv.options.cwd}, which no longer exists: recreate the folder, "
                "or start a new conversation with codex_start"
            )

    async def _resume(self, conv: Conversation, deadline: Deadline, prompt: str) -> list[str] | None:
        """Resume the conversation's Codex thread and attach the session; what to tell the client about the start
        (LaunchPlan.notices), or None when Codex cannot resume it (no rollout, a failed start). prompt: what the
        thread is named after if Codex never named it and the conversation has no turns."""
        resume = self.launcher.plan_resume(conv.thread_id, conv.options)
        for attempt in (1, 2):
            # Never fork a thread another Codex has open (a person's `codex resume` in a terminal): it holds the
            # thread's writer lock, so resuming would fail, and replaying would split the conversation in two.
            writer = await self.writer_elsewhere(conv.thread_id)
            if writer is not None:
                log.info("thread %s is open in another Codex process (%s)", conv.thread_id, writer.describe())
                raise ThreadOpenElsewhere(conv.id, conv.thread_id, writer.describe(), writer.server_pid)
            if find_rollout(self.codex_home, conv.thread_id) is None:
                # Codex cannot resume a thread without its rollout; asking it would only cost a failed start.
                log.info("thread %s has no rollout", conv.thread_id)
                return None
            # A thread Codex never named (a review's: `codex review` names none) would get a hidden title request
            # after this turn: named after its first prompt, as a new thread is.
            unnamed = self.settings.thread_title == "prompt" and not thread_named(self.codex_home, conv.thread_id)
            try:
                session = await self.launcher.launch(resume, deadline)
            except CodexStartFailed as exc:
                if not writers.conflict_shown(exc.screen):
                    log.info("resume of %s failed (%s)", conv.thread_id, exc.reason)
                    return None
                # Another Codex took the thread between our look and Codex's start: look again (it names the
                # holder, or it has gone and the resume is worth one more try).
                log.info("resume of %s: Codex says the thread is open in another process", conv.thread_id)
                if attempt == 2:
                    raise ThreadOpenElsewhere(conv.id, conv.thread_id, "the system does not say which", None) from exc
            else:
                if unnamed:
                    session.name_thread(conv.turns[0].prompt if conv.turns else prompt)
                conv.attach(session)
                log.info("resumed %s (thread %s) in %.2fs", conv.id, conv.thread_id, deadline.elapsed())
                return list(resume.notices)
        return None  # not reached: the second attempt returns or raises

    async def resume_only(self, conv: Conversation, deadline: Deadline) -> Recovery:
        """Resume the conversation's thread, never replay it (what runs next needs the thread's own context)."""
        self._check_folder(conv)
        if await self._resume(conv, deadline, "") is None:
            raise InvalidInput(
                f"Codex cannot resume the thread of conversation {conv.id} (its rollout is gone or Codex refused): "
                "reply to it first (its history is replayed into a new thread), then try again"
            )
        return "resumed"

    async def revive(self, conv: Conversation, prompt: str, deadline: Deadline) -> tuple[Recovery, str, list[str]]:
        """Bring back a conversation with no live session: resume its Codex thread, or, when Codex cannot,
        replay its history into a fresh session. Returns how, the text to send for the prompt, and what to tell
        the client about the start (LaunchPlan.notices)."""
        self._check_folder(conv)
        notices = await self._resume(conv, deadline, prompt)
        if notices is not None:
            return "resumed", prompt, notices
        log.info("replaying the history of %s", conv.id)
        history = conv.history()
        if not history and (rollout := find_rollout(self.codex_home, conv.thread_id)) is not None:
            history = read_history(rollout)
        payload, omitted = replay_prompt(history, prompt, self.settings.replay_budget_chars)
        fresh = self.launcher.plan_new(conv.options)
        session = await self.launcher.launch(fresh, deadline)
        if self.settings.thread_title == "prompt":
            session.name_thread(history[0][0] if history else prompt)
        conv.attach(session)
        log.info(
            "replayed %s into thread %s (%d turns, %d left out) in %.2fs",
            conv.id,
            conv.thread_id,
            len(history),
            omitted,
            deadline.elapsed(),
        )
        return "replayed", payload, list(fresh.notices)
