"""The local control channel's server side: one endpoint per server process in an owner-only directory under the
state dir, through which `codex-mcp ls` and `codex-mcp attach` reach live sessions. protocol.py holds the wire
format; transport.py carries it (a Unix socket with the peer's uid checked, or on Windows a named pipe whose secret
only the user can read) and lets only the same user through, so this module sees requests, never who may send them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

from .._internal.tasks import Tasks
from ..conversations.manager import Manager
from ..errors import CodexMcpError
from ..session.session import Session
from ..session.viewers import Viewer
from ..terminal import ExitInfo
from . import transport
from .protocol import MAX_FRAME, Message, data_frame, data_of, frame

log = logging.getLogger(__name__)

_MAX_QUEUED = 2000  # output frames a slow viewer may fall behind before it is detached


class Link:
    """A connection as a call handler sees it: frames out, frames in (None once the other end hangs up)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def send(self, message: Message) -> None:
        self._writer.write(frame(message))
        await self._writer.drain()

    async def receive(self) -> Message | None:
        while line := await self._reader.readline():
            with contextlib.suppress(ValueError):
                message: Message = json.loads(line)
                return message
        return None


CallHandler = Callable[[Message, Link], Awaitable[Message]]
"""What answers a tool call another server passes on (the MCP boundary's; this package knows no tools): the
request, the connection for the frames in between, and the last frame to send."""


class ControlServer:
    """Serves ls/attach for this server process's live sessions, and the calls other servers pass on to it."""

    def __init__(self, manager: Manager, state_dir: Path) -> None:
        self.manager = manager
        self.state_dir = state_dir
        self.calls: CallHandler | None = None
        """Set by the MCP boundary once it can answer calls; until then a call is refused."""
        self._listener: transport.Listener | None = None
        self._clients: dict[int, asyncio.Queue[Message | None]] = {}
        self._tasks = Tasks()  # one sender per attached terminal

    @property
    def path(self) -> Path:
        """This server's endpoint: its socket, or on Windows the file naming its pipe (what attach is given)."""
        if self._listener is None:
            raise RuntimeError("the control channel is not listening")
        return self._listener.path

    async def start(self, *, secret: bool | None = None) -> None:
        """Listen on this server's endpoint (secret: the Windows check over a Unix socket, for tests)."""
        self._listener = await transport.listen(self.state_dir, self._serve, limit=MAX_FRAME, secret=secret)

    async def close(self, reason: str) -> None:
        """Tell every attached terminal why it is being let go, then stop listening."""
        for queue in list(self._clients.values()):
            queue.put_nowait({"bye": reason})
            queue.put_nowait(None)
        await self._tasks.close(grace_s=1.0)  # let the farewells go out (each sender ends after its "bye")
        if self._listener is not None:
            await self._listener.close()

    def sessions(self) -> list[Message]:
        """This server's live conversations, as `codex-mcp ls` shows them."""
        out = []
        for conv in self.manager.live_conversations():
            out.append(
                {
                    "conversationId": conv.id,
                    "state": conv.state.value,
                    "cwd": conv.options.cwd,
                    "input": conv.input_holder,
                    "viewers": conv.viewer_modes,
                    "server_pid": os.getpid(),
                    "client": self.manager.conversations.store.client,
                }
            )
        return out

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            try:
                request = json.loads(line)
            except ValueError:
                writer.write(frame({"ok": False, "error": "expected a JSON request line"}))
                return
            if request.get("op") == "list":
                writer.write(frame({"ok": True, "conversations": self.sessions()}))
            elif request.get("op") == "attach":
                await self._attach(request, reader, writer)
            elif request.get("op") == "call":
                if self.calls is None:
                    writer.write(frame({"error": "this server is not answering calls yet"}))
                else:
                    writer.write(frame(await self.calls(request, Link(reader, writer))))
            else:
                writer.write(frame({"ok": False, "error": "unknown op: use list, attach or call"}))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("control connection failed")
        finally:
            with contextlib.suppress(Exception):
                await writer.drain()
                writer.close()

    async def _attach(self, request: Message, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            conv = self.manager.get(str(request.get("id", "")))
        except CodexMcpError as exc:
            writer.write(frame({"ok": False, "error": str(exc)}))
            return
        session = conv.live_session
        if session is None:
            writer.write(
                frame({"ok": False, "error": f"conversation {conv.id} has no live Codex session here right now"})
            )
            return
        mode: Literal["watch", "control"] = "control" if request.get("mode") == "control" else "watch"
        try:
            rows = min(1000, max(10, int(request.get("rows") or 24)))
            cols = min(1000, max(40, int(request.get("cols") or 80)))
        except (TypeError, ValueError):
            writer.write(frame({"ok": False, "error": "rows and cols must be numbers"}))
            return
        key = id(writer)
        who = f"a person (codex-mcp attach, pid {str(request.get('pid', '?'))[:12]})"
        if mode == "control" and not session.viewers.take_input(key, who):
            writer.write(frame({"ok": False, "error": f"{session.input_holder} has the keyboard; attach with --watch"}))
            return
        try:
            await self._attached(session, conv.id, key, mode, rows, cols, reader, writer)
        finally:
            session.viewers.release_input(key)  # whatever happened, the keyboard goes back

    async def _attached(
        self,
        session: Session,
        conversation_id: str,
        key: int,
        mode: Literal["watch", "control"],
        rows: int,
        cols: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        queue: asyncio.Queue[Message | None] = asyncio.Queue()
        self._clients[key] = queue

        def on_output(data: bytes) -> None:
            if queue.qsize() > _MAX_QUEUED:
                queue.put_nowait({"bye": "this terminal fell too far behind; attach again"})
                queue.put_nowait(None)
                return
            queue.put_nowait(data_frame(data))

        def on_exit(info: ExitInfo) -> None:
            queue.put_nowait({"bye": _gone(session)})
            queue.put_nowait(None)

        await session.repaints.fresh()  # the first frame it gets is our screen
        unsubscribe = session.terminal.subscribe(on_output)
        session.terminal.on_exit(on_exit)
        session.add_viewer(key, Viewer(mode, time.time(), rows, cols))
        writer.write(
            frame({"ok": True, "conversationId": conversation_id, "mode": mode, "input": session.input_holder})
        )
        writer.write(frame(data_frame(session.screen.render())))
        sender = self._tasks.spawn(self._send(queue, writer), name=f"control-send-{conversation_id}")
        try:
            await self._receive(session, key, mode, reader)
        finally:
            unsubscribe()
            session.remove_viewer(key)
            self._clients.pop(key, None)
            if not sender.done():
                queue.put_nowait(None)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(sender, 1.0)

    async def _send(self, queue: asyncio.Queue[Message | None], writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while (message := await queue.get()) is not None:
                writer.write(frame(message))
                await writer.drain()
                if "bye" in message:
                    break
            with contextlib.suppress(Exception):
                writer.close()

    async def _receive(self, session: Session, key: int, mode: str, reader: asyncio.StreamReader) -> None:
        while True:
            line = await reader.readline()
            if not line:
                return  # the attach client went away (detached, killed): the session is untouched
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("detach"):
                return
            if "data" in message and mode == "control":
                session.person_typed(key, data_of(message))
            elif "resize" in message and mode == "control":
                with contextlib.suppress(TypeError, ValueError):
                    rows, cols = (int(n) for n in message["resize"])
                    session.resize(min(1000, max(10, rows)), min(1000, max(40, cols)))


def _gone(session: Session) -> str:
    return f"the Codex session ended: {session.end_reason or 'Codex exited'}"
