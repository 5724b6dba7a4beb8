"""What the benchmark reads about the processes it runs, from Linux's /proc (CPU, memory, children, environment),
and what Codex wrote about each turn into a thread's rollout (start, end, duration)."""

from __future__ import annotations

import contextlib
import os
from datetime import datetime
from pathlib import Path

from codex_mcp.codex.rollout import RolloutTail, find_rollout

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ms(pid: int, *, reaped: bool = True) -> float:
    """CPU time of a process, ms, with (reaped=True) the children it has waited for; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11 : 15 if reaped else 13]) * 1000.0 / CLK_TCK


def memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, Pss) of a process in kB; (0, 0) if it is gone."""
    rss = pss = 0
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    return rss, pss


def children(pid: int) -> list[int]:
    """Direct children of a process."""
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(p) for p in f.read().split()]
    return out


def proc_file(pid: int, name: str) -> bytes:
    """/proc/<pid>/<name>, or b"" if the process is gone."""
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read()
    except OSError:
        return b""


def command_of(pid: int) -> str:
    """The program a process runs (argv[0])."""
    return proc_file(pid, "cmdline").split(b"\0")[0].decode(errors="replace")


def pids_using(root: Path) -> list[int]:
    """Processes whose environment points into root (our HOMEs and CODEX_HOMEs), this process excluded."""
    needle = str(root).encode()
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry}/environ", "rb") as f:
            if any(
                var.split(b"=", 1)[0] in (b"CODEX_HOME", b"HOME") and needle in var for var in f.read().split(b"\0")
            ):
                found.append(int(entry))
    return found


def rollout_turn_times(home: Path, thread_id: str) -> list[tuple[float, float]]:
    """(task_started, task_complete) wall-clock times (epoch s, ms resolution) of every turn in a rollout."""
    path = find_rollout(home, thread_id)
    if path is None:
        return []
    out: list[tuple[float, float]] = []
    started: float | None = None
    for rec in RolloutTail(path).read_new():
        payload = rec.get("payload")
        stamp = rec.get("timestamp")
        if rec.get("type") != "event_msg" or not isinstance(payload, dict) or not isinstance(stamp, str):
            continue
        at = datetime.fromisoformat(stamp).timestamp()
        if payload.get("type") == "task_started":
            started = at
        elif payload.get("type") == "task_complete" and started is not None:
            out.append((started, at))
            started = None
    return out


def rollout_durations(home: Path, thread_id: str) -> list[float]:
    """duration_ms of every task_complete in a thread's rollout, in order."""
    path = find_rollout(home, thread_id)
    if path is None:
        return []
    out: list[float] = []
    for rec in RolloutTail(path).read_new():
        payload = rec.get("payload")
        if rec.get("type") == "event_msg" and isinstance(payload, dict) and payload.get("type") == "task_complete":
            duration = payload.get("duration_ms")
            if isinstance(duration, int | float):
                out.append(float(duration))
    return out
