"""The control channel's frames (what `codex-mcp attach` and the server exchange), and what Codex exiting means
for a session in each state (session.exit_outcome)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from codex_mcp.control.protocol import Message, data_frame, data_of, frame
from codex_mcp.control.transport import Endpoint, control_dir, endpoints
from codex_mcp.ending import Ending, EndKind
from codex_mcp.session.session import State, exit_outcome
from codex_mcp.terminal import ExitInfo

# --- frames -------------------------------------------------------------------------------------------


def test_a_frame_is_one_json_line() -> None:
    message: Message = {"op": "attach", "id": "x", "mode": "control", "rows": 24, "cols": 80, "pid": 7}
    line = frame(message)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert json.loads(line) == message


def test_a_frame_stays_one_line_whatever_the_text() -> None:
    message: Message = {"bye": "line one\nline two\r\n\u2028 and › glyphs"}
    line = frame(message)
    assert line.count(b"\n") == 1
    assert json.loads(line) == message
    line.decode("ascii")  # non-ASCII is escaped: the frame is plain ASCII


@given(st.binary(max_size=4096))
@example(b"")
@example(b"\x1b[?1049h\x1b]0;title\x07\xff\xfe\x00\n")
def test_terminal_bytes_survive_a_data_frame(data: bytes) -> None:
    message = data_frame(data)
    assert data_of(message) == data
    # ... and the trip over the wire.
    [line] = frame(message).splitlines()
    assert data_of(json.loads(line)) == data


def test_endpoints_are_found_in_the_control_dir(tmp_path: Path) -> None:
    assert endpoints(tmp_path) == []
    where = control_dir(tmp_path)
    where.mkdir()
    for name in ("20.sock", "10.sock", "30.pipe", "notes.txt", "x.sock", ".40.secret"):
        (where / name).touch()
    assert endpoints(tmp_path) == [Endpoint(where / n) for n in ("10.sock", "20.sock", "30.pipe")]
    assert [e.pid for e in endpoints(tmp_path)] == [10, 20, 30]


# --- exit_outcome -------------------------------------------------------------------------------------

RUNNING_STATES = [State.IDLE, State.RUNNING, State.WAITING_FOR_APPROVAL]


@pytest.mark.parametrize("state", [State.STARTING, State.ENDED, State.EXITED])
@pytest.mark.parametrize("watched", [False, True])
@pytest.mark.parametrize("info", [ExitInfo(0, None), ExitInfo(1, None), ExitInfo(None, signal.SIGKILL)])
def test_an_exit_while_starting_or_after_the_end_changes_nothing(state: State, watched: bool, info: ExitInfo) -> None:
    """Start-up reports its own failure; an ended session's exit is the one we asked for."""
    assert exit_outcome(state, info, watched=watched) is None


@pytest.mark.parametrize("state", RUNNING_STATES)
def test_exit_0_while_a_person_is_attached_is_their_quit(state: State) -> None:
    assert exit_outcome(state, ExitInfo(0, None), watched=True) == (
        State.ENDED,
        Ending(EndKind.ENDED, "ended by the user (in an attached terminal)"),
    )


@pytest.mark.parametrize("state", RUNNING_STATES)
def test_exit_0_with_nobody_attached_is_codex_leaving_by_itself(state: State) -> None:
    assert exit_outcome(state, ExitInfo(0, None), watched=False) == (
        State.EXITED,
        Ending(EndKind.EXITED, "Codex exited by itself"),
    )


@pytest.mark.parametrize("state", RUNNING_STATES)
@pytest.mark.parametrize("watched", [False, True])
@pytest.mark.parametrize(
    ("info", "reason"),
    [
        (ExitInfo(1, None), "crashed (Codex exit code 1)"),
        (ExitInfo(None, signal.SIGKILL), "crashed (Codex killed by SIGKILL)"),
        (ExitInfo(None, signal.SIGSEGV), "crashed (Codex killed by SIGSEGV)"),
        (ExitInfo(None, None), "crashed (Codex exit status unknown)"),
    ],
)
def test_any_other_exit_is_a_crash_watched_or_not(state: State, watched: bool, info: ExitInfo, reason: str) -> None:
    assert exit_outcome(state, info, watched=watched) == (State.EXITED, Ending(EndKind.EXITED, reason))


@pytest.mark.parametrize(
    "ending",
    [Ending.crashed("exit code 1"), Ending.codex_exited("by itself"), Ending.codex_exited(), Ending.ended("idle")],
)
def test_an_ending_stored_as_its_words_reads_back_as_the_same_kind(ending: Ending) -> None:
    """Records keep only the words (as every earlier version wrote them): the kind must survive a restart."""
    assert Ending.stored(ending.detail) == ending
