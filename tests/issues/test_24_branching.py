"""Issue 24: branch, rewind and compact a conversation (codex_fork, codex_rewind, codex_compact).

What reached the fake model is the proof: the fake answers ``[[history]]`` with every user message of the request,
so a fork shows the parent's history up to the turn it branched at, a rewound turn is missing from the next
request, and a compaction is a request whose last user message is Codex's compaction prompt, after which the
model is sent the summary. Everything runs the real Codex (both supported versions) through our MCP server."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from codex_mcp.cli.fakemodel import FakeModel
from codex_mcp.codex.rollout import find_rollout

from ..conftest import Sandbox, mcp_server
from ..helpers import await_until, call, call_error, processes_with_env, reply, start
from ..platforms import kill_hard, posix_signals
from .test_9_compressed_rollouts import compressed_by_codex
from .test_9_open_elsewhere import person_resumes

pytestmark = [pytest.mark.anyio, pytest.mark.codex]

COMPACTION_PROMPT = "CONTEXT CHECKPOINT COMPACTION"


async def three_turns(client: Client, sandbox: Sandbox, tag: str) -> str:
    cid = await start(client, f"one {tag}", cwd=sandbox.work)
    for word in ("two", "three"):
        done = await reply(client, cid, f"{word} {tag}")
        assert done["status"] == "completed", done
    return cid


async def test_fork_at_a_turn_holds_the_parent_history_and_the_parent_goes_on(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await three_turns(client, sandbox, "ZFALQ")
        forked = await call(client, "codex_fork", conversationId=cid, prompt="[[history]] branch ZFALQ", at_turn=2)
        assert forked["status"] == "completed", forked
        assert forked["reply"] == "one ZFALQ | two ZFALQ | [[history]] branch ZFALQ", "the fork's context is wrong"
        fid = forked["conversationId"]
        assert fid != cid
        assert (forked["forked_from"], forked["forked_at_turn"], forked["turn"]) == (cid, 2, 3)
        # The parent is untouched: its thread still holds all three turns, and it goes on by itself.
        on = await reply(client, cid, "[[history]] parent ZFALQ")
        assert on["reply"] == "one ZFALQ | two ZFALQ | three ZFALQ | [[history]] parent ZFALQ"
        assert on["recovery"] == "live", "the fork disturbed the parent's live session"
        # The fork is a conversation like any other: listed, with its own turns, and it keeps its own context.
        listed = {c["conversationId"] for c in (await call(client, "codex_list"))["conversations"]}
        assert {cid, fid} <= listed
        again = await reply(client, fid, "[[history]] fork again ZFALQ")
        assert again["reply"] == "one ZFALQ | two ZFALQ | [[history]] branch ZFALQ | [[history]] fork again ZFALQ"
        status = await call(client, "codex_status", conversationId=fid)
        assert (status["forked_from"], status["forked_at_turn"], status["turns"]) == (cid, 2, 4)
        page = await call(client, "codex_transcript", conversationId=fid)
        assert [t["prompt"] for t in page["turns"]][:2] == ["one ZFALQ", "two ZFALQ"]
        resource = await client.read_resource(f"codex://conversations/{fid}")
        text = resource.contents[0].text  # type: ignore[union-attr]
        assert f"Forked from conversation {cid} through its turn 2" in text
        # Its own rollout names the parent (Codex's fork), so Codex itself knows where it came from.
        rollout = find_rollout(sandbox.codex_home, fid)
        assert rollout is not None
        meta = json.loads(rollout.read_text().splitlines()[0])["payload"]
        assert meta.get("forked_from_id") == cid


async def test_fork_of_an_ended_conversation_from_another_server_with_its_whole_history(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await three_turns(client, sandbox, "ZHERQ")
        await call(client, "codex_end", conversationId=cid)
    async with mcp_server(sandbox, codex_bin) as client:  # a restarted server: the parent is a stored record
        forked = await call(client, "codex_fork", conversationId=cid, prompt="[[history]] all of ZHERQ", model="m2")
        assert forked["reply"] == "one ZHERQ | two ZHERQ | three ZHERQ | [[history]] all of ZHERQ", forked
        assert forked["forked_at_turn"] == 3
        [request] = [r for r in fake_model.user_requests() if r.user_texts and "all of ZHERQ" in r.user_texts[-1]]
        assert request.body["model"] == "m2", "the fork's model did not reach the model"
        parent = await call(client, "codex_status", conversationId=cid)
        assert parent["state"] == "ended", "forking brought the parent back to life"


async def test_rewind_takes_turns_out_of_the_thread_and_keeps_them_in_the_record(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await three_turns(client, sandbox, "ZIBQ")
        rewound = await call(client, "codex_rewind", conversationId=cid, to_turn=1)
        assert rewound["rewound"] == [2, 3], rewound
        assert rewound["thread_id"] == cid
        after = await reply(client, cid, "[[history]] after ZIBQ")
        assert after["status"] == "completed", after
        assert after["reply"] == "one ZIBQ | [[history]] after ZIBQ", "a rewound turn still reached the model"
        assert after["turn"] == 4, "turn numbers are never reused"
        # Nothing is silently lost: the record keeps the rewound turns, marked.
        status = await call(client, "codex_status", conversationId=cid)
        assert status["rewound"] == [2, 3]
        page = await call(client, "codex_transcript", conversationId=cid)
        marks = [(t["turn"], t["rewound_at"] is not None) for t in page["turns"]]
        assert marks == [(1, False), (2, True), (3, True), (4, False)]
        text = (await client.read_resource(f"codex://conversations/{cid}")).contents[0].text  # type: ignore[union-attr]
        assert "## Turn 2 (completed, rewound" in text
        assert "Rewound (codex_rewind): turn(s) 2, 3" in text
    # A new server resumes the rewound thread as it is now (Codex's branch file), not as it was.
    async with mcp_server(sandbox, codex_bin) as client:
        later = await reply(client, cid, "[[history]] restarted ZIBQ")
        assert later["recovery"] == "resumed"
        assert later["reply"] == "one ZIBQ | [[history]] after ZIBQ | [[history]] restarted ZIBQ"
        forked = await call(client, "codex_fork", conversationId=cid, prompt="[[history]] fork ZIBQ", at_turn=4)
        assert forked["reply"] == "one ZIBQ | [[history]] after ZIBQ | [[history]] fork ZIBQ", forked


async def test_compact_asks_the_model_for_a_summary_and_the_next_turn_starts_from_it(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await three_turns(client, sandbox, "ZKITQ")
        compacted = await call(client, "codex_compact", conversationId=cid)
        assert compacted["compacted"] is True, compacted
        assert compacted["conversationId"] == cid
        assert compacted["turn"] == 4
        # The compaction request was made: its last user message is Codex's compaction prompt, after the history.
        [request] = [r for r in fake_model.user_requests() if r.user_texts and COMPACTION_PROMPT in r.user_texts[-1]
                     and "three ZKITQ" in r.user_texts]  # fmt: skip
        assert request.user_texts[:3] == ["one ZKITQ", "two ZKITQ", "three ZKITQ"]
        # The fake echoes the prompt: that echo is the summary Codex keeps.
        assert compacted["reply"].startswith("ECHO: You are performing a CONTEXT CHECKPOINT COMPACTION")
        assert compacted["context_tokens_before"] is not None
        after = await reply(client, cid, "[[history]] after ZKITQ")
        assert after["status"] == "completed", after
        seen = after["reply"].split(" | ")
        assert seen[:3] == ["one ZKITQ", "two ZKITQ", "three ZKITQ"], "the user's own messages stay in the context"
        assert any("summary produced by the other language model" in s for s in seen), "the summary is not sent"
        assert seen[-1] == "[[history]] after ZKITQ"
        page = await call(client, "codex_transcript", conversationId=cid)
        assert page["turns"][3]["kind"] == "compact"


async def test_bad_input_and_faults_change_nothing(sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await three_turns(client, sandbox, "ZLARQ")
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("codex_fork", {"prompt": "x", "at_turn": 4}, "at_turn 4 is out of range"),
            ("codex_fork", {"prompt": "   "}, "prompt"),
            ("codex_rewind", {"to_turn": 3}, "nothing to rewind"),
            ("codex_rewind", {"to_turn": 9}, "to_turn 9 is out of range"),
        ]
        for tool, args, words in cases:
            text = await call_error(client, tool, conversationId=cid, **args)
            assert words in text, text
        odd: list[tuple[str, dict[str, Any]]] = [
            ("codex_fork", {"prompt": "x", "at_turn": "two"}),
            ("codex_rewind", {"to_turn": -1}),
        ]
        for tool, args in odd:
            result = await client.call_tool(tool, {"conversationId": cid, **args})
            assert result.is_error, result
        unknown = await call_error(client, "codex_compact", conversationId="01a1fbea-0000-7000-8000-000000000000")
        assert "unknown conversationId" in unknown
        # A turn still running: every one of them says so, and the turn goes on.
        running = await reply(client, cid, "[[delay:3]] slow ZLARQ", timeout_s=0)
        assert running["status"] in ("running", "queued")
        busy: list[tuple[str, dict[str, Any]]] = [
            ("codex_fork", {"prompt": "x"}),
            ("codex_rewind", {"to_turn": 1}),
            ("codex_compact", {}),
        ]
        for tool, args in busy:
            text = await call_error(client, tool, conversationId=cid, **args)
            assert "turn 4" in text, text
            assert "codex_interrupt" in text, text
        done = await call(client, "codex_status", conversationId=cid, wait_s=20)
        assert done["status"] == "completed"
        listed = [c["conversationId"] for c in (await call(client, "codex_list"))["conversations"]]
        assert listed == [cid], "a refused fork left a conversation behind"
        after = await reply(client, cid, "[[history]] still ZLARQ")
        assert (
            after["reply"] == "one ZLARQ | two ZLARQ | three ZLARQ | [[delay:3]] slow ZLARQ | [[history]] still ZLARQ"
        )


async def test_rewind_of_a_thread_open_in_another_codex_is_refused(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await three_turns(client, sandbox, "ZMERQ")
        await call(client, "codex_end", conversationId=cid)
        async with person_resumes(sandbox, codex_bin, cid) as person:
            text = await call_error(client, "codex_rewind", conversationId=cid, to_turn=1)
            assert "open in another Codex" in text or "another process" in text, text
            await person.quit()
        status = await call(client, "codex_status", conversationId=cid)
        assert status["rewound"] == [], "a refused rewind marked turns"
        after = await reply(client, cid, "[[history]] whole ZMERQ")
        assert after["reply"] == "one ZMERQ | two ZMERQ | three ZMERQ | [[history]] whole ZMERQ"


@posix_signals("the stand-in for a crashing app-server is a shell script")
async def test_an_app_server_that_crashes_leaves_the_conversation_as_it_was(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel, tmp_path: Path
) -> None:
    """Codex's app-server dies before it answers (a crash in the middle of a fork or a rewind): a clear error,
    no conversation left behind, nothing marked, and the conversation goes on with its whole thread."""
    wrapper = tmp_path / "codex"
    wrapper.write_text(f'#!/bin/sh\nif [ "$1" = app-server ]; then kill -9 $$; fi\nexec {codex_bin} "$@"\n')
    wrapper.chmod(0o755)
    async with mcp_server(sandbox, wrapper) as client:
        cid = await three_turns(client, sandbox, "ZOWQ")
        crashing: list[tuple[str, dict[str, Any]]] = [
            ("codex_fork", {"prompt": "x ZOWQ", "at_turn": 1}),
            ("codex_rewind", {"to_turn": 1}),
        ]
        for tool, args in crashing:
            text = await call_error(client, tool, conversationId=cid, **args)
            assert "app-server" in text, text
            assert "Nothing was changed" in text, text
        listed = [c["conversationId"] for c in (await call(client, "codex_list"))["conversations"]]
        assert listed == [cid]
        assert (await call(client, "codex_status", conversationId=cid))["rewound"] == []
        after = await reply(client, cid, "[[history]] whole ZOWQ")
        assert after["reply"] == "one ZOWQ | two ZOWQ | three ZOWQ | [[history]] whole ZOWQ", after


@posix_signals("the server is killed with SIGKILL in the middle of the call")
async def test_a_server_killed_during_a_rewind_leaves_the_conversation_recoverable(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    """The server is killed while Codex's app-server reverts the thread: no Codex outlives it, and the next server
    brings the conversation back by its id (the thread as Codex left it: reverted, or not yet)."""
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await three_turns(client, sandbox, "ZPUFQ")
        servers = [p for p in processes_with_env("CODEX_HOME", str(sandbox.codex_home)) if "codex_mcp" in p]
        [server] = [int(p.split()[0]) for p in servers]

        def app_server_runs() -> bool:
            return any("app-server" in p for p in processes_with_env("CODEX_HOME", str(sandbox.codex_home)))

        async def rewind() -> None:
            with contextlib.suppress(Exception):  # the server dies under the call
                await client.call_tool("codex_rewind", {"conversationId": cid, "to_turn": 1})

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(rewind)
            assert await await_until(app_server_runs, 20, 0.005), "Codex's app-server never ran"
            kill_hard(server)
    assert await await_until(lambda: not processes_with_env("CODEX_HOME", str(sandbox.codex_home)), 15)
    async with mcp_server(sandbox, codex_bin) as client:
        after = await reply(client, cid, "[[history]] recovered ZPUFQ")
        assert after["status"] == "completed", after
        assert after["reply"] in (
            "one ZPUFQ | [[history]] recovered ZPUFQ",
            "one ZPUFQ | two ZPUFQ | three ZPUFQ | [[history]] recovered ZPUFQ",
        ), after


async def test_fork_of_a_week_old_compressed_parent(sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel) -> None:
    """A parent idle for a week, whose rollout Codex compressed (.jsonl.zst): the fork holds its history."""
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await three_turns(client, sandbox, "ZQUAQ")
        await call(client, "codex_end", conversationId=cid)
        compressed_by_codex(sandbox, codex_bin, cid)
        forked = await call(client, "codex_fork", conversationId=cid, prompt="[[history]] old ZQUAQ", at_turn=2)
        assert forked["reply"] == "one ZQUAQ | two ZQUAQ | [[history]] old ZQUAQ", forked


async def test_a_fork_made_outside_codex_mcp_is_adopted_with_the_parent_turns(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel, tmp_path: Path
) -> None:
    """A server with a state dir of its own (it never handed the fork out) adopts the forked thread: Codex's fork
    file continues the parent's (history_base), and the adopted transcript reads the parent's turns through it."""
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await three_turns(client, sandbox, "ZRAVQ")
        fid = (await call(client, "codex_fork", conversationId=cid, prompt="own ZRAVQ", at_turn=2))["conversationId"]
        await call(client, "codex_end", conversationId=fid)
    other = {"CODEX_MCP_STATE_DIR": str(tmp_path / "other-state")}
    async with mcp_server(sandbox, codex_bin, env=other) as client:
        after = await reply(client, fid, "[[history]] adopted ZRAVQ")  # codex_reply adopts a thread Codex knows
        assert after["reply"] == "one ZRAVQ | two ZRAVQ | own ZRAVQ | [[history]] adopted ZRAVQ", after
        page = await call(client, "codex_transcript", conversationId=fid)
        prompts = [t["prompt"] for t in page["turns"]]
        assert prompts == ["one ZRAVQ", "two ZRAVQ", "own ZRAVQ", "[[history]] adopted ZRAVQ"], page
