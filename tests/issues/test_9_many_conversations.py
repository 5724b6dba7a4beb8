"""Issue 9: months of use. Hundreds of stored conversations (in the record format today's code writes, with
no index: as an earlier codex-mcp left them) next to live ones on the real Codex: codex_list is a bounded page,
live first, with filters and a cursor that walks everything once; codex_transcript reads old transcripts page
by page; prune removes old records but never a live conversation, and a pruned conversation whose Codex thread
still exists stays reachable by its id."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from ..conftest import Sandbox, mcp_server
from ..helpers import call, call_error, reply, start, text_of, write_old_records
from ..platforms import script

pytestmark = [pytest.mark.anyio, pytest.mark.codex, pytest.mark.version_independent]

OLD = 300


def prune_cli(sandbox: Sandbox, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "codex_mcp", "prune", *args],
        env=sandbox.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


async def test_listing_is_a_bounded_page_live_first_with_filters_and_cursor(sandbox: Sandbox, codex_bin: Path) -> None:
    old = write_old_records(sandbox.state_dir, OLD, turns=20, projects=sandbox.work)
    async with mcp_server(sandbox, codex_bin) as client:
        live = [await start(client, f"live one {n}: fix the flaky test", cwd=sandbox.work) for n in range(2)]
        raw = await client.call_tool("codex_list", {})
        page = dict(raw.structured_content or {})
        size = len(json.dumps(page)) + len(text_of(raw))
        assert size <= 20_000, f"the default page is {size} bytes"
        assert page["total"] == OLD + 2
        assert page["codex_support"] == "supported"
        assert page["codex_version"] in page["codex_supported_versions"]
        assert len(page["conversations"]) == 20
        assert {c["conversationId"] for c in page["conversations"][:2]} == set(live), "live conversations come first"
        assert page["conversations"][0]["first_prompt"].startswith("live one")
        newest_old = [c["conversationId"] for c in page["conversations"][2:]]
        assert newest_old == old[::-1][:18], "then the most recently active"
        assert all(len(c["first_prompt"]) <= 120 for c in page["conversations"])
        assert "Reply 1:" not in json.dumps(page), "a listing never carries transcripts"

        seen: list[str] = [c["conversationId"] for c in page["conversations"]]
        cursor = page["next_cursor"]
        while cursor:
            more = await call(client, "codex_list", cursor=cursor, limit=50)
            seen += [c["conversationId"] for c in more["conversations"]]
            cursor = more["next_cursor"]
        assert len(seen) == len(set(seen)) == OLD + 2

        only_live = await call(client, "codex_list", state="live")
        assert {c["conversationId"] for c in only_live["conversations"]} == set(live)
        assert only_live["total"] == 2
        ended = await call(client, "codex_list", state="ended", limit=5)
        assert ended["total"] == OLD
        in_app3 = await call(client, "codex_list", cwd=str(sandbox.work / "app3"), limit=200)
        assert in_app3["total"] == OLD // 10
        assert {c["cwd"] for c in in_app3["conversations"]} == {str(sandbox.work / "app3")}
        assert (await call(client, "codex_list", cwd=str(sandbox.work)))["total"] == OLD + 2, "a folder and below"
        flaky = await call(client, "codex_list", text="FLAKY TEST")
        assert {c["conversationId"] for c in flaky["conversations"]} == set(live)

        forged = await call_error(client, "codex_list", cursor="bm90IGEgY3Vyc29y")
        assert "codex_list without a cursor" in forged
        other_filters = await call_error(client, "codex_list", cursor=page["next_cursor"], state="ended")
        assert "other filters" in other_filters
        assert "limit" in await call_error(client, "codex_list", limit=0)
        assert "absolute" in await call_error(client, "codex_list", cwd="relative/dir")

        # An old conversation is continued: it becomes live and moves to the front.
        oldest = old[0]
        r = await reply(client, oldest, "back after months [[history]]")
        assert r["status"] == "completed"
        assert r["recovery"] == "replayed"  # a synthetic record: Codex never had its thread
        assert "turn 1: please look" in r["reply"], "the replay carried the old transcript"
        assert "turn 20: please look" in r["reply"]
        front = await call(client, "codex_list", limit=3)
        assert oldest in {c["conversationId"] for c in front["conversations"]}
        for cid in live:
            await call(client, "codex_end", conversationId=cid)


async def test_transcripts_page_through_old_conversations(sandbox: Sandbox, codex_bin: Path) -> None:
    [old] = write_old_records(sandbox.state_dir, 1, turns=20)
    async with mcp_server(sandbox, codex_bin) as client:
        turns: list[dict[str, object]] = []
        page = await call(client, "codex_transcript", conversationId=old, limit=8)
        while True:
            assert page["turns_total"] == 20
            turns += page["turns"]
            if page["next_turn"] is None:
                break
            page = await call(client, "codex_transcript", conversationId=old, from_turn=page["next_turn"], limit=8)
        assert [t["turn"] for t in turns] == list(range(1, 21))
        assert "turn 5: please look" in str(turns[4]["prompt"])
        assert str(turns[4]["reply"]).startswith("Reply 5:")

        text = text_of(await client.call_tool("codex_transcript", {"conversationId": old, "limit": 2}))
        assert "## Turn 1" in text
        assert "from_turn=3" in text

        cid = await start(client, "[[reply:" + "lorem ipsum " * 3000 + "]]", cwd=sandbox.work)
        live = await call(client, "codex_transcript", conversationId=cid)
        [first] = live["turns"]
        assert first["clipped"] is True, "a page stays within the output budget"
        assert len(json.dumps(live)) < 25_000
        assert "unknown conversationId" in await call_error(
            client, "codex_transcript", conversationId="01a1fbea-b6ba-73a1-8251-f4e5e362b299"
        )
        empty = await call(client, "codex_transcript", conversationId=cid, from_turn=5)
        assert empty["turns"] == []
        await call(client, "codex_end", conversationId=cid)


async def test_prune_never_touches_a_live_conversation_and_keeps_threads_reachable(
    sandbox: Sandbox, codex_bin: Path
) -> None:
    old = write_old_records(sandbox.state_dir, 30, turns=2)
    async with mcp_server(sandbox, codex_bin) as client:
        live = await start(client, "stays live", cwd=sandbox.work)
        ended = await start(client, "the code word is heron", cwd=sandbox.work)
        await call(client, "codex_end", conversationId=ended)
        await anyio.sleep(2.5)  # both are now "older" than the 2 s limit below; only the claim protects the live one

        dry = prune_cli(sandbox, "--older-than", str(2 / 86400), "--dry-run")
        assert f"Would remove {len(old) + 1} conversation(s)" in dry
        assert live not in dry.split("Kept")[0]
        assert (sandbox.state_dir / "conversations" / f"{old[0]}.json").exists()

        out = prune_cli(sandbox, "--older-than", str(2 / 86400))
        assert f"Removed {len(old) + 1} conversation(s)" in out
        assert f"Kept 1 that a live Codex session runs now: {live}" in out
        assert "rollouts ($CODEX_HOME/sessions) were not touched" in out
        listed = await call(client, "codex_list")
        assert [c["conversationId"] for c in listed["conversations"]] == [live]

        # The live conversation goes on; the pruned one is adopted back from Codex's own rollout.
        assert (await reply(client, live, "still here"))["recovery"] == "live"
        back = await reply(client, ended, "which word? [[history]]")
        assert back["recovery"] == "resumed"
        assert back["reply"].startswith("the code word is heron")
        assert "unknown conversationId" in await call_error(client, "codex_status", conversationId=old[0])
        for cid in (live, ended):
            await call(client, "codex_end", conversationId=cid)
    assert (
        "--older-than"
        in subprocess.run(
            [sys.executable, "-m", "codex_mcp", "prune", "--older-than", "0"],
            env=sandbox.env,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )


async def test_prune_at_start_is_a_setting(sandbox: Sandbox, codex_bin: Path) -> None:
    old = write_old_records(sandbox.state_dir, 5, turns=1)  # 1 to 180 days old
    ages = {
        cid: time.time()
        - json.loads((sandbox.state_dir / "conversations" / f"{cid}.json").read_text())["last_activity"]
        for cid in old
    }
    async with mcp_server(sandbox, codex_bin, env={"CODEX_MCP_PRUNE_AFTER_DAYS": "0.5"}) as client:
        listed = await call(client, "codex_list")
        assert listed["total"] == 0, ages
    async with mcp_server(sandbox, codex_bin) as client:
        assert (await call(client, "codex_list"))["total"] == 0


async def test_list_says_when_codex_is_newer_than_the_supported_window(sandbox: Sandbox, tmp_path: Path) -> None:
    """A Codex released after ours runs, and codex_list says it is untested (a stand-in that only answers
    --version: no session is started)."""
    newer = script(tmp_path / "codex", sh="echo 'codex-cli 0.999.0'\n", cmd="echo codex-cli 0.999.0\n")
    async with mcp_server(sandbox, newer) as client:
        raw = await client.call_tool("codex_list", {})
        listed = dict(raw.structured_content or {})
        assert listed["codex_version"] == "0.999.0"
        assert listed["codex_support"] == "newer_untested"
        assert "Codex 0.999.0 is newer untested" in text_of(raw)
