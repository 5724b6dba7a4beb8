"""Shared fixtures: an isolated HOME/CODEX_HOME/state dir per test, the fake model, the pinned real Codex,
and an MCP client talking to our server over stdio."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import pytest
from mcp import Client
from mcp.client.client import ConnectMode
from mcp.client.session import ElicitationFnT
from mcp.client.stdio import StdioServerParameters, stdio_client

from codex_mcp.cli.fakemodel import FakeModel, codex_config_toml
from codex_mcp.codex.versions import RECOMMENDED_VERSION

from .helpers import processes_with_env

REPO = Path(__file__).resolve().parent.parent
PINNED_CODEX = REPO / ".codex-cli" / "node_modules" / "@openai"
FAKE_KEY = "CODEX_MCP_FAKE_KEY"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _find_pinned_codex() -> Path:
    explicit = os.environ.get("CODEX_MCP_TEST_CODEX_BIN")
    if explicit:
        return Path(explicit).absolute()  # tests start Codex from other folders
    # The native binary of this platform's package (codex-linux-x64, codex-darwin-arm64, codex-win32-x64, ...).
    for pattern in ("codex-*/vendor/*/bin/codex", "codex-*/vendor/*/bin/codex.exe"):
        for candidate in PINNED_CODEX.glob(pattern):
            return candidate
    raise RuntimeError(
        f"The pinned Codex CLI is not installed. Run `bash scripts/setup.sh` (installs @openai/codex@"
        f"{RECOMMENDED_VERSION} into .codex-cli/) or set CODEX_MCP_TEST_CODEX_BIN. The real-Codex tests never skip."
    )


@pytest.fixture(scope="session")
def codex_bin() -> Path:
    """The real, pinned Codex binary (the native one: it saves a Node process per session)."""
    path = _find_pinned_codex()
    assert path.is_file(), f"{path} is not a Codex binary"
    assert os.access(path, os.X_OK), f"{path} is not executable"
    return path


@pytest.fixture(scope="session")
def fake_model() -> Iterator[FakeModel]:
    """One fake Responses API server for the whole run (tests tell requests apart by their prompts)."""
    with FakeModel() as fake:
        yield fake


@dataclass
class Sandbox:
    """An isolated world for one test."""

    home: Path
    codex_home: Path
    state_dir: Path
    work: Path
    env: dict[str, str]


@pytest.fixture
def sandbox(tmp_path: Path, fake_model: FakeModel) -> Iterator[Sandbox]:
    """HOME, CODEX_HOME (pointing Codex at the fake model), a state dir and a work folder, all under
    tmp_path; asserts at teardown that no process of this test is left running."""
    home = tmp_path / "home"
    codex_home = tmp_path / "codex-home"
    state = tmp_path / "state"
    work = tmp_path / "work"
    for d in (home, codex_home, state, work):
        d.mkdir()
    state.chmod(0o700)  # as the server makes it; `codex-mcp doctor` flags anything wider
    (codex_home / "config.toml").write_text(codex_config_toml(fake_model.base_url, FAKE_KEY))
    env = {
        "HOME": str(home),
        "CODEX_HOME": str(codex_home),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "CODEX_MCP_STATE_DIR": str(state),
        FAKE_KEY: "test-key",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        # No warm spare (a second Codex started after each codex_start) unless a test asks for one: it would
        # double the Codex processes of a CI run on 2 cores and change the process counts other tests assert.
        # tests/issues/test_14_speed.py runs with the default.
        "CODEX_MCP_SPARE_KEEP_S": "0",
    }
    yield Sandbox(home, codex_home, state, work, env)
    leftovers = processes_with_env("CODEX_HOME", str(codex_home))
    assert not leftovers, f"processes left running after the test: {leftovers}"


@asynccontextmanager
async def mcp_server(
    sandbox: Sandbox,
    codex_bin: Path | str,
    *extra_args: str,
    env: dict[str, str] | None = None,
    elicitation_callback: ElicitationFnT | None = None,
    mode: ConnectMode = "auto",
    errlog: TextIO | None = None,
    module: str = "codex_mcp",
    **client_options: Any,
) -> AsyncIterator[Client]:
    """Our server as a subprocess, reached through the official MCP client over stdio. module: what runs it
    (tests.conpty_server: the same server on the Windows terminal backend)."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", module, "--codex-bin", str(codex_bin), "-v", *extra_args],
        env={**sandbox.env, **({"PYTHONPATH": str(REPO)} if module.startswith("tests.") else {}), **(env or {})},
        cwd=str(sandbox.work),
    )
    # errlog: the server's stderr (its log) to a file; otherwise it goes to the test's stderr.
    server = params if errlog is None else stdio_client(params, errlog=errlog)
    async with Client(
        server, read_timeout_seconds=120, elicitation_callback=elicitation_callback, mode=mode, **client_options
    ) as client:
        yield client


def codex_exec(sandbox: Sandbox, codex_bin: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One `codex exec` run in the sandbox (JSON events on stdout)."""
    return subprocess.run(
        [str(codex_bin), *args],
        env={**os.environ, **sandbox.env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
