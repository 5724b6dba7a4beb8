"""Conversations as resources without a server: which URIs exist, the Markdown transcript and its pages, the
coalesced change notifications, branch order for completion, and MCP log levels."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from mcp.server.subscriptions import ResourceUpdated

from codex_mcp.codex.settings import LaunchOptions
from codex_mcp.conversations.conversation import Conversation
from codex_mcp.errors import InvalidInput
from codex_mcp.mcp.clientlog import LEVELS, mcp_level
from codex_mcp.mcp.completions import _ordered
from codex_mcp.mcp.subscriptions import Subscriptions
from codex_mcp.mcp.transcript import transcript_markdown
from codex_mcp.mcp.uris import Target, page_uri, target_of
from codex_mcp.turn import Turn, TurnStatus

CID = "01a1fbea-b6ba-73a1-8251-f4e5e362b223"


def conversation(turns: int, reply_chars: int = 100) -> Conversation:
    conv = Conversation(CID, LaunchOptions(cwd="/home/user/app", model="gpt-5-codex"))
    for n in range(1, turns + 1):
        turn = Turn(index=n, prompt=f"prompt {n}", recovery="resumed" if n == 3 else "live")
        turn.reply = f"reply {n} " + "x" * reply_chars
        turn.status = TurnStatus.COMPLETED
        conv.turns.append(turn)
    return conv


def markdown(conv: Conversation, from_turn: int | None, budget: int) -> str:
    return transcript_markdown(conv, from_turn, budget, lambda n: page_uri(conv.id, n))


def test_uris_name_the_list_a_conversation_or_a_page() -> None:
    assert target_of("codex://conversations") == Target(None)
    assert target_of(f"codex://conversations/{CID}") == Target(CID)
    assert target_of(f"codex://conversations/{CID}/turns/12") == Target(CID, 12)
    for bad in ("file:///etc/passwd", f"codex://conversations/{CID}/turns/0", f"codex://conversations/{CID}/x"):
        with pytest.raises(InvalidInput, match=r"codex://conversations/\{conversationId\}"):
            target_of(bad)


def test_a_short_conversation_is_shown_whole_with_its_settings() -> None:
    text = markdown(conversation(3), None, 20_000)
    assert text.startswith(f"# Codex conversation {CID}\n\n- State: ended\n- Folder: /home/user/app\n")
    assert "- Model: gpt-5-codex; effort: Codex config" in text
    assert text.count("## Turn ") == 3
    assert "## Turn 3 (completed, resumed, " in text
    assert "> prompt 1\n\nreply 1 " in text
    assert "not shown" not in text
    assert "follow at" not in text


def test_a_long_conversation_shows_its_newest_turns_and_where_the_rest_are() -> None:
    conv = conversation(40, reply_chars=900)
    text = markdown(conv, None, 10_000)
    shown = [int(line.split()[2]) for line in text.splitlines() if line.startswith("## Turn ")]
    assert shown == list(range(shown[0], 41))
    assert 5 <= len(shown) < 40
    assert f"> Turns 1-{shown[0] - 1} are not shown here. Read them at codex://conversations/{CID}/turns/1." in text
    assert len(text) < 12_000

    first = markdown(conv, 1, 10_000)
    pages = [int(line.split()[2]) for line in first.splitlines() if line.startswith("## Turn ")]
    assert pages[0] == 1
    after = pages[-1] + 1
    assert f"> Turns {after}-40 follow at codex://conversations/{CID}/turns/{after}." in first
    assert "cut to fit; codex_status(conversationId, turn=N, offset=...) reads a reply whole" in first


def test_a_page_past_the_last_turn_says_so() -> None:
    assert "No turns from turn 9 on (the conversation has 3)." in markdown(conversation(3), 9, 20_000)


@pytest.mark.anyio
async def test_saves_in_one_step_make_one_notification_per_uri() -> None:
    published: list[str] = []

    class Bus:
        async def publish(self, event: Any) -> None:
            assert isinstance(event, ResourceUpdated)
            published.append(event.uri)

        def subscribe(self, listener: Any) -> Any:
            raise AssertionError("not used")

    sent: list[str] = []

    class Session:
        async def send_resource_updated(self, uri: str) -> None:
            sent.append(uri)

    subscriptions = Subscriptions(Bus())
    subscriptions.subscribe(f"codex://conversations/{CID}", Session())  # type: ignore[arg-type]
    conv = conversation(1)
    for _ in range(3):
        subscriptions.changed(conv)
    await subscriptions.close()
    assert sorted(published) == ["codex://conversations", f"codex://conversations/{CID}"]
    assert sent == [f"codex://conversations/{CID}"]


def test_branches_local_first_then_remote_without_head_aliases() -> None:
    refs = [
        "refs/heads/feature/parser",
        "refs/heads/main",
        "refs/remotes/origin/HEAD",
        "refs/remotes/origin/main",
        "refs/remotes/origin/fix",
    ]
    assert _ordered(refs, "") == ["feature/parser", "main", "origin/main", "origin/fix"]
    assert _ordered(refs, "origin/m") == ["origin/main"]


def test_python_levels_map_onto_mcp_levels() -> None:
    assert [mcp_level(n) for n in (5, logging.DEBUG, logging.INFO, 25, logging.WARNING, logging.ERROR)] == [
        "debug",
        "debug",
        "info",
        "notice",
        "warning",
        "error",
    ]
    assert mcp_level(logging.CRITICAL) == "critical"
    assert all(mcp_level(threshold) == name for name, threshold in LEVELS.items())
