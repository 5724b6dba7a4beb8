"""What we rely on Codex to do, checked on the real binary through our own terminal and screen layers.

If Codex changes under us, these fail with the fact that no longer holds, before anything subtler breaks.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from codex_mcp.cli.fakemodel import FakeModel
from codex_mcp.codex.argv import new_session_argv
from codex_mcp.codex.binary import codex_env, codex_version
from codex_mcp.codex.keys import PASTE_END, PASTE_START, QUIT_KEYS, encode_prompt
from codex_mcp.codex.rollout import RolloutTail, TurnEvent, find_rollout, turn_event
from codex_mcp.codex.settings import JsonValue, LaunchOptions
from codex_mcp.codex.tui import ScreenFacts, parse_run_state, read_screen
from codex_mcp.codex.versions import SUPPORTED_VERSIONS
from codex_mcp.session.screen import Screen
from codex_mcp.terminal import Terminal

from .conftest import REPO, Sandbox

FIXTURES = REPO / "tests" / "fixtures" / "codex"

pytestmark = [pytest.mark.anyio, pytest.mark.codex]


class Tui:
    """Real Codex on our Terminal + Screen, recording OSC 7501 states."""

    def __init__(self, terminal: Terminal, screen: Screen) -> None:
        self.terminal = terminal
        self.screen = screen
        self.states: list[str] = []
        terminal.subscribe(self._on_output)

    def _on_output(self, data: bytes) -> None:
        for osc in self.screen.feed(data):
            if osc.code == "7501":
                self.states.append(parse_run_state(osc.data)[0])

    async def until(self, predicate: object, timeout: float = 15.0) -> bool:
        assert callable(predicate)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            await asyncio.sleep(0.02)
        return bool(predicate())

    def facts(self) -> ScreenFacts:
        return read_screen(self.screen.lines())


@asynccontextmanager
async def tui(sandbox: Sandbox, codex_bin: Path) -> AsyncIterator[Tui]:
    argv = new_session_argv(str(codex_bin), LaunchOptions(cwd=str(sandbox.work)))
    env = codex_env({**os.environ, **sandbox.env})
    terminal = await Terminal.spawn(argv, cwd=str(sandbox.work), env=env, rows=50, cols=160)
    screen = Screen(160, 50, answer=terminal.write_nowait)
    t = Tui(terminal, screen)
    try:
        assert await t.until(lambda: t.facts().ready and t.facts().footer_state == "Ready"), "\n".join(
            screen.text_lines()
        )
        yield t
    finally:
        await terminal.terminate(grace_s=0.5)


async def test_version_is_in_the_supported_window(codex_bin: Path) -> None:
    """The Codex under test is one we claim to support, and its golden fixtures (tests/unit/test_golden.py) exist:
    a new release is added with scripts/capture_fixtures.py and a bump of SUPPORTED_VERSIONS (docs/compatibility.md)."""
    version = await codex_version(str(codex_bin))
    assert version in SUPPORTED_VERSIONS
    assert (FIXTURES / version / "capture.json").is_file(), f"no golden fixtures for Codex {version}"


async def test_ready_screen_thread_id_and_rollout(sandbox: Sandbox, codex_bin: Path) -> None:
    async with tui(sandbox, codex_bin) as t:
        facts = t.facts()
        assert facts.blocker is None
        thread_id = facts.thread_id
        assert thread_id is not None
        # The rollout appears with the first prompt, named after the thread id shown in the footer.
        assert find_rollout(sandbox.codex_home, thread_id) is None
        await t.terminal.write(encode_prompt("contract one"))
        assert await t.until(lambda: find_rollout(sandbox.codex_home, thread_id, recent_only=True) is not None)
        path = find_rollout(sandbox.codex_home, thread_id)
        assert path is not None

        def completed() -> list[JsonValue]:
            # RolloutTail: a line Codex is still writing (session_meta is ~20 KB) waits for its newline.
            events = [turn_event(record) for record in RolloutTail(path).read_new()]
            return [e.reply for e in events if e is not None and e.kind == "complete"]

        assert await t.until(lambda: completed() == ["ECHO: contract one"])
        meta = json.loads(path.read_text().splitlines()[0])
        assert meta["type"] == "session_meta"
        assert meta["payload"]["id"] == thread_id
        assert meta["payload"]["cwd"] == str(sandbox.work)
        # OSC 7501: idle when ready, working while the turn runs, done at its end.
        assert await t.until(lambda: t.states[-1:] == ["done"])
        assert "working" in t.states


async def test_model_error_is_task_complete_with_error(sandbox: Sandbox, codex_bin: Path) -> None:
    async with tui(sandbox, codex_bin) as t:
        thread_id = t.facts().thread_id
        assert thread_id
        await t.terminal.write(encode_prompt("[[fail:500]] contract"))
        assert await t.until(lambda: "error" in t.states)

        def completions() -> list[TurnEvent]:
            path = find_rollout(sandbox.codex_home, thread_id)
            if path is None:
                return []
            events = [turn_event(record) for record in RolloutTail(path).read_new()]  # whole lines only
            return [e for e in events if e is not None and e.kind == "complete"]

        # The OSC and the rollout line are written by different parts of Codex: either may come first.
        assert await t.until(lambda: len(completions()) == 1, 5)
        [complete] = completions()
        assert complete.reply is None
        assert complete.error


async def test_slash_and_mention_hazards_still_exist(sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel) -> None:
    """Why encode_prompt adds a leading space and a trailing newline: raw pastes are not safe."""
    async with tui(sandbox, codex_bin) as t:
        before = len(fake_model.user_requests())
        # A raw pasted "/status" runs the slash command: nothing reaches the model.
        await t.terminal.write(PASTE_START + b"/status" + PASTE_END + b"\r")
        assert await t.until(lambda: any("Session:" in line for line in t.screen.lines()), 5)
        # A raw paste ending in a $mention opens the skill popup, which takes the Enter.
        await t.terminal.write(b"\x15" + PASTE_START + b"$skill" + PASTE_END + b"\r")
        await asyncio.sleep(1.5)
        assert len(fake_model.user_requests()) == before, "a raw '/status' or '$skill' paste reached the model"
        # Encoded, both arrive as text.
        await t.terminal.write(b"\x15")
        await asyncio.sleep(0.3)
        for text in ("/status", "$skill"):
            await t.terminal.write(encode_prompt(text))
            assert await t.until(lambda text=text: any(r.user_texts[-1] == text for r in fake_model.user_requests()))
            assert await t.until(lambda: t.facts().footer_state == "Ready")


async def test_quit_exits_cleanly_and_fast(sandbox: Sandbox, codex_bin: Path) -> None:
    async with tui(sandbox, codex_bin) as t:
        began = time.monotonic()
        await t.terminal.write(QUIT_KEYS)
        info = await t.terminal.wait_exit(5)
        assert info is not None
        assert info.code == 0
        assert time.monotonic() - began < 2.0
