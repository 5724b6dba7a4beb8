"""End to end through the official MCP client, the real Codex CLI and the fake model."""

from __future__ import annotations

from pathlib import Path

import pytest

from codex_mcp.fakemodel import FakeModel

from .conftest import Sandbox, mcp_server
from .helpers import call, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.codex]


async def test_start_reply_with_context_list_status_end(sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        started = await call(client, "codex_start", prompt="remember the word PELICAN-1", cwd=str(sandbox.work))
        cid = started["conversationId"]
        assert started["status"] == "completed"
        assert started["reply"] == "ECHO: remember the word PELICAN-1"
        assert started["turn"] == 1
        # The id is Codex's own thread id: the rollout file is named after it.
        assert list(sandbox.codex_home.glob(f"sessions/*/*/*/rollout-*-{cid}.jsonl"))

        replied = await call(client, "codex_reply", conversationId=cid, prompt="what was the word? [[history]]")
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
        listed = await call(client, "codex_list")
        assert listed["conversations"][0]["state"] == "ended"

        result = await client.call_tool("codex_reply", {"conversationId": cid, "prompt": "more"})
        assert result.is_error
        assert "codex_start" in text_of(result)
