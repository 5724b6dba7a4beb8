"""Repository: conversations to stored records and back, saved as they change, brought up to date with what
another codex-mcp process sharing the state dir wrote, and claimed while this process runs them live."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path

import pytest

from codex_mcp.codex.settings import LaunchOptions
from codex_mcp.conversations.conversation import Conversation
from codex_mcp.conversations.repository import Repository, conversation_of, record_of
from codex_mcp.ending import Ending
from codex_mcp.errors import ConversationElsewhere
from codex_mcp.session.session import State
from codex_mcp.storage.store import ConversationRecord, Ownership, Store, TurnRecord
from codex_mcp.turn import Turn, TurnStatus

CID = "01a1fbea-b6ba-73a1-8251-f4e5e362b223"
REPLAYED_THREAD = "01a1fbea-b6ba-73a1-8251-f4e5e362b299"
SERVER_STOPPED = "the server stopped during this turn; it was not re-run"


def conversation(cid: str = CID) -> Conversation:
    """A conversation with every kind of setting and turn outcome."""
    conv = Conversation(
        cid,
        LaunchOptions(
            cwd="/work/project",
            model="gpt-test",
            profile="fast",
            sandbox="workspace-write",
            approval_policy="on-request",
            config={"model_reasoning_effort": "high", "tools": {"web_search": True, "list": [1, "x"]}},
        ),
        thread_id=REPLAYED_THREAD,
        threads=[cid, REPLAYED_THREAD],
        created_at=1_700_000_000.0,
        ending=Ending.ended("ended by the client"),
        adopted=True,
    )
    conv.last_activity = 1_700_000_100.0
    conv.turns = [
        Turn(
            index=1,
            prompt="first",
            status=TurnStatus.COMPLETED,
            reply="one",
            turn_id="t-1",
            thread_id=cid,
            submitted_at=1_700_000_001.0,
            finished_at=1_700_000_002.0,
        ),
        Turn(
            index=2,
            prompt="second",
            recovery="replayed",
            status=TurnStatus.FAILED,
            error="Codex exited (exit code 1) during the turn",
            turn_id="t-2",
            thread_id=REPLAYED_THREAD,
            submitted_at=1_700_000_010.0,
            finished_at=1_700_000_011.0,
        ),
        Turn(
            index=3,
            prompt="third",
            recovery="resumed",
            status=TurnStatus.INTERRUPTED,
            error="turn aborted (interrupted)",
            submitted_at=1_700_000_020.0,
            finished_at=1_700_000_021.0,
        ),
    ]
    return conv


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "state")
    yield s
    s.index.close()


@pytest.fixture
def other_store(tmp_path: Path, store: Store) -> Iterator[Store]:
    """Another codex-mcp process's view of the same state dir."""
    s = Store(tmp_path / "state")
    yield s
    s.index.close()


@pytest.fixture
def claims() -> Iterator[list[Ownership]]:
    """Claims a test takes by hand; let go at teardown whatever happened."""
    held: list[Ownership] = []
    yield held
    for ownership in held:
        ownership.release()


# --- records ------------------------------------------------------------------------------------------


def test_record_round_trip_keeps_options_turns_statuses_and_recovery(store: Store) -> None:
    conv = conversation()
    record = record_of(conv)
    assert record.id == CID
    assert record.thread_id == REPLAYED_THREAD
    assert record.threads == [CID, REPLAYED_THREAD]
    assert record.end_reason == "ended by the client"
    assert record.adopted is True
    assert record.options.config == {"model_reasoning_effort": "high", "tools": {"web_search": True, "list": [1, "x"]}}
    assert [(t.status, t.recovery) for t in record.turns] == [
        (TurnStatus.COMPLETED, "live"),
        (TurnStatus.FAILED, "replayed"),
        (TurnStatus.INTERRUPTED, "resumed"),
    ]

    store.save(record)
    loaded = store.load(CID)
    assert loaded is not None
    back = conversation_of(loaded[0])
    assert record_of(back) == record
    assert back.options == conv.options
    assert back.last_activity == conv.last_activity
    assert back.created_at == conv.created_at
    assert [
        (t.index, t.prompt, t.status, t.reply, t.error, t.turn_id, t.thread_id, t.recovery) for t in back.turns
    ] == [(t.index, t.prompt, t.status, t.reply, t.error, t.turn_id, t.thread_id, t.recovery) for t in conv.turns]
    assert back.session is None
    assert not back.live
    assert back.state == State.ENDED


def test_a_record_saved_live_loads_as_stopped_with_the_server() -> None:
    record = record_of(conversation()).model_copy(update={"end_reason": None})
    conv = conversation_of(record)
    assert conv.end_reason == "server stopped"
    assert conv.state == State.ENDED


@pytest.mark.parametrize("status", [TurnStatus.QUEUED, TurnStatus.RUNNING, TurnStatus.WAITING_FOR_APPROVAL])
def test_an_unsettled_turn_loads_as_failed_because_the_server_stopped(status: TurnStatus) -> None:
    record = record_of(conversation())
    record.turns.append(TurnRecord(index=4, prompt="cut short", status=status, submitted_at=1_700_000_030.0))
    conv = conversation_of(record)
    last = conv.turns[-1]
    assert last.status == TurnStatus.FAILED
    assert last.error == SERVER_STOPPED
    assert last.settled
    assert [t.status for t in conv.turns[:3]] == [TurnStatus.COMPLETED, TurnStatus.FAILED, TurnStatus.INTERRUPTED]
    assert conv.history() == [("first", "one"), ("second", None)], "a turn Codex never started is not replayed"


def test_store_records_tolerate_values_a_newer_codex_mcp_may_write(store: Store) -> None:
    record = json.loads(record_of(conversation()).model_dump_json())
    record["options"]["sandbox"] = "container-sandbox"
    record["options"]["approval_policy"] = "ask-the-moon"
    record["options"]["effort"] = "ultra"
    record["options"]["sandbox_rules"] = {"net": "off"}  # a setting a newer codex-mcp added
    record["turns"][0]["recovery"] = "teleported"
    record["turns"][1]["status"] = "paused"
    store.path(CID).write_text(json.dumps(record))

    assert store.sync().problems == []
    assert store.path(CID).exists(), "the record was set aside instead of read"
    assert not store.path(CID).with_suffix(".corrupt").exists()
    loaded = store.load(CID)
    assert loaded is not None
    rec = loaded[0]
    assert (rec.options.sandbox, rec.options.approval_policy, rec.options.effort) == (None, None, None)
    assert (rec.options.model, rec.options.config) == ("gpt-test", conversation().options.config), "the rest is kept"
    listed = store.index.get(CID)
    assert listed is not None
    assert (listed.options.sandbox, listed.options.profile) == (None, "fast"), "the index row reads it the same way"
    assert rec.turns[0].recovery == "live"
    assert rec.turns[1].status == TurnStatus.FAILED
    found = Repository(store).find(CID)
    assert found is not None, "the conversation is reachable"
    assert [t.prompt for t in found.turns] == ["first", "second", "third"]


# What the last release (0.x before the one settings model: an OptionsRecord of its own) wrote, byte for byte.
LAST_RELEASE_RECORD = (
    '{"version":1,"id":"01a1fbea-b6ba-73a1-8251-f4e5e362b223","thread_id":"01a1fbea-b6ba-73a1-8251-f4e5e362b299",'
    '"threads":["01a1fbea-b6ba-73a1-8251-f4e5e362b223","01a1fbea-b6ba-73a1-8251-f4e5e362b299"],'
    '"options":{"cwd":"/work/project","model":"gpt-test","profile":"fast","sandbox":"workspace-write",'
    '"approval_policy":"on-request","config":{"model_reasoning_effort":"high","tools":{"web_search":true,'
    '"list":[1,"x"]}},"effort":"low"},"created_at":1700000000.0,"last_activity":1700000100.0,'
    '"end_reason":"ended by the client","adopted":true,"turns":[{"index":1,"prompt":"first","status":"completed",'
    '"reply":"one","error":null,"turn_id":"t-1","thread_id":"01a1fbea-b6ba-73a1-8251-f4e5e362b223",'
    '"recovery":"live","submitted_at":1700000001.0,"finished_at":1700000002.0}]}'
)


def test_a_record_the_last_release_wrote_loads_and_is_written_back_the_same(store: Store) -> None:
    store.path(CID).write_text(LAST_RELEASE_RECORD)
    assert store.sync().problems == []
    found = Repository(store).find(CID)
    assert found is not None
    assert found.options == replace(conversation().options, effort="low"), "every setting as it was written"
    assert record_of(found).model_dump_json() == LAST_RELEASE_RECORD, "a server of the last release reads it as before"
    listed = store.index.get(CID)
    assert listed is not None
    assert listed.options == replace(found.options, config={}), "the index keeps every setting but the overrides"


# --- Repository -----------------------------------------------------------------------------------


def stored(store: Store, cid: str = CID) -> ConversationRecord:
    loaded = store.load(cid)
    assert loaded is not None, "nothing saved"
    return loaded[0]


def test_changes_are_saved_as_they_happen(store: Store) -> None:
    repo = Repository(store)
    conv = repo.add(conversation())
    assert store.load(CID) is None, "adding alone writes nothing"
    conv.changed()
    assert stored(store).turns[0].reply == "one"
    assert store.index.get(CID) is not None, "the listing index follows the record"

    turn = Turn(index=4, prompt="fourth", on_change=lambda _t: conv.changed())
    conv.turns.append(turn)
    turn.set_status(TurnStatus.RUNNING)
    assert len(stored(store).turns) == 3, "a running turn costs no fsync"
    turn.reply = "four"
    turn.set_status(TurnStatus.COMPLETED)
    assert [(t.index, t.status, t.reply) for t in stored(store).turns][-1] == (4, TurnStatus.COMPLETED, "four")


def test_turns_of_a_found_conversation_are_saved_when_they_settle(store: Store) -> None:
    record = record_of(conversation())
    record.turns.append(TurnRecord(index=4, prompt="x", status=TurnStatus.COMPLETED, submitted_at=1.0))
    store.save(record)
    conv = Repository(store).find(CID)
    assert conv is not None
    conv.turns[-1].error = "clearer error"
    conv.turns[-1].changed_externally()
    assert stored(store).turns[-1].error == "clearer error"


def test_find_loads_a_conversation_from_the_state_dir(store: Store) -> None:
    store.save(record_of(conversation()))
    repo = Repository(store)
    conv = repo.find(CID)
    assert conv is not None
    assert [t.reply for t in conv.turns] == ["one", None, None]
    assert repo.find(CID) is conv, "one Conversation per id"
    assert list(repo) == [conv]
    assert repo.find("01a1fbea-b6ba-73a1-8251-f4e5e362b000") is None


def write_later(store: Store, record: ConversationRecord, than: Path) -> None:
    """Save a record as another process would, with an mtime clearly after the file's current one."""
    before = than.stat().st_mtime
    store.save(record)
    os.utime(store.path(record.id), (before + 10, before + 10))


def test_find_picks_up_what_another_process_wrote_since(store: Store, other_store: Store) -> None:
    repo = Repository(store)
    conv = repo.add(conversation())
    conv.changed()
    newer = record_of(conversation())
    newer.turns.append(
        TurnRecord(index=4, prompt="sent elsewhere", status=TurnStatus.COMPLETED, reply="r4", submitted_at=2.0)
    )
    newer.end_reason = "idle for 1800s"
    write_later(other_store, newer, store.path(CID))

    found = repo.find(CID)
    assert found is conv, "the same object, brought up to date"
    assert [t.prompt for t in conv.turns][-1] == "sent elsewhere"
    assert conv.end_reason == "idle for 1800s"
    # Its turns are ours to save from now on.
    conv.turns[-1].error = "noted here"
    conv.turns[-1].changed_externally()
    assert stored(store).turns[-1].error == "noted here"


def test_find_keeps_the_live_copy_while_this_process_holds_the_claim(store: Store, other_store: Store) -> None:
    repo = Repository(store)
    conv = repo.add(conversation())
    conv.changed()
    repo.claim(conv)
    try:
        newer = record_of(conversation())
        newer.turns = newer.turns[:1]
        write_later(other_store, newer, store.path(CID))
        assert repo.find(CID) is conv
        assert len(conv.turns) == 3, "a process that runs the conversation live is its only writer"
    finally:
        repo.release(conv)


def test_claim_reads_what_the_previous_owner_recorded(store: Store, other_store: Store) -> None:
    repo = Repository(store)
    conv = repo.add(conversation())
    conv.changed()
    newer = record_of(conversation())
    newer.turns = newer.turns[:2]
    write_later(other_store, newer, store.path(CID))
    repo.claim(conv)
    try:
        assert len(conv.turns) == 2
    finally:
        repo.release(conv)


def test_claim_is_refused_while_another_process_holds_it(
    store: Store, other_store: Store, claims: list[Ownership]
) -> None:
    repo = Repository(store)
    conv = repo.add(conversation())
    theirs = other_store.claim(CID)
    assert theirs is not None
    claims.append(theirs)
    with pytest.raises(ConversationElsewhere) as caught:
        repo.claim(conv)
    assert caught.value.conversation_id == CID
    assert "live in another codex-mcp server process" in str(caught.value)
    assert not repo.owns(CID)
    assert store.claimed_elsewhere(CID)

    theirs.release()
    repo.claim(conv)
    try:
        assert repo.owns(CID)
        assert other_store.claim(CID) is None, "now the other process is refused"
        assert other_store.claimed_elsewhere(CID)
        repo.claim(conv)  # claiming again is a no-op
    finally:
        repo.release(conv)
    assert not repo.owns(CID)
    again = other_store.claim(CID)
    assert again is not None, "release lets the other process take it"
    claims.append(again)


def test_detaching_a_conversation_lets_the_claim_go(store: Store, other_store: Store, claims: list[Ownership]) -> None:
    repo = Repository(store)
    conv = repo.add(conversation())
    repo.claim_new(conv)
    assert repo.owns(CID)
    conv.detached(Ending.ended("ended by the client"))
    assert not repo.owns(CID)
    assert stored(store).end_reason == "ended by the client"
    theirs = other_store.claim(CID)
    assert theirs is not None
    claims.append(theirs)


def test_a_full_disk_is_logged_not_raised(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    repo = Repository(store)
    conv = repo.add(conversation())

    def no_space(_record: ConversationRecord) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "save", no_space)
    conv.changed()  # must not take the live conversation down
    assert any("could not save conversation" in r.getMessage() and CID in r.getMessage() for r in caplog.records)


def test_every_stored_turn_field_is_a_turn_field() -> None:
    """record_of and conversation_of copy TurnRecord's fields by name to and from Turn."""
    assert set(TurnRecord.model_fields) <= {f.name for f in fields(Turn)}


def test_every_turn_a_conversation_makes_is_saved_when_it_settles_even_after_a_take_over(store: Store) -> None:
    """The conversation is the only maker of its turns and the repository its one subscriber: a turn made any
    way (queued, a person's, adopted, read back) is saved when it settles; after another process's newer record
    is taken over, its turns report to the conversation this repository holds."""
    repo = Repository(store)
    conv = repo.add(conversation())
    made = conv.new_turn("made here")
    assert made.index == len(conv.turns)
    made.reply = "three"
    made.set_status(TurnStatus.COMPLETED)
    assert stored(store).turns[-1].prompt == "made here"

    newer = conversation_of(stored(store))
    newer.new_turn("from another process", status=TurnStatus.COMPLETED, reply="four")
    store.save(record_of(newer))
    os.utime(store.path(CID), (2e9, 2e9))  # newer than what this repository last read or wrote
    assert repo.find(CID) is conv
    taken = conv.turns[-1]
    assert taken.prompt == "from another process"
    taken.error = "clearer error"
    taken.changed_externally()
    assert stored(store).turns[-1].error == "clearer error", "a taken-over turn reported to a stale copy"
