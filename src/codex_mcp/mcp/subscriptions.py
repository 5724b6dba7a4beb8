"""Telling clients that a conversation resource changed: handshake-era connections that sent resources/subscribe,
and the SDK's subscription bus, which feeds 2026-07-28 subscriptions/listen streams."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from mcp.server.session import ServerSession
from mcp.server.subscriptions import ResourceUpdated, SubscriptionBus

from .._internal.tasks import Tasks, call_on_loop
from ..conversations.conversation import Conversation
from ..errors import InvalidInput
from .uris import CONVERSATIONS_URI, conversation_uri, target_of

log = logging.getLogger(__name__)


def connection_key(session: ServerSession) -> object:
    """What identifies the client connection a request came on. The SDK builds a ServerSession per request; the
    connection it wraps is the same for every request of one client."""
    return getattr(session, "_connection", session)


def when_gone(key: object, callback: Callable[..., object], *args: object) -> None:
    """Call callback(*args) when the connection (connection_key) closes, if the SDK lets us know."""
    stack = getattr(key, "exit_stack", None)
    if stack is not None:
        stack.callback(callback, *args)


class Subscriptions:
    """Who wants to hear that a conversation changed, and telling them once per change: handshake-era connections
    that sent resources/subscribe, and the SDK's subscription bus (2026-07-28 subscriptions/listen streams, each
    filtered by the SDK to the URIs it asked for)."""

    def __init__(self, bus: SubscriptionBus) -> None:
        self._bus = bus
        self._loop = asyncio.get_running_loop()
        self._sessions: dict[str, dict[object, ServerSession]] = {}
        self._pending: set[str] = set()
        self._tasks = Tasks()
        self._flushing = False
        self._closed = False
        self._follower: asyncio.Task[None] | None = None

    def follow(self, changed_elsewhere: Callable[[set[str]], list[Conversation]], interval_s: float = 1.0) -> None:
        """Also tell of changes other windows' servers save (a conversation one of them runs live): what
        changed_elsewhere finds, given the ids subscribed here, looked at every interval_s."""
        self._follower = self._tasks.spawn(self._follow(changed_elsewhere, interval_s), name="codex-resource-follow")

    async def _follow(self, changed_elsewhere: Callable[[set[str]], list[Conversation]], interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            if not self._sessions:
                continue  # nobody here to tell: no reading of other servers' records (most servers, most of the time)
            subscribed = {cid for uri in self._sessions if (cid := _conversation_of(uri)) is not None}
            try:
                for conv in changed_elsewhere(subscribed):
                    self.changed(conv)
            except Exception:  # a damaged record or index must not stop the updates
                log.exception("following other servers' conversations failed")

    def subscribe(self, uri: str, session: ServerSession) -> None:
        """Tell this connection about changes to uri, until it unsubscribes or goes away."""
        key = connection_key(session)
        subscribers = self._sessions.setdefault(uri, {})
        if key not in subscribers:
            when_gone(key, self._forget, uri, key)
        subscribers[key] = session

    def unsubscribe(self, uri: str, session: ServerSession) -> None:
        """Stop telling this connection about uri."""
        self._forget(uri, connection_key(session))

    def _forget(self, uri: str, key: object) -> None:
        subscribers = self._sessions.get(uri, {})
        subscribers.pop(key, None)
        if not subscribers:
            self._sessions.pop(uri, None)

    def changed(self, conv: Conversation) -> None:
        """A Repository listener: conv was saved (a turn settled, it ended, ...), so its resource and the list
        changed. Saves made in one step of the loop make one notification."""
        self._pending.update((conversation_uri(conv.id), CONVERSATIONS_URI))
        if self._flushing or self._closed:
            return
        self._flushing = True
        call_on_loop(self._loop, self._start_flush)

    def _start_flush(self) -> None:
        self._tasks.spawn(self._flush(), name="codex-resource-updates")

    async def _flush(self) -> None:
        try:
            while self._pending:
                uris = sorted(self._pending)
                self._pending.clear()
                for uri in uris:
                    await self._bus.publish(ResourceUpdated(uri=uri))
                    for session in list(self._sessions.get(uri, {}).values()):
                        await session.send_resource_updated(uri)  # never raises: a gone client is dropped
        finally:
            self._flushing = False

    async def close(self) -> None:
        """Send what is pending (the last turn's update), then stop: later changes tell nobody."""
        self._closed = True
        if self._follower is not None:
            self._follower.cancel()  # it runs forever: not one of the tasks to wait for
        await self._tasks.close(grace_s=1.0)


def _conversation_of(uri: str) -> str | None:
    try:
        return target_of(uri).conversation_id
    except InvalidInput:
        return None
