"""Codex's app-server, for what the TUI has no dependable keys for: forking a thread through one of its turns and
reverting a thread to before one. ``codex app-server`` speaks JSON-RPC, one JSON object per line on stdin and
stdout; both supported versions (0.169, 0.171) offer ``thread/fork`` with ``lastTurnId`` ("turns after it are
omitted from the fork") and ``thread/revert`` with ``beforeTurnId`` ("excluded from the replacement history,
together with every later turn"), as their ``app-server generate-json-schema`` says.

What each writes (seen on both versions): a fork is a new thread with its own rollout, whose session_meta names
its parent (``forked_from_id``) and which keeps the parent's turn ids; the parent's files are not touched, even
while a TUI has it open. A revert leaves the thread's file as it was and writes the thread on in a branch file
(rollout.find_rollout picks it); it needs the thread's writer lock, so no other Codex may have the thread open.

The process lives for one operation: started, asked, and ended (it also exits on its own when stdin closes)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import cast

from ..errors import AppServerFailed

log = logging.getLogger(__name__)

JsonObject = dict[str, object]

_LINE_LIMIT = 64 * 1024 * 1024
"""A response may carry a thread's turns (a fork answers with the new thread): far more than asyncio's 64 KB."""


class AppServer:
    """One running ``codex app-server``, asked one request at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._next_id = 0

    async def request(self, method: str, params: JsonObject, timeout: float) -> JsonObject:
        """Send one request and return its result. AppServerFailed with Codex's message when it answers an error,
        exits, or does not answer within timeout seconds. Notifications on the way are skipped."""
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._next_id += 1
        wanted = self._next_id
        line = json.dumps({"id": wanted, "method": method, "params": params}) + "\n"
        try:
            self._process.stdin.write(line.encode("utf-8"))
            await self._process.stdin.drain()
            async with asyncio.timeout(timeout):
                while True:
                    raw = await self._process.stdout.readline()
                    if not raw:
                        raise AppServerFailed(f"Codex's app-server exited during {method}")
                    try:
                        message = json.loads(raw)
                    except ValueError:
                        continue  # not ours to read (a stray log line)
                    if isinstance(message, dict) and message.get("id") == wanted:
                        return _result(method, cast(JsonObject, message))
        except TimeoutError:
            raise AppServerFailed(f"Codex's app-server did not answer {method} within {timeout:g} s") from None
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise AppServerFailed(f"Codex's app-server exited during {method} ({exc})") from exc


def _result(method: str, message: JsonObject) -> JsonObject:
    error = message.get("error")
    if isinstance(error, dict):
        raise AppServerFailed(f"Codex refused {method}: {error.get('message') or json.dumps(error)}")
    result = message.get("result")
    return cast(JsonObject, result) if isinstance(result, dict) else {}


@contextlib.asynccontextmanager
async def app_server(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: str, timeout: float
) -> AsyncIterator[AppServer]:
    """Run ``codex app-server`` (argv) for the length of the block, initialised; ended on the way out."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            limit=_LINE_LIMIT,
        )
    except OSError as exc:
        raise AppServerFailed(f"Codex's app-server could not be started ({exc})") from exc
    server = AppServer(process)
    try:
        await server.request("initialize", {"clientInfo": {"name": "codex-mcp", "version": "1"}}, timeout)
        assert process.stdin is not None
        process.stdin.write(b'{"method":"initialized"}\n')
        yield server
    finally:
        await _end(process)


async def _end(process: asyncio.subprocess.Process) -> None:
    """Close stdin (the app-server exits on it), then make sure: never a Codex left running."""
    if process.stdin is not None:
        with contextlib.suppress(OSError, RuntimeError):
            process.stdin.close()
    try:
        async with asyncio.timeout(5.0):
            await process.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def _thread_id(result: JsonObject, method: str) -> str:
    thread = result.get("thread")
    tid = thread.get("id") if isinstance(thread, dict) else None
    if not isinstance(tid, str) or not tid:
        raise AppServerFailed(f"Codex's answer to {method} names no thread")
    return tid


async def fork_thread(server: AppServer, thread_id: str, last_turn_id: str | None, timeout: float) -> str:
    """A new thread holding thread_id's history through last_turn_id (all of it when None); its id."""
    params: JsonObject = {"threadId": thread_id, "excludeTurns": True}
    if last_turn_id is not None:
        params["lastTurnId"] = last_turn_id
    return _thread_id(await server.request("thread/fork", params, timeout), "thread/fork")


async def revert_thread(server: AppServer, thread_id: str, before_turn_id: str, timeout: float) -> None:
    """Take before_turn_id and every later turn out of the thread (it is loaded first: thread/resume)."""
    await server.request("thread/resume", {"threadId": thread_id, "excludeTurns": True}, timeout)
    await server.request("thread/revert", {"threadId": thread_id, "beforeTurnId": before_turn_id}, timeout)
    log.info("thread %s reverted to before turn %s", thread_id, before_turn_id)
