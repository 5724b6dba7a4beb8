"""Issue 23: one conversation from every window. Each client window starts a codex-mcp server of its own, on one
state dir; a call on a conversation another server runs live is passed on to that server and answered on the one
live session (mcp/forwarding.py), with the real Codex: no second Codex, no fork, one thread."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from mcp import Client
from mcp.client import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import ElicitRequestParams, ElicitResult, ResourceUpdatedNotification

from codex_mcp.cli.fakemodel import FakeModel
from codex_mcp.control import transport

from ..conftest import FAKE_KEY, Sandbox, mcp_server
from ..faults_helpers import server_pids
from ..helpers import await_until, call, call_error, reply, start, start_result
from ..platforms import kill_hard, posix_signals
from ..test_approvals import ASKING
from ..test_conversations import codex_pids, model_got
from . import test_13_plugin as plugin
from .test_10_codex_as_client import our_server, register
from .test_13_review import make_repo

pytestmark = [pytest.mark.anyio, pytest.mark.codex]


async def wait_for_status(client: Client, cid: str, wanted: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (status := await call(client, "codex_status", conversationId=cid))["status"] != wanted:
        assert time.monotonic() < deadline, status
        await anyio.sleep(0.05)
    return status


async def test_a_reply_from_another_window_runs_on_the_live_session(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    async with mcp_server(sandbox, codex_bin) as a, mcp_server(sandbox, codex_bin) as b:
        cid = await start(a, "remember OTTER", cwd=sandbox.work)
        [codex] = codex_pids(sandbox)
        r = await reply(b, cid, "GREBE from b [[history]]")
        assert r["reply"] == "remember OTTER | GREBE from b [[history]]"
        assert r["recovery"] == "live"  # not resumed: the very session a started
        assert r["thread_id"] == cid
        assert r["turn"] == 2
        assert codex_pids(sandbox) == [codex]  # no second Codex
        back = await reply(a, cid, "from a again [[history]]")
        assert back["reply"] == "remember OTTER | GREBE from b [[history]] | from a again [[history]]"
        assert back["turn"] == 3
        status = await call(b, "codex_status", conversationId=cid)
        assert status["state"] == "idle"
        assert status["turn"] == 3
        assert status["screen"]  # the live screen, from the server that has it
        transcript = await call(b, "codex_transcript", conversationId=cid)
        assert [t["prompt"] for t in transcript["turns"]] == [
            "remember OTTER",
            "GREBE from b [[history]]",
            "from a again [[history]]",
        ]
        # Who holds it, as every window sees it: a's pid and a's client.
        holder = holder_of(sandbox, cid)
        [listed] = (await call(b, "codex_list"))["conversations"]
        assert listed["server"]["pid"] == holder
        assert listed["server"]["client"]  # the MCP client's name and version, from its initialize
        [own] = (await call(a, "codex_list"))["conversations"]
        assert own["server"] == listed["server"]
        assert status["server"] == listed["server"]
        # The command to attach names a's channel, wherever it is asked.
        from_b = await call(b, "codex_attach_info", conversationId=cid)
        assert from_b == await call(a, "codex_attach_info", conversationId=cid)
        assert len(model_got(fake_model, "GREBE")) == 1  # sent once, to the one Codex


async def test_status_wait_interrupt_and_end_from_another_window(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as a, mcp_server(sandbox, codex_bin) as b:
        cid = await start(a, "first", cwd=sandbox.work)
        queued = await call(b, "codex_reply", conversationId=cid, prompt="slow [[delay:2]]", timeout_s=0)
        assert queued["status"] in ("queued", "running"), queued
        waited = await call(b, "codex_status", conversationId=cid, wait_s=30)
        assert waited["status"] == "completed"
        assert waited["reply"] == "ECHO: slow [[delay:2]]"

        await call(a, "codex_reply", conversationId=cid, prompt="long [[delay:60]]", timeout_s=0)
        await wait_for_status(b, cid, "running")
        stopped = await call(b, "codex_interrupt", conversationId=cid)
        assert stopped["interrupted"] is True
        assert stopped["status"] == "interrupted"
        assert (await call(a, "codex_status", conversationId=cid))["status"] == "interrupted"

        ended = await call(b, "codex_end", conversationId=cid)
        assert ended["ended"] is True
        assert await await_until(lambda: not codex_pids(sandbox), 10)
        after = await reply(b, cid, "back [[history]]")  # free now: b resumes it itself
        assert after["recovery"] == "resumed"
        assert after["reply"].startswith("first | ")


async def test_an_approval_asked_in_another_window_is_answered_there(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as a, mcp_server(sandbox, codex_bin) as b:
        started = await start_result(a, "plain start", cwd=sandbox.work, **ASKING)
        cid = started["conversationId"]
        asked = await call(b, "codex_reply", conversationId=cid, prompt="[[escalate:touch from-b.txt]]", timeout_s=30)
        assert asked["status"] == "waiting_for_approval", asked
        assert asked["approval"]["command"] == "touch from-b.txt"
        done = await call(b, "codex_approve", conversationId=cid, decision="approve")
        assert done["status"] == "completed", done
        assert (sandbox.work / "from-b.txt").exists()


async def test_cancelling_a_forwarded_reply_withdraws_it_on_the_live_session(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    async with mcp_server(sandbox, codex_bin) as a, mcp_server(sandbox, codex_bin) as b:
        started = await start_result(a, "busy [[delay:3]]", cwd=sandbox.work, timeout_s=1)
        cid = started["conversationId"]
        with anyio.move_on_after(0.7):
            await b.call_tool("codex_reply", {"conversationId": cid, "prompt": "never mind this, from b"})
        first = await call(a, "codex_status", conversationId=cid, turn=1, wait_s=15)
        assert first["status"] == "completed"
        withdrawn = await call(a, "codex_status", conversationId=cid, turn=2)
        assert withdrawn["status"] == "failed", withdrawn
        assert "withdrawn" in withdrawn["error"]
        assert not model_got(fake_model, "never mind this, from b")


async def test_the_holder_killed_mid_turn_ends_the_forwarded_call_with_its_fate(
    sandbox: Sandbox, codex_bin: Path
) -> None:
    async with mcp_server(sandbox, codex_bin) as a:
        cid = await start(a, "remember WREN", cwd=sandbox.work)
        holder = holder_of(sandbox, cid)
        async with mcp_server(sandbox, codex_bin) as b:
            async with anyio.create_task_group() as tg:
                outcome: dict[str, Any] = {}

                async def reply_from_b() -> None:
                    outcome.update(await call(b, "codex_reply", conversationId=cid, prompt="long one [[delay:60]]"))

                tg.start_soon(reply_from_b)
                await wait_for_status(b, cid, "running")
                kill_hard(holder)
            assert outcome["status"] == "failed", outcome
            assert "not re-run" in outcome["error"]
            again = await reply(b, cid, "after [[history]]")
            assert again["recovery"] == "resumed"
            assert again["reply"].startswith("remember WREN | ")


def holder_of(sandbox: Sandbox, cid: str) -> int:
    """The server pid the conversation's claim note names."""
    note = json.loads((sandbox.state_dir / "conversations" / f"{cid}.owner").read_text())
    return int(note["pid"])


@posix_signals("SIGSTOP makes a server that hangs")
async def test_a_holder_that_does_not_answer_is_named_with_what_to_do(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as a, mcp_server(sandbox, codex_bin) as b:
        cid = await start(a, "hung holder", cwd=sandbox.work)
        holder = holder_of(sandbox, cid)
        assert holder in server_pids(sandbox)
        os.kill(holder, signal.SIGSTOP)
        try:
            began = time.monotonic()
            message = await call_error(b, "codex_reply", conversationId=cid, prompt="anyone there?")
            assert time.monotonic() - began < 30
        finally:
            os.kill(holder, signal.SIGCONT)
        assert f"codex-mcp server pid {holder}" in message
        assert "does not answer" in message
        assert f"kill {holder}" in message


async def ask_channel(sandbox: Sandbox, request: dict[str, Any]) -> dict[str, Any]:
    """What a server's control channel answers a call request (as another server would send it)."""
    [endpoint] = transport.endpoints(sandbox.state_dir)
    reader, writer = await transport.connect(endpoint, limit=1 << 20)
    try:
        writer.write((json.dumps(request) + "\n").encode())
        await writer.drain()
        answer: dict[str, Any] = json.loads(await reader.readline())
        return answer
    finally:
        writer.close()


@pytest.mark.version_independent
async def test_the_channel_holds_a_passed_on_call_to_the_tools_signature(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as a:
        cid = await start(a, "guarded", cwd=sandbox.work)
        refused = await ask_channel(sandbox, {"op": "call", "tool": "codex_review", "arguments": {}})
        assert refused == {"error": "not a conversation tool: 'codex_review'"}
        for arguments in (
            "not an object",
            {"conversationId": cid},  # no prompt
            {"conversationId": cid, "prompt": "x", "shell": "rm -rf /"},  # not one of its parameters
            {"conversationId": cid, "prompt": 42, "timeout_s": "soon"},
        ):
            answer = await ask_channel(sandbox, {"op": "call", "tool": "codex_reply", "arguments": arguments})
            assert answer["error"].startswith("invalid arguments for codex_reply"), answer

        def status_of(cid: str) -> dict[str, Any]:
            return {"op": "call", "tool": "codex_status", "arguments": {"conversationId": cid}}

        unknown = await ask_channel(sandbox, status_of("019a0000-0000-7000-8000-00000000abcd"))
        assert "unknown conversationId" in unknown["error"]
        bad_id = await ask_channel(sandbox, status_of("../x"))
        assert "conversationId" in bad_id["error"]
        # ... and the session it holds is untouched.
        r = await reply(a, cid, "still fine")
        assert r["reply"] == "ECHO: still fine"
        assert r["turn"] == 2


async def test_when_the_holder_dies_one_window_takes_over_and_the_others_pass_on_to_it(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    async with mcp_server(sandbox, codex_bin) as a:
        cid = await start(a, "remember PLOVER", cwd=sandbox.work)
        holder = holder_of(sandbox, cid)
        async with mcp_server(sandbox, codex_bin) as b, mcp_server(sandbox, codex_bin) as c:
            kill_hard(holder)
            assert await await_until(lambda: holder not in server_pids(sandbox), 10)
            results: dict[str, dict[str, Any]] = {}

            async def reply_from(name: str, client: Client) -> None:
                results[name] = await reply(client, cid, f"{name} races [[history]]")

            async with anyio.create_task_group() as tg:  # both at once: exactly one may resume the thread
                tg.start_soon(reply_from, "b", b)
                tg.start_soon(reply_from, "c", c)
            assert sorted(r["recovery"] for r in results.values()) == ["live", "resumed"], results
            assert {r["thread_id"] for r in results.values()} == {cid}
            assert len(codex_pids(sandbox)) == 1  # one Codex for the conversation, wherever it runs
            first, second = sorted(results, key=lambda name: results[name]["turn"])
            assert [results[first]["turn"], results[second]["turn"]] == [2, 3]  # queued one after the other
            history = ["remember PLOVER", f"{first} races [[history]]", f"{second} races [[history]]"]
            assert results[first]["reply"] == " | ".join(history[:2])
            assert results[second]["reply"] == " | ".join(history)
            taker = holder_of(sandbox, cid)
            assert taker in server_pids(sandbox)
            assert len(model_got(fake_model, "races")) == 2


# --- loose ends from the last notes ----------------------------------------------------------------


@pytest.mark.version_independent
async def test_a_running_review_counts_in_the_live_session_cap(sandbox: Sandbox, codex_bin: Path) -> None:
    repo = make_repo(sandbox.work)
    async with mcp_server(sandbox, codex_bin, env={"CODEX_MCP_MAX_SESSIONS": "1"}) as client:
        idle = await start(client, "an idle one", cwd=sandbox.work)
        slow = "[[delay:6]] take your time"
        review = await call(client, "codex_review", cwd=str(repo), instructions=slow, timeout_s=0)
        assert review["status"] == "running", review
        # The review took the one place: the idle session made room for it (and stays resumable) ...
        evicted = await call(client, "codex_status", conversationId=idle)
        assert evicted["state"] == "ended"
        assert evicted["end_reason"] == "evicted"
        # ... and nothing else starts while it runs.
        message = await call_error(client, "codex_start", prompt="one too many", cwd=str(sandbox.work))
        assert "1 Codex sessions are already live" in message
        done = await call(client, "codex_status", conversationId=review["conversationId"], wait_s=60)
        assert done["status"] == "completed", done
        after = await start_result(client, "room again", cwd=sandbox.work)
        assert after["status"] == "completed"


async def test_a_follow_up_on_a_review_makes_no_hidden_title_request(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    """`codex review` names no thread, and Codex's TUI asks the model for a title after a turn of an unnamed
    thread: the resumed review's thread is named after the review first, as a new thread is."""
    repo = make_repo(sandbox.work)
    async with mcp_server(sandbox, codex_bin) as client:
        review = await call(client, "codex_review", cwd=str(repo), instructions="GODWIT focus")
        cid = review["conversationId"]
        followed = await reply(client, cid, "GODWIT which finding first?")
        assert followed["recovery"] == "resumed"
        again = await reply(client, cid, "GODWIT and then?")
        assert again["status"] == "completed"
        titles = [r for r in fake_model.requests if r.is_title and any("GODWIT" in t for t in r.user_texts)]
        assert titles == [], "a hidden title request was made"
        index = (sandbox.codex_home / "session_index.jsonl").read_text()
        assert f'"id":"{cid}","thread_name":"[codex review]' in index


async def test_a_message_queued_with_codex_queue_is_reported_as_a_turn_of_its_own(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    """`codex queue` while no Codex has the thread open: our next resume runs it first, as a turn nobody sent
    through codex-mcp. It is recorded as a person's turn (prompt and reply), and our reply is our own turn's."""
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "remember KITE", cwd=sandbox.work)
        await call(client, "codex_end", conversationId=cid)
        queued = subprocess.run(
            [str(codex_bin), "queue", "--thread", cid, "--message", "QUEUED by a person [[delay:2]]"],
            env={**os.environ, **sandbox.env},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert "Queued message" in queued.stdout
        r = await reply(client, cid, "mine [[history]]")
        assert r["recovery"] == "resumed"
        assert r["reply"] == "remember KITE | QUEUED by a person [[delay:2]] | mine [[history]]"
        transcript = await call(client, "codex_transcript", conversationId=cid)
        turns = {t["prompt"]: t for t in transcript["turns"]}
        assert turns["QUEUED by a person [[delay:2]]"]["reply"] == "ECHO: QUEUED by a person [[delay:2]]"
        assert turns["mine [[history]]"]["turn"] == r["turn"]
        assert len(transcript["turns"]) == 3


# --- through Claude Code's plugin --------------------------------------------------------------------


@pytest.mark.version_independent
async def test_ask_in_a_second_claude_code_window_continues_the_live_conversation(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    """Window A (a codex-mcp server, as a first Claude Code window starts) runs the folder's conversation live;
    `/codex-mcp:ask` in a second Claude Code window, with the plugin's own codex-mcp, continues it on A's Codex."""
    marker = uuid.uuid4().hex[:8]
    first, later = f"window one {marker}", f"window two {marker} [[history]]"
    async with mcp_server(sandbox, codex_bin) as a:
        cid = await start(a, first, cwd=sandbox.work)
        [codex] = codex_pids(sandbox)
        ask = plugin.Scripted(
            [
                (plugin.LIST, lambda done: {"cwd": str(sandbox.work), "limit": 5}),
                (plugin.REPLY, lambda done: {"conversationId": plugin.conversation_id(done[0]), "prompt": later}),
            ],
            lambda done: json.loads(done[1])["reply"],
        )
        run = await anyio.to_thread.run_sync(
            lambda: plugin.claude_with_plugin(plugin.CLAUDE, sandbox, codex_bin, ask, f"/codex-mcp:ask {later}")
        )
        shown = run.tool_results()
        listed = json.loads(shown[-2])
        [entry] = [c for c in listed["conversations"] if c["conversationId"] == cid]
        assert entry["server"]["pid"] == holder_of(sandbox, cid)  # the second window sees who holds it
        replied = json.loads(shown[-1])
        assert (replied["conversationId"], replied["recovery"]) == (cid, "live")
        assert run.events[-1]["result"] == f"{first} | {later}"
        assert codex_pids(sandbox) == [codex]  # still A's one Codex
        assert plugin.turns_with(fake_model, marker) == [[first], [first, later]]
        status = await call(a, "codex_status", conversationId=cid)
        assert status["turns"] == 2


# --- one warm spare for every window -----------------------------------------------------------------

SPARE = {"CODEX_MCP_SPARE_KEEP_S": "300"}


async def test_three_windows_keep_one_warm_spare_and_any_of_them_starts_on_it(
    sandbox: Sandbox, codex_bin: Path
) -> None:
    async with (
        mcp_server(sandbox, codex_bin, env=SPARE) as a,
        mcp_server(sandbox, codex_bin, env=SPARE) as b,
        mcp_server(sandbox, codex_bin, env=SPARE) as c,
    ):
        # Each server wants a spare for its own folder at start; one keeps it.
        assert await await_until(lambda: len(codex_pids(sandbox)) == 1, 30), codex_pids(sandbox)
        await anyio.sleep(2)  # and no second one comes up later
        [spare] = codex_pids(sandbox)
        keeper = psutil.Process(spare).parent().pid
        started: list[dict[str, Any]] = []
        for client in (a, b, c):
            started.append(await start_result(client, f"from each window {len(started)}", cwd=sandbox.work))
        assert [s["status"] for s in started] == ["completed"] * 3
        first = started[0]
        assert holder_of(sandbox, first["conversationId"]) in server_pids(sandbox)
        # A window whose server keeps no spare started on the keeper's: that conversation lives there.
        assert any(holder_of(sandbox, s["conversationId"]) == keeper for s in started)
        # Three conversations and, again, one spare among all the windows.
        assert await await_until(lambda: len(codex_pids(sandbox)) == 4, 30), codex_pids(sandbox)
        await anyio.sleep(2)
        assert len(codex_pids(sandbox)) == 4
        for s, client in zip(started, (a, b, c), strict=True):
            r = await reply(client, s["conversationId"], "and from its own window [[history]]")
            assert r["recovery"] == "live"
            assert r["reply"].startswith(f"from each window {started.index(s)} | ")


async def test_a_conversation_started_on_another_windows_spare_outlives_that_window(
    sandbox: Sandbox, codex_bin: Path
) -> None:
    """B's codex_start ran on the spare A keeps, so the conversation lives in A's server; A's window is killed.
    B, the window the conversation was started from, goes on with it (resumed), and keeps the spare from then."""
    async with mcp_server(sandbox, codex_bin, env=SPARE):
        assert await await_until(lambda: len(codex_pids(sandbox)) == 1, 30), codex_pids(sandbox)
        [spare] = codex_pids(sandbox)
        keeper = psutil.Process(spare).parent().pid  # A's server, the first window: it keeps the spare
        async with mcp_server(sandbox, codex_bin, env=SPARE) as b:
            started = await start_result(b, "started on the keeper's spare KESTREL", cwd=sandbox.work)
            cid = started["conversationId"]
            assert holder_of(sandbox, cid) == keeper  # it lives in A's server
            # The next spare, kept by A or by B (whichever server took the board first): still one among them.
            assert await await_until(lambda: len(codex_pids(sandbox)) == 2, 30), codex_pids(sandbox)
            kill_hard(keeper)
            assert await await_until(lambda: keeper not in server_pids(sandbox), 10)
            assert await await_until(lambda: spare not in codex_pids(sandbox), 10)  # its Codex went with it
            assert cid in [c["conversationId"] for c in (await call(b, "codex_list"))["conversations"]]
            after = await reply(b, cid, "still there? [[history]]")
            assert after["recovery"] == "resumed"
            assert after["reply"] == "started on the keeper's spare KESTREL | still there? [[history]]"
            # B's next start: on its own spare, or cold; either way B keeps the next one.
            await start(b, "a second conversation", cwd=sandbox.work)
            assert await await_until(lambda: len(codex_pids(sandbox)) == 3, 30), codex_pids(sandbox)


async def test_an_entry_the_guard_did_not_recognise_is_learned_and_left_off_next_time(
    sandbox: Sandbox, codex_bin: Path
) -> None:
    """codex-mcp behind a launcher nothing in the command line gives away (python -c with the module's name
    encoded, as an npx wrapper or a renamed binary would be): the first session starts it, it refuses and notes
    its entry, and the sessions after leave it off."""
    code = "import base64, runpy; runpy.run_module(base64.b64decode('Y29kZXhfbWNw').decode(), run_name='__main__')"
    entry = {
        "command": sys.executable,
        "args": ["-c", code],
        "required": True,
        "env": {"CODEX_MCP_STATE_DIR": str(sandbox.state_dir), FAKE_KEY: sandbox.env[FAKE_KEY]},
        "env_vars": ["CODEX_HOME"],
    }
    register(sandbox, "hidden", entry)
    learned = sandbox.state_dir / "nesting-learned.json"
    async with mcp_server(sandbox, codex_bin) as client:
        first = await start_result(client, "first session", cwd=sandbox.work)
        assert first["status"] == "completed"
        assert await await_until(learned.exists, 20), "the nested server noted nothing"
        assert json.loads(learned.read_text()) == [{"name": "hidden", "command": sys.executable, "args": ["-c", code]}]
        second = await start_result(client, "second session", cwd=sandbox.work)
        assert second["status"] == "completed"
        nested = [p for p in our_server().children(recursive=True) if code in " ".join(p.cmdline())]
        assert len(nested) == 1  # the first session's; the second left the entry off


async def test_the_window_that_sent_the_turn_is_the_one_asked_to_approve(sandbox: Sandbox, codex_bin: Path) -> None:
    """Window B (a handshake-era client with elicitation, as Claude Code connects) sends a turn to A's session:
    Codex's approval question reaches B's client, not A's, and B's answer goes to Codex."""
    asked_b: list[str] = []
    asked_a: list[str] = []

    def answering(into: list[str]) -> Any:
        async def on_elicit(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
            into.append(params.message)
            return ElicitResult(action="accept", content={"decision": "approve"})

        return on_elicit

    async with (
        mcp_server(sandbox, codex_bin, elicitation_callback=answering(asked_a), mode="legacy") as a,
        mcp_server(sandbox, codex_bin, elicitation_callback=answering(asked_b), mode="legacy") as b,
    ):
        started = await start_result(a, "plain start", cwd=sandbox.work, **ASKING)
        cid = started["conversationId"]
        r = await call(b, "codex_reply", conversationId=cid, prompt="[[escalate:touch via-b.txt]]", timeout_s=30)
        assert r["status"] == "completed", r
        assert (sandbox.work / "via-b.txt").exists()
        assert len(asked_b) == 1
        assert "touch via-b.txt" in asked_b[0]
        assert asked_a == []


async def test_a_resource_read_in_another_window_shows_the_running_turn_as_it_stands(
    sandbox: Sandbox, codex_bin: Path
) -> None:
    """The read is answered by the server that runs the conversation: a turn running there reads as running, with
    its prompt, not as the record last saved it."""
    async with mcp_server(sandbox, codex_bin) as a, mcp_server(sandbox, codex_bin) as b:
        cid = await start(a, "read me from b", cwd=sandbox.work)
        await call(a, "codex_reply", conversationId=cid, prompt="still going PLOVER [[delay:30]]", timeout_s=0)
        await wait_for_status(a, cid, "running")
        uri = f"codex://conversations/{cid}"
        text = (await b.read_resource(uri)).contents[0].text  # type: ignore[union-attr]
        assert "## Turn 2 (running" in text, text
        assert "still going PLOVER" in text
        assert text == (await a.read_resource(uri)).contents[0].text  # type: ignore[union-attr]
        await call(a, "codex_interrupt", conversationId=cid)
        with pytest.raises(MCPError, match="unknown conversationId"):
            await b.read_resource(f"codex://conversations/{uuid.uuid4()}")


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")  # handshake-era subscribe
@pytest.mark.version_independent
async def test_a_subscription_in_one_window_hears_of_turns_another_windows_server_runs(
    sandbox: Sandbox, codex_bin: Path
) -> None:
    """Window B subscribes to a conversation window A's server runs live: a turn that settles there (sent from
    A) is told to B's client, and B reads the resource with it."""
    messages: list[Any] = []

    async def on_message(message: Any) -> None:
        messages.append(message)

    def updated() -> list[str]:
        return [m.params.uri for m in messages if isinstance(m, ResourceUpdatedNotification)]

    async with (
        mcp_server(sandbox, codex_bin) as a,
        mcp_server(sandbox, codex_bin, mode="legacy", message_handler=on_message) as b,
    ):
        cid = await start(a, "watched from b", cwd=sandbox.work)
        uri = f"codex://conversations/{cid}"
        await b.subscribe_resource(uri)
        await anyio.sleep(1.5)  # B has seen the record as it is
        assert uri not in updated()
        await reply(a, cid, "a second turn in a")
        assert await await_until(lambda: uri in updated(), 10), updated()
        text = (await b.read_resource(uri)).contents[0].text  # type: ignore[union-attr]
        assert "a second turn in a" in text
        assert "## Turn 2 (completed" in text
