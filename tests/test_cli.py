"""The command line a newcomer meets: `codex-mcp demo --fake-model` and `codex-mcp doctor`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from codex_mcp.codex.versions import RECOMMENDED_VERSION, SUPPORTED_VERSIONS, version_support

from .conftest import Sandbox

pytestmark = [pytest.mark.codex]


def run(sandbox: Sandbox, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codex_mcp", *args],
        env={**sandbox.env, **(env or {})},
        cwd=sandbox.work,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_demo_on_the_built_in_fake_model(sandbox: Sandbox, codex_bin: Path) -> None:
    done = run(sandbox, "demo", "--fake-model", "--codex-bin", str(codex_bin))
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "conversationId: " in out
    assert "context kept across turns: yes" in out
    assert "ended: True (Codex exit code 0)" in out
    assert out.rstrip().endswith("Demo passed.")
    # The demo used its own fake CODEX_HOME and state: the user's are untouched.
    assert not list(sandbox.codex_home.glob("sessions/**/*.jsonl"))
    assert not list(Path(sandbox.env["CODEX_MCP_STATE_DIR"]).glob("conversations/*.json"))


def test_demo_reports_a_missing_codex(sandbox: Sandbox, tmp_path: Path) -> None:
    done = run(sandbox, "demo", "--fake-model", "--codex-bin", str(tmp_path / "nope"))
    assert done.returncode == 1
    assert "npm install -g @openai/codex" in done.stderr


def test_doctor_healthy_with_end_to_end(sandbox: Sandbox, codex_bin: Path) -> None:
    done = run(sandbox, "doctor", "--e2e", "--codex-bin", str(codex_bin))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    # OK in the supported window; a release being tried for the window (docs/compatibility.md) is a WARN.
    [line] = [line for line in lines if " codex: Codex " in line]
    version = line.split()[3]
    if version_support(version) == "supported":
        assert line.startswith(f"OK    codex: Codex {version} at ")
        assert line.endswith(f"(supported: {SUPPORTED_VERSIONS[0]} to {SUPPORTED_VERSIONS[-1]})")
    else:
        assert line.startswith(f"WARN  codex: Codex {version} at ")
    assert any(line.startswith("OK    auth: model provider 'mock'") for line in lines)
    assert any(line.startswith("OK    end-to-end") for line in lines)
    assert lines[-1] == "healthy"


def test_doctor_catches_a_missing_codex(sandbox: Sandbox, tmp_path: Path) -> None:
    done = run(sandbox, "doctor", "--codex-bin", str(tmp_path / "no-codex"))
    assert done.returncode == 1
    [line] = [line for line in done.stdout.splitlines() if line.startswith("FAIL  codex:")]
    assert f"npm install -g @openai/codex@{RECOMMENDED_VERSION}" in line


@pytest.mark.parametrize("problem", ["a file", "open to others", "under a file"])
def test_doctor_catches_a_bad_state_dir(sandbox: Sandbox, codex_bin: Path, tmp_path: Path, problem: str) -> None:
    state = tmp_path / "bad-state"
    if problem == "a file":
        state.write_text("not a directory")
    elif problem == "open to others":
        state.mkdir()
        os.chmod(state, 0o755)
    else:
        state.write_text("a file where a folder should be")
        state = state / "state"
    done = run(sandbox, "doctor", "--codex-bin", str(codex_bin), "--state-dir", str(state))
    assert done.returncode == 1
    [line] = [line for line in done.stdout.splitlines() if line.startswith("FAIL  state dir:")]
    expected = {
        "a file": "is not a directory",
        "open to others": "chmod 700",
        "under a file": "is a file, not a folder",
    }
    assert expected[problem] in line


def test_doctor_catches_missing_auth(sandbox: Sandbox, codex_bin: Path) -> None:
    env = {k: v for k, v in sandbox.env.items() if k != "CODEX_MCP_FAKE_KEY"}
    done = subprocess.run(
        [sys.executable, "-m", "codex_mcp", "doctor", "--codex-bin", str(codex_bin)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1
    assert any(
        "FAIL  auth: model provider 'mock' needs $CODEX_MCP_FAKE_KEY" in line for line in done.stdout.splitlines()
    )
