"""The server's log, also sent to the MCP client as notifications/message (never onto stdout as text).

Handshake-era connections get every record of the codex_mcp loggers at or above the level the client set with
logging/setLevel (warning until it sets one). On 2026-07-28 connections there is no such setting: a request opts in
with its _meta log level, and gets the records logged while it is handled, on its own stream, before its result."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from dataclasses import dataclass, field
from typing import Any, Final

from mcp.server.connection import allowed_log_levels
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.session import ServerSession
from mcp_types import (
    EmptyResult,
    LoggingLevel,
    LoggingMessageNotification,
    LoggingMessageNotificationParams,
    SetLevelRequestParams,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from .._internal.tasks import call_on_loop
from .subscriptions import connection_key, when_gone

LEVELS: Final[dict[LoggingLevel, int]] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": 25,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "alert": logging.CRITICAL + 5,
    "emergency": logging.CRITICAL + 10,
}
"""MCP's levels (RFC 5424) as Python logging levels: what a client's level lets through."""

DEFAULT_LEVEL: Final[LoggingLevel] = "warning"
"""Until a handshake-era client sets a level: what it should hear about without asking (a record that cannot be
saved, a Codex this server does not support)."""

LOGGER = "codex_mcp"


def mcp_level(levelno: int) -> LoggingLevel:
    """The MCP level of a Python log record."""
    name: LoggingLevel = "debug"
    for level, threshold in LEVELS.items():  # in ascending order
        if levelno >= threshold:
            name = level
    return name


@dataclass
class _Request:
    """A 2026-07-28 request that opted in to log messages while it is handled."""

    ctx: ServerRequestContext[Any, Any]
    threshold: int
    open: bool = True
    sends: list[asyncio.Task[None]] = field(default_factory=list)


_Target = tuple[ServerSession, Any]
"""A session to send on, and the request the message belongs to (None: the connection's own stream)."""

_REQUEST: contextvars.ContextVar[_Request | None] = contextvars.ContextVar("codex_mcp_log_request", default=None)


class ClientLog(logging.Handler):
    """A log handler on the codex_mcp loggers that sends each record to the clients that asked for its level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._loop = asyncio.get_running_loop()
        self._connections: dict[object, tuple[ServerSession, int]] = {}
        self._requests: list[_Request] = []
        self._sends: set[asyncio.Task[None]] = set()
        self._logger = logging.getLogger(LOGGER)
        self._own_level = self._logger.level

    def install(self) -> None:
        """Start forwarding the codex_mcp loggers' records."""
        self._logger.addHandler(self)

    async def shut(self) -> None:
        """Stop forwarding; give what is being sent a moment to go out."""
        self._logger.removeHandler(self)
        self._logger.setLevel(self._own_level)
        if self._sends:
            await asyncio.wait(list(self._sends), timeout=1.0)

    # --- who listens, at which level ------------------------------------------------------------

    def set_level(self, session: ServerSession, level: LoggingLevel) -> None:
        """logging/setLevel: this connection hears records at level and above from now on."""
        key = connection_key(session)
        if key not in self._connections:
            when_gone(key, self._forget, key)
        self._connections[key] = (session, LEVELS[level])
        self._lower_logger()

    def _forget(self, key: object) -> None:
        self._connections.pop(key, None)
        self._lower_logger()

    def _lower_logger(self) -> None:
        """Let the codex_mcp loggers produce what someone listens to: records below the stderr level too when a
        client asked for them (stderr's handler keeps its own level)."""
        wanted = [threshold for _, threshold in self._connections.values()] + [r.threshold for r in self._requests]
        own = self._own_level or logging.getLogger().getEffectiveLevel()
        self._logger.setLevel(min([own, *wanted]))

    async def around(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Around each request (log_middleware): a handshake-era connection is told warnings from its first request
        on; a 2026-07-28 request that opted in gets the records logged while it runs, sent before its result."""
        if ctx.request_id is None or ctx.method == "initialize":
            return await call_next(ctx)
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            key = connection_key(ctx.session)
            if key not in self._connections:
                self.set_level(ctx.session, DEFAULT_LEVEL)
            return await call_next(ctx)
        allowed = allowed_log_levels(ctx.protocol_version, ctx.meta)
        if not allowed:
            return await call_next(ctx)
        request = _Request(ctx, min(LEVELS[level] for level in allowed))
        self._requests.append(request)
        self._lower_logger()
        token = _REQUEST.set(request)
        try:
            return await call_next(ctx)
        finally:
            _REQUEST.reset(token)
            request.open = False
            self._requests.remove(request)
            self._lower_logger()
            if request.sends:
                await asyncio.wait(request.sends, timeout=1.0)

    # --- sending ----------------------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        """Send the record to every listener whose level it reaches (from any thread; never raises)."""
        try:
            request = _REQUEST.get()
            targets: list[_Target] = [
                (session, None) for session, threshold in self._connections.values() if record.levelno >= threshold
            ]
            if request is not None and request.open and record.levelno >= request.threshold:
                targets.append((request.ctx.session, request.ctx.request_id))
            if not targets:
                return
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            notification = LoggingMessageNotification(
                params=LoggingMessageNotificationParams(
                    level=mcp_level(record.levelno), logger=record.name, data=message
                )
            )
            # At once on the loop, so a request's messages are among its sends before it returns.
            call_on_loop(self._loop, self._send, notification, targets, request)
        except Exception:  # a log call must never fail the code that logs
            self.handleError(record)

    def _send(
        self,
        notification: LoggingMessageNotification,
        targets: list[_Target],
        request: _Request | None,
    ) -> None:
        for session, related in targets:
            task = self._loop.create_task(self._notify(session, notification, related))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
            if related is not None and request is not None:
                request.sends.append(task)

    @staticmethod
    async def _notify(session: ServerSession, notification: LoggingMessageNotification, related: object) -> None:
        # Not logged if it fails: a log record about a failed log message would be sent the same way.
        with contextlib.suppress(Exception):
            await session.send_notification(notification, related_request_id=related)  # type: ignore[arg-type]


async def log_middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Server middleware: ClientLog.around, for a server that has a client log (a refusing nested one does not)."""
    client_log = getattr(ctx.lifespan_context, "client_log", None)
    if not isinstance(client_log, ClientLog):
        return await call_next(ctx)
    return await client_log.around(ctx, call_next)


async def set_level(ctx: ServerRequestContext[Any, Any], params: SetLevelRequestParams) -> EmptyResult:
    """logging/setLevel (handshake-era clients)."""
    client_log = getattr(ctx.lifespan_context, "client_log", None)
    if isinstance(client_log, ClientLog):
        client_log.set_level(ctx.session, params.level)
    return EmptyResult()
