"""Rollouts after a revert or a fork (issue 24), as Codex 0.169 and 0.171 write them (seen on both): a thread's
branch file continues its earlier file by reference (session_meta.history_base: the earlier file's rollout id and
the byte where its part ends), and so does a fork's file; a compaction writes a ``compacted`` record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codex_mcp.codex.rollout import find_rollout, read_compaction, read_history, thread_records
from codex_mcp.codex.settings import LaunchOptions
from codex_mcp.conversations.conversation import Conversation
from codex_mcp.conversations.repository import conversation_of, record_of
from codex_mcp.turn import TurnStatus

from .test_rollout_zst import THREAD, compress, day_folder, line, message, rollout_bytes

BRANCH = "01a25033-61b1-7ac0-8789-9793fc0da1d4"
FORK = "01a25033-61f5-73c3-82d9-18fc782750b8"


def base_file(home: Path, *, compressed: bool = False) -> tuple[Path, int]:
    """The thread's first file (3 turns) and the byte where its first turn ends."""
    data = rollout_bytes(turns=3)
    # Where turn 2 begins: its turn_context, the line before its task_started.
    started = data.rindex(b"\n", 0, data.index(b'"task_started", "turn_id": "t2"'))
    end = data.rindex(b"\n", 0, started) + 1
    name = f"rollout-2026-01-02T10-00-00-{THREAD}.jsonl"
    path = day_folder(home) / (name + ".zst" if compressed else name)
    path.write_bytes(compress(data) if compressed else data)
    return path, end


def continuing(home: Path, name: str, thread: str, base_id: str, end: int, prompt: str) -> Path:
    data = line(
        {
            "type": "session_meta",
            "payload": {"id": thread, "history_base": {"thread_id": base_id, "end_ordinal_exclusive": 9,
                                                        "end_byte_offset": end}},
        }
    )  # fmt: skip
    data += line({"type": "event_msg", "payload": {"type": "task_started", "turn_id": "t9"}})
    data += line(message("user", prompt)) + line(message("assistant", "reply " + prompt))
    path = day_folder(home) / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("compressed", [False, True])
def test_a_reverted_thread_reads_its_kept_turns_then_its_branch(tmp_path: Path, compressed: bool) -> None:
    base, end = base_file(tmp_path, compressed=compressed)
    branch = continuing(
        tmp_path, f"rollout-2026-01-02T10-00-05-{THREAD}_{BRANCH}.jsonl", THREAD, THREAD, end, "after the revert"
    )
    assert find_rollout(tmp_path, THREAD) == branch, "the branch is where Codex writes the thread on"
    assert find_rollout(tmp_path, THREAD, plain_only=True) == branch
    prompts = [p for p, _ in read_history(branch)]
    assert prompts == ["prompt 1 — ünïcödé 😀", "after the revert"], "the reverted turns came back, or turn 1 went"
    assert base.exists(), "the earlier file is Codex's: never touched"


def test_a_branch_made_in_the_same_second_is_still_the_newest(tmp_path: Path) -> None:
    base_file(tmp_path)
    branch = continuing(tmp_path, f"rollout-2026-01-02T10-00-00-{THREAD}_{BRANCH}.jsonl", THREAD, THREAD, 10, "x")
    assert find_rollout(tmp_path, THREAD) == branch


def test_a_fork_reads_the_parent_part_it_continues(tmp_path: Path) -> None:
    _, end = base_file(tmp_path)
    fork = continuing(tmp_path, f"rollout-2026-01-02T10-00-07-{FORK}.jsonl", FORK, THREAD, end, "the fork's own")
    assert find_rollout(tmp_path, FORK) == fork
    assert find_rollout(tmp_path, THREAD) != fork, "a fork is not its parent's branch"
    assert [p for p, _ in read_history(fork)] == ["prompt 1 — ünïcödé 😀", "the fork's own"]


def test_a_missing_or_looping_base_reads_what_there_is(tmp_path: Path) -> None:
    lost = continuing(tmp_path, f"rollout-2026-01-02T10-00-07-{FORK}.jsonl", FORK, "gone-rollout", 100, "alone")
    assert [p for p, _ in read_history(lost)] == ["alone"]
    looping = continuing(
        tmp_path, f"rollout-2026-01-02T10-00-09-{THREAD}_{BRANCH}.jsonl", THREAD, BRANCH, 10_000, "loop"
    )
    assert len(thread_records(looping)) < 1000, "a file that continues itself was read forever"


def test_the_compaction_of_a_turn_and_the_context_around_it(tmp_path: Path) -> None:
    def tokens(total: int) -> dict[str, object]:
        return {"type": "event_msg", "payload": {"type": "token_count", "info": {"last_token_usage": {
            "total_tokens": total}}}}  # fmt: skip

    data = rollout_bytes(turns=1) + line(tokens(5000))
    data += line({"type": "event_msg", "payload": {"type": "task_started", "turn_id": "c1"}})
    data += line(tokens(5200))
    summary = (
        "Another language model started to solve this problem and produced a summary of its thinking process. "
        "Here is the summary produced by the other language model, use the information in this summary to assist "
        "with your own analysis:\nDONE: parsed the logs; NEXT: fix the parser"
    )
    data += line({"type": "compacted", "payload": {"message": summary, "replacement_history": []}})
    data += line(tokens(900))
    data += line({"type": "event_msg", "payload": {"type": "task_complete", "turn_id": "c1"}})
    path = day_folder(tmp_path) / f"rollout-2026-01-02T10-00-00-{THREAD}.jsonl"
    path.write_bytes(data)
    found = read_compaction(path, "c1")
    assert found is not None
    assert found.summary == "DONE: parsed the logs; NEXT: fix the parser"
    assert (found.tokens_before, found.tokens_after) == (5200, 900)
    assert read_compaction(path, "t1") is None, "an ordinary turn is no compaction"


def test_rewound_and_compaction_turns_round_trip_and_stay_out_of_a_replay(tmp_path: Path) -> None:
    conv = Conversation(THREAD, LaunchOptions(cwd=str(tmp_path)))
    conv.forked_from, conv.forked_at_turn = FORK, 2
    conv.new_turn("kept", status=TurnStatus.COMPLETED, reply="a", turn_id="t1", thread_id=THREAD)
    conv.new_turn("/compact", status=TurnStatus.COMPLETED, reply="sum", turn_id="c1", thread_id=THREAD, kind="compact")
    conv.new_turn("undone", status=TurnStatus.COMPLETED, reply="b", turn_id="t2", thread_id=THREAD, rewound_at=5.0)
    back = conversation_of(record_of(conv))
    assert [(t.kind, t.rewound_at) for t in back.turns] == [("prompt", None), ("compact", None), ("prompt", 5.0)]
    assert (back.forked_from, back.forked_at_turn) == (FORK, 2)
    assert back.history() == [("kept", "a")], "a replay would send a rewound turn or a compaction as a prompt"
    plain = json.loads(record_of(Conversation(THREAD, LaunchOptions(cwd="/w"))).model_dump_json())
    assert "forked_from" not in plain, "a record that uses none of it is written as the last release wrote it"
