"""The Claude Code plugin's commands name only tools the server has: a command that allows a tool name we do not
serve would have Claude Code ask the user for it, or fail to find it."""

from __future__ import annotations

import re
from pathlib import Path

from codex_mcp.mcp.tools import TOOLS

COMMANDS = Path(__file__).resolve().parents[2] / "plugins" / "codex-mcp" / "commands"
PREFIX = "mcp__plugin_codex-mcp_codex__"


def test_every_command_allows_and_loads_only_tools_we_serve() -> None:
    served = {spec.fn.__name__ for spec in TOOLS}
    files = sorted(COMMANDS.glob("*.md"))
    assert {f.stem for f in files} >= {"fork", "rewind", "compact", "ask", "interrupt"}
    for path in files:
        text = path.read_text()
        named = set(re.findall(re.escape(PREFIX) + r"(\w+)", text))
        assert named <= served, f"{path.name} names tools the server does not have: {named - served}"
        allowed = re.search(r"^allowed-tools: (.*)$", text, re.MULTILINE)
        assert allowed is not None, f"{path.name} has no allowed-tools"
        listed = set(re.findall(re.escape(PREFIX) + r"(\w+)", allowed.group(1)))
        assert named == listed, f"{path.name} uses tools its allowed-tools does not list: {named - listed}"
