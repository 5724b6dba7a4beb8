"""Compressed rollouts (``….jsonl.zst``, issue 9): finding them, reading them like plain ones, damaged copies,
the live tail that must stay on the plain file, and doctor's line about them."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
import zstandard

from codex_mcp.cli import doctor
from codex_mcp.codex.rollout import (
    JsonObject,
    RolloutTail,
    count_rollouts,
    find_rollout,
    plain_path,
    read_history,
    read_settings,
    rollout_problem,
    tail_from_end,
    zstd_problem,
)

THREAD = "01a1fbea-b6ba-73a1-8251-f4e5e362b223"
OTHER = "0199a0b1-0000-7000-8000-000000000001"
DAY = "2026/01/02"


def line(record: JsonObject) -> bytes:
    """One rollout line."""
    return json.dumps(record, ensure_ascii=False).encode() + b"\n"


def message(role: str, text: str) -> JsonObject:
    """A response_item message line, as Codex writes them."""
    kind = "input_text" if role == "user" else "output_text"
    return {
        "type": "response_item",
        "payload": {"type": "message", "role": role, "content": [{"type": kind, "text": text}]},
    }


def rollout_bytes(turns: int = 2, padding: int = 0) -> bytes:
    """A rollout like Codex's: session_meta, then per turn a turn_context, Codex's own context, the prompt, the
    reply and the turn events. padding makes each reply that much longer (a file bigger than one read)."""
    out = line(
        {
            "type": "session_meta",
            "ordinal": 0,
            "payload": {"id": THREAD, "cwd": "/work/här", "history_mode": "paginated"},
        }
    )
    for n in range(1, turns + 1):
        out += line(
            {
                "type": "turn_context",
                "payload": {
                    "model": f"model-{n}",
                    "approval_policy": "on-request",
                    "sandbox_policy": {"type": "read-only"},
                },
            }
        )
        out += line({"type": "event_msg", "payload": {"type": "task_started", "turn_id": f"t{n}"}})
        out += line(message("user", "<environment_context>cwd</environment_context>"))
        out += line(message("user", f"prompt {n} — ünïcödé 😀"))
        out += line(message("assistant", f"reply {n} " + "x" * padding))
        out += line(
            {
                "type": "event_msg",
                "payload": {"type": "task_complete", "turn_id": f"t{n}", "last_agent_message": f"reply {n}"},
            }
        )
    return out


def compress(data: bytes) -> bytes:
    """zstd as Codex writes it (one frame, level 3, streamed: no content size in the header)."""
    return zstandard.ZstdCompressor(level=3, write_content_size=False).compress(data)


def day_folder(home: Path, day: str = DAY) -> Path:
    folder = home / "sessions" / day
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_rollout(home: Path, data: bytes, *, compressed: bool, day: str = DAY, thread: str = THREAD) -> Path:
    """sessions/<day>/rollout-<stamp>-<thread>.jsonl[.zst] holding data (compressed when asked)."""
    name = f"rollout-{day.replace('/', '-')}T10-00-00-{thread}.jsonl"
    path = day_folder(home, day) / (name + ".zst" if compressed else name)
    path.write_bytes(compress(data) if compressed else data)
    return path


# --- finding ---------------------------------------------------------------------------------------------


def test_find_rollout_finds_either_form(tmp_path: Path) -> None:
    plain_home, zst_home = tmp_path / "plain", tmp_path / "zst"
    plain = write_rollout(plain_home, rollout_bytes(), compressed=False)
    zst = write_rollout(zst_home, rollout_bytes(), compressed=True)
    assert find_rollout(plain_home, THREAD) == plain
    assert find_rollout(zst_home, THREAD) == zst
    assert zst.name.endswith(".jsonl.zst")
    assert plain_path(zst) == zst.with_name(zst.name.removesuffix(".zst"))
    assert find_rollout(zst_home, OTHER) is None


def test_the_plain_file_wins_when_both_exist(tmp_path: Path) -> None:
    """Codex writes the new form before removing the old one; the plain file is complete either way."""
    zst = write_rollout(tmp_path, rollout_bytes(1), compressed=True)
    plain = write_rollout(tmp_path, rollout_bytes(2), compressed=False)
    assert find_rollout(tmp_path, THREAD) == plain
    assert find_rollout(tmp_path, THREAD, plain_only=True) == plain
    assert zst.exists()


def test_plain_only_never_returns_a_compressed_file(tmp_path: Path) -> None:
    write_rollout(tmp_path, rollout_bytes(), compressed=True)
    today = time.strftime("%Y/%m/%d")
    write_rollout(tmp_path, rollout_bytes(), compressed=True, day=today, thread=OTHER)
    assert find_rollout(tmp_path, THREAD, plain_only=True) is None
    assert find_rollout(tmp_path, OTHER, plain_only=True) is None
    assert find_rollout(tmp_path, OTHER, recent_only=True, plain_only=True) is None
    assert find_rollout(tmp_path, OTHER, recent_only=True) is not None  # found when a .zst is acceptable


def test_other_files_next_to_a_rollout_are_not_it(tmp_path: Path) -> None:
    folder = day_folder(tmp_path)
    stem = f"rollout-2026-01-02T10-00-00-{THREAD}"
    for name in (f"{stem}.jsonl.tmp", f"{stem}.jsonl.zst.tmp", f"{stem}.json", f".{stem}.jsonl.decompress.1.tmp"):
        (folder / name).write_bytes(b"{}\n")
    assert find_rollout(tmp_path, THREAD) is None
    assert count_rollouts(tmp_path).total == 0


def test_a_compressed_file_is_never_tailed(tmp_path: Path) -> None:
    zst = write_rollout(tmp_path, rollout_bytes(), compressed=True)
    with pytest.raises(ValueError, match="compressed"):
        RolloutTail(zst)


# --- reading ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("padding", [0, 200_000], ids=["small", "bigger-than-one-read"])
def test_history_and_settings_of_a_compressed_rollout_equal_the_plain_ones(tmp_path: Path, padding: int) -> None:
    data = rollout_bytes(turns=3, padding=padding)
    plain = write_rollout(tmp_path / "a", data, compressed=False)
    zst = write_rollout(tmp_path / "b", data, compressed=True)
    assert zst.stat().st_size < len(data)
    history = read_history(plain)
    assert [prompt for prompt, _ in history] == [f"prompt {n} — ünïcödé 😀" for n in (1, 2, 3)]
    assert read_history(zst) == history
    settings = read_settings(plain)
    assert settings.cwd == "/work/här"
    assert settings.model == "model-3"
    assert read_settings(zst) == settings


def test_a_file_of_several_frames_reads_whole(tmp_path: Path) -> None:
    data = rollout_bytes(turns=2)
    half = data.index(b"\n", len(data) // 2) + 1
    zst = day_folder(tmp_path) / f"rollout-2026-01-02T10-00-00-{THREAD}.jsonl.zst"
    zst.write_bytes(compress(data[:half]) + compress(data[half:]))
    assert read_history(zst) == read_history(write_rollout(tmp_path / "p", data, compressed=False))


def test_bad_lines_inside_a_compressed_rollout_are_skipped(tmp_path: Path) -> None:
    data = b"\xff\xfe not utf-8\n{broken json\n[1, 2]\n\n" + rollout_bytes(1) + b'{"type": "session_meta", "payl'
    zst = write_rollout(tmp_path, data, compressed=True)
    assert read_history(zst) == [("prompt 1 — ünïcödé 😀", "reply 1 ")]
    assert read_settings(zst).cwd == "/work/här"


@pytest.mark.parametrize(
    ("damage", "turns_kept"),
    [
        ("garbage", 0),
        ("empty", 0),
        ("truncated-header", 0),
        ("truncated-late", 1),
        ("trailing-garbage", 2),
    ],
)
def test_a_damaged_compressed_rollout_is_logged_and_keeps_what_could_be_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str, turns_kept: int
) -> None:
    # Three blocks of ~128 KiB or more: a cut near the end loses the last block only.
    data = rollout_bytes(turns=2, padding=150_000)
    whole = zstandard.ZstdCompressor(level=3).compress(data)
    blob = {
        "garbage": b"this is not zstd at all\n" * 10,
        "empty": b"",
        "truncated-header": whole[:3],
        "truncated-late": whole[: len(whole) - 40],
        "trailing-garbage": whole + b"garbage after the frame",
    }[damage]
    zst = day_folder(tmp_path) / f"rollout-2026-01-02T10-00-00-{THREAD}.jsonl.zst"
    zst.write_bytes(blob)
    with caplog.at_level(logging.WARNING, logger="codex_mcp.codex.rollout"):
        history = read_history(zst)
        settings = read_settings(zst)
    assert len(history) == turns_kept
    assert settings.cwd == ("/work/här" if turns_kept else None)
    assert any("damaged" in r.getMessage() and zst.name in r.getMessage() for r in caplog.records)
    assert (rollout_problem(zst) is None) == (turns_kept > 0)  # what doctor reads: the first line


def test_a_compressed_rollout_that_codex_just_decompressed_is_read_from_the_plain_file(tmp_path: Path) -> None:
    zst = write_rollout(tmp_path, rollout_bytes(1), compressed=True)
    found = find_rollout(tmp_path, THREAD)
    assert found == zst
    # `codex resume` decompresses it, removes the .zst and appends its next turn.
    plain_path(zst).write_bytes(rollout_bytes(2))
    zst.unlink()
    assert len(read_history(zst)) == 2


# --- the live tail -----------------------------------------------------------------------------------


def test_tail_from_end_of_a_plain_rollout_returns_only_new_lines(tmp_path: Path) -> None:
    plain = write_rollout(tmp_path, rollout_bytes(1), compressed=False)
    tail = tail_from_end(tmp_path, THREAD)
    assert tail is not None
    assert tail.path == plain
    assert tail.read_new() == []
    with plain.open("ab") as f:
        f.write(line({"type": "event_msg", "payload": {"type": "task_started", "turn_id": "new"}}))
    assert tail.read_new() == [{"type": "event_msg", "payload": {"type": "task_started", "turn_id": "new"}}]


def test_tail_from_end_of_a_compressed_rollout_waits_for_the_plain_file(tmp_path: Path) -> None:
    """Codex decompresses before appending; the tail follows the plain file from where the old bytes end."""
    old = rollout_bytes(2)
    zst = write_rollout(tmp_path, old, compressed=True)
    tail = tail_from_end(tmp_path, THREAD)
    assert tail is not None
    assert tail.path == plain_path(zst)
    assert tail.offset == len(old)
    assert tail.read_new() == []  # no plain file yet
    new = line(
        {"type": "event_msg", "payload": {"type": "task_complete", "turn_id": "t3", "last_agent_message": "new"}}
    )
    plain_path(zst).write_bytes(old + new)
    zst.unlink()
    assert tail.read_new() == [json.loads(new)]


def test_tail_from_end_without_a_usable_rollout_is_none(tmp_path: Path) -> None:
    assert tail_from_end(tmp_path, THREAD) is None  # a new thread
    (day_folder(tmp_path) / f"rollout-2026-01-02T10-00-00-{THREAD}.jsonl.zst").write_bytes(b"not zstd")
    assert tail_from_end(tmp_path, THREAD) is None


# --- doctor ----------------------------------------------------------------------------------------------


def test_count_rollouts_by_name(tmp_path: Path) -> None:
    assert count_rollouts(tmp_path) == count_rollouts(tmp_path / "missing")
    assert count_rollouts(tmp_path).total == 0
    write_rollout(tmp_path, rollout_bytes(), compressed=False, thread=OTHER)
    write_rollout(tmp_path, rollout_bytes(), compressed=True, day="2025/12/01")
    newest = write_rollout(tmp_path, rollout_bytes(), compressed=True, day="2025/12/24")
    counted = count_rollouts(tmp_path)
    assert (counted.total, counted.compressed, counted.newest_compressed) == (3, 2, newest)


def test_zstd_works_here() -> None:
    assert zstd_problem() is None


def test_doctor_reports_compressed_rollouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEX_HOME", str(tmp_path))
    [check] = doctor.check_rollouts()
    assert (check.level, check.name) == ("ok", "rollouts")
    assert "0 rollouts" in check.message
    write_rollout(tmp_path, rollout_bytes(), compressed=False, thread=OTHER)
    newest = write_rollout(tmp_path, rollout_bytes(), compressed=True)
    [check] = doctor.check_rollouts()
    assert check.level == "ok"
    assert "2 rollouts, 1 compressed (readable)" in check.message
    newest.write_bytes(compress(rollout_bytes())[:20])
    [check] = doctor.check_rollouts()
    assert check.level == "warn"
    assert newest.name in check.message
    assert "replayed" in check.message


def test_doctor_without_zstd_fails_only_when_compressed_rollouts_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEX_HOME", str(tmp_path))
    monkeypatch.setattr(doctor, "zstd_problem", lambda: "no zstd decompressor (No module named 'zstandard')")
    write_rollout(tmp_path, rollout_bytes(), compressed=False)
    [check] = doctor.check_rollouts()
    assert check.level == "warn"
    write_rollout(tmp_path, rollout_bytes(), compressed=True, thread=OTHER)
    [check] = doctor.check_rollouts()
    assert check.level == "fail"
    assert "zstandard" in check.message
