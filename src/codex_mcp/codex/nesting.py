"""Whether this process runs inside a Codex session that codex-mcp started, and how deep.

Every Codex that codex-mcp launches carries SESSION_MARKER and DEPTH_ENV in its environment. Codex starts its MCP
servers with a reduced environment (HOME, PATH and a few more, plus the entry's own ``env``), so a codex-mcp
that Codex starts does not inherit them: it finds them on its ancestors instead (Codex is its parent). A program
run by Codex's shell tool inherits them directly."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import psutil

SESSION_MARKER = "CODEX_MCP_SESSION"
"""A random id per Codex session codex-mcp launches; every process of that session inherits it."""
DEPTH_ENV = "CODEX_MCP_DEPTH"
"""The nesting depth of a codex-mcp started inside that session: 1 under a server that is not nested itself."""
LEARNED_ENV = "CODEX_MCP_LEARNED_ENTRIES"
"""Where the outer server keeps the entries of Codex's config found to start codex-mcp although nothing in their
command line says so (npx of a wrapper, a renamed binary): a nested server that refuses notes its own there, and
the outer server turns it off in the sessions it starts from then on."""


def depth_in(env: Mapping[str, str]) -> int | None:
    """The depth an environment says, or None if it is not one of a session codex-mcp launched."""
    value = env.get(DEPTH_ENV, "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    if env.get(SESSION_MARKER):
        return 1  # launched by a codex-mcp from before DEPTH_ENV
    return None


def nesting_depth(own: Mapping[str, str], ancestors: Iterable[Mapping[str, str]]) -> int:
    """0 for a codex-mcp no codex-mcp session contains; else the depth the nearest such session gives."""
    for env in (own, *ancestors):
        depth = depth_in(env)
        if depth is not None:
            return depth
    return 0


def ancestor_environments() -> Iterator[Mapping[str, str]]:
    """The environments of this process's parent, its parent's parent, ... (those that can be read)."""
    with contextlib.suppress(psutil.Error):
        for parent in psutil.Process().parents():
            with contextlib.suppress(psutil.Error):
                yield parent.environ()


def current_depth() -> int:
    """How deep in codex-mcp sessions this process runs (0: not inside one)."""
    return nesting_depth(os.environ, ancestor_environments())


def nested_state_dir(state_dir: Path, depth: int) -> Path:
    """A nested server's own state dir (nesting allowed on purpose): the outer server's conversations are not its."""
    return state_dir if depth == 0 else state_dir / f"nested-{depth}"
