"""The real MCP Inspector (npm @modelcontextprotocol/inspector, pinned, CLI mode) drives the server: it lists
the tools, starts a conversation on the fake model and continues it in a second Inspector session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO, Sandbox

pytestmark = [pytest.mark.codex, pytest.mark.version_independent]

INSPECTOR = REPO / ".mcp-inspector" / "node_modules" / ".bin" / "mcp-inspector"


@pytest.fixture(scope="module")
def inspector() -> Path:
    assert INSPECTOR.exists(), "the MCP Inspector is not installed: run `bash scripts/setup.sh` (never skipped)"
    return INSPECTOR


def run_inspector(inspector: Path, sandbox: Sandbox, codex_bin: Path, *method: str) -> subprocess.CompletedProcess[str]:
    """One Inspector CLI session against a fresh server process."""
    env_args = [arg for k, v in sandbox.env.items() if k != "PATH" for arg in ("-e", f"{k}={v}")]
    return subprocess.run(
        [
            str(inspector),
            "--cli",
            *env_args,
            "--cwd",
            str(sandbox.work),
            *method,
            "--",
            sys.executable,
            "-m",
            "codex_mcp",
            "--codex-bin",
            str(codex_bin),
        ],
        env={**os.environ, "HOME": sandbox.env["HOME"]},  # the Inspector keeps its own files under HOME
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def inspect(inspector: Path, sandbox: Sandbox, codex_bin: Path, *method: str) -> dict[str, Any]:
    """One Inspector CLI session against a fresh server process; returns its JSON output."""
    done = run_inspector(inspector, sandbox, codex_bin, *method)
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_inspector_lists_tools_with_portable_schemas(inspector: Path, sandbox: Sandbox, codex_bin: Path) -> None:
    listed = inspect(inspector, sandbox, codex_bin, "--method", "tools/list", "--strict")
    tools = {t["name"]: t for t in listed["tools"]}
    assert set(tools) == {
        "codex_start",
        "codex_reply",
        "codex_status",
        "codex_interrupt",
        "codex_approve",
        "codex_end",
        "codex_list",
        "codex_attach_info",
        "codex_transcript",
        "codex_review",
        "codex_fork",
        "codex_rewind",
        "codex_compact",
    }
    for tool in tools.values():
        assert tool["description"]
        assert tool["outputSchema"]["type"] == "object"
    assert tools["codex_start"]["inputSchema"]["required"] == ["prompt"]


def test_inspector_starts_and_continues_a_conversation(inspector: Path, sandbox: Sandbox, codex_bin: Path) -> None:
    started = inspect(
        inspector, sandbox, codex_bin, "--method", "tools/call", "--tool-name", "codex_start",
        "--tool-arg", "prompt=hello from the inspector",
    )  # fmt: skip
    assert started["isError"] is False
    content = started["structuredContent"]
    assert content["status"] == "completed"
    assert content["reply"] == "ECHO: hello from the inspector"
    assert started["content"][0]["text"].startswith("ECHO: hello from the inspector")
    cid = content["conversationId"]

    # A second Inspector session is a second server process: the conversation is resumed from disk.
    replied = inspect(
        inspector, sandbox, codex_bin, "--method", "tools/call", "--tool-name", "codex_reply",
        "--tool-arg", f"conversationId={cid}", "--tool-arg", "prompt=and again [[history]]",
    )  # fmt: skip
    reply = replied["structuredContent"]
    assert reply["recovery"] == "resumed"
    assert reply["reply"] == "hello from the inspector | and again [[history]]"
