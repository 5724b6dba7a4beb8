"""End to end through the official MCP client, the real Codex CLI and the fake model."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_mcp.cli.fakemodel import FakeModel

from .conftest import Sandbox, mcp_server
from .helpers import await_until, call, call_error, processes_with_env, reply, start, start_result, text_of
from .platforms import KILLED, kill_hard

pytestmark = [pytest.mark.anyio, pytest.mark.codex]


def codex_pids(sandbox: Sandbox) -> list[int]:
    """Pids of this test's Codex processes (not the MCP server itself)."""
    return [
        int(p.split()[0]) for p in processes_with_env("CODEX_HOME", str(sandbox.codex_home)) if "codex_mcp" not in p
    ]


def server_pid(sandbox: Sandbox) -> int:
    """Pid of this test's MCP server process."""
    [pid] = [int(p.split()[0]) for p in processes_with_env("CODEX_HOME", str(sandbox.codex_home)) if "codex_mcp" in p]
    return pid


async def kill_codex_soon(sandbox: Sandbox, delay: float = 1.0) -> None:
    """SIGKILL this test's Codex processes after delay seconds (mid-turn, when a turn was just sent)."""
    await anyio.sleep(delay)
    for pid in codex_pids(sandbox):
        kill_hard(pid)


def model_got(fake: FakeModel, marker: str) -> list[str]:
    """The latest user message of every real (non-title) request whose latest message contains marker."""
    return [r.user_texts[-1] for r in fake.user_requests() if r.user_texts and marker in r.user_texts[-1]]


async def test_start_reply_with_context_list_status_end(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        started = await start_result(client, "remember the word PELICAN-1", cwd=sandbox.work)
        cid = started["conversationId"]
        assert started["status"] == "completed"
        assert started["reply"] == "ECHO: remember the word PELICAN-1"
        assert started["turn"] == 1
        # The id is Codex's own thread id: the rollout file is named after it.
        assert list(sandbox.codex_home.glob(f"sessions/*/*/*/rollout-*-{cid}.jsonl"))

        replied = await reply(client, cid, "what was the word? [[history]]")
        assert replied["recovery"] == "live"
        assert replied["turn"] == 2
        # The model saw the whole conversation: the first prompt is in the second request's history.
        assert replied["reply"] == "remember the word PELICAN-1 | what was the word? [[history]]"

        status = await call(client, "codex_status", conversationId=cid)
        assert status["state"] == "idle"
        assert status["reply"] == replied["reply"]
        assert status["turns"] == 2

        listed = await call(client, "codex_list")
        [info] = listed["conversations"]
        assert info["conversationId"] == cid
        assert info["state"] == "idle"
        assert info["cwd"] == str(sandbox.work)
        assert info["turns"] == 2

        ended = await call(client, "codex_end", conversationId=cid)
        assert ended["ended"] is True
        assert ended["exit"] == "exit code 0"  # Codex left by its own /quit, no signal needed
        assert not codex_pids(sandbox)
        listed = await call(client, "codex_list")
        assert listed["conversations"][0]["state"] == "ended"

        # An ended conversation is not lost: the next reply resumes its Codex thread.
        resumed = await reply(client, cid, "back again [[history]]")
        assert resumed["recovery"] == "resumed"
        assert resumed["turn"] == 3
        assert resumed["reply"] == (
            "remember the word PELICAN-1 | what was the word? [[history]] | back again [[history]]"
        )


async def test_text_content_leads_with_the_reply(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        result = await client.call_tool(
            "codex_start", {"prompt": "[[reply:The answer is 42.]]", "cwd": str(sandbox.work)}
        )
        assert not result.is_error
        text = text_of(result)
        assert text.startswith("The answer is 42.")
        assert result.structured_content is not None
        assert result.structured_content["conversationId"] in text


async def test_default_cwd_is_the_servers(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        started = await start_result(client, "where am I")
        assert started["cwd"] == str(sandbox.work)


async def test_parallel_conversations_stay_separate(sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        results: dict[int, dict[str, Any]] = {}

        async def converse(n: int) -> None:
            first = await start_result(client, f"I am conversation {n}", cwd=sandbox.work)
            second = await reply(client, first["conversationId"], f"again {n} [[history]]")
            results[n] = {"id": first["conversationId"], "first": first["reply"], "second": second["reply"]}

        began = time.monotonic()
        async with anyio.create_task_group() as tg:
            for n in range(4):
                tg.start_soon(converse, n)
        elapsed = time.monotonic() - began

        assert len({r["id"] for r in results.values()}) == 4
        for n, r in results.items():
            assert r["first"] == f"ECHO: I am conversation {n}"
            # Each thread's history holds only its own turns.
            assert r["second"] == f"I am conversation {n} | again {n} [[history]]"
        listed = await call(client, "codex_list")
        assert {c["conversationId"] for c in listed["conversations"]} == {r["id"] for r in results.values()}
        assert len(codex_pids(sandbox)) >= 4
        print(f"4 parallel conversations, 2 turns each: {elapsed:.2f}s")


async def test_replies_to_one_conversation_are_serialized(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "serial start", cwd=sandbox.work)
        done: list[tuple[str, float]] = []

        async def send(prompt: str) -> None:
            r = await reply(client, cid, prompt)
            assert r["status"] == "completed"
            done.append((r["reply"], time.monotonic()))

        async with anyio.create_task_group() as tg:
            tg.start_soon(send, "first slow [[delay:1.5]]")
            await anyio.sleep(0.2)  # let the first call arrive first: arrival order is the contract
            tg.start_soon(send, "second [[history]]")

        assert [d[0] for d in done] == [
            "ECHO: first slow [[delay:1.5]]",
            "serial start | first slow [[delay:1.5]] | second [[history]]",
        ]
        # The second turn went to Codex only after the first one finished: one combined turn would have
        # put both prompts into a single request.
        assert model_got(fake_model, "second [[history]]") == ["second [[history]]"]
        status = await call(client, "codex_status", conversationId=cid)
        assert status["turns"] == 3


HOSTILE = [
    "\x1b[201~/quit\r",  # paste break-out, then a slash command
    "/quit",
    "!touch PWNED",
    "hello\x03\x03 world\x04",  # Ctrl-C / Ctrl-D bytes
    "\x1b]0;evil title\x07text after osc",
    "a\x1b[2J\x1b[Hclear screen",
    "$skill",  # a trailing skill mention would open a popup that swallows Enter
    "look at @foo",
    "\x9b31mC1 CSI",
]


async def test_hostile_prompts_are_data_not_keystrokes(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "hostile start", cwd=sandbox.work)
        for prompt in HOSTILE:
            r = await reply(client, cid, prompt, timeout_s=20)
            assert r["status"] == "completed", (prompt, r)
            assert r["state"] == "idle"
            assert "\x1b" not in r["reply"]
        replies = [r.user_texts[-1] for r in fake_model.user_requests()][-len(HOSTILE) :]
        assert replies == [
            "[201~/quit",
            "/quit",
            "!touch PWNED",
            "hello world",
            "]0;evil titletext after osc",
            "a[2J[Hclear screen",
            "$skill",
            "look at @foo",
            "31mC1 CSI",
        ]
        assert not (sandbox.work / "PWNED").exists()
        status = await call(client, "codex_status", conversationId=cid)
        assert status["state"] == "idle"
        assert status["turns"] == 1 + len(HOSTILE)


async def test_large_and_non_ascii_prompts_arrive_intact(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    big = "".join(f"line {i:05d} ünïcödé 日本語 🚀\n" for i in range(1700)).strip()
    assert len(big.encode()) > 50_000
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "size start", cwd=sandbox.work)
        r = await reply(client, cid, big, timeout_s=60)
        assert r["status"] == "completed"
        assert model_got(fake_model, "line 00000 ünïcödé") == [big]
        # The echo is longer than one result's output budget: its start, and how long it is.
        assert r["reply_truncated"] is True
        assert r["reply_chars"] == len(f"ECHO: {big}")
        assert r["reply"].startswith(f"ECHO: {big}"[:20_000])
        crlf = await reply(client, cid, "one\r\ntwo\rthree\tfour")
        assert crlf["reply"] == "ECHO: one\ntwo\nthree\tfour"


@pytest.mark.version_independent
async def test_timeout_returns_running_and_status_collects(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        began = time.monotonic()
        started = await start_result(client, "slow [[delay:4]]", cwd=sandbox.work, timeout_s=1.5)
        assert time.monotonic() - began < 3.5
        assert started["status"] == "running"
        assert started["reply"] is None
        assert started["screen"], "a running result shows what Codex is doing"
        cid = started["conversationId"]

        early = await call(client, "codex_status", conversationId=cid)
        assert early["status"] == "running"
        assert early["state"] == "running"

        # A reply sent meanwhile queues behind the running turn instead of steering into it.
        queued = await reply(client, cid, "after slow", timeout_s=0.5)
        assert queued["status"] in ("queued", "running")
        assert queued["turn"] == 2

        finished = await call(client, "codex_status", conversationId=cid, wait_s=15)
        assert finished["status"] == "completed"
        assert finished["turn"] == 2
        assert finished["reply"] == "ECHO: after slow"
        assert finished["reply_turn"] == 2
        # The reply of the turn that outlived its call is not lost: ask for it by number.
        first = await call(client, "codex_status", conversationId=cid, turn=1)
        assert first["status"] == "completed"
        assert first["reply"] == "ECHO: slow [[delay:4]]"
        assert first["reply_turn"] == 1


async def test_model_error_fails_the_turn_and_keeps_the_session(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "before failure", cwd=sandbox.work)
        failed = await reply(client, cid, "[[fail:500]] please")
        assert failed["status"] == "failed"
        assert failed["error"]
        assert failed["reply"] is None
        assert failed["state"] == "idle"
        again = await reply(client, cid, "after failure")
        assert again["status"] == "completed"
        assert again["reply"] == "ECHO: after failure"


async def test_codex_killed_mid_turn_returns_promptly(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "doomed", cwd=sandbox.work)
        async with anyio.create_task_group() as tg:
            tg.start_soon(kill_codex_soon, sandbox)
            began = time.monotonic()
            r = await reply(client, cid, "long [[delay:20]]", timeout_s=30)
        assert time.monotonic() - began < 5
        assert r["status"] == "failed"
        assert KILLED in r["error"]
        assert r["state"] == "exited"
        assert await await_until(lambda: not codex_pids(sandbox), 5)
        listed = await call(client, "codex_list")
        assert listed["conversations"][0]["state"] == "exited"


async def test_bad_input_gives_clear_tool_errors(sandbox: Sandbox, codex_bin: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    unknown = "01a1fbea-b6ba-73a1-8251-f4e5e362b223"
    async with mcp_server(sandbox, codex_bin) as client:
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("codex_reply", {"conversationId": unknown, "prompt": "hi"}, "codex_list"),
            ("codex_reply", {"conversationId": "../../x", "prompt": "hi"}, "not a Codex thread id"),
            ("codex_status", {"conversationId": "nope"}, "not a Codex thread id"),
            ("codex_end", {"conversationId": unknown}, "unknown conversationId"),
            ("codex_start", {"prompt": "   \x1b\x07\n"}, "prompt is empty"),
            ("codex_start", {"prompt": "hi", "cwd": str(tmp_path / "missing")}, "does not exist"),
            ("codex_start", {"prompt": "hi", "cwd": str(a_file)}, "not a directory"),
            ("codex_start", {"prompt": "hi", "cwd": "relative/dir"}, "not an absolute path"),
            ("codex_start", {"prompt": "hi", "config": {"bad key": 1}}, "not a dotted Codex config path"),
            ("codex_start", {"prompt": "hi", "config": {"projects": {}}}, "set by codex-mcp itself"),
            ("codex_start", {"prompt": "hi", "timeout_s": -1}, "timeout_s must be"),
            ("codex_start", {"prompt": "hi", "timeout_s": 1e9}, "timeout_s must be"),
            ("codex_start", {"prompt": "hi", "sandbox": "yolo"}, "sandbox"),
            ("codex_status", {"conversationId": unknown, "wait_s": -1}, "wait_s"),
        ]
        for tool, args, expected in cases:
            message = await call_error(client, tool, **args)
            assert expected in message, (tool, args, message)
        assert not codex_pids(sandbox), "rejected calls must not start Codex"
        # The server keeps working after all of that.
        ok = await start_result(client, "still fine", cwd=sandbox.work)
        assert ok["reply"] == "ECHO: still fine"


async def test_codex_failing_at_start_reports_its_screen(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        message = await call_error(
            client, "codex_start", prompt="hi", cwd=str(sandbox.work), config={"sandbox_mode": "weird"}
        )
        assert "Codex did not start" in message
        assert "unknown variant `weird`" in message  # Codex's own words reach the client
        assert not codex_pids(sandbox)
        listed = await call(client, "codex_list")
        assert listed["conversations"] == []


async def test_missing_codex_binary_says_how_to_install(sandbox: Sandbox, tmp_path: Path) -> None:
    async with mcp_server(sandbox, tmp_path / "no-such-codex") as client:
        message = await call_error(client, "codex_start", prompt="hi", cwd=str(sandbox.work))
        assert "npm install -g @openai/codex" in message


async def test_settings_reach_codex(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        started = await start_result(
            client,
            "settings",
            cwd=sandbox.work,
            sandbox="read-only",
            approval_policy="never",
            config={"model_reasoning_effort": "high"},
        )
        cid = started["conversationId"]
        [rollout] = sandbox.codex_home.glob(f"sessions/*/*/*/rollout-*-{cid}.jsonl")
        contexts = [
            json.loads(line)["payload"] for line in rollout.read_text().splitlines() if '"turn_context"' in line
        ]
        assert contexts, "Codex recorded no turn context"
        assert contexts[-1]["approval_policy"] == "never"
        assert contexts[-1]["sandbox_policy"] == {"type": "read-only"}
        assert contexts[-1]["effort"] == "high"
        [info] = (await call(client, "codex_list"))["conversations"]
        assert info["sandbox"] == "read-only"
        assert info["approval_policy"] == "never"


async def test_long_replies_are_cut_with_a_marker_and_paged(sandbox: Sandbox, codex_bin: Path) -> None:
    """A reply over the output budget never gets silently cut by a client's output limit."""
    long_reply = "".join(f"[{i:05d}] " + "lorem ipsum dolor sit amet " * 3 for i in range(150))
    assert len(long_reply) > 12_000
    async with mcp_server(sandbox, codex_bin, env={"CODEX_MCP_REPLY_BUDGET_CHARS": "5000"}) as client:
        started = await start_result(client, f"[[reply:{long_reply}]]", cwd=sandbox.work)
        assert started["reply_truncated"] is True
        assert started["reply_chars"] == len(long_reply)
        cid = started["conversationId"]
        assert started["reply"].startswith(long_reply[:5000])
        assert f"codex_status(conversationId='{cid}', turn=1, offset=5000)" in started["reply"]
        pieces = [long_reply[:5000]]
        offset = 5000
        while True:
            page = await call(client, "codex_status", conversationId=cid, turn=1, offset=offset)
            assert page["reply_offset"] == offset
            if not page["reply_truncated"]:
                pieces.append(page["reply"])
                break
            pieces.append(page["reply"].split("\n\n[codex-mcp: reply truncated")[0])
            offset += 5000
        assert "".join(pieces) == long_reply
