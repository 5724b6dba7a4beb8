"""The server without the SDK private it leans on (mcp/_sdk.py): an SDK release that drops
MCPServer._lowlevel_server must still leave a working server, with its tools and prompts, and say what it lost."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from mcp import Client

from codex_mcp.config import Settings
from codex_mcp.mcp import _sdk
from codex_mcp.mcp.server import create_server

pytestmark = pytest.mark.anyio


def _settings(tmp_path: Path) -> Settings:
    # No Codex is needed to list tools: a missing one is only logged at start.
    return Settings(codex_bin=str(tmp_path / "no-codex"), state_dir=tmp_path / "state", prewarm=False)


async def test_without_the_lowlevel_server_tools_and_prompts_are_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_sdk, "_LOWLEVEL", "_not_in_this_sdk")
    caplog.set_level(logging.WARNING, logger="codex_mcp.mcp._sdk")
    async with Client(create_server(_settings(tmp_path))) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        # MCPServer answers resources/templates/list itself, with what it knows: none of ours.
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
    assert {"codex_start", "codex_reply", "codex_list", "codex_end"} <= tools
    assert prompts == {"review", "ask", "continue"}
    assert "codex://conversations/{conversationId}" not in templates
    warned = [r.getMessage() for r in caplog.records if r.name == "codex_mcp.mcp._sdk"]
    assert warned == ["this MCP SDK has no MCPServer._lowlevel_server: resources, completion and logging not served"]


async def test_with_the_lowlevel_server_resources_are_served(tmp_path: Path) -> None:
    """The same server on this SDK, for contrast: the templates the fallback loses are there."""
    async with Client(create_server(_settings(tmp_path))) as client:
        templates = (await client.list_resource_templates()).resource_templates
    assert {t.uri_template for t in templates} >= {"codex://conversations/{conversationId}"}
