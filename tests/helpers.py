"""Small test helpers: process scans, waiting on predicates, calling tools."""

from __future__ import annotations

import contextlib
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import psutil
from mcp import Client
from mcp_types import CallToolResult, TextContent

from codex_mcp.codex.settings import LaunchOptions
from codex_mcp.storage.store import ConversationRecord, TurnRecord
from codex_mcp.terminal.processes import processes_with_env as processes_marked
from codex_mcp.turn import TurnStatus


def processes_with_env(name: str, value: str) -> list[str]:
    """'pid cmdline' of every process whose environment has name=value (how a test finds its own
    Codex processes, whoever their parent is now); skips this process and zombies."""
    found: list[str] = []
    for proc in processes_marked(name, value):
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue  # a zombie awaiting its parent is not running
            cmd = " ".join(proc.cmdline()).strip()
        except psutil.Error:  # gone, a zombie, or not ours to read
            continue
        found.append(f"{proc.pid} {cmd[:200]}")
    return found


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:  # ZombieProcess too
        return False
    except psutil.AccessDenied:  # there, though not ours to inspect
        return True


def children_of(pid: int) -> list[int]:
    """Direct child pids of a process (zombies included); none if it is gone."""
    try:
        return [int(child.pid) for child in psutil.Process(pid).children()]
    except psutil.Error:
        return []


def fd_count(pid: int) -> int:
    """Open file descriptors of a process (handles on Windows); raises psutil.NoSuchProcess if it is gone."""
    proc = psutil.Process(pid)
    if sys.platform == "win32":
        return int(proc.num_handles())
    return int(proc.num_fds())


async def await_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll predicate until it is true or timeout passes (never a bare sleep); returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        await anyio.sleep(interval)


def text_of(result: CallToolResult) -> str:
    """All text content of a tool result."""
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool that must succeed; returns its structured content."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool} failed: {text_of(result)}"
    assert result.structured_content is not None, f"{tool} returned no structuredContent"
    return dict(result.structured_content)


async def call_error(client: Client, tool: str, **arguments: Any) -> str:
    """Call a tool that must fail with a tool error; returns the error text."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
    return text_of(result)


async def start_result(
    client: Client, prompt: str, *, cwd: str | os.PathLike[str] | None = None, **options: Any
) -> dict[str, Any]:
    """codex_start, which must succeed; returns its structured content. cwd may be a Path; left out, the
    server's default applies."""
    if cwd is not None:
        options["cwd"] = os.fspath(cwd)
    return await call(client, "codex_start", prompt=prompt, **options)


async def start(client: Client, prompt: str, *, cwd: str | os.PathLike[str] | None = None, **options: Any) -> str:
    """codex_start, which must succeed; returns the new conversation's id."""
    cid: str = (await start_result(client, prompt, cwd=cwd, **options))["conversationId"]
    return cid


async def reply(client: Client, cid: str, prompt: str, **options: Any) -> dict[str, Any]:
    """codex_reply, which must succeed; returns its structured content."""
    return await call(client, "codex_reply", conversationId=cid, prompt=prompt, **options)


def write_old_records(
    state_dir: Path, count: int, *, turns: int = 20, seed: int = 0, projects: Path = Path("/home/user/projects")
) -> list[str]:
    """count conversation records as codex-mcp writes them (its own format, no index row: as an earlier version
    left them), spread over the last 180 days and ten project folders (projects/app0 … app9, made if they can
    be); returns their ids, oldest first."""
    for n in range(min(count, 10)):
        with contextlib.suppress(OSError):
            (projects / f"app{n}").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    folder = state_dir / "conversations"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = time.time()
    made: list[tuple[float, str]] = []
    for n in range(count):
        cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        created = now - rng.uniform(1, 180) * 86400
        record = ConversationRecord(
            id=cid,
            thread_id=cid,
            threads=[cid],
            options=LaunchOptions(cwd=str(projects / f"app{n % 10}")),
            created_at=created,
            last_activity=created + turns * 60,
            end_reason="idle",
            turns=[
                TurnRecord(
                    index=i + 1,
                    prompt=f"Conversation {n}, turn {i + 1}: " + "please look at the parser and explain " * 5,
                    status=TurnStatus.COMPLETED,
                    reply=f"Reply {i + 1}: " + "the parser reads tokens and builds the tree. " * 14,
                    turn_id=str(uuid.uuid4()),
                    thread_id=cid,
                    submitted_at=created + i * 60,
                    finished_at=created + i * 60 + 5,
                )
                for i in range(turns)
            ],
        )
        path = folder / f"{cid}.json"
        path.write_text(record.model_dump_json(indent=1))
        path.chmod(0o600)
        made.append((record.last_activity, cid))
    return [cid for _, cid in sorted(made)]


async def list_all(client: Client, **filters: Any) -> list[dict[str, Any]]:
    """Every conversation codex_list has, page by page."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await call(client, "codex_list", limit=200, **filters, **({"cursor": cursor} if cursor else {}))
        found += page["conversations"]
        cursor = page["next_cursor"]
        if not cursor:
            return found
