"""Helpers for the fault, load and hostile-input tests: a server whose stderr is kept, finding one
conversation's Codex process, socket inspection, and the "every conversation is still reachable" check."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import psutil
from mcp import Client

from .conftest import Sandbox, mcp_server
from .helpers import alive, await_until, call, children_of, processes_with_env, reply
from .platforms import kill_hard


@asynccontextmanager
async def logged_server(
    sandbox: Sandbox, codex_bin: Path | str, log: Path, *extra_args: str, env: dict[str, str] | None = None
) -> AsyncIterator[Client]:
    """conftest.mcp_server, with the server's stderr (its log, -v) in a file the test can read."""
    with log.open("a") as errlog:
        async with mcp_server(sandbox, codex_bin, *extra_args, env=env, errlog=errlog) as client:
            yield client
    # The server logs at start (-v): an empty file means its stderr went elsewhere, and every check of the log
    # would pass without looking at anything.
    assert log.stat().st_size > 0, f"the server's log did not reach {log}"


CRASH_SIGNS = ("Traceback (most recent call last)", "raised an unexpected exception")


def crashes_in(log: Path) -> list[str]:
    """Lines of a server log that show an unexpected exception (the SDK logs those with a traceback)."""
    if not log.exists():
        return []
    return [line for line in log.read_text(errors="replace").splitlines() if any(s in line for s in CRASH_SIGNS)]


def server_pids(sandbox: Sandbox) -> list[int]:
    """Every codex-mcp server process of this test (normally one).

    A server's child between fork and exec (ptyprocess forks, then execs Codex) is a copy of the server, its
    command line and environment included; on a busy machine that instant is long enough to be seen, so a
    process whose parent is one of these servers is that child, not a second server."""
    found = {int(p.split()[0]) for p in processes_with_env("CODEX_HOME", str(sandbox.codex_home)) if "codex_mcp" in p}
    servers = []
    for pid in sorted(found):
        try:
            if psutil.Process(pid).ppid() in found:
                continue
        except psutil.Error:  # gone meanwhile: the child has exec'ed and exited, or the server has
            continue
        servers.append(pid)
    return servers


def codex_children(server: int) -> list[int]:
    """The server's direct children that are alive: its Codex processes."""
    return [pid for pid in children_of(server) if alive(pid)]


def codex_in(server: int, folder: Path) -> int:
    """The pid of the server's Codex process running in folder (each test conversation gets its own)."""
    want = str(folder.resolve())
    found = []
    for pid in codex_children(server):
        try:
            if psutil.Process(pid).cwd() == want:
                found.append(pid)
        except psutil.Error:
            continue
    assert len(found) == 1, f"expected one Codex in {want}, found {found}"
    return found[0]


def kill_leftovers(sandbox: Sandbox) -> list[str]:
    """SIGKILL whatever this test started that is still running (clean-up after a test that found a leak, so
    the leak is reported once, by the test, and not again as a teardown error). Returns what was killed."""
    leftovers = processes_with_env("CODEX_HOME", str(sandbox.codex_home))
    for entry in leftovers:
        kill_hard(int(entry.split()[0]))
    deadline = time.monotonic() + 5
    while processes_with_env("CODEX_HOME", str(sandbox.codex_home)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return leftovers


async def await_true(predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Like helpers.await_until, for a predicate that has to await (a tool call)."""
    deadline = time.monotonic() + timeout
    while True:
        if await predicate():
            return True
        if time.monotonic() > deadline:
            return False
        await anyio.sleep(interval)


async def status_of(client: Client, cid: str) -> dict[str, Any]:
    """codex_status of a conversation (must succeed)."""
    return await call(client, "codex_status", conversationId=cid)


async def assert_all_reachable(client: Client, sandbox: Sandbox, ids: list[str], tag: str) -> dict[str, dict[str, Any]]:
    """The contract after every fault: codex_list still lists each conversation, a codex_reply to each one
    completes (live, resumed or replayed) with the right answer, and once they are ended no Codex of this
    test is left running. Returns the replies by id."""
    listed = {c["conversationId"] for c in (await call(client, "codex_list"))["conversations"]}
    missing = set(ids) - listed
    assert not missing, f"conversations lost after the fault: {missing}"
    replies: dict[str, dict[str, Any]] = {}
    for n, cid in enumerate(ids):
        r = await reply(client, cid, f"{tag} reachable {n}", timeout_s=60)
        assert r["status"] == "completed", r
        assert r["reply"] == f"ECHO: {tag} reachable {n}", r
        assert r["conversationId"] == cid
        replies[cid] = r
    for cid in ids:
        ended = await call(client, "codex_end", conversationId=cid)
        assert ended["ended"] is True, ended
    assert await await_until(lambda: not codex_processes(sandbox), 10), codex_processes(sandbox)
    return replies


def codex_processes(sandbox: Sandbox) -> list[str]:
    """This test's processes other than the codex-mcp server: Codex and whatever it started."""
    return [p for p in processes_with_env("CODEX_HOME", str(sandbox.codex_home)) if "codex_mcp" not in p]


# --- sockets ---------------------------------------------------------------------------------------

_TCP_LISTEN = "0A"
_UNIX_ACCEPTCON = 0x10000


def _socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def socket_report(pid: int) -> dict[str, list[str]]:
    """The process's sockets by kind: 'inet' (any TCP/UDP/raw socket), 'listening' (a TCP socket in LISTEN
    or a unix socket accepting connections), 'named_unix' (a unix socket bound to a path or an abstract name),
    'unix' (the rest: e.g. asyncio's own self-pipe socketpair)."""
    inodes = _socket_inodes(pid)
    report: dict[str, list[str]] = {"inet": [], "listening": [], "named_unix": [], "unix": []}
    for table in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
        try:
            rows = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and int(fields[9]) in inodes:
                entry = f"{table} local={fields[1]} state={fields[3]}"
                report["inet"].append(entry)
                if table.startswith("tcp") and fields[3] == _TCP_LISTEN:
                    report["listening"].append(entry)
    for row in Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:]:
        fields = row.split()
        if len(fields) < 7 or int(fields[6]) not in inodes:
            continue
        flags = int(fields[3], 16)
        name = fields[7] if len(fields) > 7 else ""
        entry = f"unix inode={fields[6]} flags={fields[3]} state={fields[5]} name={name!r}"
        if flags & _UNIX_ACCEPTCON:
            report["listening"].append(entry)
        if name:
            report["named_unix"].append(entry)
        else:
            report["unix"].append(entry)
    return report
