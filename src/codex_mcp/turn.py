"""One prompt and what became of it. A turn belongs to a conversation and is run by one Codex session."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

Recovery = Literal["live", "resumed", "replayed"]
TurnKind = Literal["prompt", "compact"]
"""A prompt sent to Codex, or Codex's own compaction of the thread (codex_compact: /compact)."""


class TurnStatus(StrEnum):
    """Where one turn is."""

    QUEUED = "queued"
    RUNNING = "running"
    WAITING_FOR_APPROVAL = "waiting_for_approval"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


SETTLED = frozenset({TurnStatus.COMPLETED, TurnStatus.FAILED, TurnStatus.INTERRUPTED})


@dataclass
class Turn:
    """One prompt, the text actually sent for it (a replay prepends history), and its outcome."""

    index: int
    prompt: str
    payload: str = ""
    images: list[str] = field(default_factory=list)  # attached to the prompt (absolute paths, checked)
    steered: list[str] = field(default_factory=list)  # texts added to the turn while it ran (codex_reply steer)
    recovery: Recovery = "live"
    kind: TurnKind = "prompt"
    rewound_at: float | None = None
    """When codex_rewind took this turn out of the thread: kept in the record, it no longer reaches the model."""
    notices: list[str] = field(default_factory=list)  # what Codex offered at start-up, told to the client once
    status: TurnStatus = TurnStatus.QUEUED
    reply: str | None = None
    error: str | None = None
    turn_id: str | None = None
    thread_id: str | None = None
    submitted_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    on_change: Callable[[Turn], None] | None = field(default=None, repr=False)
    stored: object | None = field(default=None, repr=False, compare=False)
    """What the owner last stored for this settled turn (repository.record_of), kept until the turn changes:
    saving a long conversation then builds only its new turns' records."""
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def __post_init__(self) -> None:
        if not self.payload:
            self.payload = self.prompt

    @property
    def settled(self) -> bool:
        """True once the turn has completed, failed or been interrupted."""
        return self.status in SETTLED

    def set_status(self, status: TurnStatus, *, error: str | None = None) -> None:
        """Move the turn on, wake its waiters and tell its owner (which persists it)."""
        if error is not None:
            self.error = error
        self.status = status
        self.stored = None
        if status == TurnStatus.RUNNING and self.started_at is None:
            self.started_at = time.time()
        if status in SETTLED:
            self.finished_at = time.time()
        self._changed.set()
        self._changed = asyncio.Event()
        # Persist what must survive a crash: a settled turn. "running" or "waiting" is never kept over a
        # restart (an unsettled turn is loaded as failed), so saving it would only cost an fsync per turn.
        if self.on_change is not None and status in SETTLED:
            self.on_change(self)

    def changed_externally(self) -> None:
        """Persist a change made to a settled turn's fields (e.g. a clearer error)."""
        self.stored = None
        if self.on_change is not None:
            self.on_change(self)

    def fail(self, error: str) -> None:
        """Settle as failed, unless already settled."""
        if not self.settled:
            self.set_status(TurnStatus.FAILED, error=error)

    async def wait(self, timeout: float) -> None:
        """Return when the turn has settled or needs a decision (approval), or after timeout seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.settled and self.status != TurnStatus.WAITING_FOR_APPROVAL:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()

    async def changed(self, timeout: float) -> None:
        """Return at the next status change, or after timeout seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._changed.wait()
