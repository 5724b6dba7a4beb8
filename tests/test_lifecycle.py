"""No orphans, no leaks: every Codex process ends with its conversation or with the server, and the
server's file descriptors stay flat."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import anyio
import pytest

from .conftest import Sandbox, mcp_server
from .helpers import alive, await_until, call, fd_count, processes_with_env, reply, start_result
from .platforms import kill_hard
from .test_conversations import codex_pids, server_pid

pytestmark = [pytest.mark.anyio, pytest.mark.codex]


async def test_stdin_eof_ends_every_session(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        for n in range(2):
            await start_result(client, f"eof {n}", cwd=sandbox.work)
        await start_result(client, "mid-turn at EOF [[delay:30]]", cwd=sandbox.work, timeout_s=1)
        pids = codex_pids(sandbox)
        assert len(pids) == 3
        server = server_pid(sandbox)
    # Leaving the client closes the server's stdin.
    assert await await_until(lambda: not alive(server), 10), "the server did not exit on stdin EOF"
    assert not any(alive(p) for p in pids)


@pytest.mark.parametrize("signals", [(signal.SIGTERM,), (signal.SIGINT,), (signal.SIGINT, signal.SIGTERM)])
async def test_signals_end_every_session(sandbox: Sandbox, codex_bin: Path, signals: tuple[int, ...]) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        await start_result(client, "idle at signal", cwd=sandbox.work)
        await start_result(client, "busy at signal [[delay:30]]", cwd=sandbox.work, timeout_s=1)
        pids = codex_pids(sandbox)
        assert len(pids) == 2
        server = server_pid(sandbox)
        began = time.monotonic()
        for sig in signals:  # Claude Code sends SIGINT, then SIGTERM 0.1 s later
            os.kill(server, sig)
            await anyio.sleep(0.1)
        assert await await_until(lambda: not any(alive(p) for p in pids), 5), "Codex outlived the server"
        assert await await_until(lambda: not alive(server), 5), "the server did not exit"
        print(f"{[signal.Signals(s).name for s in signals]}: everything gone in {time.monotonic() - began:.2f}s")
        with pytest.raises(Exception):  # noqa: B017,PT011 - the client only learns that its server went away
            await client.call_tool("codex_list", {}, read_timeout_seconds=5)


async def test_server_killed_takes_codex_with_it(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        await start_result(client, "orphan check", cwd=sandbox.work)
        pids = codex_pids(sandbox)
        kill_hard(server_pid(sandbox))
        # The PTY masters close with the server, so each Codex gets a hang-up.
        assert await await_until(lambda: not any(alive(p) for p in pids), 5), "Codex outlived a SIGKILLed server"
        with pytest.raises(Exception):  # noqa: B017,PT011
            await client.call_tool("codex_list", {}, read_timeout_seconds=5)


@pytest.mark.version_independent
async def test_fds_and_processes_stay_flat_over_cycles(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        server = server_pid(sandbox)

        async def cycle(n: int) -> None:
            started = await start_result(client, f"cycle {n}", cwd=sandbox.work)
            await reply(client, started["conversationId"], f"cycle {n} again")
            ended = await call(client, "codex_end", conversationId=started["conversationId"])
            assert ended["ended"]

        await cycle(0)  # warm-up: lazily opened files (logs, selectors) are not leaks
        fds_before = fd_count(server)
        began = time.monotonic()
        cycles = 12
        for n in range(1, cycles + 1):
            await cycle(n)
        per_cycle = (time.monotonic() - began) / cycles
        assert fd_count(server) == fds_before, "file descriptors leaked across start/end cycles"
        assert codex_pids(sandbox) == []
        listed = await call(client, "codex_list")
        assert len(listed["conversations"]) == cycles + 1
        assert {c["state"] for c in listed["conversations"]} == {"ended"}
        print(f"{cycles} start/reply/end cycles: {per_cycle:.2f}s each, server fds {fds_before} before and after")


async def test_no_stragglers_from_the_users_login_shell(sandbox: Sandbox, codex_bin: Path) -> None:
    """Codex snapshots the user's login shell at start-up; a profile that leaves a job running in the background
    (pyenv's rehash does) must not outlive the session, although it is in a process group of its own."""
    marker = sandbox.home / "profile-ran"
    profile = f'touch "{marker}"\n( sleep 120 & ) >/dev/null 2>&1\n'
    for name in (".bash_profile", ".bashrc", ".profile"):
        (sandbox.home / name).write_text(profile)
    async with mcp_server(sandbox, codex_bin) as client:
        started = await start_result(client, "profile test", cwd=sandbox.work)
        assert await await_until(marker.exists, 10), "Codex did not run the login shell snapshot"
        sleepers = [p for p in processes_with_env("CODEX_HOME", str(sandbox.codex_home)) if "sleep 120" in p]
        assert sleepers, "the profile's background job did not start"
        await call(client, "codex_end", conversationId=started["conversationId"])
        gone = await await_until(
            lambda: not [p for p in processes_with_env("CODEX_HOME", str(sandbox.codex_home)) if "sleep 120" in p], 5
        )
        assert gone, "a job started by the user's login shell outlived the session"
