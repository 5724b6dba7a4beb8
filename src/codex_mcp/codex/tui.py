"""Reading the TUI: the footer (thread id, run state), Codex's OSC 7501 run state, the composer, its activity
line and the dialogs that block a session."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

UUID_RE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def is_activity_line(line: str) -> bool:
    """Codex's line that says it is working, with its ticking timer ("Working (12s • esc to interrupt)")."""
    return "esc to interrupt" in line and not UUID_RE.search(line)


RunState = Literal["idle", "working", "done", "blocked", "error"]


def parse_run_state(osc_data: str) -> tuple[str, dict[str, str]]:
    """Split OSC 7501 data like 'state=blocked:app=codex:kind=permission' into ('blocked', {...})."""
    fields: dict[str, str] = {}
    for part in osc_data.split(":"):
        key, _, value = part.partition("=")
        fields[key] = value
    return fields.get("state", ""), fields


@dataclass(frozen=True)
class ScreenFacts:
    """What the TUI shows right now."""

    ready: bool
    thread_id: str | None
    footer_state: str | None
    blocker: str | None


_BLOCKERS = (
    ("trust this folder", "Codex asks whether to trust this folder"),
    ("do you trust", "Codex asks whether to trust this folder"),
    ("sign in with chatgpt", "Codex is not logged in: run `codex login` or configure an API key"),
    ("open in another app", "this conversation is open in another Codex window"),
    ("welcome to codex", "Codex shows its first-run onboarding: run `codex` once by hand"),
    (
        "use existing model",
        "Codex offers a newer model and waits for a choice (codex-mcp could not tell which from Codex's model "
        "catalog): run `codex` once by hand and answer it, or pass model= to codex_start",
    ),
)

UNKNOWN_SCREEN_HINT = (
    "run `codex-mcp doctor --e2e` to see the screens Codex shows at start-up, and report this screen if it is new"
)


def read_screen(lines: Sequence[str]) -> ScreenFacts:
    """Find the composer, the status-line footer (thread id, run state) and any blocking dialog."""
    composer = any(line.startswith("› ") or line == "›" for line in lines)
    thread_id = None
    footer_state = None
    for line in reversed(lines):
        m = UUID_RE.search(line)
        if m and "·" in line:
            thread_id = m.group(0)
            footer_state = line.rsplit("·", 1)[-1].strip() or None
            break
    blocker = None
    lowered = "\n".join(lines).lower()
    for needle, meaning in _BLOCKERS:
        if needle in lowered:
            blocker = meaning
            break
    return ScreenFacts(composer and thread_id is not None, thread_id, footer_state, blocker)
