"""How a call waits for its turn: the manager's plain wait, or the MCP boundary's (progress, approvals, cancel)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..turn import Turn
from .conversation import Conversation

Waiter = Callable[[Conversation, Turn, float], Awaitable[None]]
"""How a call waits for its turn (at most the given seconds). The server's waiter also sends progress
notifications, asks the client about approvals and interrupts the turn if the call is cancelled."""


async def plain_wait(conv: Conversation, turn: Turn, timeout: float) -> None:
    """Wait for the turn to settle or to need a decision, at most timeout seconds."""
    await turn.wait(timeout)
