"""What a client sends, checked before anything acts on it (inputs), and codex_list's pages read from a real
Store's index (listing.list_page)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from codex_mcp.codex.settings import LaunchOptions
from codex_mcp.config import MAX_TIMEOUT_S
from codex_mcp.conversations.inputs import (
    MAX_FILTER_TEXT,
    check_conversation_id,
    check_cwd,
    check_timeout,
    folder_filter,
    text_filter,
)
from codex_mcp.conversations.listing import MAX_LIST_LIMIT, Listing, ListQuery, ListState, list_page
from codex_mcp.errors import InvalidInput
from codex_mcp.storage.store import ConversationRecord, Ownership, Store, TurnRecord
from codex_mcp.turn import TurnStatus

CID = "01a1fbea-b6ba-73a1-8251-f4e5e362b223"

# --- conversation ids ---------------------------------------------------------------------------------


def test_conversation_id_is_trimmed_and_lower_cased() -> None:
    assert check_conversation_id(f"  {CID.upper()}\n") == CID
    assert check_conversation_id(CID) == CID


@pytest.mark.parametrize(
    "bad",
    ["", "not-a-uuid", CID[:-1], CID + "0", f"{CID} {CID}", "../../etc/passwd", CID.replace("-", ""), "x" * 10_000],
)
def test_a_malformed_conversation_id_is_refused_saying_what_to_send(bad: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_conversation_id(bad)
    said = str(caught.value)
    assert "is not a Codex thread id" in said
    assert "use the conversationId that codex_start returned" in said
    assert len(said) < 400, "a huge argument is not echoed back whole"


# --- timeouts -----------------------------------------------------------------------------------------


def test_timeout_default_and_bounds() -> None:
    assert check_timeout(None, 50.0) == 50.0
    assert check_timeout(0.5, 50.0) == 0.5
    assert check_timeout(MAX_TIMEOUT_S, 50.0) == MAX_TIMEOUT_S
    assert isinstance(check_timeout(3, 50.0), float)


def test_a_zero_timeout_means_return_at_once() -> None:
    assert check_timeout(0, 50.0) == 0.0


@pytest.mark.parametrize("bad", [-1, -0.001, MAX_TIMEOUT_S + 0.001, math.inf, math.nan])
def test_a_timeout_out_of_bounds_is_refused(bad: float) -> None:
    with pytest.raises(InvalidInput, match=f"timeout_s must be between 0 .* and {MAX_TIMEOUT_S:g} seconds"):
        check_timeout(bad, 50.0)


# --- cwd ----------------------------------------------------------------------------------------------


def test_cwd_is_resolved_and_defaults_to_the_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    assert check_cwd(str(tmp_path / "link")) == str(real.resolve())
    assert check_cwd(str(real) + "/") == str(real.resolve())
    monkeypatch.chdir(real)
    assert check_cwd(None) == os.getcwd()
    assert check_cwd("   ") == os.getcwd()
    monkeypatch.setenv("HOME", str(tmp_path))
    assert check_cwd("~/real") == str(real.resolve())


@pytest.mark.parametrize(
    ("cwd", "said"),
    [
        ("relative/project", "is not an absolute path: give the full path of the project folder"),
        ("/definitely/missing/folder", "does not exist: create it or pass an existing folder"),
        ("/tmp/\x00evil", "cwd contains a NUL byte"),
        ("/tmp/\udc80", "cwd must be valid Unicode text"),
        ("/" + "a" * 5000, "cannot be used"),
    ],
)
def test_an_unusable_cwd_is_refused_saying_what_to_pass(cwd: str, said: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_cwd(cwd)
    assert said in str(caught.value)


def test_a_long_missing_cwd_is_not_echoed_back_whole() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_cwd("/" + "a" * 250)
    assert "does not exist" in str(caught.value)
    assert len(str(caught.value)) < 400


def test_a_file_is_not_a_cwd(tmp_path: Path) -> None:
    file = tmp_path / "main.py"
    file.write_text("")
    with pytest.raises(InvalidInput, match="is not a directory: pass the folder, not a file in it"):
        check_cwd(str(file))


def test_list_filters() -> None:
    assert folder_filter(None) is None
    assert folder_filter("  ") is None
    assert folder_filter("/work/project/../project/") == "/work/project"
    with pytest.raises(InvalidInput, match="not an absolute path"):
        folder_filter("project")
    with pytest.raises(InvalidInput):
        folder_filter("/a\x00b")
    assert text_filter("  fix  ") == "fix"
    assert text_filter("") is None
    with pytest.raises(InvalidInput, match=f"at most {MAX_FILTER_TEXT} characters"):
        text_filter("x" * (MAX_FILTER_TEXT + 1))


# --- list_page ----------------------------------------------------------------------------------------

IDS = [f"01a1fbea-b6ba-73a1-8251-f4e5e362b2{i:02d}" for i in range(7)]


def record(cid: str, activity: float, *, live: bool, cwd: str = "/work/a", prompt: str = "") -> ConversationRecord:
    return ConversationRecord(
        id=cid,
        thread_id=cid,
        threads=[cid],
        options=LaunchOptions(cwd=cwd),
        created_at=activity - 10,
        last_activity=activity,
        end_reason=None if live else "ended by the client",
        turns=[
            TurnRecord(index=1, prompt=prompt or f"prompt of {cid[-2:]}", status=TurnStatus.COMPLETED, submitted_at=1.0)
        ],
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """Seven conversations: ids 0..6, the higher the id the more recent; 1 and 4 saved while live."""
    s = Store(tmp_path / "state")
    for i, cid in enumerate(IDS):
        s.save(record(cid, 1_700_000_000.0 + i, live=i in (1, 4), cwd="/work/b" if i % 2 else "/work/a"))
    yield s
    s.index.close()


@pytest.fixture
def elsewhere(tmp_path: Path, store: Store) -> Iterator[list[str]]:
    """Another codex-mcp process runs conversations 1 and 4 live (it holds their claims)."""
    other = Store(tmp_path / "state")
    held: list[Ownership] = []
    for cid in (IDS[1], IDS[4]):
        claim = other.claim(cid)
        assert claim is not None
        held.append(claim)
    yield [IDS[4], IDS[1]]
    for claim in held:
        claim.release()
    other.index.close()


def page(
    store: Store,
    *,
    limit: int = 20,
    cursor: str | None = None,
    state: ListState | None = None,
    cwd: str | None = None,
    text: str | None = None,
) -> Listing:
    """A page as codex_list asks for it, with no conversation live in this process."""
    return list_page(store, {}, [], ListQuery(limit=limit, cursor=cursor, state=state, cwd=cwd, text=text))


def ids(listing: Listing) -> list[str]:
    return [e.summary.id for e in listing.entries]


def test_paging_through_every_conversation_newest_first(store: Store) -> None:
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        listing = page(store, limit=3, cursor=cursor)
        assert listing.total == 7
        assert len(listing.entries) <= 3
        seen += ids(listing)
        pages += 1
        cursor = listing.next_cursor
        if cursor is None:
            break
        assert pages < 10, "the cursor never ends"
    assert pages == 3
    assert seen == IDS[::-1]


def test_one_page_holds_everything_when_the_limit_allows(store: Store) -> None:
    whole = page(store, limit=MAX_LIST_LIMIT)
    assert ids(whole) == IDS[::-1]
    assert whole.next_cursor is None
    assert page(store, limit=1).next_cursor is not None


@pytest.mark.parametrize("limit", [0, -1, MAX_LIST_LIMIT + 1])
def test_a_limit_out_of_bounds_is_refused(store: Store, limit: int) -> None:
    with pytest.raises(InvalidInput, match=f"limit must be between 1 and {MAX_LIST_LIMIT}"):
        page(store, limit=limit)


@pytest.mark.parametrize("cursor", ["garbage", "eyJ4IjogMX0", "W10", "!!!!"])
def test_a_cursor_we_did_not_make_is_refused(store: Store, cursor: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        page(store, cursor=cursor)
    assert "cannot be used" in str(caught.value)
    assert "Call codex_list without a cursor" in str(caught.value)


def test_a_cursor_used_with_other_filters_is_refused(store: Store) -> None:
    cursor = page(store, limit=2).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidInput, match="made for a listing with other filters"):
        page(store, limit=2, cursor=cursor, cwd="/work/a")


def test_state_filter_and_conversations_live_in_another_process(store: Store, elsewhere: list[str]) -> None:
    everything = page(store)
    assert ids(everything)[:2] == elsewhere, "live ones first"
    assert ids(everything)[2:] == [cid for cid in IDS[::-1] if cid not in elsewhere]
    assert [e.elsewhere for e in everything.entries] == [True, True] + [False] * 5
    assert all(e.conversation is None for e in everything.entries)

    live = page(store, state="live")
    assert ids(live) == elsewhere
    assert live.total == 2
    ended = page(store, state="ended")
    assert ended.total == 5
    assert set(ids(ended)).isdisjoint(elsewhere)


def test_saved_live_but_nobody_runs_it_lists_as_ended(store: Store) -> None:
    """The server that ran 1 and 4 stopped (its claims went with it): they are not live."""
    assert page(store, state="live").total == 0
    assert page(store, state="ended").total == 7


def test_paging_live_ones_first_across_pages(store: Store, elsewhere: list[str]) -> None:
    first = page(store, limit=1)
    assert ids(first) == elsewhere[:1]
    assert first.next_cursor is not None
    second = page(store, limit=2, cursor=first.next_cursor)
    assert ids(second) == [elsewhere[1], IDS[6]]


def test_folder_and_text_filters(store: Store) -> None:
    in_b = page(store, cwd="/work/b")
    assert ids(in_b) == [IDS[5], IDS[3], IDS[1]]
    assert page(store, cwd="/work").total == 7, "a folder lists the folders below it"
    assert page(store, cwd="/wor").total == 0, "not a mere string prefix"
    assert ids(page(store, text="PROMPT OF 03")) == [IDS[3]]
