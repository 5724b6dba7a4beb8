"""Capture golden fixtures of one Codex version for tests/unit/test_golden.py.

    .venv/bin/python scripts/capture_fixtures.py --codex-bin PATH [--out tests/fixtures/codex/<version>]

Runs the real Codex TUI in a PTY against the built-in fake model (no account, no network) and writes:

    startup.pty / startup.screen.txt    the ready screen: composer, thread id and run state in the footer
    trust.pty / trust.screen.txt        the "Trust this folder?" dialog (a git repo, no projects override)
    migration.pty / migration.screen.txt  the "Try new model / Use existing model" prompt (a model catalog that
                                        offers an upgrade, no notice override); ``--only migration`` captures
                                        just this one
    approval.pty / approval.screen.txt  an approval dialog (the fake model's [[escalate:…]] directive)
    rollout.jsonl                       the rollout of that session: a plain turn, then the approved tool call
    capture.json                        the Codex version and terminal size the captures were made with

``*.pty`` is every byte Codex wrote from spawn to the moment of the capture; ``*.screen.txt`` is what our
Screen renders from it (the readable half of a diff between versions). Thread and call ids, timestamps, the
temporary folder and durations are replaced by fixed placeholders of the same length (so the raw bytes still
render to the same layout), which keeps a re-capture of the same version to a small diff.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from codex_mcp.cli.fakemodel import FakeModel, catalog_model, codex_config_toml
from codex_mcp.codex.argv import new_session_argv, toml_value
from codex_mcp.codex.binary import CodexBinary, codex_env, codex_version, find_codex
from codex_mcp.codex.keys import QUIT_KEYS, encode_prompt
from codex_mcp.codex.rollout import find_rollout, turn_event
from codex_mcp.codex.settings import LaunchOptions
from codex_mcp.codex.tui import ScreenFacts, parse_run_state, read_screen
from codex_mcp.config import Settings
from codex_mcp.session import approvals
from codex_mcp.session.screen import Screen
from codex_mcp.terminal import PtyTerminal, spawn_terminal

REPO = Path(__file__).resolve().parent.parent
FAKE_KEY = "CODEX_MCP_FAKE_KEY"
PLACEHOLDER_ROOT = "codex-golden"  # the temporary folder's name in the fixtures (its real name has the same length)
FIXED_TIME = "2026-01-01T00:00:00"

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX32 = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?")
_DATE = re.compile(r"(?<![\d-])\d{4}-\d\d-\d\d(?![\d-])")
_WALL_TIME = re.compile(r"Wall time: [0-9.]+ seconds")
_CHUNK_ID = re.compile(r"Chunk ID: [0-9a-f]+")
_ROLLOUT_PATH = re.compile(r"\d{4}/\d\d/\d\d/rollout-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d")
_CLOCK = re.compile(r"(Worked for [^\x1b\r\n]{1,20}? • )\d\d:\d\d")
# Rollout fields that hold times, durations or a process id: zeroed.
_NOISY_KEYS = frozenset(
    {
        "completed_at",
        "completed_at_ms",
        "create_time",
        "duration_ms",
        "nanos",
        "process_id",
        "secs",
        "started_at",
        "started_at_ms",
        "time_to_first_token_ms",
    }
)


def _zeroed(text: str) -> str:
    """text with every digit set to 0 (the length stays)."""
    return re.sub(r"\d", "0", text)


class Scrubber:
    """Same-length placeholders for what changes from run to run. One per Codex session, so an id keeps one
    placeholder in the screen and the rollout alike."""

    def __init__(self, root: str) -> None:
        self.root = root
        name = os.path.basename(root)
        self.root_placeholder = os.path.join(os.path.dirname(root), PLACEHOLDER_ROOT[: len(name)].ljust(len(name), "-"))
        self._ids: dict[str, str] = {}

    def _id(self, value: str) -> str:
        if value not in self._ids:
            n = len(self._ids) + 1
            if len(value) == 36:
                self._ids[value] = f"00000000-0000-7000-8000-{n:012x}"
            else:
                self._ids[value] = f"{n:0{len(value)}x}"
        return self._ids[value]

    def text(self, text: str) -> str:
        """Scrub one text (screen output or a rollout line)."""
        text = text.replace(self.root, self.root_placeholder)
        text = _UUID.sub(lambda m: self._id(m.group(0)), text)
        text = _HEX32.sub(lambda m: self._id(m.group(0)), text)
        text = _ISO_TIME.sub(lambda m: FIXED_TIME + _zeroed(m.group(1) or ""), text)
        text = _DATE.sub(FIXED_TIME[:10], text)
        text = _WALL_TIME.sub(lambda m: _zeroed(m.group(0)), text)
        text = _CHUNK_ID.sub(lambda m: "Chunk ID: " + "0" * (len(m.group(0)) - 10), text)
        return _CLOCK.sub(lambda m: m.group(1) + "00:00", text)

    def raw(self, data: bytes) -> bytes:
        """Scrub PTY output (the placeholders keep every length, so the layout is unchanged)."""
        return self.text(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


class Capture:
    """A real Codex on a PTY, every byte it writes kept, rendered by our Screen."""

    def __init__(self, terminal: PtyTerminal, rows: int, cols: int) -> None:
        self.terminal = terminal
        self.screen = Screen(cols, rows, answer=terminal.write_nowait)
        self.raw = bytearray()
        self.states: list[str] = []
        self.last_output = time.monotonic()
        terminal.subscribe(self._on_output)

    def _on_output(self, data: bytes) -> None:
        self.raw += data
        self.last_output = time.monotonic()
        for osc in self.screen.feed(data):
            if osc.code == "7501":
                self.states.append(parse_run_state(osc.data)[0])

    async def until(self, what: str, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait for predicate, then for the screen to stay unchanged a moment (a frame is drawn in pieces)."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate() and time.monotonic() - self.last_output > 0.5:
                return
            if time.monotonic() > deadline or not self.terminal.alive:
                screen = "\n".join(self.screen.text_lines())
                raise SystemExit(f"capture: gave up waiting for {what}; the screen shows:\n{screen}")
            await asyncio.sleep(0.05)

    def facts(self) -> ScreenFacts:
        return read_screen(self.screen.lines())

    def save(self, out: Path, name: str, scrub: Scrubber) -> None:
        """Write name.pty (the raw bytes so far) and name.screen.txt (what they render to)."""
        raw = scrub.raw(bytes(self.raw))
        (out / f"{name}.pty").write_bytes(raw)
        rows, cols = self.screen.size
        rendered = Screen(cols, rows)
        rendered.feed(raw)
        (out / f"{name}.screen.txt").write_text("\n".join(rendered.lines()).rstrip("\n") + "\n")


def _zero_noisy(value: object) -> object:
    if isinstance(value, dict):
        return {
            k: (0 if isinstance(v, int | float) and not isinstance(v, bool) else "0")
            if k in _NOISY_KEYS and isinstance(v, int | float | str)
            else _zero_noisy(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_zero_noisy(v) for v in value]
    return value


def scrub_line(line: str, scrub: Scrubber) -> str:
    """One rollout line with run-to-run noise replaced (ids, times, paths, durations), written compactly as
    Codex writes it."""
    record = _zero_noisy(json.loads(scrub.text(line)))
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def outline(lines: list[str]) -> str:
    """One line per rollout record: its type (and payload type, and item type) and its payload's keys. The
    readable half of a rollout diff: fields Codex adds or drops show up here."""
    out: list[str] = []
    for line in lines:
        record = json.loads(line)
        payload = record.get("payload")
        kind = str(record.get("type"))
        keys: list[str] = []
        if isinstance(payload, dict):
            if "type" in payload:
                kind += "/" + str(payload["type"])
            item = payload.get("item")
            if isinstance(item, dict) and "type" in item:
                kind += "/" + str(item["type"])
            keys = sorted(payload)
        out.append(f"{kind}: {' '.join(keys)}")
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class World:
    """A throwaway HOME and CODEX_HOME pointing Codex at the fake model, and two folders to run it in."""

    root: str
    codex_home: Path
    work: Path  # a plain folder: the session with the turns
    repo: Path  # a git repository: the trust dialog
    env: dict[str, str]


def make_world(root: str, base_url: str, binary: CodexBinary) -> World:
    """Lay out the folders under root. A fixed, minimal environment: what Codex reports about it (shell,
    timezone) ends up in the rollout."""
    home, codex_home, work, repo = (Path(root, name) for name in ("home", "codex-home", "work", "repo"))
    for d in (home, codex_home, work, repo):
        d.mkdir()
    (codex_home / "config.toml").write_text(codex_config_toml(base_url, FAKE_KEY))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, capture_output=True)
    env = {
        "HOME": str(home),
        "CODEX_HOME": str(codex_home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "SHELL": "/bin/bash",
        "TZ": "UTC",
        FAKE_KEY: "capture",
        **binary.env,
    }
    return World(root, codex_home, work, repo, codex_env(env))


async def capture_session(world: World, binary: CodexBinary, out: Path, rows: int, cols: int) -> str:
    """Start-up, a plain turn, an approval dialog and the approved tool call: one session, one rollout. Returns
    where Codex put the rollout (relative to CODEX_HOME, scrubbed)."""
    scrub = Scrubber(world.root)
    options = LaunchOptions(cwd=str(world.work), approval_policy="on-request", sandbox="read-only")
    argv = new_session_argv(binary.path, options)
    terminal = await spawn_terminal(argv, cwd=str(world.work), env=world.env, rows=rows, cols=cols)
    tui = Capture(terminal, rows, cols)
    try:
        await tui.until("the ready screen", lambda: tui.facts().ready and tui.facts().footer_state == "Ready")
        thread_id = tui.facts().thread_id
        assert thread_id is not None
        tui.save(out, "startup", scrub)

        def replies() -> list[str | None]:
            path = find_rollout(world.codex_home, thread_id)
            if path is None:
                return []
            events = [turn_event(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
            return [e.reply for e in events if e is not None and e.kind == "complete"]

        await terminal.write(encode_prompt("golden one"))
        await tui.until("the first reply", lambda: replies() == ["ECHO: golden one"])
        await tui.until("Ready after the first turn", lambda: tui.facts().footer_state == "Ready")
        await terminal.write(encode_prompt("[[escalate:touch golden.txt]]"))
        await tui.until(
            "the approval dialog",
            lambda: approvals.read_approval(tui.screen.lines()) is not None and tui.states[-1:] == ["blocked"],
        )
        tui.save(out, "approval", scrub)
        await terminal.write(b"y")
        await tui.until("the tool call's reply", lambda: len(replies()) == 2)
        await tui.until("Ready after the tool call", lambda: tui.facts().footer_state == "Ready")
        await terminal.write(QUIT_KEYS)
        await terminal.wait_exit(10)
    finally:
        await terminal.terminate(grace_s=0.5)
    rollout = find_rollout(world.codex_home, thread_id)
    assert rollout is not None
    lines = [scrub_line(line, scrub) for line in rollout.read_text().splitlines() if line.strip()]
    (out / "rollout.jsonl").write_text("".join(line + "\n" for line in lines))
    (out / "rollout.outline.txt").write_text(outline(lines))
    where = rollout.relative_to(world.codex_home).as_posix()
    return scrub.text(_ROLLOUT_PATH.sub("2026/01/01/rollout-2026-01-01T00-00-00", where))


async def capture_trust(world: World, binary: CodexBinary, out: Path, rows: int, cols: int) -> None:
    """The trust dialog: a folder in a git repository, started without our projects override."""
    argv = new_session_argv(binary.path, LaunchOptions(cwd=str(world.repo)))
    i = next(i for i, arg in enumerate(argv) if arg.startswith("projects="))
    del argv[i - 1 : i + 1]
    terminal = await spawn_terminal(argv, cwd=str(world.repo), env=world.env, rows=rows, cols=cols)
    tui = Capture(terminal, rows, cols)
    try:
        await tui.until("the trust dialog", lambda: tui.facts().blocker is not None)
        tui.save(out, "trust", Scrubber(world.root))
    finally:
        await terminal.terminate(grace_s=0.5)


async def capture_migration(world: World, binary: CodexBinary, out: Path, rows: int, cols: int) -> None:
    """The model migration prompt: a catalog offering mock-model-next in place of the configured mock-model,
    started without our notice override."""
    catalog = Path(world.root, "catalog.json")
    upgrade = {"model": "mock-model-next", "migration_markdown": "Try **mock-model-next**, it is newer."}
    models = [catalog_model("mock-model-next"), catalog_model("mock-model", upgrade)]
    await asyncio.to_thread(catalog.write_text, json.dumps({"models": models}))
    argv = new_session_argv(binary.path, LaunchOptions(cwd=str(world.work)))
    i = next(i for i, arg in enumerate(argv) if arg.startswith("notice="))
    argv[i] = f"model_catalog_json={toml_value(str(catalog))}"
    terminal = await spawn_terminal(argv, cwd=str(world.work), env=world.env, rows=rows, cols=cols)
    tui = Capture(terminal, rows, cols)
    try:
        await tui.until("the migration prompt", lambda: tui.facts().blocker is not None)
        tui.save(out, "migration", Scrubber(world.root))
    finally:
        await terminal.terminate(grace_s=0.5)


async def capture(binary: CodexBinary, out: Path, root: str, rows: int, cols: int, only: str = "all") -> str | None:
    """Run the scenarios in the empty folder root and write the fixtures into out; returns the rollout's path
    (None when only the migration prompt was captured)."""
    rollout = None
    with FakeModel() as fake:
        world = make_world(root, fake.base_url, binary)
        if only == "all":
            rollout = await capture_session(world, binary, out, rows, cols)
            await capture_trust(world, binary, out, rows, cols)
        await capture_migration(world, binary, out, rows, cols)
    return rollout


def main(argv: list[str] | None = None) -> int:
    """Capture the fixtures of the Codex at --codex-bin."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codex-bin", required=True, help="the Codex to capture (npm wrapper or native binary)")
    parser.add_argument("--out", type=Path, help="default: tests/fixtures/codex/<its version>")
    parser.add_argument("--only", choices=["all", "migration"], default="all", help="which captures to make")
    args = parser.parse_args(argv)
    binary = find_codex(args.codex_bin)
    version = asyncio.run(codex_version(binary.path))
    if version == "unknown":
        print(f"capture: {binary.path} did not report a version", file=sys.stderr)
        return 1
    out: Path = args.out or REPO / "tests" / "fixtures" / "codex" / version
    out.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    # A short folder name of fixed length, so that its placeholder has the same length (see Scrubber).
    root = os.path.realpath(tempfile.mkdtemp(prefix="cxgd", dir="/tmp" if os.path.isdir("/tmp") else None))
    try:
        rollout = asyncio.run(capture(binary, out, root, settings.rows, settings.cols, args.only))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if rollout is None:
        print(f"capture: Codex {version} migration prompt -> {out}", file=sys.stderr)
        return 0
    about = {
        "codex_version": version,
        "rows": settings.rows,
        "cols": settings.cols,
        "cwd": str(Path(Scrubber(root).root_placeholder, "work")),
        "rollout_path": rollout,
    }
    (out / "capture.json").write_text(json.dumps(about, indent=2) + "\n")
    print(f"capture: Codex {version} -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
