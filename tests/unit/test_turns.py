"""TurnTracker on rollout records alone: which turn Codex runs and how it ended, for the turn we sent and for one a
person started in an attached terminal. Records are the golden rollouts each supported Codex wrote (tests/fixtures/
codex/<version>/rollout.jsonl) or built the same way; pump() reads a real file in a temp CODEX_HOME."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from pathlib import Path

import pytest

from codex_mcp.codex.rollout import JsonObject, turn_event
from codex_mcp.codex.versions import version_key
from codex_mcp.session.turn_tracker import TurnTracker
from codex_mcp.turn import Turn, TurnStatus

from ..helpers import await_until

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "codex"
VERSIONS = sorted(
    (p.name for p in FIXTURES.iterdir() if (p / "capture.json").is_file()),
    key=lambda name: version_key(name) or (0, 0, 0, 0),
)
THREAD = "00000000-0000-7000-8000-000000000001"  # the golden captures' thread id
OURS = "0199c0de-0000-7000-8000-00000000000a"
OTHER = "0199c0de-0000-7000-8000-00000000000b"


# --- records, shaped as Codex writes them ---------------------------------------------------------


def event(kind: str, turn_id: str | None, **fields: object) -> JsonObject:
    """An event_msg line (task_started, task_complete, turn_aborted, ...)."""
    payload: JsonObject = {"type": kind, **fields}
    if turn_id is not None:
        payload["turn_id"] = turn_id
    return {"timestamp": "2026-01-01T00:00:00.000Z", "type": "event_msg", "payload": payload}


def message(role: str, text: str) -> JsonObject:
    """A response_item message line, as Codex writes a prompt (input_text) or a reply (output_text)."""
    kind = "input_text" if role == "user" else "output_text"
    return {
        "timestamp": "2026-01-01T00:00:00.000Z",
        "type": "response_item",
        "payload": {"type": "message", "role": role, "content": [{"type": kind, "text": text}]},
    }


def one_turn(turn_id: str, prompt: str, reply: str) -> list[JsonObject]:
    """A whole turn: started, Codex's own context, the prompt, the reply, complete."""
    return [
        event("task_started", turn_id, model_context_window=272000),
        message("user", "<environment_context>\n  <cwd>/tmp</cwd>\n</environment_context>"),
        message("user", prompt),
        message("assistant", reply),
        event("token_count", None, info=None),
        event("task_complete", turn_id, last_agent_message=reply),
    ]


def jsonl(records: list[JsonObject]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def golden_records(version: str) -> list[JsonObject]:
    text = (FIXTURES / version / "rollout.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def golden_turns(version: str) -> list[list[JsonObject]]:
    """The golden rollout cut after each task_complete: [session start + turn one, turn two]."""
    turns: list[list[JsonObject]] = [[]]
    for record in golden_records(version):
        turns[-1].append(record)
        if (boundary := turn_event(record)) is not None and boundary.kind == "complete":
            turns.append([])
    return [t for t in turns if t]


def started_id(records: list[JsonObject]) -> str:
    ids = [e.turn_id for e in map(turn_event, records) if e is not None and e.kind == "started"]
    assert len(ids) == 1
    assert ids[0] is not None
    return ids[0]


def outcome(turn: Turn) -> tuple[TurnStatus, str | None, str | None]:
    """What the client would be told of a turn: its status, reply and error."""
    return turn.status, turn.reply, turn.error


class People:
    """The conversation's side of a person's turn: records it, and hears when it settles."""

    def __init__(self, tracker: TurnTracker) -> None:
        self.turns: list[Turn] = []
        self.done = 0
        tracker.on_person_turn = self.record

    def record(self) -> Turn:
        turn = Turn(index=len(self.turns) + 1, prompt="")
        self.turns.append(turn)
        return turn

    def settled(self) -> None:
        self.done += 1


def tracker_with_people(codex_home: Path) -> tuple[TurnTracker, People]:
    box: list[People] = []
    tracker = TurnTracker(codex_home, on_person_done=lambda: box[0].settled())
    people = People(tracker)
    box.append(people)
    return tracker, people


# --- apply ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_our_turn_takes_its_id_from_task_started_and_its_reply_from_task_complete(version: str, tmp_path: Path) -> None:
    saved: list[TurnStatus] = []
    tracker = TurnTracker(tmp_path)
    first, second = golden_turns(version)
    turn = Turn(index=1, prompt="golden one", on_change=lambda t: saved.append(t.status))
    tracker.sent = turn
    for record in first:
        tracker.apply(record)
        if (boundary := turn_event(record)) is not None and boundary.kind == "started":
            assert turn.turn_id == started_id(first)
            assert not turn.settled, "task_started must not settle the turn"
    assert turn.status == TurnStatus.COMPLETED
    assert turn.reply == "ECHO: golden one"
    assert turn.error is None
    assert turn.finished_at is not None
    assert saved == [TurnStatus.COMPLETED], "a settled turn is persisted once"

    # The next turn we send gets the next id and the tool call's output as its reply.
    tracker.sent = nxt = Turn(index=2, prompt="[[escalate:touch golden.txt]]")
    for record in second:
        tracker.apply(record)
    assert nxt.turn_id == started_id(second) != turn.turn_id
    assert nxt.status == TurnStatus.COMPLETED
    assert nxt.reply is not None
    assert nxt.reply.startswith("TOOL OUTPUT: ")
    assert turn.reply == "ECHO: golden one", "the earlier turn is left as it settled"


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        ({"message": "stream disconnected before completion"}, "stream disconnected before completion"),
        ("usage limit reached", "usage limit reached"),
        ({"code": 429}, json.dumps({"code": 429})),
    ],
)
def test_an_error_in_task_complete_fails_the_turn_with_codexs_message(
    tmp_path: Path, error: object, shown: str
) -> None:
    tracker = TurnTracker(tmp_path)
    tracker.sent = turn = Turn(index=1, prompt="p")
    tracker.apply(event("task_started", OURS))
    tracker.apply(event("task_complete", OURS, last_agent_message=None, error=error))
    assert turn.status == TurnStatus.FAILED
    assert turn.error == shown
    assert turn.reply is None


@pytest.mark.parametrize(
    ("fields", "shown"),
    [({"reason": "interrupted"}, "turn aborted (interrupted)"), ({}, "turn aborted (unknown reason)")],
)
def test_turn_aborted_interrupts_the_turn_saying_why(tmp_path: Path, fields: dict[str, object], shown: str) -> None:
    tracker = TurnTracker(tmp_path)
    tracker.sent = turn = Turn(index=1, prompt="p")
    tracker.apply(event("task_started", OURS))
    tracker.apply(event("turn_aborted", OURS, **fields))
    assert turn.status == TurnStatus.INTERRUPTED
    assert turn.error == shown
    assert turn.reply is None


def test_events_of_another_turn_do_not_settle_ours(tmp_path: Path) -> None:
    tracker = TurnTracker(tmp_path)
    tracker.sent = turn = Turn(index=1, prompt="p")
    tracker.apply(event("task_started", OURS))
    tracker.apply(event("task_complete", OTHER, last_agent_message="not yours"))
    tracker.apply(event("turn_aborted", OTHER, reason="interrupted"))
    assert outcome(turn) == (TurnStatus.QUEUED, None, None)
    tracker.apply(event("task_complete", OURS, last_agent_message="yours"))
    assert outcome(turn) == (TurnStatus.COMPLETED, "yours", None)


def test_a_settled_turn_stays_as_it_settled(tmp_path: Path) -> None:
    tracker = TurnTracker(tmp_path)
    tracker.sent = turn = Turn(index=1, prompt="p")
    tracker.apply(event("task_started", OURS))
    tracker.apply(event("task_complete", OURS, last_agent_message="first"))
    tracker.apply(event("task_complete", OURS, last_agent_message="again"))
    tracker.apply(event("turn_aborted", OURS, reason="interrupted"))
    assert (turn.status, turn.reply, turn.error) == (TurnStatus.COMPLETED, "first", None)


def test_records_that_are_not_turn_boundaries_change_nothing(tmp_path: Path) -> None:
    tracker, people = tracker_with_people(tmp_path)
    tracker.sent = turn = Turn(index=1, prompt="p")
    junk: list[JsonObject] = [
        {},
        {"type": "event_msg", "payload": "task_complete"},
        {"type": "event_msg", "payload": {"type": "token_count"}},
        {"type": "response_item", "payload": {"type": "message", "role": "assistant", "content": "hi"}},
        message("user", "a prompt, but nobody's turn is waiting for one"),
    ]
    for record in junk:
        tracker.apply(record)
    assert (turn.status, turn.turn_id, turn.reply) == (TurnStatus.QUEUED, None, None)
    assert people.turns == []


@pytest.mark.parametrize("version", VERSIONS)
def test_a_turn_a_person_starts_is_recorded_with_its_prompt_and_settles(version: str, tmp_path: Path) -> None:
    tracker, people = tracker_with_people(tmp_path)
    tracker.thread_id = THREAD
    first, second = golden_turns(version)
    start = next(i for i, r in enumerate(first) if turn_event(r) is not None)
    for record in first[: start + 1]:  # session_meta, then task_started
        tracker.apply(record)
    [turn] = people.turns
    assert tracker.person_turn is turn
    assert turn.turn_id == started_id(first)
    assert turn.thread_id == THREAD
    assert turn.status == TurnStatus.RUNNING
    assert turn.started_at is not None
    assert turn.prompt == "", "the prompt comes with the next user message"
    for record in first[start + 1 :]:
        tracker.apply(record)
    assert turn.prompt == turn.payload == "golden one", "Codex's own <environment_context> is not the prompt"
    assert (turn.status, turn.reply) == (TurnStatus.COMPLETED, "ECHO: golden one")
    assert people.done == 1
    assert tracker.person_turn is None

    # The person's next turn is a new one.
    for record in second:
        tracker.apply(record)
    assert [t.index for t in people.turns] == [1, 2]
    assert people.turns[1].prompt == "[[escalate:touch golden.txt]]"
    assert people.turns[1].status == TurnStatus.COMPLETED
    assert people.done == 2


def test_a_persons_prompt_is_the_first_user_message_of_their_turn(tmp_path: Path) -> None:
    tracker, people = tracker_with_people(tmp_path)
    tracker.apply(event("task_started", OTHER))
    tracker.apply(message("user", "first words"))
    tracker.apply(message("user", "typed while it ran"))
    [turn] = people.turns
    assert turn.prompt == "first words"


@pytest.mark.parametrize(
    ("kind", "status"), [("turn_aborted", TurnStatus.INTERRUPTED), ("task_complete", TurnStatus.FAILED)]
)
def test_a_persons_turn_ending_any_way_lets_queued_turns_go(tmp_path: Path, kind: str, status: TurnStatus) -> None:
    tracker, people = tracker_with_people(tmp_path)
    tracker.apply(event("task_started", OTHER))
    tracker.apply(event(kind, OTHER, reason="interrupted", error="boom"))
    [turn] = people.turns
    assert turn.status == status
    assert people.done == 1
    assert tracker.person_turn is None


def test_without_a_recorder_a_turn_nobody_sent_is_ignored(tmp_path: Path) -> None:
    done: list[None] = []
    tracker = TurnTracker(tmp_path, on_person_done=lambda: done.append(None))
    for record in one_turn(OTHER, "typed", "answer"):
        tracker.apply(record)
    assert tracker.person_turn is None
    assert done == []


def test_while_our_turn_waits_for_its_id_task_started_is_ours_not_a_persons(tmp_path: Path) -> None:
    tracker, people = tracker_with_people(tmp_path)
    tracker.sent = turn = Turn(index=1, prompt="ours")
    for record in one_turn(OURS, "ours", "done"):
        tracker.apply(record)
    assert people.turns == []
    assert (turn.turn_id, turn.status, turn.reply) == (OURS, TurnStatus.COMPLETED, "done")
    assert people.done == 0


# --- pump: a real rollout file ----------------------------------------------------------------------


def rollout_path(codex_home: Path, day: str, thread: str = THREAD) -> Path:
    """Where Codex puts a thread's rollout: sessions/YYYY/MM/DD/rollout-<timestamp>-<thread>.jsonl."""
    stamp = day.replace("/", "-") + "T00-00-00"
    path = codex_home / "sessions" / day / f"rollout-{stamp}-{thread}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def today() -> str:
    return time.strftime("%Y/%m/%d", time.localtime())


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


@pytest.mark.parametrize("version", VERSIONS)
def test_pump_follows_a_new_threads_rollout_as_codex_appends_it(version: str, tmp_path: Path) -> None:
    home = tmp_path / "codex-home"
    tracker = TurnTracker(home)
    tracker.thread_id = THREAD
    tracker.sent = turn = Turn(index=1, prompt="golden one")
    tracker.pump()  # no rollout yet (a new thread writes it with its first prompt)
    assert turn.turn_id is None

    first, _ = golden_turns(version)
    start = next(i for i, r in enumerate(first) if turn_event(r) is not None)
    path = rollout_path(home, today())
    append(path, jsonl(first[: start + 1]))
    tracker.pump()
    assert turn.turn_id == started_id(first)
    assert not turn.settled

    rest = jsonl(first[start + 1 :])
    append(path, rest[:-40])  # the last line (task_complete) half written
    tracker.pump()
    assert not turn.settled, "a half-written line is not read"
    append(path, rest[-40:])
    tracker.pump()
    assert (turn.status, turn.reply) == (TurnStatus.COMPLETED, "ECHO: golden one")


@pytest.mark.parametrize("where", ["today", "an old day folder"])
@pytest.mark.parametrize("version", VERSIONS)
def test_a_resumed_thread_is_followed_from_what_codex_appends_next(version: str, where: str, tmp_path: Path) -> None:
    home = tmp_path / "codex-home"
    path = rollout_path(home, today() if where == "today" else "2024/01/01")
    shutil.copy(FIXTURES / version / "rollout.jsonl", path)  # two settled turns from before
    tracker = TurnTracker(home)
    tracker.thread_id = THREAD
    tracker.follow_resumed_thread()
    tracker.sent = turn = Turn(index=3, prompt="after the resume")
    tracker.pump()
    assert turn.turn_id is None, "an earlier turn's task_started was taken for ours"
    assert outcome(turn) == (TurnStatus.QUEUED, None, None), "an earlier turn's reply was taken for ours"

    append(path, jsonl(one_turn(OURS, "after the resume", "fresh reply")))
    tracker.pump()
    assert outcome(turn) == (TurnStatus.COMPLETED, "fresh reply", None)
    assert turn.turn_id == OURS


def test_without_follow_resumed_thread_old_records_would_settle_the_turn(tmp_path: Path) -> None:
    """Why the session calls follow_resumed_thread: a tracker that reads a resumed rollout from its start takes
    the previous turn's reply for the new one."""
    home = tmp_path / "codex-home"
    shutil.copy(FIXTURES / VERSIONS[-1] / "rollout.jsonl", rollout_path(home, today()))
    tracker = TurnTracker(home)
    tracker.thread_id = THREAD
    tracker.sent = turn = Turn(index=3, prompt="after the resume")
    tracker.pump()
    assert (turn.status, turn.reply) == (TurnStatus.COMPLETED, "ECHO: golden one")


def test_follow_resumed_thread_before_any_rollout_reads_the_new_file_whole(tmp_path: Path) -> None:
    home = tmp_path / "codex-home"
    tracker = TurnTracker(home)
    tracker.thread_id = OURS
    tracker.follow_resumed_thread()  # no rollout yet: a thread with no prompt so far
    tracker.sent = turn = Turn(index=1, prompt="first")
    append(rollout_path(home, today(), OURS), jsonl(one_turn(OURS, "first", "reply one")))
    tracker.pump()
    assert (turn.status, turn.reply) == (TurnStatus.COMPLETED, "reply one")


@pytest.mark.anyio
async def test_follow_people_records_a_turn_typed_in_an_attached_terminal(tmp_path: Path) -> None:
    home = tmp_path / "codex-home"
    tracker, people = tracker_with_people(home)
    tracker.thread_id = OURS
    path = rollout_path(home, today(), OURS)
    follower = asyncio.get_running_loop().create_task(tracker.follow_people(lambda: True))
    try:
        records = one_turn(OURS, "typed by a person", "their answer")
        append(path, jsonl(records[:3]))
        assert await await_until(lambda: bool(people.turns) and people.turns[0].prompt != "", timeout=5)
        [turn] = people.turns
        assert (turn.prompt, turn.status) == ("typed by a person", TurnStatus.RUNNING)
        append(path, jsonl(records[3:]))
        assert await await_until(lambda: people.done == 1, timeout=5)
        assert (turn.status, turn.reply) == (TurnStatus.COMPLETED, "their answer")
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
