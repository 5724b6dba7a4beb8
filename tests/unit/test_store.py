"""Persisted conversations: atomic, owner-only, and a bad file costs nothing else."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from codex_mcp.codex.settings import LaunchOptions
from codex_mcp.storage.store import ConversationRecord, Store, TurnRecord
from codex_mcp.turn import TurnStatus

CID = "01a1fbea-b6ba-73a1-8251-f4e5e362b223"
OTHER = "01a1fbea-b6ba-73a1-8251-f4e5e362b224"


def record(cid: str = CID, turns: int = 1) -> ConversationRecord:
    return ConversationRecord(
        id=cid,
        thread_id=cid,
        threads=[cid],
        options=LaunchOptions(cwd="/tmp", sandbox="read-only", config={"a": {"b": [1, "x"]}}),
        created_at=1.0,
        last_activity=2.0,
        turns=[
            TurnRecord(index=i + 1, prompt=f"p{i}", status=TurnStatus.COMPLETED, reply=f"r{i}", submitted_at=1.0)
            for i in range(turns)
        ],
    )


def test_round_trip_owner_only(tmp_path: Path) -> None:
    store = Store(tmp_path / "state")
    store.save(record(turns=3))
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    assert stat.S_IMODE(store.dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path(CID).stat().st_mode) == 0o600
    again = Store(tmp_path / "state")
    assert again.sync().problems == []
    loaded = again.load(CID)
    assert loaded is not None
    assert loaded[0] == record(turns=3)
    assert stat.S_IMODE((tmp_path / "state" / "index.sqlite3").stat().st_mode) == 0o600


def test_overwrite_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save(record(turns=1))
    inode = store.path(CID).stat().st_ino
    store.save(record(turns=2))
    assert store.path(CID).stat().st_ino != inode  # replaced by rename, never rewritten in place
    assert sorted(p.name for p in store.dir.iterdir()) == [f"{CID}.json"]
    summary = store.index.get(CID)
    assert summary is not None
    assert summary.turns == 2


def test_a_crash_mid_write_keeps_the_previous_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path)
    store.save(record(turns=1))

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        store.save(record(turns=5))
    monkeypatch.undo()
    loaded = store.load(CID)
    assert loaded is not None
    assert len(loaded[0].turns) == 1
    summary = store.index.get(CID)
    assert summary is not None
    assert summary.turns == 1, "the index must describe the record on disk, not the write that failed"
    assert sorted(p.name for p in store.dir.iterdir()) == [f"{CID}.json"]


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"id": "x"}', b"\xff\xfe garbage", f'{{"id": "{OTHER}"}}'.encode()],
    ids=["empty", "half-written", "missing-fields", "not-utf8", "wrong-id"],
)
def test_a_bad_file_is_set_aside_and_reported(tmp_path: Path, content: bytes) -> None:
    store = Store(tmp_path)
    store.save(record(OTHER))
    store.path(CID).write_bytes(content)
    problems = store.sync().problems
    assert store.index.get(OTHER) is not None
    assert store.index.get(CID) is None
    assert len(problems) == 1
    assert f"{CID}.json could not be read" in problems[0]
    assert store.path(CID).with_suffix(".corrupt").read_bytes() == content
    assert not store.path(CID).exists()
