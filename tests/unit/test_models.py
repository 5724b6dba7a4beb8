"""The text each tool result renders: what a model reading it needs first (the reply), the ids to call back with,
the next step, and the same key values as the structured content."""

from __future__ import annotations

import json
from pathlib import Path

from codex_mcp.codex.settings import LaunchOptions
from codex_mcp.codex.versions import SUPPORTED_VERSIONS
from codex_mcp.config import Settings
from codex_mcp.conversations.conversation import Conversation
from codex_mcp.mcp.results import (
    Approval,
    AttachInfo,
    ConversationInfo,
    EndResult,
    InterruptResult,
    ListResult,
    ReplyResult,
    StatusResult,
    TurnResult,
    attach_info,
    listed_settings,
)
from codex_mcp.mcp.transcript import transcript_result
from codex_mcp.session.approvals import ApprovalRequest
from codex_mcp.turn import Turn, TurnStatus

CID = "01a1fbea-b6ba-73a1-8251-f4e5e362b223"
THREAD = "01a1fbea-b6ba-73a1-8251-f4e5e362b299"
COMMAND = "touch golden.txt"
SCREEN = ["• Running touch golden.txt", "  Would you like to run the following command?"]


def request() -> ApprovalRequest:
    return ApprovalRequest(
        question="Would you like to run the following command?",
        command=COMMAND,
        reason=f"Needs to run {COMMAND}",
        choices=[("y", "Yes, proceed"), ("p", "Yes, and don't ask again"), ("esc", "No, and tell Codex")],
        lines=[],
    )


def sections(text: str) -> list[str]:
    return text.split("\n\n")


# --- turn results -------------------------------------------------------------------------------------


def test_completed_turn_shows_the_reply_first_then_where_it_stands() -> None:
    result = TurnResult(
        conversationId=CID,
        status="completed",
        reply="All done.\n\nTwo files changed.",
        turn=2,
        state="idle",
        elapsed_s=1.5,
    )
    text = result.text()
    assert text.startswith("All done.\n\nTwo files changed.\n\n")
    assert f"[conversationId: {CID} · turn 2 · status: completed]" in text
    assert "codex_status" not in text, "nothing to collect"
    dumped = result.model_dump()
    assert dumped["reply"] in text
    assert dumped["conversationId"] in text
    assert str(dumped["turn"]) in text


def test_waiting_turn_says_what_to_ask_and_how_to_answer() -> None:
    result = TurnResult(
        conversationId=CID,
        status="waiting_for_approval",
        reply=None,
        turn=3,
        state="waiting_for_approval",
        screen=SCREEN,
        approval=Approval.of(request()),
        notices=["Codex offered gpt-next; the conversation keeps gpt-test"],
        elapsed_s=2.0,
    )
    text = result.text()
    parts = sections(text)
    assert parts[0] == f"[conversationId: {CID} · turn 3 · status: waiting_for_approval]", "no reply: the meta first"
    assert parts[1] == "Codex is waiting for an approval decision."
    assert parts[2].startswith("Approval requested: Would you like to run the following command?")
    assert f"\nCommand: {COMMAND}" in parts[2]
    assert f"\nReason: Needs to run {COMMAND}" in parts[2]
    assert "Choices: Yes, proceed (y); Yes, and don't ask again (p); No, and tell Codex (esc)" in parts[2]
    assert "codex_approve(conversationId, decision=" in parts[2]
    assert parts[3] == "Notice: Codex offered gpt-next; the conversation keeps gpt-test"
    assert parts[4] == "Screen:\n" + "\n".join(SCREEN), "the screen comes last"
    # The structured content says the same.
    dumped = result.model_dump()
    assert dumped["approval"]["command"] == COMMAND
    assert dumped["approval"]["choices"] == [
        "Yes, proceed (y)",
        "Yes, and don't ask again (p)",
        "No, and tell Codex (esc)",
    ]
    assert dumped["notices"] == ["Codex offered gpt-next; the conversation keeps gpt-test"]
    assert dumped["screen"] == SCREEN


def test_approval_not_drawn_yet_still_tells_the_client_to_ask() -> None:
    approval = Approval.of(None)
    assert approval.choices == []
    assert "Choices" not in approval.text()
    assert approval.text().startswith("Approval requested: Codex is waiting for a decision")


def test_running_and_queued_turns_say_how_to_collect_the_reply() -> None:
    for status in ("running", "queued"):
        result = TurnResult(
            conversationId=CID, status=status, reply=None, turn=1, state="running", elapsed_s=50.0, screen=["› …"]
        )
        assert "call codex_status with wait_s to collect the reply" in result.text()


def test_failed_turn_shows_the_error_and_who_holds_the_keyboard() -> None:
    result = TurnResult(
        conversationId=CID,
        status="failed",
        reply=None,
        turn=1,
        state="exited",
        error="crashed (Codex exit code 1) during the turn",
        input_holder="a person (codex-mcp attach, pid 42)",
        elapsed_s=0.1,
    )
    parts = sections(result.text())
    assert parts[1] == "Error: crashed (Codex exit code 1) during the turn"
    assert parts[2] == "a person (codex-mcp attach, pid 42) is at the keyboard: this turn waits until they detach."


def test_reply_result_names_the_recovery_and_the_thread() -> None:
    fields: dict[str, object] = {
        "conversationId": CID,
        "status": "completed",
        "reply": "ok",
        "turn": 4,
        "state": "idle",
        "elapsed_s": 9.0,
    }
    replayed = ReplyResult.model_validate({**fields, "recovery": "replayed", "thread_id": THREAD})
    assert replayed.text().startswith("ok\n\n")
    assert f"Recovery: replayed (Codex thread {THREAD})." in sections(replayed.text())
    assert replayed.model_dump()["recovery"] == "replayed"
    live = ReplyResult.model_validate(fields)
    assert "Recovery" not in live.text()


def test_a_reply_longer_than_the_budget_says_how_to_read_on() -> None:
    conv = Conversation(CID, LaunchOptions(cwd="/tmp"))
    turn = Turn(index=1, prompt="long", status=TurnStatus.COMPLETED, reply="x" * 5000)
    conv.turns.append(turn)
    result = TurnResult.of(conv, turn, elapsed_s=1.23456, budget=1000)
    assert result.reply_truncated
    assert result.reply_chars == 5000
    assert result.elapsed_s == 1.235
    assert result.screen is None, "a completed turn needs no screen"
    assert result.text().startswith("x" * 1000)
    assert f"codex_status(conversationId='{CID}', turn=1, offset=1000)" in result.text()


# --- other results ------------------------------------------------------------------------------------


def test_status_result_shows_the_reply_then_the_state() -> None:
    result = StatusResult(
        conversationId=CID,
        state="ended",
        status="failed",
        reply="the last reply",
        turn=3,
        reply_turn=2,
        turns=3,
        error="the server stopped during this turn; it was not re-run",
        end_reason="server stopped",
        thread_id=THREAD,
        screen=[],
    )
    parts = sections(result.text())
    assert parts[0] == "the last reply"
    assert parts[1] == f"[conversationId: {CID} · state: ended · latest turn 3: failed]"
    assert parts[2] == "Error: the server stopped during this turn; it was not re-run"
    assert parts[3] == "Ended: server stopped"
    dumped = result.model_dump()
    assert (dumped["state"], dumped["status"], dumped["turn"]) == ("ended", "failed", 3)


def test_status_result_without_turns() -> None:
    result = StatusResult(
        conversationId=CID, state="idle", status=None, reply=None, turn=None, turns=0, thread_id=CID, screen=[]
    )
    assert result.text() == f"[conversationId: {CID} · state: idle · no turns yet]"


def test_status_text_carries_the_approval_and_the_next_step() -> None:
    """A model that reads only codex_status's text learns what Codex asks and how to answer, as the structured
    content says."""
    result = StatusResult(
        conversationId=CID,
        state="waiting_for_approval",
        status="waiting_for_approval",
        reply=None,
        turn=2,
        turns=2,
        thread_id=CID,
        approval=Approval(question="Would you like to run the following command?", command="rm -rf build", choices=[]),
        screen=["Would you like to run the following command?", "$ rm -rf build"],
    )
    text = result.text()
    assert "Approval requested: Would you like to run the following command?" in text
    assert "Command: rm -rf build" in text
    assert "codex_approve" in text
    assert "Screen:\n" in text


def test_end_result_says_why_and_how_codex_ended() -> None:
    ended = EndResult(conversationId=CID, ended=True, state="ended", reason="ended by the client", exit="exit code 0")
    assert ended.text() == f"Conversation {CID} ended (ended by the client; Codex exit code 0)."
    bare = EndResult(conversationId=CID, ended=False, state="ended")
    assert bare.text() == f"Conversation {CID} ended (no reason recorded; Codex was not running)."


def test_interrupt_result_with_and_without_a_running_turn() -> None:
    stopped = InterruptResult(conversationId=CID, interrupted=True, turn=5, status="interrupted", state="idle")
    assert stopped.text() == f"Interrupted turn 5 of conversation {CID} (status: interrupted)."
    nothing = InterruptResult(conversationId=CID, interrupted=False, turn=None, status=None, state="idle")
    assert nothing.text() == f"Nothing to interrupt in conversation {CID} (state: idle)."


def test_attach_info_live_gives_both_commands(tmp_path: Path) -> None:
    info = AttachInfo(
        conversationId=CID,
        live=True,
        command=f"codex-mcp attach {CID}",
        watch_command=f"codex-mcp attach {CID} --watch",
        socket="/run/x.sock",
        viewers=["watch"],
        input_holder=None,
    )
    text = info.text()
    assert f"codex-mcp attach {CID}  (takes the keyboard; Ctrl-] detaches)" in text
    assert f"To watch only: codex-mcp attach {CID} --watch" in text


def test_attach_info_not_live_says_to_reply_first(tmp_path: Path) -> None:
    conv = Conversation(CID, LaunchOptions(cwd="/tmp"))
    state_dir = tmp_path / "my state"
    info = attach_info(conv, Settings(state_dir=state_dir), tmp_path / "s.sock")
    assert info.live is False
    assert info.text() == f"Conversation {CID} has no live Codex session now; reply to it first."
    assert info.command == f"codex-mcp attach {CID} --state-dir '{state_dir}'", "a non-default state dir is named"
    assert info.watch_command == info.command + " --watch"
    assert info.viewers == []


def info_row(cid: str, prompt: str) -> ConversationInfo:
    return ConversationInfo(
        conversationId=cid,
        state="ended",
        cwd="/work",
        model=None,
        created_at="2026-01-01T00:00:00Z",
        last_activity="2026-01-01T00:01:00Z",
        turns=2,
        first_prompt=prompt,
        end_reason="server stopped",
        thread_id=cid,
    )


def test_list_result_pages_and_warns_about_the_codex_version() -> None:
    rows = [info_row(CID, "fix the tests"), info_row(THREAD, "")]
    result = ListResult(
        conversations=rows,
        total=5,
        next_cursor="abc123",
        codex_version="0.100.0",
        codex_support="older_unsupported",
        codex_supported_versions=list(SUPPORTED_VERSIONS),
        state_problems=["x.json could not be read (bad JSON); kept as x.corrupt"],
    )
    lines = result.text().splitlines()
    assert lines[0].startswith(f"{CID}  ended  turns=2  last=2026-01-01T00:01:00Z  cwd=/work  (server stopped)")
    assert lines[1] == "    fix the tests"
    assert lines[2].startswith(THREAD)
    assert lines[3] == "[2 of 5 shown; next page: codex_list(cursor='abc123')]"
    assert lines[4] == "State problem: x.json could not be read (bad JSON); kept as x.corrupt"
    assert lines[5] == (
        f"Codex 0.100.0 is older unsupported (supported: {SUPPORTED_VERSIONS[0]} to {SUPPORTED_VERSIONS[-1]})."
    )
    dumped = json.loads(result.model_dump_json())
    assert dumped["next_cursor"] == "abc123"
    assert dumped["total"] == 5
    assert [c["conversationId"] for c in dumped["conversations"]] == [CID, THREAD]


def test_list_result_last_page_and_empty_listings() -> None:
    last = ListResult(conversations=[info_row(CID, "p")], total=1, codex_version="0.171.0", codex_support="supported")
    assert last.text().splitlines()[-1] == "[1 of 1 shown]"
    assert "supported:" not in last.text()
    assert ListResult(conversations=[], total=0).text() == "No conversations yet: call codex_start."
    assert ListResult(conversations=[], total=3).text() == "No conversations match."
    newer = ListResult(
        conversations=[],
        total=0,
        codex_version="9.0.0",
        codex_support="newer_untested",
        codex_supported_versions=list(SUPPORTED_VERSIONS),
    )
    assert newer.text().splitlines()[-1].startswith("Codex 9.0.0 is newer untested (supported: ")


def test_transcript_pages_say_where_they_stand() -> None:
    conv = Conversation(CID, LaunchOptions(cwd="/tmp"))
    for i in range(1, 6):
        conv.turns.append(
            Turn(
                index=i,
                prompt=f"prompt {i}\nline two",
                status=TurnStatus.COMPLETED,
                reply=f"reply {i}",
                submitted_at=0.0,
            )
        )
    conv.turns[-1].status, conv.turns[-1].reply, conv.turns[-1].error = TurnStatus.FAILED, None, "it broke"

    first = transcript_result(conv, from_turn=1, limit=2, budget=10_000)
    text = first.text()
    assert text.startswith("## Turn 1 (completed, 1970-01-01T00:00:00Z)\n\n> prompt 1\n> line two\n\nreply 1")
    assert text.endswith(f"[turns 1-2 of 5; next page: codex_transcript(conversationId='{CID}', from_turn=3)]")
    assert first.next_turn == 3

    last = transcript_result(conv, from_turn=5, limit=2, budget=10_000)
    assert last.next_turn is None
    assert last.text().endswith("Error: it broke\n\n[turns 5-5 of 5]")

    beyond = transcript_result(conv, from_turn=9, limit=2, budget=10_000)
    assert beyond.text() == f"Conversation {CID} has no turns there (it has 5)."


def test_a_listing_row_has_a_field_for_every_listed_setting() -> None:
    settings = listed_settings(LaunchOptions(cwd="/w", model="m", sandbox="read-only", effort="low"))
    assert set(settings) <= set(ConversationInfo.model_fields), "codex_list would drop a setting"
    assert settings == {
        "cwd": "/w",
        "model": "m",
        "profile": None,
        "sandbox": "read-only",
        "approval_policy": None,
        "effort": "low",
    }
