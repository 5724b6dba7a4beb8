"""Conversations outlive processes: resume, replay, adoption, restarts, reclaim, interrupts and progress,
all against the real Codex CLI and the fake model."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_mcp.cli.fakemodel import FakeModel

from .conftest import Sandbox, codex_exec, mcp_server
from .helpers import await_until, call, call_error, reply, start, start_result
from .platforms import KILLED, kill_hard
from .test_conversations import codex_pids, kill_codex_soon, model_got

pytestmark = [pytest.mark.anyio, pytest.mark.codex]


def rollout_of(sandbox: Sandbox, thread_id: str) -> Path:
    [path] = sandbox.codex_home.glob(f"sessions/*/*/*/rollout-*-{thread_id}.jsonl")
    return path


def turn_contexts(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line)["payload"] for line in path.read_text().splitlines() if '"turn_context"' in line]


async def test_killed_between_turns_resumes_with_context(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "first of crash test", cwd=sandbox.work)
        for pid in codex_pids(sandbox):
            kill_hard(pid)
        deadline = time.monotonic() + 5
        while (status := await call(client, "codex_status", conversationId=cid))["state"] != "exited":
            assert time.monotonic() < deadline, f"the server did not notice Codex dying: {status}"
            await anyio.sleep(0.05)
        assert "crashed" in status["end_reason"]
        assert KILLED in status["end_reason"]

        began = time.monotonic()
        r = await reply(client, cid, "after crash [[history]]")
        resume_s = time.monotonic() - began
        assert r["recovery"] == "resumed"
        assert r["status"] == "completed"
        assert r["reply"] == "first of crash test | after crash [[history]]"
        assert r["thread_id"] == cid
        listed = await call(client, "codex_list")
        assert listed["conversations"][0]["state"] == "idle"
        print(f"resume after SIGKILL: {resume_s:.2f}s to the reply")


async def test_killed_mid_turn_is_not_rerun(sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "mid-turn victim", cwd=sandbox.work)
        async with anyio.create_task_group() as tg:
            tg.start_soon(kill_codex_soon, sandbox)
            r = await reply(client, cid, "doomed turn [[delay:20]]", timeout_s=30)
        assert r["status"] == "failed"
        assert "not re-run" in r["error"]
        after = await reply(client, cid, "next one")
        assert after["recovery"] == "resumed"
        assert after["reply"] == "ECHO: next one"
        assert len(model_got(fake_model, "doomed turn")) == 1, "the interrupted turn was sent to the model again"


async def test_restarted_server_continues_every_conversation(sandbox: Sandbox, codex_bin: Path) -> None:
    ids: list[str] = []
    async with mcp_server(sandbox, codex_bin) as client:
        for n in range(3):
            r = await start_result(client, f"restart {n}", cwd=sandbox.work)
            ids.append(r["conversationId"])
        await reply(client, ids[0], "restart 0 second")
    # The state is on disk, owner-only.
    state = Path(sandbox.env["CODEX_MCP_STATE_DIR"])
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    files = sorted((state / "conversations").glob("*.json"))
    assert [f.stem for f in files] == sorted(ids)
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)

    async with mcp_server(sandbox, codex_bin) as client:
        listed = await call(client, "codex_list")
        by_id = {c["conversationId"]: c for c in listed["conversations"]}
        assert set(by_id) == set(ids)
        assert all(c["state"] == "ended" and c["end_reason"] == "server shutdown" for c in by_id.values())
        assert by_id[ids[0]]["turns"] == 2
        old = await call(client, "codex_status", conversationId=ids[0])
        assert old["reply"] == "ECHO: restart 0 second"
        for n, cid in enumerate(ids):
            r = await reply(client, cid, f"continued {n} [[history]]")
            assert r["recovery"] == "resumed"
            earlier = f"restart {n} | restart 0 second" if n == 0 else f"restart {n}"
            assert r["reply"] == f"{earlier} | continued {n} [[history]]"
            assert r["turn"] == (3 if n == 0 else 2)


async def test_resume_keeps_the_original_settings(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(
            client,
            "strict settings",
            cwd=sandbox.work,
            sandbox="read-only",
            approval_policy="never",
            config={"model_reasoning_effort": "high"},
        )
        await call(client, "codex_end", conversationId=cid)
        r = await reply(client, cid, "after resume")
        assert r["recovery"] == "resumed"
    contexts = turn_contexts(rollout_of(sandbox, cid))
    assert len(contexts) == 2, "expected one turn before and one after the resume"
    resumed = contexts[-1]
    assert resumed["sandbox_policy"] == {"type": "read-only"}
    assert resumed["approval_policy"] == "never"
    assert resumed["effort"] == "high"
    assert resumed["cwd"] == str(sandbox.work)


async def test_removed_rollout_is_replayed_with_history(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "replay alpha", cwd=sandbox.work)
        await reply(client, cid, "replay beta")
        await call(client, "codex_end", conversationId=cid)
        rollout_of(sandbox, cid).unlink()

        began = time.monotonic()
        r = await reply(client, cid, "replay gamma")
        replay_s = time.monotonic() - began
        assert r["recovery"] == "replayed"
        assert r["conversationId"] == cid
        assert r["thread_id"] != cid
        # The history reached the model, in front of the new prompt.
        [sent] = model_got(fake_model, "replay gamma")
        assert "replay alpha" in sent
        assert "ECHO: replay beta" in sent
        assert sent.rstrip().endswith("replay gamma")
        assert r["reply"] == f"ECHO: {sent}"

        # The client keeps using the same id; the new thread backs it from now on.
        listed = await call(client, "codex_list")
        [info] = listed["conversations"]
        assert info["conversationId"] == cid
        assert info["thread_id"] == r["thread_id"]
        nxt = await reply(client, cid, "replay delta")
        assert nxt["recovery"] == "live"
        assert nxt["turn"] == 4
        print(f"replay after a lost rollout: {replay_s:.2f}s to the reply")


async def test_adopts_a_conversation_started_outside(sandbox: Sandbox, codex_bin: Path) -> None:
    done = codex_exec(
        sandbox, codex_bin, "exec", "--json", "--skip-git-repo-check", "-C", str(sandbox.work), "made by hand"
    )
    thread_id = json.loads(done.stdout.splitlines()[0])["thread_id"]
    async with mcp_server(sandbox, codex_bin) as client:
        r = await reply(client, thread_id, "adopted [[history]]")
        assert r["recovery"] == "resumed"
        assert r["reply"] == "made by hand | adopted [[history]]"
        assert r["turn"] == 2  # the hand-made turn is turn 1
        [info] = (await call(client, "codex_list"))["conversations"]
        assert info["adopted"] is True
        assert info["cwd"] == str(sandbox.work)
        # An id Codex does not know either is still an error that says what to do.
        message = await call_error(
            client, "codex_reply", conversationId="01a1fbea-0000-7000-8000-000000000000", prompt="hi"
        )
        assert "codex_list" in message


async def test_cap_reclaims_least_recently_used_and_idle_timeout(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin, "--max-sessions", "2", "--idle-timeout", "3") as client:
        a = await start(client, "cap a", cwd=sandbox.work)
        b = await start(client, "cap b", cwd=sandbox.work)
        c = await start(client, "cap c", cwd=sandbox.work)
        states = {x["conversationId"]: x for x in (await call(client, "codex_list"))["conversations"]}
        assert states[a]["state"] == "ended"
        assert states[a]["end_reason"] == "evicted"
        assert states[b]["state"] == "idle"
        assert states[c]["state"] == "idle"
        assert len(codex_pids(sandbox)) == 2
        back = await reply(client, a, "cap a again")
        assert back["recovery"] == "resumed"  # and, at the cap, b is now the least recently used

        async def reasons() -> dict[str, str | None]:
            listed = (await call(client, "codex_list"))["conversations"]
            return {x["conversationId"]: x["end_reason"] for x in listed if x["state"] == "ended"}

        deadline = time.monotonic() + 15
        while await reasons() != {a: "idle", b: "evicted", c: "idle"}:
            assert time.monotonic() < deadline, "idle sessions were not reclaimed"
            await anyio.sleep(0.5)
        # Ended is recorded as the session is told to end; the processes follow within moments.
        assert await await_until(lambda: not codex_pids(sandbox), 5)
        again = await reply(client, b, "cap b again")
        assert again["recovery"] == "resumed"


async def test_interrupt_stops_the_turn_and_keeps_the_session(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        started = await start_result(client, "interrupt me [[delay:20]]", cwd=sandbox.work, timeout_s=1.5)
        assert started["status"] == "running"
        cid = started["conversationId"]
        began = time.monotonic()
        stopped = await call(client, "codex_interrupt", conversationId=cid)
        assert time.monotonic() - began < 5
        assert stopped["interrupted"] is True
        assert stopped["status"] == "interrupted"
        nothing = await call(client, "codex_interrupt", conversationId=cid)
        assert nothing["interrupted"] is False
        after = await reply(client, cid, "after interrupt")
        assert after["recovery"] == "live"
        assert after["reply"] == "ECHO: after interrupt"


async def test_cancelling_a_call_interrupts_its_turn(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "cancel base", cwd=sandbox.work)
        with anyio.move_on_after(1.5):  # the client cancels its request (notifications/cancelled)
            await client.call_tool("codex_reply", {"conversationId": cid, "prompt": "cancel me [[delay:20]]"})

        async def interrupted() -> bool:
            status = await call(client, "codex_status", conversationId=cid)
            return bool(status["status"] == "interrupted" and status["state"] == "idle")

        deadline = time.monotonic() + 10
        while not await interrupted():
            assert time.monotonic() < deadline, "the cancelled call's turn kept running"
            await anyio.sleep(0.2)
        after = await reply(client, cid, "after cancel")
        assert after["reply"] == "ECHO: after cancel"


@pytest.mark.version_independent
async def test_progress_notifications_while_waiting(sandbox: Sandbox, codex_bin: Path) -> None:
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    async with mcp_server(sandbox, codex_bin, env={"CODEX_MCP_PROGRESS_INTERVAL_S": "0.5"}) as client:
        result = await client.call_tool(
            "codex_start",
            {"prompt": "progress please [[delay:3]]", "cwd": str(sandbox.work)},
            progress_callback=on_progress,
        )
        assert not result.is_error
        assert result.structured_content is not None
        assert result.structured_content["status"] == "completed"
    assert len(seen) >= 3, seen
    assert [p for p, _ in seen] == sorted(p for p, _ in seen), "progress must increase"
    assert all(m and m.startswith("turn 1 running") for _, m in seen), seen


async def test_queued_replies_run_in_arrival_order(sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "queue base", cwd=sandbox.work)
        results: dict[str, dict[str, Any]] = {}

        async def send(prompt: str) -> None:
            results[prompt] = await reply(client, cid, prompt)

        async with anyio.create_task_group() as tg:
            tg.start_soon(send, "q1 [[delay:1]]")
            for name in ("q2", "q3", "q4"):
                await anyio.sleep(0.15)
                tg.start_soon(send, name)
        assert [results[p]["turn"] for p in ("q1 [[delay:1]]", "q2", "q3", "q4")] == [2, 3, 4, 5]
        assert all(r["status"] == "completed" for r in results.values())
        sent = [r.user_texts[-1] for r in fake_model.user_requests() if r.user_texts[-1] in ("q2", "q3", "q4")]
        assert sent == ["q2", "q3", "q4"]


@pytest.mark.version_independent
async def test_corrupted_state_file_costs_nothing_else(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        keep = await start(client, "survivor", cwd=sandbox.work)
    conversations = Path(sandbox.env["CODEX_MCP_STATE_DIR"]) / "conversations"
    (conversations / "01a1fbea-0000-7000-8000-00000000dead.json").write_text('{"id": "01a1fbea-0000-7')
    async with mcp_server(sandbox, codex_bin) as client:
        listed = await call(client, "codex_list")
        assert [c["conversationId"] for c in listed["conversations"]] == [keep]
        [problem] = listed["state_problems"]
        assert "01a1fbea-0000-7000-8000-00000000dead.json could not be read" in problem
        r = await reply(client, keep, "still here")
        assert r["recovery"] == "resumed"
    assert (conversations / "01a1fbea-0000-7000-8000-00000000dead.corrupt").exists()


async def test_failed_resume_falls_back_to_replay(sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel) -> None:
    """The rollout is there but Codex cannot resume from it (damaged): the ladder goes on to a replay."""
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "damaged alpha", cwd=sandbox.work)
        await call(client, "codex_end", conversationId=cid)
        rollout_of(sandbox, cid).write_text("this is not a rollout\n")
        r = await reply(client, cid, "damaged beta")
        assert r["recovery"] == "replayed"
        [sent] = model_got(fake_model, "damaged beta")
        assert "damaged alpha" in sent


@pytest.mark.version_independent
async def test_two_servers_sharing_a_state_dir_never_fork_a_conversation(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    """Two client windows, two codex-mcp processes, one state dir: a conversation live in one is not revived
    (forked) by the other: the other's calls reach the live session (issue 23), and once it is free, the other
    resumes it with the whole history."""
    async with mcp_server(sandbox, codex_bin) as a, mcp_server(sandbox, codex_bin) as b:
        cid = await start(a, "shared one", cwd=sandbox.work)
        await reply(a, cid, "shared two")
        [seen] = (await call(b, "codex_list"))["conversations"]
        assert seen["conversationId"] == cid
        assert seen["end_reason"] == "live in another codex-mcp process"
        live = await reply(b, cid, "from b while live [[history]]")
        assert live["recovery"] == "live"
        assert live["reply"] == "shared one | shared two | from b while live [[history]]"
        assert len(model_got(fake_model, "from b while live")) == 1

        await call(a, "codex_end", conversationId=cid)
        r = await reply(b, cid, "from b [[history]]")
        assert r["recovery"] == "resumed"
        assert r["turn"] == 4  # b knows a's turns
        assert r["reply"] == "shared one | shared two | from b while live [[history]] | from b [[history]]"
        [from_a] = (await call(a, "codex_list"))["conversations"]
        assert from_a["end_reason"] == "live in another codex-mcp process"
        assert from_a["turns"] == 4


@pytest.mark.version_independent
async def test_cancelling_a_status_wait_leaves_the_turn_alone(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        started = await start_result(client, "keep going [[delay:3]]", cwd=sandbox.work, timeout_s=1)
        cid = started["conversationId"]
        with anyio.move_on_after(0.7):  # e.g. the client's own request timeout on a long poll
            await client.call_tool("codex_status", {"conversationId": cid, "wait_s": 30})
        done = await call(client, "codex_status", conversationId=cid, wait_s=15)
        assert done["status"] == "completed"
        assert done["reply"] == "ECHO: keep going [[delay:3]]"


@pytest.mark.version_independent
async def test_cancelling_a_queued_reply_withdraws_it(sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        started = await start_result(client, "busy [[delay:3]]", cwd=sandbox.work, timeout_s=1)
        cid = started["conversationId"]
        with anyio.move_on_after(0.7):
            await client.call_tool("codex_reply", {"conversationId": cid, "prompt": "never mind this"})
        first = await call(client, "codex_status", conversationId=cid, turn=1, wait_s=15)
        assert first["status"] == "completed"  # the running turn was not touched
        withdrawn = await call(client, "codex_status", conversationId=cid, turn=2)
        assert withdrawn["status"] == "failed"
        assert "withdrawn" in withdrawn["error"]
        after = await reply(client, cid, "next real one")
        assert after["reply"] == "ECHO: next real one"
        assert not model_got(fake_model, "never mind this")
