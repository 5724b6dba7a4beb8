"""Golden fixtures: what each supported Codex really wrote, fed through our parsers.

tests/fixtures/codex/<version>/ holds, per Codex release, captures made by scripts/capture_fixtures.py from the
real TUI on the fake model: the raw PTY bytes of the ready screen, the trust dialog and an approval dialog (with
the screen they render to), and the rollout of a session with a plain turn and an approved exec_command. Every
test runs for every version directory, so a new release's fixtures are checked the moment they are captured,
and no real Codex is needed to run them. See docs/compatibility.md.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from codex_mcp.codex.argv import model_upgrades, notice_override
from codex_mcp.codex.keys import INTERRUPT_KEY
from codex_mcp.codex.rollout import (
    RolloutSettings,
    RolloutTail,
    TurnEvent,
    find_rollout,
    read_history,
    read_settings,
    turn_event,
    user_message,
)
from codex_mcp.codex.tui import ScreenFacts, parse_run_state, read_screen
from codex_mcp.codex.versions import SUPPORTED_VERSIONS, version_key
from codex_mcp.errors import InvalidInput
from codex_mcp.session import approvals
from codex_mcp.session.screen import Osc, Screen

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "codex"
VERSIONS = sorted(
    (p.name for p in FIXTURES.iterdir() if (p / "capture.json").is_file()),
    key=lambda name: version_key(name) or (0, 0, 0, 0),
)
THREAD = "00000000-0000-7000-8000-000000000001"  # the capture's placeholder for the session's thread id
COMMAND = "touch golden.txt"


@dataclass(frozen=True)
class Golden:
    """One version's fixtures."""

    version: str
    path: Path
    rows: int
    cols: int
    cwd: str
    rollout_path: str

    def raw(self, name: str) -> bytes:
        return (self.path / f"{name}.pty").read_bytes()

    def expected_lines(self, name: str) -> list[str]:
        lines = (self.path / f"{name}.screen.txt").read_text(encoding="utf-8").splitlines()
        return lines + [""] * (self.rows - len(lines))

    def render(self, name: str, chunk: int | None = None) -> tuple[Screen, list[Osc]]:
        """The capture fed to a fresh Screen (in pieces of chunk bytes, if given)."""
        data = self.raw(name)
        screen = Screen(self.cols, self.rows)
        step = chunk or len(data)
        oscs = [osc for i in range(0, len(data), step) for osc in screen.feed(data[i : i + step])]
        return screen, oscs

    def records(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in (self.path / "rollout.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(params=VERSIONS)
def golden(request: pytest.FixtureRequest) -> Golden:
    path = FIXTURES / request.param
    about = json.loads((path / "capture.json").read_text())
    return Golden(request.param, path, about["rows"], about["cols"], about["cwd"], about["rollout_path"])


def run_states(oscs: list[Osc]) -> list[str]:
    return [osc.data for osc in oscs if osc.code == "7501"]


def test_every_supported_version_has_fixtures() -> None:
    assert set(SUPPORTED_VERSIONS) <= set(VERSIONS), "capture them with scripts/capture_fixtures.py"


def test_fixtures_are_of_the_version_they_are_filed_under(golden: Golden) -> None:
    assert json.loads((golden.path / "capture.json").read_text())["codex_version"] == golden.version
    assert golden.records()[0]["payload"]["cli_version"] == golden.version  # type: ignore[index]


# --- the screen ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["startup", "trust", "approval", "migration"])
def test_raw_bytes_render_to_the_captured_screen(golden: Golden, name: str) -> None:
    """pyte-style golden test: captured bytes in, expected lines out, however the bytes are split (OSC sequences,
    UTF-8 characters and escape sequences cut anywhere)."""
    whole, whole_oscs = golden.render(name)
    assert whole.lines() == golden.expected_lines(name)
    for chunk in (1, 7, 4096):
        screen, oscs = golden.render(name, chunk)
        assert screen.lines() == whole.lines(), f"split every {chunk} bytes"
        assert oscs == whole_oscs


def test_startup_screen_is_ready_with_the_thread_id_in_the_footer(golden: Golden) -> None:
    screen, oscs = golden.render("startup")
    facts = read_screen(screen.lines())
    assert facts == ScreenFacts(ready=True, thread_id=THREAD, footer_state="Ready", blocker=None)
    assert any(line.startswith("› ") for line in screen.lines())
    assert f"(v{golden.version})" in "\n".join(screen.lines())
    # Codex answers our status-line override with "<thread id> · <model> · <run state>".
    [footer] = [line for line in screen.lines() if THREAD in line]
    assert [part.strip() for part in footer.split("·")] == [THREAD, "mock-model", "Ready"]
    # OSC 7501 says idle once the composer is ready; it always names the app.
    states = run_states(oscs)
    assert states[-1] == "state=idle:app=codex"
    assert all(parse_run_state(s)[1].get("app") == "codex" for s in states)


def test_startup_asks_the_terminal_what_screen_answers(golden: Golden) -> None:
    """Codex waits for answers to these at start-up (CODEX_FACTS: unanswered, start-up and /quit are slower)."""
    answers: list[bytes] = []
    screen = Screen(golden.cols, golden.rows, answer=answers.append)
    screen.feed(golden.raw("startup"))
    assert any(a.startswith(b"\x1b[?") and a.endswith(b"c") for a in answers), "no DA1 answer"
    assert any(a.startswith(b"\x1b[") and a.endswith(b"R") for a in answers), "no cursor position answer"
    assert any(a.startswith(b"\x1b]10;rgb:") for a in answers)
    assert any(a.startswith(b"\x1b]11;rgb:") for a in answers)


def test_trust_dialog_is_a_blocker(golden: Golden) -> None:
    screen, _ = golden.render("trust")
    facts = read_screen(screen.lines())
    assert facts.ready is False
    assert facts.blocker == "Codex asks whether to trust this folder"
    assert any("Trust this folder?" in line for line in screen.lines())


def test_model_migration_prompt_is_a_blocker(golden: Golden) -> None:
    """What a real account sees when the catalog offers a newer model (issue 11). codex-mcp's notice override keeps
    it away; should it show anyway, start-up fails at once saying what it is, instead of waiting it out."""
    screen, _ = golden.render("migration")
    facts = read_screen(screen.lines())
    assert facts.ready is False
    assert facts.blocker is not None
    assert "newer model" in facts.blocker
    assert [line.strip() for line in screen.lines() if "model" in line][-2:] == [
        "› 1. Try new model",
        "2. Use existing model",
    ]


def test_model_upgrades_come_from_the_catalog_and_become_one_notice_override() -> None:
    catalog = {
        "models": [
            {"slug": "a", "upgrade": {"model": "b", "migration_markdown": "…"}},
            {"slug": "b", "upgrade": None},
            {"slug": "c", "upgrade": "d"},
            {"slug": "e", "upgrade": {"model": "e"}},
            "junk",
        ]
    }
    upgrades = model_upgrades(catalog)
    assert upgrades == {"a": "b", "c": "d"}
    assert model_upgrades({"models": "junk"}) == {} == model_upgrades([])
    [flag, value] = notice_override(upgrades)
    assert flag == "-c"
    assert value.startswith("notice={")
    assert '"model_migrations" = {"a" = "b", "c" = "d"}' in value
    assert '"hide_rate_limit_model_nudge" = true' in value
    assert '"hide_gpt-5.1-codex-max_migration_prompt" = true' in value


def test_approval_dialog_is_read_with_its_command_reason_and_choices(golden: Golden) -> None:
    screen, oscs = golden.render("approval")
    request = approvals.read_approval(screen.lines())
    assert request is not None
    assert request.question == "Would you like to run the following command?"
    assert request.command == COMMAND
    assert request.reason == f"Needs to run {COMMAND}"
    assert request.choices == [
        ("y", "Yes, proceed"),
        ("p", f"Yes, and don't ask again for commands that start with `{COMMAND}`"),
        ("esc", "No, and tell Codex what to do differently"),
    ]
    assert read_screen(screen.lines()).blocker is None  # a question for the user, not a broken start
    # The keys each decision presses, and the one Codex does not offer.
    assert approvals.approval_keys("approve", request) == b"y"
    assert approvals.approval_keys("approve_always", request) == b"p"
    assert approvals.approval_keys("deny", request) == INTERRUPT_KEY
    with pytest.raises(InvalidInput, match="does not offer an approval limited to this session"):
        approvals.approval_keys("approve_for_session", request)
    # OSC 7501: the turn before finished with done; this one waits, blocked on a permission.
    states = run_states(oscs)
    assert "state=done:app=codex" in states
    state, fields = parse_run_state(states[-1])
    assert (state, fields.get("kind")) == ("blocked", "permission")
    assert screen.title.startswith("[ ! ] Action Required")


# --- the rollout ---------------------------------------------------------------------------------


def test_rollout_is_found_where_codex_put_it(golden: Golden, tmp_path: Path) -> None:
    home = tmp_path / "codex-home"
    where = home / golden.rollout_path
    where.parent.mkdir(parents=True)
    shutil.copy(golden.path / "rollout.jsonl", where)
    assert find_rollout(home, THREAD) == where


def test_rollout_starts_with_session_meta_for_the_footers_thread(golden: Golden) -> None:
    first = golden.records()[0]
    assert first["type"] == "session_meta"
    payload = first["payload"]
    assert isinstance(payload, dict)
    assert payload["id"] == THREAD
    assert payload["cwd"] == golden.cwd


def test_rollout_turn_boundaries_and_replies(golden: Golden) -> None:
    events = [e for e in map(turn_event, golden.records()) if e is not None]
    assert [e.kind for e in events] == ["started", "complete", "started", "complete"]
    first, second = events[0].turn_id, events[2].turn_id
    assert first
    assert second
    assert first != second
    assert [e.turn_id for e in events] == [first, first, second, second]
    assert events[1] == TurnEvent("complete", first, reply="ECHO: golden one")
    last = events[3]
    assert last.error is None
    assert last.reply is not None
    assert last.reply.startswith("TOOL OUTPUT: ")
    assert "Process exited with code 0" in last.reply


def test_rollout_records_the_tool_call(golden: Golden) -> None:
    calls = [
        r["payload"]
        for r in golden.records()
        if r["type"] == "response_item" and r["payload"]["type"] == "function_call"  # type: ignore[index]
    ]
    assert len(calls) == 1
    call = calls[0]
    assert isinstance(call, dict)
    assert call["name"] == "exec_command"
    arguments = json.loads(call["arguments"])
    assert arguments["cmd"] == COMMAND
    assert arguments["sandbox_permissions"] == "require_escalated"


def test_rollout_history_and_settings(golden: Golden) -> None:
    path = golden.path / "rollout.jsonl"
    [(prompt_one, reply_one), (prompt_two, reply_two)] = read_history(path)
    assert (prompt_one, reply_one) == ("golden one", "ECHO: golden one")
    assert prompt_two == f"[[escalate:{COMMAND}]]"
    assert reply_two is not None
    assert reply_two.startswith("TOOL OUTPUT: ")
    assert [m for m in map(user_message, golden.records()) if m is not None] == [prompt_one, prompt_two]
    assert read_settings(path) == RolloutSettings(golden.cwd, "mock-model", "on-request", "read-only")


def test_rollout_tail_reads_every_record_however_it_grows(golden: Golden, tmp_path: Path) -> None:
    data = (golden.path / "rollout.jsonl").read_bytes()
    path = tmp_path / "rollout.jsonl"
    tail = RolloutTail(path)
    got: list[dict[str, object]] = []
    with path.open("wb") as f:
        for i in range(0, len(data), 997):  # lines arrive cut anywhere, as a live Codex writes them
            f.write(data[i : i + 997])
            f.flush()
            got += tail.read_new()
    assert got == golden.records()
