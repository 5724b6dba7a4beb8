"""A process in a pseudo-terminal: spawn, non-blocking byte I/O on the event loop, resize, and termination that
escalates to the whole process group (POSIX) or process tree (Windows).

spawn_terminal() picks the backend once, by platform; the backends import base, never this module.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .base import ExitCallback, ExitInfo, OutputCallback, ProcessOutput, PtyTerminal
from .processes import kill_with_env

if sys.platform != "win32":  # the POSIX backend (ptyprocess, process groups) means nothing on Windows
    from .posix import Terminal

__all__ = [
    "ExitCallback",
    "ExitInfo",
    "OutputCallback",
    "ProcessOutput",
    "PtyTerminal",
    "Terminal",
    "kill_with_env",
    "spawn_terminal",
]


async def spawn_terminal(argv: Sequence[str], *, cwd: str, env: dict[str, str], rows: int, cols: int) -> PtyTerminal:
    """Start argv on this platform's terminal backend (chosen once, here): a POSIX PTY, or ConPTY on Windows."""
    if sys.platform == "win32":
        # Imported only here: pywinpty and the reader/writer threads mean nothing elsewhere.
        from .conpty import ConPtyTerminal

        return await ConPtyTerminal.spawn(argv, cwd=cwd, env=env, rows=rows, cols=cols)
    else:
        return await Terminal.spawn(argv, cwd=cwd, env=env, rows=rows, cols=cols)
