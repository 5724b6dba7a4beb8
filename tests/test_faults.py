"""Faults: Codex or the server killed at awkward moments, the server stopped mid-turn, the model failing in
every way we can make it fail, damaged state. After each one every conversation is still reachable (listed,
and a reply completes) and nothing of the test is left running."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from codex_mcp.cli.fakemodel import FakeModel

from .conftest import Sandbox, mcp_server
from .faults_helpers import (
    assert_all_reachable,
    await_true,
    codex_children,
    codex_in,
    codex_processes,
    crashes_in,
    kill_leftovers,
    logged_server,
    server_pids,
    status_of,
)
from .helpers import alive, await_until, call, reply, start, start_result, text_of
from .platforms import KILLED, kill_hard
from .test_conversations import model_got, server_pid

pytestmark = [pytest.mark.anyio, pytest.mark.codex]


def folder(sandbox: Sandbox, name: str) -> Path:
    """A folder of its own per conversation, so a test can tell their Codex processes apart by cwd."""
    path = sandbox.work / name
    path.mkdir()
    return path


def state_dir(sandbox: Sandbox) -> Path:
    """Where the server keeps its conversation files."""
    return Path(sandbox.env["CODEX_MCP_STATE_DIR"]) / "conversations"


async def start_in(client: Client, sandbox: Sandbox, name: str, prompt: str | None = None) -> str:
    """Start a conversation in its own folder; returns its id."""
    r = await start_result(client, prompt or f"{name} first", cwd=folder(sandbox, name))
    assert r["status"] == "completed", r
    return str(r["conversationId"])


async def kill_first_child(server: int, killed: list[int], timeout: float = 15.0) -> None:
    """SIGKILL the first Codex the server starts from now on, as soon as it appears."""
    deadline = time.monotonic() + timeout
    while not (kids := codex_children(server)):
        if time.monotonic() > deadline:
            return
        await anyio.sleep(0.01)
    kill_hard(kids[0])
    killed.append(kids[0])


# --- Codex killed ------------------------------------------------------------------------------------


async def test_codex_killed_mid_turn_fails_its_turns_and_spares_the_others(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    """SIGKILL one Codex while its turn runs and another turn waits behind it, with a neighbour busy and one
    idle: both of its calls return at once (failed, not re-run, the queued one never sent), the neighbours
    are untouched, and the victim resumes on the next reply."""
    async with mcp_server(sandbox, codex_bin) as client:
        ids = {name: await start_in(client, sandbox, name) for name in ("victim", "idle", "busy")}
        server = server_pid(sandbox)
        victim = codex_in(server, sandbox.work / "victim")
        results: dict[str, dict[str, Any]] = {}
        returned: dict[str, float] = {}

        async def reply_as(key: str, cid: str, prompt: str) -> None:
            results[key] = await reply(client, cid, prompt, timeout_s=40)
            returned[key] = time.monotonic()

        async def turn_is(cid: str, turns: int, status: str) -> bool:
            s = await status_of(client, cid)
            return bool(s["turns"] == turns and s["status"] == status)

        async with anyio.create_task_group() as tg:
            tg.start_soon(reply_as, "doomed", ids["victim"], "victim doomed [[delay:30]]")
            assert await await_true(lambda: turn_is(ids["victim"], 2, "running"))
            tg.start_soon(reply_as, "queued", ids["victim"], "victim queued")
            assert await await_true(lambda: turn_is(ids["victim"], 3, "queued"))
            tg.start_soon(reply_as, "busy", ids["busy"], "busy turn [[delay:3]]")
            assert await await_true(lambda: turn_is(ids["busy"], 2, "running"))
            killed_at = time.monotonic()
            kill_hard(victim)

        for key in ("doomed", "queued"):
            assert returned[key] - killed_at < 5, f"the {key} call did not return promptly after the kill"
            assert results[key]["status"] == "failed", results[key]
            assert KILLED in results[key]["error"], results[key]
            assert results[key]["state"] == "exited"
        assert "not re-run" in results["doomed"]["error"]
        assert results["busy"]["status"] == "completed"
        assert results["busy"]["reply"] == "ECHO: busy turn [[delay:3]]"
        assert (await status_of(client, ids["idle"]))["state"] == "idle"
        assert alive(server)

        back = await reply(client, ids["victim"], "victim back [[history]]")
        assert back["recovery"] == "resumed"
        assert back["turn"] == 4
        assert back["reply"].startswith("victim first | ")
        assert "victim queued" not in back["reply"], "a turn that never reached Codex is in its history"
        assert len(model_got(fake_model, "victim doomed")) == 1, "the killed turn was sent again"
        assert model_got(fake_model, "victim queued") == [], "the queued turn reached the model"
        await assert_all_reachable(client, sandbox, list(ids.values()), "mid-turn kill")


async def test_every_codex_killed_between_turns_all_resume_in_parallel(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        ids = [await start_in(client, sandbox, f"idle{n}") for n in range(3)]
        server = server_pid(sandbox)
        pids = codex_children(server)
        assert len(pids) == 3
        for pid in pids:
            kill_hard(pid)

        async def all_exited() -> bool:
            states = [(await status_of(client, cid))["state"] for cid in ids]
            return states == ["exited"] * len(ids)

        assert await await_true(all_exited, 10), "the server did not notice its Codex processes dying"
        results: dict[str, dict[str, Any]] = {}

        async def back(n: int, cid: str) -> None:
            results[cid] = await reply(client, cid, f"back {n} [[history]]")

        async with anyio.create_task_group() as tg:
            for n, cid in enumerate(ids):
                tg.start_soon(back, n, cid)
        for n, cid in enumerate(ids):
            assert results[cid]["recovery"] == "resumed", results[cid]
            # Each resumed thread has its own history and nobody else's.
            assert results[cid]["reply"] == f"idle{n} first | back {n} [[history]]"
        await assert_all_reachable(client, sandbox, ids, "parallel resume")


async def test_codex_killed_during_start_up_leaves_nothing(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        server = server_pid(sandbox)
        killed: list[int] = []

        assert await await_until(lambda: not codex_children(server), 5)  # `codex --version` at start is done

        async with anyio.create_task_group() as tg:
            tg.start_soon(kill_first_child, server, killed)
            result = await client.call_tool("codex_start", {"prompt": "never born", "cwd": str(sandbox.work)})
        assert killed
        assert result.is_error, result.structured_content
        message = text_of(result)
        assert "Codex did not start" in message
        assert KILLED in message
        assert (await call(client, "codex_list"))["conversations"] == []
        assert await await_until(lambda: not codex_processes(sandbox), 5)
        cid = await start_in(client, sandbox, "after")
        await assert_all_reachable(client, sandbox, [cid], "start-up kill")


async def test_codex_killed_while_resuming_falls_back_to_a_replay(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start_in(client, sandbox, "resumed", prompt="resume victim alpha")
        await call(client, "codex_end", conversationId=cid)
        server = server_pid(sandbox)
        assert await await_until(lambda: not codex_children(server), 5)
        killed: list[int] = []

        async with anyio.create_task_group() as tg:
            tg.start_soon(kill_first_child, server, killed)
            r = await reply(client, cid, "resume victim beta", timeout_s=60)
        assert len(killed) == 1
        assert r["status"] == "completed"
        assert r["recovery"] == "replayed"
        assert r["thread_id"] != cid
        [sent] = model_got(fake_model, "resume victim beta")
        assert "resume victim alpha" in sent, "the replay did not carry the history"
        await assert_all_reachable(client, sandbox, [cid], "resume kill")


# --- the server stopped ------------------------------------------------------------------------------


async def test_server_sigkilled_mid_turn_and_started_again(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        idle = await start_in(client, sandbox, "idle", prompt="kill9 idle first")
        await reply(client, idle, "kill9 idle second")
        busy = await start_in(client, sandbox, "busy", prompt="kill9 busy first")
        ended = await start_in(client, sandbox, "ended", prompt="kill9 ended first")
        await call(client, "codex_end", conversationId=ended)
        running = await reply(client, busy, "kill9 doomed [[delay:30]]", timeout_s=1.5)
        assert running["status"] == "running"
        server = server_pid(sandbox)
        kill_hard(server)
        assert await await_until(lambda: not alive(server), 5)
        # Codex gets a hang-up when the PTY masters close with the server.
        assert await await_until(lambda: not codex_processes(sandbox), 5), codex_processes(sandbox)

    files = sorted(state_dir(sandbox).glob("*.json"))
    assert {f.stem for f in files} == {idle, busy, ended}
    for f in files:
        json.loads(f.read_text())  # every file is whole: writes are atomic

    async with mcp_server(sandbox, codex_bin) as client:
        listed = {c["conversationId"]: c for c in (await call(client, "codex_list"))["conversations"]}
        assert set(listed) == {idle, busy, ended}
        assert listed[idle]["end_reason"] == "server stopped"
        assert listed[busy]["end_reason"] == "server stopped"
        assert listed[ended]["end_reason"] == "ended by client"
        assert all(c["state"] == "ended" for c in listed.values())
        doomed = await call(client, "codex_status", conversationId=busy, turn=2)
        assert doomed["status"] == "failed"
        assert "not re-run" in doomed["error"]

        expected = {
            idle: "kill9 idle first | kill9 idle second | after kill9 [[history]]",
            ended: "kill9 ended first | after kill9 [[history]]",
        }
        for cid in (idle, busy, ended):
            r = await reply(client, cid, "after kill9 [[history]]")
            assert r["recovery"] == "resumed", r
            if cid in expected:
                assert r["reply"] == expected[cid]
            else:
                assert r["reply"].startswith("kill9 busy first | ")
                assert r["turn"] == 3
        assert len(model_got(fake_model, "kill9 doomed")) == 1, "the interrupted turn was run again"
        await assert_all_reachable(client, sandbox, [idle, busy, ended], "kill9")
    assert not list(state_dir(sandbox).glob(".*.tmp"))


@pytest.mark.parametrize("how", ["sigterm", "stdin-eof"])
async def test_server_stopped_during_a_turn_and_started_again(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel, how: str
) -> None:
    marker = f"{how} doomed"
    async with mcp_server(sandbox, codex_bin) as client:
        idle = await start_in(client, sandbox, "idle", prompt=f"{how} idle first")
        busy = await start_in(client, sandbox, "busy", prompt=f"{how} busy first")
        running = await reply(client, busy, f"{marker} [[delay:30]]", timeout_s=1.5)
        assert running["status"] == "running"
        server = server_pid(sandbox)
        if how == "sigterm":
            os.kill(server, signal.SIGTERM)
            assert await await_until(lambda: not alive(server), 10), "the server did not exit on SIGTERM"
    # stdin-eof: leaving the client closed the server's stdin.
    assert await await_until(lambda: not alive(server), 10), "the server did not exit"
    assert await await_until(lambda: not codex_processes(sandbox), 5), codex_processes(sandbox)

    async with mcp_server(sandbox, codex_bin) as client:
        listed = {c["conversationId"]: c for c in (await call(client, "codex_list"))["conversations"]}
        assert set(listed) == {idle, busy}
        assert {c["end_reason"] for c in listed.values()} == {"server shutdown"}
        stopped = await call(client, "codex_status", conversationId=busy, turn=2)
        assert stopped["status"] == "failed"
        assert "server shutdown" in stopped["error"]
        r = await reply(client, busy, f"{how} after [[history]]")
        assert r["recovery"] == "resumed"
        assert r["turn"] == 3
        assert r["reply"].startswith(f"{how} busy first | ")
        assert r["reply"].endswith(f"{how} after [[history]]")
        assert len(model_got(fake_model, marker)) == 1, "the stopped turn was run again"
        await assert_all_reachable(client, sandbox, [idle, busy], how)


# --- the model failing ---------------------------------------------------------------------------------


async def test_model_errors_and_dropped_streams_fail_the_turn_and_keep_the_session(
    sandbox: Sandbox, codex_bin: Path
) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        # Even the very first turn failing gives a conversation to continue.
        first = await start_result(client, "[[fail:500]] at start", cwd=sandbox.work)
        assert first["status"] == "failed"
        assert first["error"]
        assert first["state"] == "idle"
        cid = first["conversationId"]
        # What Codex 0.169 says for each (a 500 gets its generic "high demand" message).
        failures = {
            "[[fail:400]] bad request": "fake model failure 400",
            "[[fail:401]] unauthorized": "401 Unauthorized",
            "[[fail:429]] rate limited": "429 Too Many Requests",
            "[[fail:500]] server error": "high demand",
            "[[fail:503]] unavailable": "503 Service Unavailable",
            "[[drop]] dropped stream": "stream closed before response.completed",
        }
        turns: dict[int, str] = {}
        for prompt, expected in failures.items():
            began = time.monotonic()
            r = await reply(client, cid, prompt, timeout_s=30)
            assert time.monotonic() - began < 10, f"{prompt}: Codex retried for too long"
            assert r["status"] == "failed", r
            assert r["reply"] is None
            assert expected in r["error"], r
            assert r["state"] == "idle"
            # The error is Codex's own message: the one it shows the user.
            assert await await_true(partial(on_screen, client, cid, r["error"][:60])), r["error"]
            turns[r["turn"]] = expected
        after = await reply(client, cid, "after the failures")
        assert after["status"] == "completed"
        assert after["reply"] == "ECHO: after the failures"
        for number, expected in turns.items():
            shown = await call(client, "codex_status", conversationId=cid, turn=number)
            assert shown["status"] == "failed"
            assert expected in shown["error"]
        # A failed turn is history too: after a restart of the session, the conversation resumes.
        await call(client, "codex_end", conversationId=cid)
        await assert_all_reachable(client, sandbox, [cid], "model failures")


async def on_screen(client: Client, cid: str, text: str) -> bool:
    return any(text in line for line in (await status_of(client, cid))["screen"])


async def test_slow_stream_returns_running_in_time_and_is_collected(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "slow base", cwd=sandbox.work)
        began = time.monotonic()
        r = await reply(client, cid, "[[slow:4]] a slow, streamed answer", timeout_s=1.5)
        assert time.monotonic() - began < 3.5, "the call outlived its timeout_s"
        assert r["status"] == "running"
        assert r["screen"], "a running result shows what Codex is doing"
        done = await call(client, "codex_status", conversationId=cid, wait_s=30)
        assert done["status"] == "completed"
        assert done["reply"] == "ECHO: [[slow:4]] a slow, streamed answer"
        assert time.monotonic() - began > 3.5, "the stream was not slow: the test proves nothing"
        # Within its timeout, a slow stream is just a slow reply.
        r = await reply(client, cid, "[[slow:2]] slow but in time", timeout_s=30)
        assert r["status"] == "completed"
        assert r["reply"] == "ECHO: [[slow:2]] slow but in time"
        await assert_all_reachable(client, sandbox, [cid], "slow")


async def test_stalled_stream_fails_when_codex_gives_up(sandbox: Sandbox, codex_bin: Path) -> None:
    """A stream that starts and then goes silent: Codex's own idle timeout (shortened here) ends the turn."""
    async with mcp_server(sandbox, codex_bin) as client:
        started = await start_result(
            client,
            "stall base",
            cwd=sandbox.work,
            config={"model_providers.mock.stream_idle_timeout_ms": 1500},
        )
        cid = started["conversationId"]
        began = time.monotonic()
        # Two pieces four seconds apart: a 4 s silence in the middle of the stream.
        r = await reply(client, cid, "[[reply:ab]][[slow:8]]", timeout_s=30)
        assert time.monotonic() - began < 8
        assert r["status"] == "failed", r
        assert "timeout" in r["error"].lower()
        assert r["state"] == "idle"
        await assert_all_reachable(client, sandbox, [cid], "stall")


async def test_unreachable_model_returns_in_time_and_can_be_interrupted(sandbox: Sandbox, codex_bin: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = closed.getsockname()[1]
        async with mcp_server(sandbox, codex_bin) as client:
            began = time.monotonic()
            r = await start_result(
                client,
                "nobody answers",
                cwd=sandbox.work,
                config={"model_providers.mock.base_url": f"http://127.0.0.1:{port}/v1"},
                timeout_s=4,
            )
            assert time.monotonic() - began < 6.5, "the call outlived its timeout_s"
            cid = r["conversationId"]
            # Codex 0.169 keeps reconnecting ("waiting for network"); a later Codex may give up instead.
            assert r["status"] in ("running", "failed"), r
            if r["status"] == "running":
                stopped = await call(client, "codex_interrupt", conversationId=cid)
                assert stopped["interrupted"] is True
                assert stopped["status"] == "interrupted"
            assert (await status_of(client, cid))["state"] == "idle"
            ended = await call(client, "codex_end", conversationId=cid)
            assert ended["ended"] is True
            assert await await_until(lambda: not codex_processes(sandbox), 5)
            listed = await call(client, "codex_list")
            assert [c["conversationId"] for c in listed["conversations"]] == [cid]


# --- damaged state -------------------------------------------------------------------------------------


@pytest.mark.version_independent
async def test_damaged_state_files_are_reported_and_cost_nothing_else(
    sandbox: Sandbox, codex_bin: Path, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    async with logged_server(sandbox, codex_bin, log) as client:
        half = await start_in(client, sandbox, "half", prompt="half first")
        await reply(client, half, "half second")
        whole = await start_in(client, sandbox, "whole", prompt="whole first")
    conversations = state_dir(sandbox)
    data = (conversations / f"{half}.json").read_bytes()
    (conversations / f"{half}.json").write_bytes(data[: len(data) // 2])  # a write cut off halfway
    stale = conversations / f".{whole}.k3x9q2ab.tmp"  # a crash between temp write and rename
    stale.write_bytes((conversations / f"{whole}.json").read_bytes()[:100])
    # Left by a crash a while ago: a temp file younger than a minute may be another server's write in flight.
    os.utime(stale, (time.time() - 600, time.time() - 600))
    bad = {
        "01a1fbea-0000-7000-8000-0000000000d1": "directory",
        "01a1fbea-0000-7000-8000-0000000000d2": "symlink",
        "01a1fbea-0000-7000-8000-0000000000d3": "wrong types",
        "01a1fbea-0000-7000-8000-0000000000d4": "NUL bytes",
    }
    ids = list(bad)
    (conversations / f"{ids[0]}.json").mkdir()
    elsewhere = tmp_path / "elsewhere.json"  # someone else's file: a record, but of the wrong conversation
    original = (conversations / f"{whole}.json").read_bytes()
    elsewhere.write_bytes(original)
    (conversations / f"{ids[1]}.json").symlink_to(elsewhere)
    (conversations / f"{ids[2]}.json").write_text(json.dumps({"id": ids[2], "turns": "many", "options": 7}))
    (conversations / f"{ids[3]}.json").write_bytes(b"\x00" * 64)

    async with logged_server(sandbox, codex_bin, log) as client:
        listed = await call(client, "codex_list")
        assert [c["conversationId"] for c in listed["conversations"]] == [whole]
        problems = listed["state_problems"]
        assert len(problems) == 1 + len(bad), problems
        for cid in [half, *bad]:
            [problem] = [p for p in problems if p.startswith(f"{cid}.json")]
            assert "could not be read" in problem
            assert f"kept as {cid}.corrupt" in problem
        assert f"state: {half}.json could not be read" in log.read_text()
        assert "state problem" in text_of(await client.call_tool("codex_list", {})).lower()

        # The survivor is whole; the damaged one comes back from Codex's own rollout.
        r = await reply(client, whole, "whole again [[history]]")
        assert r["reply"] == "whole first | whole again [[history]]"
        adopted = await reply(client, half, "half again [[history]]")
        assert adopted["recovery"] == "resumed"
        assert adopted["reply"] == "half first | half second | half again [[history]]"
        assert adopted["turn"] == 3
        info = {c["conversationId"]: c for c in (await call(client, "codex_list"))["conversations"]}
        assert info[half]["adopted"] is True
        await assert_all_reachable(client, sandbox, [whole, half], "damaged state")

    assert not stale.exists(), "the leftover temp file of an interrupted write was not removed"
    assert (conversations / f"{half}.corrupt").read_bytes() == data[: len(data) // 2]
    assert (conversations / f"{ids[1]}.corrupt").is_symlink()
    assert elsewhere.read_bytes() == original, "the server wrote through a symlink it should have set aside"
    assert not crashes_in(log), crashes_in(log)


@pytest.mark.version_independent
async def test_reply_after_the_conversations_folder_was_removed(sandbox: Sandbox, codex_bin: Path) -> None:
    """The folder a conversation ran in is gone: the reply says so at once. (It used to hang for good, with a
    forked copy of the server left behind: ptyprocess changes directory in the child outside its error
    reporting.)"""
    gone = sandbox.work / "gone"
    try:
        async with mcp_server(sandbox, codex_bin) as client:
            cid = await start_in(client, sandbox, "gone")
            await call(client, "codex_end", conversationId=cid)
            shutil.rmtree(gone)
            result = None
            with anyio.move_on_after(6):
                result = await client.call_tool(
                    "codex_reply", {"conversationId": cid, "prompt": "is anyone there"}, read_timeout_seconds=15
                )
            assert result is not None, "codex_reply hung on a conversation whose folder is gone"
            assert result.is_error
            assert str(gone) in text_of(result), "the error should name the missing folder"
            assert len(server_pids(sandbox)) == 1, f"extra server processes: {server_pids(sandbox)}"
            assert not codex_processes(sandbox)
            assert (await call(client, "codex_list"))["conversations"][0]["conversationId"] == cid
    finally:
        kill_leftovers(sandbox)


@pytest.mark.version_independent
async def test_state_dir_removed_while_running(sandbox: Sandbox, codex_bin: Path, tmp_path: Path) -> None:
    """The state dir deleted under a running server: starts and replies still work or say what is wrong, and
    no Codex runs that no conversation owns."""
    log = tmp_path / "server.log"
    try:
        async with logged_server(sandbox, codex_bin, log) as client:
            first = await start_in(client, sandbox, "first")
            await call(client, "codex_end", conversationId=first)
            shutil.rmtree(Path(sandbox.env["CODEX_MCP_STATE_DIR"]))
            for tool, args in [
                ("codex_start", {"prompt": "after the state dir went", "cwd": str(sandbox.work)}),
                ("codex_reply", {"conversationId": first, "prompt": "after the state dir went"}),
            ]:
                result = await client.call_tool(tool, args)
                message = text_of(result)
                assert message.strip() != f"Error executing tool {tool}", f"{tool} crashed"
            server = server_pid(sandbox)
            live = [c for c in (await call(client, "codex_list"))["conversations"] if c["state"] == "idle"]
            assert len(codex_children(server)) == len(live), "a Codex runs that no conversation owns"
        assert not crashes_in(log), crashes_in(log)
    finally:
        await await_until(lambda: not codex_processes(sandbox), 5)
        kill_leftovers(sandbox)
