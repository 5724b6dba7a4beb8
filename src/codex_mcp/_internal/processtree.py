"""Ending a process with everything it started, where there are no process groups to signal (Windows): the tree as
psutil sees it at that moment. On POSIX the callers signal the process group instead, which also reaches a child
whose parent has died (a tree walk cannot)."""

from __future__ import annotations

import contextlib

import psutil


def kill_tree(pid: int) -> int:
    """Kill the process and its descendants (TerminateProcess on Windows, SIGKILL on POSIX); how many were killed.
    The descendants are listed before anything is killed: once a parent is gone its children no longer point to it."""
    try:
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    killed = 0
    for proc in members:
        with contextlib.suppress(psutil.Error):  # gone meanwhile, or not ours to kill
            proc.kill()
            killed += 1
    return killed
