"""filewatch: told when a file is written (inotify on Linux), its descriptor given back on close."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from codex_mcp._internal.filewatch import watch_file

from ..helpers import fd_count

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's; elsewhere callers poll"),
]


async def test_a_write_calls_back_and_close_gives_the_descriptor_back(tmp_path: Path) -> None:
    path = tmp_path / "rollout.jsonl"
    path.write_bytes(b"")
    before = fd_count(os.getpid())
    written = asyncio.Event()
    watch = watch_file(path, written.set)
    assert watch is not None
    with path.open("ab") as f:
        f.write(b'{"n": 1}\n')
    await asyncio.wait_for(written.wait(), 2)
    written.clear()
    await asyncio.sleep(0.05)
    assert not written.is_set(), "called back with nothing written"
    watch.close()
    watch.close()  # idempotent
    assert fd_count(os.getpid()) == before
    with path.open("ab") as f:
        f.write(b'{"n": 2}\n')
    await asyncio.sleep(0.05)
    assert not written.is_set(), "called back after close"


async def test_a_missing_file_cannot_be_watched(tmp_path: Path) -> None:
    before = fd_count(os.getpid())
    assert watch_file(tmp_path / "nope.jsonl", lambda: None) is None
    assert fd_count(os.getpid()) == before
