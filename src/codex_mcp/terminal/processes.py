"""Finding processes by what they carry, on every platform psutil supports: processes we started can outlive
the terminal that started them (a daemon that left the process group), and their environment still marks them."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import psutil

log = logging.getLogger(__name__)


def processes_with_env(name: str, value: str) -> Iterator[psutil.Process]:
    """Every process but this one whose environment has name=value (and that we may read)."""
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            if proc.environ().get(name) == value:
                yield proc
        # Gone meanwhile, a zombie (dead already, its environment unreadable), or not ours to read.
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue


def kill_with_env(name: str, value: str) -> int:
    """Kill (SIGKILL on POSIX) every process but this one whose environment has name=value; returns how many."""
    killed = 0
    for proc in processes_with_env(name, value):
        try:
            proc.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied):  # gone meanwhile, or not ours to kill
            continue
        log.debug("killed process %d, marked %s=%s", proc.pid, name, value)
        killed += 1
    return killed
