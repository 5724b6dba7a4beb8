"""Issue 9: a conversation idle for a week keeps its context after Codex compresses its rollout.

Codex (0.169, 0.171) compresses a rollout whose file has not changed for 7 days to ``….jsonl.zst`` when its
``local_thread_store_compression`` feature is on: a background pass at the start of any Codex process, at most
once per 6 hours per CODEX_HOME. These tests let the real Codex do that compression (the file's mtime set
back 8 days, then one ``codex --enable local_thread_store_compression exec`` run), then reply through the MCP
server: the thread must be resumed with its history, and adopted when it was started outside codex-mcp."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from codex_mcp.cli.fakemodel import FakeModel

from ..conftest import Sandbox, codex_exec, mcp_server
from ..helpers import call, call_error, reply, start, start_result
from ..test_conversations import model_got

pytestmark = [pytest.mark.anyio, pytest.mark.codex]

WEEK_AND_A_DAY_S = 8 * 86400


def plain_rollout(sandbox: Sandbox, thread_id: str) -> Path:
    [path] = sandbox.codex_home.glob(f"sessions/*/*/*/rollout-*-{thread_id}.jsonl")
    return path


def compressed_by_codex(sandbox: Sandbox, codex_bin: Path, thread_id: str) -> Path:
    """Age the thread's rollout by 8 days and let the real Codex compress it; returns the .zst."""
    plain = plain_rollout(sandbox, thread_id)
    size = plain.stat().st_size
    aged = time.time() - WEEK_AND_A_DAY_S
    os.utime(plain, (aged, aged))
    zst = plain.with_name(plain.name + ".zst")
    for _ in range(3):  # the pass runs in the background of the process: a very quick exit could cut it short
        codex_exec(
            sandbox,
            codex_bin,
            "--enable",
            "local_thread_store_compression",
            "exec",
            "--skip-git-repo-check",
            "-C",
            str(sandbox.work),
            "a Codex run that compresses cold rollouts",
        )
        if zst.exists():
            break
        (sandbox.codex_home / ".tmp" / "rollout-compression.lock").unlink(missing_ok=True)
    assert zst.exists(), f"Codex did not compress {plain.name}"
    assert not plain.exists(), "Codex keeps only the compressed file"
    assert zst.stat().st_size < size
    assert abs(zst.stat().st_mtime - aged) < 2, "Codex keeps the file's mtime"
    return zst


async def test_a_compressed_conversation_is_resumed_with_its_history(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        started = await start_result(client, "the code word is PAPAYA-9", cwd=sandbox.work)
        cid = started["conversationId"]
        await call(client, "codex_end", conversationId=cid)
        zst = compressed_by_codex(sandbox, codex_bin, cid)

        r = await reply(client, cid, "what was the code word? [[history]]")
        assert r["recovery"] == "resumed"
        assert r["status"] == "completed"
        assert r["reply"] == "the code word is PAPAYA-9 | what was the code word? [[history]]"
        assert r["thread_id"] == cid
        assert r["turn"] == 2
        # Codex decompressed it back to the plain file and appends there; the turn after is live on it.
        assert not zst.exists()
        assert "what was the code word?" in plain_rollout(sandbox, cid).read_text()
        r = await reply(client, cid, "and once more [[history]]")
        assert r["recovery"] == "live"
        assert r["reply"].startswith("the code word is PAPAYA-9 | what was the code word?")


async def test_a_compressed_thread_started_elsewhere_is_adopted(sandbox: Sandbox, codex_bin: Path) -> None:
    done = codex_exec(
        sandbox,
        codex_bin,
        "exec",
        "--json",
        "--skip-git-repo-check",
        "-s",
        "workspace-write",
        "-C",
        str(sandbox.work),
        "made by hand, code word GUAVA-9",
    )
    thread_id = json.loads(done.stdout.splitlines()[0])["thread_id"]
    compressed_by_codex(sandbox, codex_bin, thread_id)
    async with mcp_server(sandbox, codex_bin) as client:
        r = await reply(client, thread_id, "adopted [[history]]")
        assert r["recovery"] == "resumed"
        assert r["reply"] == "made by hand, code word GUAVA-9 | adopted [[history]]"
        assert r["turn"] == 2  # the hand-made turn is turn 1, read from the .zst
        [info] = [c for c in (await call(client, "codex_list"))["conversations"] if c["conversationId"] == thread_id]
        assert info["adopted"] is True
        assert info["cwd"] == str(sandbox.work)
        assert info["sandbox"] == "workspace-write"
        assert info["model"] == "mock-model"
        status = await call(client, "codex_status", conversationId=thread_id)
        assert status["turn"] == 2


async def test_a_corrupt_compressed_rollout_falls_back_to_a_replay(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel, tmp_path: Path
) -> None:
    errlog = tmp_path / "server.log"
    with errlog.open("w") as log:
        async with mcp_server(sandbox, codex_bin, errlog=log) as client:
            cid = await start(client, "corrupt alpha", cwd=sandbox.work)
            await call(client, "codex_end", conversationId=cid)
            plain = plain_rollout(sandbox, cid)
            zst = plain.with_name(plain.name + ".zst")
            zst.write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00 not really zstd" * 64)  # zstd's magic, then garbage
            plain.unlink()

            r = await reply(client, cid, "corrupt beta")
            assert r["recovery"] == "replayed"
            assert r["status"] == "completed"
            [sent] = model_got(fake_model, "corrupt beta")
            assert "corrupt alpha" in sent  # the history came from codex-mcp's own transcript

            # A thread codex-mcp never saw, whose only rollout is a corrupt .zst: a tool error, not a crash.
            stranger = "01a1fbea-0000-7000-8000-0000000000e9"
            (plain.parent / f"rollout-2026-01-01T00-00-00-{stranger}.jsonl.zst").write_bytes(b"garbage")
            message = await call_error(client, "codex_reply", conversationId=stranger, prompt="hello")
            assert stranger in message
            assert (await reply(client, cid, "still fine"))["recovery"] == "live"
    server_log = errlog.read_text()
    assert "Traceback" not in server_log, server_log
