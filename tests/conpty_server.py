"""codex-mcp with its Codex sessions on the Windows terminal backend (terminal/conpty.py), on this machine.

Run as ``python -m tests.conpty_server ARGS`` (the arguments of ``codex-mcp``). Everything is the real server
except the two calls into Windows that conpty.py makes through its seams:

- pywinpty's ``PtyProcess`` is ptyprocess's ``PtyProcessUnicode``, whose interface pywinpty's copies (pywinpty's
  README: "a Python interface similar to ptyprocess"): ``spawn(argv, cwd=, env=, dimensions=)``, ``read(size)``
  returning text and raising EOFError at the end, ``write(text)``, ``setwinsize``, ``isalive``, ``exitstatus``,
  ``terminate(force)``, ``close(force)``;
- ``taskkill /T`` is a tree kill through psutil when forced, and nothing when not: without /F, taskkill only asks
  a program's windows to close, and Codex on a ConPTY has none.

So the backend's reader and writer threads, its text-to-bytes boundary, its exit report and its escalation run
under the real server with the real Codex; what ConPTY itself does is not here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ptyprocess import PtyProcessUnicode

from codex_mcp._internal.processtree import kill_tree
from codex_mcp.cli.main import main
from codex_mcp.session import session as session_module
from codex_mcp.terminal.base import PtyTerminal
from codex_mcp.terminal.conpty import ConPtyTerminal, WinPtyProcess

SPAWNS = "CODEX_MCP_TEST_CONPTY_SPAWNS"
"""A file this server adds each ConPTY-backend process's pid to."""


def pywinpty_like(argv: list[str], cwd: str, env: dict[str, str], dimensions: tuple[int, int]) -> WinPtyProcess:
    proc: WinPtyProcess = PtyProcessUnicode.spawn(argv, cwd=cwd, env=env, dimensions=dimensions)
    return proc


def taskkill_like(pid: int, force: bool) -> None:
    if force:
        kill_tree(pid)


async def spawn_on_conpty_backend(
    argv: Sequence[str], *, cwd: str, env: dict[str, str], rows: int, cols: int
) -> PtyTerminal:
    terminal = await ConPtyTerminal.spawn(
        argv, cwd=cwd, env=env, rows=rows, cols=cols, spawner=pywinpty_like, kill_tree=taskkill_like
    )
    with open(os.environ[SPAWNS], "a", encoding="utf-8") as spawns:  # so the tests know which backend ran
        print(terminal.pid, file=spawns)
    return terminal


if __name__ == "__main__":
    setattr(session_module, "spawn_terminal", spawn_on_conpty_backend)  # noqa: B010 - the name it calls
    main()
