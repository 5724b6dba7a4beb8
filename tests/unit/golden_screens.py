"""Captured Codex screens (tests/fixtures/codex/<version>/<name>.pty) as our Screen renders them."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from codex_mcp.session.screen import Screen

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "codex"


def golden_lines(version: str, name: str) -> list[str]:
    """A captured screen as our Screen renders it (a fresh list each time: tests may edit it)."""
    return list(_rendered(version, name))


@functools.cache
def _rendered(version: str, name: str) -> tuple[str, ...]:
    about = json.loads((FIXTURES / version / "capture.json").read_text())
    screen = Screen(about["cols"], about["rows"])
    screen.feed((FIXTURES / version / f"{name}.pty").read_bytes())
    return tuple(screen.lines())
