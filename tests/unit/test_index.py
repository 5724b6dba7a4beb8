"""The index of stored conversations: listing pages, filters and cursors, start-up sync with the records on
disk (including records written before the index existed), a damaged index, and pruning."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import fields
from pathlib import Path

import pytest

from codex_mcp.codex.settings import LaunchOptions
from codex_mcp.storage.index import SETTING_COLUMNS, BadCursor, Entry, Filters, decode_cursor, encode_cursor, preview
from codex_mcp.storage.store import ConversationRecord, Store, TurnRecord, summary_of
from codex_mcp.turn import TurnStatus


def make(
    n: int, *, cwd: str = "/work/a", prompt: str = "", last: float | None = None, live: bool = False
) -> ConversationRecord:
    cid = str(uuid.UUID(int=n))
    return ConversationRecord(
        id=cid,
        thread_id=cid,
        threads=[cid],
        options=LaunchOptions(cwd=cwd),
        created_at=1000.0 + n,
        last_activity=1000.0 + n if last is None else last,
        end_reason=None if live else "ended by client",
        turns=[
            TurnRecord(
                index=1, prompt=prompt or f"task number {n}", status=TurnStatus.COMPLETED, reply="r", submitted_at=1.0
            )
        ],
    )


def walk(store: Store, filters: Filters, live: set[str], limit: int) -> list[str]:
    """Every id, page by page, through encoded cursors."""
    ids: list[str] = []
    after = None
    while True:
        page, position = store.index.page(filters, live, limit, after)
        ids += [s.id for s in page]
        if position is None:
            return ids
        after = decode_cursor(encode_cursor(position, filters), filters)


def test_pages_are_live_first_then_newest_and_cover_everything_once(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for n in range(1, 54):
        store.save(make(n))
    live = {str(uuid.UUID(int=3)), str(uuid.UUID(int=7))}
    ids = walk(store, Filters(), live, 10)
    assert len(ids) == 53 == len(set(ids))
    assert set(ids[:2]) == live
    rest = ids[2:]
    assert rest == sorted(rest, key=lambda i: -uuid.UUID(i).int), "newest activity first"
    assert store.index.count(Filters(), live) == 53


def test_filters(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save(make(1, cwd="/work/a", prompt="Fix the Login bug"))
    store.save(make(2, cwd="/work/a/sub", prompt="Review"))
    store.save(make(3, cwd="/work/ab", prompt="login page"))
    store.save(make(4, cwd="/", prompt="Straße"))
    live = {str(uuid.UUID(int=2))}

    def ids(f: Filters) -> set[int]:
        return {uuid.UUID(i).int for i in walk(store, f, live, 2)}

    assert ids(Filters(cwd="/work/a")) == {1, 2}, "a folder and below, not a sibling sharing a prefix"
    assert ids(Filters(cwd="/work/a/")) == {1, 2}
    assert ids(Filters(cwd="/")) == {1, 2, 3, 4}
    assert ids(Filters(text="LOGIN")) == {1, 3}
    assert ids(Filters(text="STRASSE")) == {4}, "case-folded"
    assert ids(Filters(text="100%")) == set(), "no wildcard meaning"
    assert ids(Filters(live=True)) == {2}
    assert ids(Filters(live=False)) == {1, 3, 4}
    assert ids(Filters(live=True, text="login")) == set()
    assert store.index.count(Filters(text="login"), live) == 2


def test_cursor_is_bound_to_its_filters_and_forgeries_are_refused() -> None:
    from codex_mcp.storage.index import Position

    cursor = encode_cursor(Position(1, 5.0, "x"), Filters(text="a"))
    assert decode_cursor(cursor, Filters(text="a")) == Position(1, 5.0, "x")
    with pytest.raises(BadCursor, match="other filters"):
        decode_cursor(cursor, Filters(text="b"))
    for junk in ["", "abc", "!!!!", "eyJ4IjoxfQ", cursor[:-3], "W1s1XV0"]:
        with pytest.raises(BadCursor):
            decode_cursor(junk, Filters(text="a"))


def test_a_stale_cursor_still_pages_correctly(tmp_path: Path) -> None:
    """The entry a cursor points after may be gone (pruned) or may have moved (new activity): paging goes on
    from where it was, with no entry listed twice."""
    store = Store(tmp_path)
    for n in range(1, 11):
        store.save(make(n))
    page, position = store.index.page(Filters(), set(), 4, None)
    assert position is not None
    store.path(page[-1].id).unlink()
    store.sync()
    rest, _ = store.index.page(Filters(), set(), 100, position)
    assert [uuid.UUID(s.id).int for s in rest] == [6, 5, 4, 3, 2, 1]


def test_sync_reads_only_changed_records_and_picks_up_old_ones(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for n in range(1, 6):
        store.save(make(n))
    # A record written by an earlier codex-mcp (no index row), and one edited behind the index's back.
    legacy = make(9, prompt="from before the index")
    store.path(legacy.id).write_text(legacy.model_dump_json())
    edited = make(2, prompt="changed")
    time.sleep(0.01)
    store.path(edited.id).write_text(edited.model_dump_json())
    store.path(str(uuid.UUID(int=5))).unlink()
    report = Store(tmp_path).sync()
    assert (report.indexed, report.removed, report.problems) == (2, 1, [])
    assert Store(tmp_path).sync().indexed == 0, "nothing changed: nothing read"
    summary = store.index.get(legacy.id)
    assert summary is not None
    assert summary.first_prompt == "from before the index"
    changed = store.index.get(edited.id)
    assert changed is not None
    assert changed.first_prompt == "changed"


def test_a_record_in_the_oldest_format_still_loads(tmp_path: Path) -> None:
    """Version 1 records as the first codex-mcp wrote them (fields added since are optional)."""
    cid = str(uuid.UUID(int=77))
    old = {
        "version": 1,
        "id": cid,
        "thread_id": cid,
        "threads": [cid],
        "options": {"cwd": "/w"},
        "created_at": 1.0,
        "last_activity": 2.0,
        "turns": [{"index": 1, "prompt": "old", "status": "completed", "reply": "x", "submitted_at": 1.0}],
    }
    store = Store(tmp_path)
    store.path(cid).write_text(json.dumps(old))
    assert store.sync().problems == []
    summary = store.index.get(cid)
    assert summary is not None
    assert (summary.turns, summary.first_prompt, summary.saved_live) == (1, "old", True)


@pytest.mark.parametrize("damage", [b"", b"not a database at all" * 100, b"SQLite format 3\x00" + b"\x00" * 50])
def test_a_damaged_index_is_rebuilt_from_the_records(tmp_path: Path, damage: bytes) -> None:
    store = Store(tmp_path)
    for n in range(1, 4):
        store.save(make(n))
    store.index.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{store.index.path}{suffix}").unlink(missing_ok=True)
    store.index.path.write_bytes(damage)
    again = Store(tmp_path)
    report = again.sync()
    assert report.problems == []
    assert again.index.count(Filters(), set()) == 3


def test_preview_is_one_short_line() -> None:
    assert preview("a\n\n  b\tc") == "a b c"
    long = preview("x" * 500)
    assert len(long) == 120
    assert long.endswith("…")


def test_prune_removes_old_records_only_and_never_a_claimed_one(tmp_path: Path) -> None:
    store = Store(tmp_path)
    now = 100 * 86400.0
    old, claimed, recent = make(1, last=now - 40 * 86400), make(2, last=now - 40 * 86400), make(3, last=now - 86400)
    for r in (old, claimed, recent):
        store.save(r)
    claim = Store(tmp_path).claim(claimed.id)  # another server runs it live
    assert claim is not None
    try:
        dry = store.prune(30 * 86400, dry_run=True, now=now)
        assert [s.id for s in dry.removed] == [old.id]
        assert store.path(old.id).exists(), "a dry run removes nothing"
        report = store.prune(30 * 86400, now=now)
    finally:
        claim.release()
    assert [s.id for s in report.removed] == [old.id]
    assert report.skipped_live == [claimed.id]
    assert report.freed_bytes > 0
    assert not store.path(old.id).exists()
    assert store.index.get(old.id) is None
    assert store.path(claimed.id).exists()
    assert store.path(recent.id).exists()


def test_prune_keeps_a_record_active_since_it_was_indexed(tmp_path: Path) -> None:
    """The index row says old, the record on disk says active a minute ago (another server's index write
    failed, say): the record decides."""
    store = Store(tmp_path)
    now = 100 * 86400.0
    stale = make(1, last=now - 40 * 86400)
    store.save(stale)
    fresh = stale.model_copy(update={"last_activity": now - 60})
    path = store.path(stale.id)
    path.write_text(fresh.model_dump_json())
    st = path.stat()
    store.index.put([Entry(summary_of(stale), "", st.st_mtime_ns, st.st_size)])  # the row no longer says so
    report = store.prune(30 * 86400, now=now)
    assert report.removed == []
    assert report.skipped_recent == [stale.id]
    assert path.exists()


def test_two_servers_share_the_index(tmp_path: Path) -> None:
    """A row one server writes is listed by another that shares the state dir."""
    first, second = Store(tmp_path), Store(tmp_path)
    first.save(make(1))
    second.save(make(2))
    for store in (first, second):
        assert store.index.count(Filters(), set()) == 2
    first.index.close()
    second.index.close()


def test_the_index_keeps_every_setting_but_the_config_overrides() -> None:
    listed = tuple(f.name for f in fields(LaunchOptions) if f.name != "config")
    assert listed == SETTING_COLUMNS, (
        "LaunchOptions and the index's setting columns differ: a new setting needs its column (and a new "
        "_SCHEMA_VERSION) in storage/index.py"
    )


def test_a_listing_shows_the_settings_the_record_was_saved_with(tmp_path: Path) -> None:
    store = Store(tmp_path)
    chosen = LaunchOptions(
        cwd="/work/a",
        model="m1",
        profile="p",
        sandbox="read-only",
        approval_policy="never",
        effort="high",
        config={"big": "x" * 1000},
    )
    store.save(make(1).model_copy(update={"options": chosen}))
    page, _ = store.index.page(Filters(), set(), 10, None)
    assert [s.options for s in page] == [chosen.listed()]
    reopened = Store(tmp_path)
    assert reopened.index.get(str(uuid.UUID(int=1))) == page[0], "the row reads back as it was written"
