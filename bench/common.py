"""What the benchmark scripts share: the pinned Codex, and finding a run's processes by their environment."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def pinned_codex() -> str:
    """The native Codex binary scripts/setup.sh installed, else `codex` on PATH."""
    for candidate in (REPO / ".codex-cli/node_modules/@openai").glob("codex-linux-*/vendor/*/bin/codex"):
        return str(candidate)
    return "codex"


def procs_with(var: str, value: str) -> list[tuple[int, str]]:
    """(pid, cmdline) of every live process (zombies left out) whose environment has var=value."""
    needle = f"{var}={value}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[-1].split()[0] == b"Z":
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        found.append((int(entry), cmd))
    return found


def codex_pids(home: Path) -> list[int]:
    """Codex processes (not our server) of the run using this CODEX_HOME."""
    return [pid for pid, cmd in procs_with("CODEX_HOME", str(home)) if "codex_mcp" not in cmd]
