"""Finding and killing processes by a marker in their environment, with real child processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from codex_mcp._internal.processtree import kill_tree
from codex_mcp.terminal import kill_with_env

from ..helpers import alive, await_until

pytestmark = pytest.mark.anyio

MARKER = "CODEX_MCP_TEST_MARKER"

SLEEP = "import time; time.sleep(60)"

# Starts a grandchild that inherits the environment, says its pid and exits: the grandchild is left behind,
# no longer our child, as a daemon that escaped a session would be.
ORPHAN = """
import subprocess, sys
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], stdout=subprocess.DEVNULL)
print(grandchild.pid, flush=True)
"""

Spawn = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start Python children with extra environment; every one still running is killed and reaped at teardown."""
    started: list[subprocess.Popen[str]] = []

    def start(code: str, **env: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", code], env={**os.environ, **env}, stdout=subprocess.PIPE, text=True
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.communicate()  # reaps it and closes its pipe


def test_kills_every_marked_process_and_only_those(spawn: Spawn) -> None:
    marker = uuid.uuid4().hex
    marked = [spawn(SLEEP, **{MARKER: marker}) for _ in range(2)]
    other_value = spawn(SLEEP, **{MARKER: uuid.uuid4().hex})
    unmarked = spawn(SLEEP)

    assert kill_with_env(MARKER, marker) == 2

    for proc in marked:
        assert proc.wait(timeout=10) == -signal.SIGKILL  # killed, and reaped here
    assert other_value.poll() is None
    assert unmarked.poll() is None
    assert kill_with_env(MARKER, marker) == 0  # nothing left to kill


async def test_kills_a_marked_process_whose_parent_is_gone(spawn: Spawn) -> None:
    marker = uuid.uuid4().hex
    parent = spawn(ORPHAN, **{MARKER: marker})
    out, _ = parent.communicate(timeout=10)  # the grandchild does not hold the pipe: EOF comes when the parent exits
    grandchild = int(out)
    assert alive(grandchild)

    assert kill_with_env(MARKER, marker) == 1

    assert await await_until(lambda: not alive(grandchild), 10)


# A child in a session of its own (out of reach of its parent's process group), then the parent waits.
TREE = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
print(child.pid, flush=True)
child.wait()
"""


def test_kill_tree_ends_a_process_and_what_it_started() -> None:
    """Windows has no process groups: stopping a review kills the tree (here even a child in another session)."""
    with subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True) as parent:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        try:
            assert kill_tree(parent.pid) == 2
            assert parent.wait(10) != 0
            deadline = time.monotonic() + 10
            while alive(child) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not alive(child), "the child outlived the tree kill"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
    assert kill_tree(parent.pid) == 0, "a process that is gone: nothing to kill, no error"
