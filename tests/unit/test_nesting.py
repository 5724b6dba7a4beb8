"""How a codex-mcp knows it runs inside a Codex session that codex-mcp started (issue 10): from its own environment,
or, since Codex gives its MCP servers a reduced environment, from an ancestor's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codex_mcp.codex.nesting import DEPTH_ENV, SESSION_MARKER, depth_in, nested_state_dir, nesting_depth


def test_depth_from_environments() -> None:
    assert depth_in({}) is None
    assert depth_in({SESSION_MARKER: "abc"}) == 1  # a session of a codex-mcp from before the depth variable
    assert depth_in({SESSION_MARKER: "abc", DEPTH_ENV: "2"}) == 2
    assert depth_in({DEPTH_ENV: "0"}) is None
    assert depth_in({DEPTH_ENV: "nonsense"}) is None
    assert nesting_depth({}, []) == 0
    assert nesting_depth({}, [{}, {DEPTH_ENV: "1"}, {DEPTH_ENV: "3"}]) == 1  # the nearest one counts
    assert nesting_depth({DEPTH_ENV: "2"}, [{DEPTH_ENV: "1"}]) == 2


def test_a_nested_server_keeps_a_state_dir_of_its_own(tmp_path: Path) -> None:
    assert nested_state_dir(tmp_path, 0) == tmp_path
    assert nested_state_dir(tmp_path, 1) == tmp_path / "nested-1"


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell stands in for Codex")
def test_an_ancestors_marker_is_found_when_the_environment_was_cut() -> None:
    """As Codex starts an MCP server: the parent (the shell, standing in for Codex) carries the marker, the child's
    environment does not."""
    probe = "import json; from codex_mcp.codex import nesting; print(json.dumps(nesting.current_depth()))"
    env = {k: v for k, v in os.environ.items() if k not in (SESSION_MARKER, DEPTH_ENV)}
    child = f"env -u {SESSION_MARKER} -u {DEPTH_ENV} {sys.executable} -c '{probe}'; exit $?"
    marked = {**env, SESSION_MARKER: "0123abcd", DEPTH_ENV: "1"}
    out = subprocess.run(["/bin/sh", "-c", child], env=marked, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == 1
    out = subprocess.run(["/bin/sh", "-c", child], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == 0
