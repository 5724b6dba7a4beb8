"""What the MCP server holds while it runs (created and torn down by the lifespan in server.py), and how the
boundary reaches it from a request."""

from __future__ import annotations

from dataclasses import dataclass

from ..control.server import ControlServer
from ..conversations.manager import Manager
from ..errors import NestedServer
from .clientlog import ClientLog
from .subscriptions import Subscriptions


@dataclass
class AppState:
    """Everything the server holds, created and torn down by the lifespan. A server nested deeper than allowed
    holds nothing but the refusal: no Codex sessions, no state dir, no control socket."""

    manager: Manager | None
    control: ControlServer | None
    refusal: NestedServer | None = None
    subscriptions: Subscriptions | None = None
    client_log: ClientLog | None = None

    def running(self) -> tuple[Manager, ControlServer]:
        """The manager and control channel, or the refusal as a tool error."""
        if self.refusal is not None:
            raise self.refusal
        assert self.manager is not None
        assert self.control is not None
        return self.manager, self.control
