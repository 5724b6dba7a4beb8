"""`codex-mcp doctor`'s Codex check against the supported window, with stand-in binaries that only report a
version (tests/test_cli.py runs doctor on the real Codex), and its checks of codex-mcp's registrations in Codex's
own config."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from codex_mcp.cli.doctor import (
    Check,
    check_codex,
    check_codex_client,
    check_conpty,
    check_control_channel,
    check_windows_sandbox,
)
from codex_mcp.codex import nesting
from codex_mcp.codex.versions import RECOMMENDED_VERSION, SUPPORTED_VERSIONS
from codex_mcp.config import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(sys.platform == "win32", reason="a POSIX script stands in")]


def stand_in(tmp_path: Path, says: str) -> str:
    """An executable that answers `--version` with says."""
    path = tmp_path / "codex"
    path.write_text(f"#!/bin/sh\necho {says!r}\n")
    path.chmod(0o755)
    return str(path)


async def test_a_supported_codex_is_ok(tmp_path: Path) -> None:
    [check] = await check_codex(Settings(codex_bin=stand_in(tmp_path, f"codex-cli {SUPPORTED_VERSIONS[0]}")))
    assert check.level == "ok"
    assert f"supported: {SUPPORTED_VERSIONS[0]} to {SUPPORTED_VERSIONS[-1]}" in check.message


async def test_a_newer_codex_is_a_warning_that_names_the_tested_one(tmp_path: Path) -> None:
    [check] = await check_codex(Settings(codex_bin=stand_in(tmp_path, "codex-cli 9.0.0")))
    assert check.level == "warn"
    assert "newer than the versions codex-mcp is tested with" in check.message
    assert f"npm install -g @openai/codex@{RECOMMENDED_VERSION}" in check.message


async def test_an_older_codex_fails_with_the_upgrade(tmp_path: Path) -> None:
    [check] = await check_codex(Settings(codex_bin=stand_in(tmp_path, "codex-cli 0.99.0")))
    assert check.level == "fail"
    assert "older than the supported versions" in check.message
    assert f"npm install -g @openai/codex@{RECOMMENDED_VERSION}" in check.message


async def test_no_version_fails(tmp_path: Path) -> None:
    [check] = await check_codex(Settings(codex_bin=stand_in(tmp_path, "hello")))
    assert check.level == "fail"
    assert "did not report a version" in check.message


# --- registrations of codex-mcp in Codex's own config (issue 10) -------------------------------------------------


def client_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str) -> list[Check]:
    """check_codex_client on a CODEX_HOME whose config.toml is config, outside any codex-mcp session."""
    home = tmp_path / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(config)
    monkeypatch.setenv("CODEX_HOME", str(home))
    monkeypatch.delenv(nesting.SESSION_MARKER, raising=False)
    monkeypatch.delenv(nesting.DEPTH_ENV, raising=False)
    monkeypatch.setattr(nesting, "ancestor_environments", lambda: iter(()))
    return check_codex_client(Settings(), cwd=str(tmp_path))


def test_the_readme_registration_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"```toml\n(.*?)```", readme[readme.index("## Use it from Codex's own MCP client") :], re.S)
    assert block is not None
    checks = client_checks(tmp_path, monkeypatch, block.group(1))
    assert [c.level for c in checks] == ["ok", "ok", "ok"], checks
    assert "never start codex-mcp again" in checks[-1].message


def test_a_bare_registration_gets_what_it_lacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = (
        '[mcp_servers.cm]\ncommand = "uvx"\nargs = ["codex-mcp", "--timeout", "100"]\ntool_timeout_sec = 90\n'
        '[mcp_servers.other]\ncommand = "uvx"\nargs = ["mcp-server-git"]\n'
    )
    warnings = [c.message for c in client_checks(tmp_path, monkeypatch, config) if c.level == "warn"]
    assert len(warnings) == 4, warnings
    assert "requires approval" in warnings[0]
    assert "required = true" in warnings[1]
    assert "tool_timeout_sec 90" in warnings[2]
    assert "own timeout (100 s)" in warnings[2]
    assert 'env_vars = ["CODEX_HOME"]' in warnings[3]


def test_no_registration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    [check] = client_checks(tmp_path, monkeypatch, 'model = "m"\n')
    assert check.level == "ok"
    assert "does not register codex-mcp" in check.message


def test_doctor_inside_a_codex_mcp_session_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "codex-home"
    home.mkdir()
    monkeypatch.setenv("CODEX_HOME", str(home))
    monkeypatch.setenv(nesting.DEPTH_ENV, "1")
    checks = check_codex_client(Settings(), cwd=str(tmp_path))
    assert checks[0].name == "nesting"
    assert checks[0].level == "warn"
    assert "refuses to start Codex" in checks[0].message
    allowed = check_codex_client(Settings(max_nesting=1), cwd=str(tmp_path))
    assert allowed[0].level == "ok"


def test_doctor_on_windows_says_which_build_has_conpty_and_how_to_fix_pywinpty() -> None:
    old = check_conpty(17134, None)  # Windows 10 1803: no CreatePseudoConsole yet
    assert old[0].level == "fail"
    assert "1809" in old[0].message
    assert "17763" in old[0].message
    broken = check_conpty(22631, "No module named 'winpty'")
    assert broken[0].level == "fail"
    assert "pip install pywinpty" in broken[0].message
    ok = check_conpty(22631, None)
    assert ok[0].level == "ok"
    assert "22631" in ok[0].message


async def test_the_control_channel_check_listens_and_connects_in_the_state_dir(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    missing = await check_control_channel(Settings(state_dir=state_dir))
    assert [(c.level, c.message) for c in missing] == [
        ("ok", "works (a Unix socket, owner-only); servers on this state dir: 0")
    ]
    assert not state_dir.exists()  # a state dir that is not there yet is not made by doctor
    state_dir.mkdir()
    assert (await check_control_channel(Settings(state_dir=state_dir)))[0].level == "ok"
    assert list((state_dir / "control").iterdir()) == []  # its endpoint is gone again


async def test_a_control_folder_it_cannot_make_is_a_failure_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "control").write_text("a file where the folder should be")
    [check] = await check_control_channel(Settings(state_dir=tmp_path))
    assert check.level == "fail"
    assert "permissions" in check.message


def test_doctor_on_windows_says_when_codex_would_run_read_only() -> None:
    [none] = check_windows_sandbox({"model": "gpt-5"})
    assert none.level == "warn"
    assert '[windows] sandbox = "unelevated"' in none.message
    assert check_windows_sandbox({"windows": {"sandbox": "bogus"}})[0].level == "warn"
    [chosen] = check_windows_sandbox({"windows": {"sandbox": "unelevated"}})
    assert (chosen.level, chosen.message) == ("ok", "Codex's Windows sandbox: unelevated")
    assert check_windows_sandbox({"features": {"experimental_windows_sandbox": True}})[0].level == "ok"
