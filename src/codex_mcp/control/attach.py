"""`codex-mcp ls` and `codex-mcp attach`: a person's terminal on a live Codex session of a running server.

The terminal goes into raw mode and onto the alternate screen; Codex's output is drawn as it comes, and (unless
--watch) keys go to Codex while this terminal holds the keyboard. Ctrl-] detaches. Whatever happens, the
terminal's modes are restored on the way out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from . import transport
from .console import Console, this_console
from .protocol import data_frame, data_of, frame

DETACH_KEY = b"\x1d"  # Ctrl-]
_ENTER = b"\x1b[?1049h\x1b[?2004h"  # alternate screen; bracketed paste, so a paste reaches Codex as one
# Leave everything as it was: Codex's keyboard mode, paste mode, cursor, colours, the main screen.
_LEAVE = b"\x1b[<u\x1b[?2004l\x1b[?25h\x1b[0m\x1b[?1049l"


async def _request(endpoint: transport.Endpoint, request: dict[str, Any]) -> dict[str, Any]:
    reader, writer = await transport.connect(endpoint, limit=1 << 20)
    try:
        writer.write(frame(request))
        await writer.drain()
        answer: dict[str, Any] = json.loads(await reader.readline())
        return answer
    finally:
        writer.close()


async def list_live(state_dir: Path) -> list[dict[str, Any]]:
    """Every live conversation of every running server, each with its server's endpoint (as "socket")."""
    found: list[dict[str, Any]] = []
    for endpoint in transport.endpoints(state_dir):
        try:
            answer = await asyncio.wait_for(_request(endpoint, {"op": "list"}), 5)
        except (OSError, TimeoutError, ValueError):
            continue  # a server that is gone or not answering
        for conv in answer.get("conversations", []):
            found.append({**conv, "socket": str(endpoint.path)})
    return found


def ls(state_dir: Path) -> int:
    """Print the live conversations; 0 if the listing worked."""
    convs = asyncio.run(list_live(state_dir))
    if not convs:
        print("no live Codex sessions (is a codex-mcp server running with this state dir?)")
        return 0
    for c in convs:
        viewers = ", ".join(c["viewers"]) or "-"
        keyboard = c["input"] or "the MCP client"
        server = f"{c.get('server_pid', '?')}" + (f" ({c['client']})" if c.get("client") else "")
        print(
            f"{c['conversationId']}  {c['state']:<20} input: {keyboard}  viewers: {viewers}  server: {server}  "
            f"cwd: {c['cwd']}"
        )
    return 0


def attach(state_dir: Path, conversation_id: str, *, watch: bool, socket_path: Path | None = None) -> int:
    """Attach this terminal to a live session until the person detaches or the session ends.
    socket_path: a server's endpoint (its socket, or on Windows its .pipe file); found when not given."""
    if socket_path is None:
        live = asyncio.run(list_live(state_dir))
        match = [c for c in live if c["conversationId"] == conversation_id.strip().lower()]
        if not match:
            print(f"codex-mcp attach: no live session {conversation_id} (see `codex-mcp ls`)", file=sys.stderr)
            return 1
        socket_path = Path(match[0]["socket"])
    return asyncio.run(_attach(transport.Endpoint(socket_path), conversation_id, watch, this_console()))


class _Keys:
    """A person's keys, as frames for the server: everything up to Ctrl-] goes to Codex (unless watching), and
    Ctrl-] itself detaches."""

    def __init__(self, watch: bool, send: Any, detached: asyncio.Future[str]) -> None:
        self.watch, self.send, self.detached = watch, send, detached

    def __call__(self, data: bytes) -> None:
        if self.detached.done():
            return
        before, found, _after = data.partition(DETACH_KEY)
        if before and not self.watch:
            self.send(data_frame(before))
        if found:
            self.send({"detach": True})
            self.detached.set_result("detached")


async def _attach(endpoint: transport.Endpoint, conversation_id: str, watch: bool, console: Console) -> int:
    rows, cols = console.size()
    try:
        reader, writer = await transport.connect(endpoint, limit=1 << 22)
    except OSError as exc:
        print(f"codex-mcp attach: cannot reach the server ({exc})", file=sys.stderr)
        return 1
    request = {
        "op": "attach",
        "id": conversation_id,
        "mode": "watch" if watch else "control",
        "rows": rows,
        "cols": cols,
        "pid": os.getpid(),
    }
    writer.write(frame(request))
    await writer.drain()
    answer = json.loads(await reader.readline() or b"{}")
    if not answer.get("ok"):
        print(f"codex-mcp attach: {answer.get('error', 'refused')}", file=sys.stderr)
        writer.close()
        return 1
    print(
        f"attached to {answer['conversationId']} ({'watching' if watch else 'keyboard is yours'}); detach with Ctrl-]",
        file=sys.stderr,
    )
    loop = asyncio.get_running_loop()
    done: asyncio.Future[str] = loop.create_future()

    def send(message: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            writer.write(frame(message))

    def on_resize() -> None:
        new_rows, new_cols = console.size()
        send({"resize": [new_rows, new_cols]})

    with console.raw():
        try:
            console.write(_ENTER)
            console.listen(loop, _Keys(watch, send, done), on_resize)
            reason = await _pump_output(reader, console, done)
        finally:
            console.stop()
            console.write(_LEAVE)
            with contextlib.suppress(Exception):
                await writer.drain()
                writer.close()
    print(f"codex-mcp attach: {reason}", file=sys.stderr)
    return 0


async def _pump_output(reader: asyncio.StreamReader, console: Console, done: asyncio.Future[str]) -> str:
    """Draw what the server sends until the person detaches or the server says goodbye."""
    while True:
        line_task: asyncio.Future[bytes] = asyncio.ensure_future(reader.readline())
        waiting: set[asyncio.Future[Any]] = {line_task, done}
        finished, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if done in finished:
            line_task.cancel()
            return done.result()
        line = line_task.result()
        if not line:
            return "the server went away"
        message = json.loads(line)
        if "data" in message:
            console.write(data_of(message))
        if "bye" in message:
            return str(message["bye"])
