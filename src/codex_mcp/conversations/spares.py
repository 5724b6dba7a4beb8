"""A warm spare: one idle Codex TUI, started ahead, for the next new conversation with the same settings.

A Codex TUI takes ~0.45 s from spawn to a ready composer; a turn on a ready one takes ~0.1 s. After a
conversation starts, the manager asks for a spare with the same argv (folder, model, effort, sandbox, config: the
argv says them all) and cwd; the next codex_start that would launch exactly that takes the spare instead and only
pastes its prompt. A spare is not a conversation: it has no record and no listing, and nobody can reach it until
a start takes it. It counts toward the live-session cap, gives its place up to any conversation that needs it,
ends after ``keep_s`` unused (Settings.spare_keep_s), and ends on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from .._internal import filelocks
from .._internal.tasks import Tasks
from ..session.session import Session

log = logging.getLogger(__name__)

Launch = Callable[[], Awaitable[Session]]


@dataclass(frozen=True)
class SpareKey:
    """What a spare was started with; a start takes it only if it would launch exactly the same."""

    argv: tuple[str, ...]
    cwd: str

    @property
    def digest(self) -> str:
        """A file name for the key (the same in every server that would launch the same)."""
        return hashlib.sha256(json.dumps([self.argv, self.cwd]).encode()).hexdigest()[:32]


class SpareBoard:
    """Which server keeps the spare for which settings, across the servers of one state dir: at most one spare
    per folder and settings (each idle Codex TUI holds ~175 MB). A lock file per key, held while a server keeps
    that spare (the system drops it if the server dies), and a note with its pid, so that another window's
    codex_start with those settings is passed on to it (mcp/forwarding.py) instead of starting Codex cold."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._held: dict[str, int] = {}

    def take(self, key: SpareKey) -> bool:
        """Keep the spare for key here (True), unless another server does."""
        name = key.digest
        if name in self._held:
            return True
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = filelocks.take(self.folder / f"{name}.lock")
        except OSError as exc:
            log.info("spares board unusable (%s): keeping a spare of our own", exc)
            return True
        if fd is None:
            return False
        self._held[name] = fd
        with contextlib.suppress(OSError):
            (self.folder / f"{name}.owner").write_text(str(os.getpid()), encoding="utf-8")
        return True

    def release(self, key: SpareKey) -> None:
        """No spare for key here any more."""
        fd = self._held.pop(key.digest, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                (self.folder / f"{key.digest}.owner").unlink()
            filelocks.release(fd)

    def holder(self, key: SpareKey) -> int | None:
        """The pid of the other server that keeps the spare for key, if one does."""
        name = key.digest
        try:
            if name in self._held or not filelocks.held_elsewhere(self.folder / f"{name}.lock"):
                return None
        except OSError:
            return None
        try:
            return int((self.folder / f"{name}.owner").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


class Spares:
    """At most one spare, ready or starting."""

    def __init__(self, keep_s: float, board: SpareBoard | None = None) -> None:
        self.keep_s = keep_s
        self.board = board
        self._key: SpareKey | None = None
        self._ready: Session | None = None
        self._starting: asyncio.Task[Session | None] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._tasks = Tasks()
        self._closed = False
        self.taken = 0  # how many starts a spare served (codex_status/doctor figures, tests)

    @property
    def count(self) -> int:
        """Live-session places the spare holds (0 or 1)."""
        return 1 if self._ready is not None or self._starting is not None else 0

    @property
    def ready(self) -> int:
        """1 while a ready spare holds a place (a starting one is among the launcher's starting sessions)."""
        return 1 if self._ready is not None else 0

    async def take(self, key: SpareKey) -> Session | None:
        """The spare, if it was started with key and is alive; it stops being a spare. One still starting is
        waited for: it is further along than a new start, which would also compete with it for the CPU."""
        if self._key == key and self._ready is None and self._starting is not None:
            # Its done callback (_started) runs before this wait ends: the spare is ready, or gone. (asyncio.wait:
            # a cancelled caller leaves the spare starting; a cancelled spare is not the caller's cancellation.)
            await asyncio.wait([self._starting])
        if self._ready is not None and not self._ready.live:
            self._discard("exited")  # Codex went away while it waited: start afresh
        session = self._ready
        if session is None or self._key != key:
            return None
        self._forget()
        self.taken += 1
        log.info("new conversation on the warm spare in %s", key.cwd)
        return session

    def want(self, key: SpareKey, launch: Launch, room: bool) -> None:
        """Have a spare for key ready (started in the background), replacing one for other settings. room: the cap
        leaves a place free without reclaiming any conversation's session."""
        if self._closed or self.keep_s <= 0:
            return
        if self._ready is not None and not self._ready.live:
            self._discard("exited")
        if self._key == key and self.count:
            self._arm_expiry()
            return
        self._discard("settings changed")
        if not room:
            return
        if self.board is not None and not self.board.take(key):
            return  # another window's server keeps a spare for these settings: a start here is passed on to it
        self._key = key
        self._starting = self._tasks.spawn(self._start(launch), name="codex-spare")
        self._starting.add_done_callback(self._started)

    @staticmethod
    async def _start(launch: Launch) -> Session | None:
        try:
            return await launch()
        except Exception as exc:  # the client's own codex_start with these settings reports it, if it fails there
            log.info("the warm spare could not start: %s", exc)
            return None

    def _started(self, task: asyncio.Task[Session | None]) -> None:
        session = None if task.cancelled() else task.result()
        if task is not self._starting:  # given up while it started: it finished before the cancel landed
            if session is not None:
                self._tasks.spawn(session.end("spare not needed"), name="codex-spare-end")
            return
        self._starting = None
        if session is None:
            self._forget()
            return
        self._ready = session
        self._arm_expiry()

    def _arm_expiry(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = asyncio.get_running_loop().call_later(self.keep_s, self._discard, "unused")

    def has(self, key: SpareKey) -> bool:
        """Whether a spare for key is ready or starting here."""
        return self._key == key and self.count > 0

    def _forget(self) -> None:
        if self._key is not None and self.board is not None:
            self.board.release(self._key)
        self._key = None
        self._ready = None
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    def _detach(self) -> tuple[asyncio.Task[Session | None] | None, Session | None]:
        """Stop holding the spare: (its start if still starting, the session if ready)."""
        starting, ready = self._starting, self._ready
        self._starting = None
        self._forget()
        if starting is not None:
            starting.cancel()  # start_session leaves nothing running when cancelled
        return starting, ready

    def _discard(self, why: str) -> None:
        """End the spare (ready or starting) in the background."""
        _, ready = self._detach()
        if ready is not None:
            log.info("ending the warm spare (%s)", why)
            self._tasks.spawn(ready.end(f"spare {why}"), name="codex-spare-end")

    async def give_up(self) -> bool:
        """Free the spare's place for a conversation (ended before this returns); True if there was one."""
        if not self.count:
            return False
        starting, ready = self._detach()
        if starting is not None:
            await asyncio.wait([starting])
        if ready is not None:
            log.info("ending the warm spare (its place is needed)")
            await ready.end("spare place needed")
        return True

    async def close(self, grace_s: float) -> None:
        """Server shutdown: end the spare and anything still starting or ending."""
        self._closed = True
        _, ready = self._detach()
        if ready is not None:
            await ready.end("server shutdown")
        await self._tasks.close(timeout=grace_s + 2.0, grace_s=grace_s + 2.0)
