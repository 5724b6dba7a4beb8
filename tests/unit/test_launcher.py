"""The one launch path: a plan made from the config read once, a deadline made once per call."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from codex_mcp.codex import mcpentries
from codex_mcp.codex.argv import new_session_argv
from codex_mcp.codex.keys import encode_prompt, is_clean, sanitize_prompt
from codex_mcp.codex.review import ReviewTarget
from codex_mcp.codex.settings import LaunchOptions
from codex_mcp.config import Settings
from codex_mcp.conversations.deadline import MIN_START_S, Deadline
from codex_mcp.conversations.launcher import Launcher
from codex_mcp.errors import InvalidInput


def _launcher(tmp_path: Path, config: str = "") -> Launcher:
    codex = tmp_path / "bin" / "codex"
    codex.parent.mkdir()
    codex.write_text("#!/bin/sh\nexit 0\n")
    codex.chmod(0o755)
    home = tmp_path / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(config)
    return Launcher(Settings(codex_bin=str(codex), state_dir=tmp_path / "state"), {"CODEX_HOME": str(home)})


def test_a_deadline_counts_down_from_when_the_call_came_in() -> None:
    deadline = Deadline(timeout=30.0, began=time.monotonic() - 10.0)
    assert 19.0 < deadline.left() <= 20.0
    assert 10.0 <= deadline.elapsed() < 11.0
    assert Deadline(timeout=5.0, began=time.monotonic() - 60.0).left() == 0.0  # spent: never negative


def test_the_start_up_bound_is_the_time_left_between_its_floor_and_the_servers_bound() -> None:
    assert Deadline.after(300.0).startup_s(60.0) == 60.0  # a long call: the server's start-up bound
    assert Deadline.after(0.0).startup_s(60.0) == MIN_START_S  # timeout_s 0 still lets Codex start
    assert 29.0 < Deadline.after(30.0).startup_s(60.0) <= 30.0  # in between: the call's own time


def test_a_plan_reads_the_config_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    launcher = _launcher(tmp_path, '[mcp_servers.mine]\ncommand = "codex-mcp"\n')
    reads: list[str | None] = []
    real = mcpentries.effective_config

    def counted(*args: object, **kwargs: object) -> mcpentries.Table:
        reads.append(str(kwargs.get("cwd")))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(mcpentries, "effective_config", counted)
    options = LaunchOptions(cwd=str(tmp_path))
    plan = launcher.plan_new(options)
    assert reads == [str(tmp_path)]
    # codex-mcp's own entry is turned off in the session, as the argv a conversation's settings make says.
    own = mcpentries.self_entries(real(launcher.codex_home, cwd=str(tmp_path)), launcher.env)
    assert list(plan.argv) == new_session_argv(plan.binary.path, options, own, {})
    assert [e.name for e in own] == ["mine"]
    assert any(a.startswith("mcp_servers.mine=") and '"enabled" = false' in a for a in plan.argv)
    assert plan.cwd == str(tmp_path)
    assert plan.env["CODEX_HOME"] == str(launcher.codex_home)


def test_plans_with_the_same_settings_share_a_spare_and_others_do_not(tmp_path: Path) -> None:
    launcher = _launcher(tmp_path)
    here = LaunchOptions(cwd=str(tmp_path))
    assert launcher.plan_new(here).spare_key == launcher.plan_new(here).spare_key
    assert (
        launcher.plan_new(here).spare_key != launcher.plan_new(LaunchOptions(cwd=str(tmp_path), model="o3")).spare_key
    )


def test_a_resume_plan_resumes_the_thread_with_the_settings(tmp_path: Path) -> None:
    plan = _launcher(tmp_path).plan_resume(
        "0199a213-81c0-7800-8aa1-bbab2a035a53", LaunchOptions(cwd=str(tmp_path), model="o3")
    )
    assert plan.argv[1:3] == ("resume", "0199a213-81c0-7800-8aa1-bbab2a035a53")
    assert "o3" in plan.argv


def test_a_review_plan_keeps_the_users_developer_instructions_before_the_focus(tmp_path: Path) -> None:
    launcher = _launcher(tmp_path, 'developer_instructions = "Answer in French."\n')
    plan = launcher.plan_review(ReviewTarget("uncommitted"), LaunchOptions(cwd=str(tmp_path)), "the parser")
    [developer] = [a for a in plan.argv if a.startswith("developer_instructions=")]
    assert developer.index("Answer in French.") < developer.index("the parser")


def test_a_bad_model_name_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="model"):
        _launcher(tmp_path).plan_new(LaunchOptions(cwd=str(tmp_path), model="o3\x00"))


@pytest.mark.parametrize(
    "text", ["plain", " padded ", "a\r\nb", "esc \x1b[31m red", "tab\there", "lone \ud800", "", "\x07", "/quit"]
)
def test_a_prompt_is_clean_exactly_when_sanitising_would_not_change_it(text: str) -> None:
    try:
        clean = sanitize_prompt(text)
    except InvalidInput:
        assert not is_clean(text)
        return
    assert is_clean(text) == (clean == text)
    assert is_clean(clean)
    assert encode_prompt(text) == encode_prompt(clean)  # sanitised once on the way in or here: the same keys
