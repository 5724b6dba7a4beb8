"""Codex's rollout files: incremental reading, turn boundaries, finding a thread's file, CODEX_HOME."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from codex_mcp.codex.rollout import (
    JsonObject,
    RolloutTail,
    TurnEvent,
    codex_home,
    find_rollout,
    thread_named,
    turn_event,
)

from ..helpers import fd_count

THREAD = "01a1fbea-b6ba-73a1-8251-f4e5e362b223"
OTHER = "0199a0b1-0000-7000-8000-000000000001"


def line(record: JsonObject) -> bytes:
    """One rollout line."""
    return json.dumps(record).encode() + b"\n"


def append(path: Path, data: bytes) -> None:
    """Append bytes the way Codex does (no truncation, possibly part of a line)."""
    with path.open("ab") as f:
        f.write(data)


def event(payload: JsonObject) -> JsonObject:
    """An event_msg record."""
    return {"timestamp": "2026-01-01T00:00:00.000Z", "type": "event_msg", "payload": payload}


# --- RolloutTail ----------------------------------------------------------------------------------


def test_tail_returns_each_complete_line_once(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    append(path, line({"n": 1}) + line({"n": 2}))
    tail = RolloutTail(path)
    assert tail.read_new() == [{"n": 1}, {"n": 2}]
    assert tail.read_new() == []
    append(path, line({"n": 3}))
    assert tail.read_new() == [{"n": 3}]


def test_tail_holds_a_half_written_line_until_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    whole = line(event({"type": "task_complete", "turn_id": "t1", "last_agent_message": "héllo 😀"}))
    append(path, line({"n": 1}) + whole[:10])
    tail = RolloutTail(path)
    assert tail.read_new() == [{"n": 1}]
    # The rest arrives a byte at a time, splitting even the multi-byte characters.
    for i in range(10, len(whole) - 1):
        append(path, whole[i : i + 1])
        assert tail.read_new() == []
    append(path, whole[-1:])
    assert tail.read_new() == [json.loads(whole)]


def test_tail_skips_blank_invalid_and_non_object_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    append(path, b'\n   \n{not json\n[1, 2]\n"text"\n' + line({"ok": True}) + b'{"truncated": \n')
    assert RolloutTail(path).read_new() == [{"ok": True}]


def test_tail_skips_a_line_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    append(path, b'{"a": "\xff"}\n' + line({"ok": True}))
    assert RolloutTail(path).read_new() == [{"ok": True}]


def test_tail_starts_at_an_offset(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    append(path, line({"old": 1}) + line({"old": 2}))
    tail = RolloutTail(path, path.stat().st_size)
    assert tail.read_new() == []
    append(path, line({"new": 1}))
    assert tail.read_new() == [{"new": 1}]
    assert tail.size() == path.stat().st_size


def test_tail_of_a_file_not_written_yet(tmp_path: Path) -> None:
    path = tmp_path / "later.jsonl"
    tail = RolloutTail(path)
    assert tail.read_new() == []
    append(path, line({"n": 1}))
    assert tail.read_new() == [{"n": 1}]


# --- turn events ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (event({"type": "task_started", "turn_id": "t1"}), TurnEvent("started", "t1")),
        (
            event({"type": "task_complete", "turn_id": "t1", "last_agent_message": "the reply"}),
            TurnEvent("complete", "t1", reply="the reply"),
        ),
        (
            event({"type": "task_complete", "turn_id": "t2", "last_agent_message": None}),
            TurnEvent("complete", "t2"),
        ),
        (
            event(
                {
                    "type": "task_complete",
                    "turn_id": "t3",
                    "last_agent_message": None,
                    "error": {"message": "stream disconnected before completion", "code": "x"},
                }
            ),
            TurnEvent("complete", "t3", error="stream disconnected before completion"),
        ),
        (
            event({"type": "task_complete", "turn_id": "t4", "error": "quota exceeded"}),
            TurnEvent("complete", "t4", error="quota exceeded"),
        ),
        (
            event({"type": "turn_aborted", "turn_id": "t5", "reason": "interrupted"}),
            TurnEvent("aborted", "t5", reason="interrupted"),
        ),
        (event({"type": "task_started"}), TurnEvent("started", None)),
    ],
    ids=["started", "complete", "complete-no-reply", "error-object", "error-string", "aborted", "no-turn-id"],
)
def test_turn_boundaries(record: JsonObject, expected: TurnEvent) -> None:
    assert turn_event(record) == expected


def test_error_object_without_a_message_still_says_something() -> None:
    found = turn_event(event({"type": "task_complete", "turn_id": "t", "error": {"code": "boom"}}))
    assert found is not None
    assert found.kind == "complete"
    assert found.error is not None
    assert "boom" in found.error


@pytest.mark.parametrize(
    "record",
    [
        {"type": "session_meta", "payload": {"id": THREAD}},
        {"type": "response_item", "payload": {"type": "message", "role": "assistant"}},
        event({"type": "agent_message", "message": "hi"}),
        event({"type": "token_count"}),
        {"type": "event_msg", "payload": "task_complete"},
        {"type": "event_msg"},
        {"payload": {"type": "task_complete"}},
    ],
)
def test_other_lines_are_not_turn_boundaries(record: JsonObject) -> None:
    assert turn_event(record) is None


# --- finding the file -------------------------------------------------------------------------------


def rollout_at(home: Path, day: str, thread_id: str, stamp: str = "T10-00-00") -> Path:
    """Create sessions/<day>/rollout-<day with dashes><stamp>-<thread>.jsonl."""
    folder = home / "sessions" / day
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rollout-{day.replace('/', '-')}{stamp}-{thread_id}.jsonl"
    path.write_text("{}\n")
    return path


def test_find_rollout_finds_the_thread_file(tmp_path: Path) -> None:
    mine = rollout_at(tmp_path, "2025/12/31", THREAD)
    rollout_at(tmp_path, "2026/01/02", OTHER)
    rollout_at(tmp_path, "2024/03/09", OTHER)
    (tmp_path / "sessions" / "stray-file.txt").write_text("not a folder")
    assert find_rollout(tmp_path, THREAD) == mine
    assert find_rollout(tmp_path, OTHER) is not None


def test_find_rollout_for_an_unknown_thread_is_none(tmp_path: Path) -> None:
    rollout_at(tmp_path, "2026/01/01", OTHER)
    assert find_rollout(tmp_path, THREAD) is None
    assert find_rollout(tmp_path, THREAD, recent_only=True) is None


def test_find_rollout_without_a_sessions_folder_is_none(tmp_path: Path) -> None:
    assert find_rollout(tmp_path, THREAD) is None
    assert find_rollout(tmp_path / "missing-home", THREAD) is None
    assert find_rollout(tmp_path, THREAD, recent_only=True) is None


def test_find_rollout_recent_only_looks_at_the_days_around_now(tmp_path: Path) -> None:
    today = rollout_at(tmp_path, time.strftime("%Y/%m/%d"), THREAD)
    rollout_at(tmp_path, "2001/01/01", OTHER)
    assert find_rollout(tmp_path, THREAD, recent_only=True) == today
    assert find_rollout(tmp_path, OTHER, recent_only=True) is None  # an old thread: only the full search
    assert find_rollout(tmp_path, OTHER) is not None


# --- CODEX_HOME --------------------------------------------------------------------------------------


def test_codex_home_honours_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert codex_home({"CODEX_HOME": "/srv/codex"}) == Path("/srv/codex")
    assert codex_home({"CODEX_HOME": "~/alt"}) == tmp_path / "alt"
    assert codex_home({}) == tmp_path / ".codex"
    assert codex_home({"CODEX_HOME": ""}) == tmp_path / ".codex"
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "from-env"))
    assert codex_home() == tmp_path / "from-env"


def test_a_tail_kept_open_reads_the_same_and_lets_the_file_go(tmp_path: Path) -> None:
    """keep_open: the live session's tail reads what is appended without a stat or an open each time."""
    path = tmp_path / "r.jsonl"
    append(path, line({"n": 1}) + line({"n": 2})[:5])
    tail = RolloutTail(path)
    tail.keep_open()
    assert tail.read_new() == [{"n": 1}]
    append(path, line({"n": 2})[5:] + line({"n": 3}))
    assert tail.read_new() == [{"n": 2}, {"n": 3}]
    assert tail.read_new() == []
    before = fd_count(os.getpid())
    tail.close()
    assert fd_count(os.getpid()) == before - 1


def test_a_tail_for_some_record_types_skips_the_others_unparsed(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    meta: JsonObject = {"timestamp": "2026-01-01T00:00:00.000Z", "type": "session_meta", "payload": {"x": 1}}
    done = event({"type": "task_complete", "turn_id": "t1", "last_agent_message": "ok"})
    odd: JsonObject = {"payload": {"type": "task_started"}, "type": "event_msg"}  # not Codex's layout: parsed
    compact = [json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in (meta, done)]  # as Codex writes
    append(path, b"".join(compact) + line(odd))
    assert RolloutTail(path, only=("event_msg",)).read_new() == [done, odd]
    assert RolloutTail(path).read_new() == [meta, done, odd]


@pytest.mark.parametrize("version", ["0.169.0", "0.171.0"])
def test_a_tail_for_some_record_types_on_real_rollouts(version: str) -> None:
    """Codex's own layout ({"timestamp":…,"ordinal":…,"type":…}): the filter keeps exactly the asked types."""
    path = Path(__file__).resolve().parent.parent / "fixtures" / "codex" / version / "rollout.jsonl"
    wanted = ("event_msg", "response_item")
    every = RolloutTail(path).read_new()
    assert RolloutTail(path, only=wanted).read_new() == [r for r in every if r.get("type") in wanted]
    assert any(r.get("type") not in wanted for r in every), "the fixture has nothing to skip"


def test_a_thread_is_named_when_codexs_session_index_names_it(tmp_path: Path) -> None:
    cid, other = "019a0000-0000-7000-8000-000000000001", "019a0000-0000-7000-8000-000000000002"
    assert not thread_named(tmp_path, cid)  # no index yet
    (tmp_path / "session_index.jsonl").write_text(
        f'{{"id":"{other}","thread_name":"another","updated_at":"2026-12-01T00:00:00Z"}}\n'
        "not json at all\n"
        f'{{"id":"{cid}","thread_name":"review of the billing change","updated_at":"2026-12-01T00:00:01Z"}}\n'
    )
    assert thread_named(tmp_path, cid)
    assert not thread_named(tmp_path, "019a0000-0000-7000-8000-000000000003")
