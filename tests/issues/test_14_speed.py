"""Issue 14: the warm spare (the next codex_start with the same folder and settings finds Codex ready), and a
screen that is rendered only when someone reads it, with the real Codex.

The figures (start times, server CPU per turn) are bench/'s job; these tests check what a user would notice: the
spare serves the next start and is never a conversation, it respects the cap and gives its place up, it ends when
unused and on shutdown, and a screen whose unread output was dropped is whole again when read."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

import codex_mcp.session.screen
from codex_mcp.cli.fakemodel import FakeModel
from codex_mcp.codex.settings import LaunchOptions
from codex_mcp.config import Settings
from codex_mcp.conversations.manager import Manager
from codex_mcp.session.screen import Screen

from ..conftest import Sandbox, mcp_server
from ..faults_helpers import codex_children, server_pids
from ..helpers import await_until, list_all, reply, start

pytestmark = [pytest.mark.anyio, pytest.mark.codex]

SPARE = {"CODEX_MCP_SPARE_KEEP_S": "300"}  # the default; the sandbox turns it off for the other tests


def the_server(sandbox: Sandbox) -> int:
    [pid] = server_pids(sandbox)
    return pid


def writes_thread(pid: int, thread_id: str) -> bool:
    """True if Codex process pid holds the rollout of thread_id open (it writes that thread)."""
    try:
        return any(thread_id in f.path for f in psutil.Process(pid).open_files())
    except psutil.Error:
        return False


async def test_the_next_start_runs_on_the_warm_spare_which_is_never_a_conversation(
    sandbox: Sandbox, codex_bin: Path
) -> None:
    async with mcp_server(sandbox, codex_bin, env=SPARE) as client:
        # At server start: a spare for the server's own folder (the tests start the server in sandbox.work).
        server = the_server(sandbox)
        assert await await_until(lambda: len(codex_children(server)) == 1, timeout=30), "nothing was prewarmed"
        [prewarmed] = codex_children(server)
        first = await start(client, "first conversation", cwd=sandbox.work)
        assert await await_until(lambda: writes_thread(prewarmed, first)), "the first start did not use the spare"
        assert await await_until(lambda: len(codex_children(server)) == 2, timeout=30), "no spare was started"
        [spare] = [pid for pid in codex_children(server) if not writes_thread(pid, first)]
        assert [c["conversationId"] for c in await list_all(client)] == [first], "the spare is listed"

        second = await start(client, "second conversation", cwd=sandbox.work)
        assert second != first
        assert await await_until(lambda: writes_thread(spare, second)), "the second start did not use the spare"
        answer = await reply(client, second, "and a reply")
        assert answer["reply"] == "ECHO: and a reply"
        # The second start asked for the next spare; nothing else runs.
        assert await await_until(lambda: len(codex_children(server)) == 3, timeout=30)
        assert sorted(c["conversationId"] for c in await list_all(client)) == sorted([first, second])

        # Other settings (another folder) get a fresh Codex, and the spare follows the latest settings.
        other = sandbox.work / "other"
        other.mkdir()
        third = await start(client, "third conversation", cwd=other)
        assert not writes_thread(spare, third)
    # The sandbox asserts at teardown that no Codex is left, the spare included.


@pytest.mark.version_independent  # codex-mcp's own bookkeeping
async def test_the_spare_counts_in_the_cap_and_gives_its_place_up(sandbox: Sandbox, codex_bin: Path) -> None:
    """With room for two sessions, a conversation in another folder takes the spare's place instead of
    reclaiming the first conversation's session."""
    env = {**SPARE, "CODEX_MCP_MAX_SESSIONS": "2"}
    async with mcp_server(sandbox, codex_bin, env=env) as client:
        first = await start(client, "first", cwd=sandbox.work)
        server = the_server(sandbox)
        assert await await_until(lambda: len(codex_children(server)) == 2, timeout=30)
        other = sandbox.work / "elsewhere"
        other.mkdir()
        second = await start(client, "second", cwd=other)
        states = {c["conversationId"]: c["state"] for c in await list_all(client)}
        assert states == {first: "idle", second: "idle"}, "a conversation was reclaimed for the spare"
        # At the cap, no new spare: two Codex processes, the two conversations'.
        assert len(codex_children(server)) == 2
        assert (await reply(client, first, "still here"))["recovery"] == "live"


@pytest.mark.version_independent  # codex-mcp's own timer
async def test_an_unused_spare_ends_after_its_time(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin, env={"CODEX_MCP_SPARE_KEEP_S": "1"}) as client:
        await start(client, "one", cwd=sandbox.work)
        server = the_server(sandbox)
        assert await await_until(lambda: len(codex_children(server)) == 2, timeout=30)
        assert await await_until(lambda: len(codex_children(server)) == 1, timeout=15), "the spare outlived its time"


async def test_a_screen_whose_unread_output_was_dropped_is_whole_when_read(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Output nobody reads is dropped past the backlog limit (here 4 KB, so every turn drops some); reading the
    status has Codex repaint, and the screen then matches one that rendered every byte."""
    monkeypatch.setattr(codex_mcp.session.screen, "_MAX_PENDING", 4096)
    manager = Manager(
        Settings(codex_bin=str(codex_bin), state_dir=sandbox.state_dir, spare_keep_s=0), {**os.environ, **sandbox.env}
    )
    await manager.prepare()
    try:
        conv, turn = await manager.start("screen one", LaunchOptions(cwd=str(sandbox.work)), 60)
        session = conv.live_session
        assert session is not None
        rows, cols = session.screen.size
        everything = Screen(cols, rows)  # the reference: renders every byte

        def render_all(data: bytes) -> None:
            everything.feed(data)

        session.terminal.subscribe(render_all)
        everything.feed(session.screen.render())  # start from what the session shows now
        dropped = False
        for n in range(8):
            _, turn, _ = await manager.reply(conv.id, f"screen turn {n} " + "word " * 40, 60)
            assert (turn.reply or "").startswith(f"ECHO: screen turn {n}")
            dropped = dropped or session.screen.stale
        assert dropped, "no output was ever dropped: the test did not test the repaint"
        # Codex draws the reply just after it records the turn as complete.
        assert await await_until(lambda: any("ECHO: screen turn 7" in line for line in everything.text_lines()))
        await manager.status(conv.id, 0)  # a reader: the screen is made whole first
        assert not session.screen.stale
        assert session.screen.text_lines() == everything.text_lines()
    finally:
        await manager.shutdown()


def title_requests(fake: FakeModel, marker: str) -> int:
    """Codex's hidden title requests for the conversation whose first prompt holds marker (the title prompt quotes
    it)."""
    return sum(1 for r in fake.requests if r.is_title and any(marker in t for t in r.user_texts))


async def test_a_new_conversation_makes_no_hidden_title_request(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    """By default the thread is named after its first prompt (what Codex's resume picker shows) and the model
    gets the user's turns only; thread_title=model gives Codex's own behaviour back: one title request."""
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "PELICAN plan the migration of the billing service", cwd=sandbox.work)
        await reply(client, cid, "PELICAN second turn")
        index = (sandbox.codex_home / "session_index.jsonl").read_text()
        assert f'"id":"{cid}","thread_name":"PELICAN plan the migration of the billing service"' in index
    async with mcp_server(sandbox, codex_bin, env={"CODEX_MCP_THREAD_TITLE": "model"}) as client:
        await start(client, "HERON plan the migration", cwd=sandbox.work)
        assert await await_until(lambda: title_requests(fake_model, "HERON") == 1), "Codex's title request is gone"
    assert title_requests(fake_model, "PELICAN") == 0, "a hidden title request was made"
