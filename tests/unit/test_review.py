"""review.py without Codex: targets and their flags, the `codex review` argv, the thread id in Codex's header, the
review output and the rollout records of a review (shaped as Codex 0.169/0.171 write them), git checks on a real
repository, and the fake model's answer to a review request."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from codex_mcp.cli.fakemodel import REVIEW_MARKER, review_answer
from codex_mcp.codex.review import (
    Finding,
    ReviewOutput,
    ReviewTarget,
    describe,
    focus_instructions,
    parse_output,
    read_review,
    resolve_target,
    review_argv,
    session_id,
)
from codex_mcp.errors import InvalidInput

OUTPUT = {
    "findings": [
        {
            "title": "[P1] Off by one",
            "body": "The loop skips the last item.",
            "confidence_score": 0.8,
            "priority": 1,
            "code_location": {"absolute_file_path": "/x/a.py", "line_range": {"start": 2, "end": 3}},
        }
    ],
    "overall_correctness": "patch is incorrect",
    "overall_explanation": "It drops an item.",
    "overall_confidence_score": 0.7,
}
EXPECTED = ReviewOutput(
    findings=[Finding("[P1] Off by one", "The loop skips the last item.", 1, 0.8, "/x/a.py", 2, 3)],
    verdict="patch is incorrect",
    explanation="It drops an item.",
    confidence=0.7,
)


def test_targets_name_themselves_and_choose_codex_flags() -> None:
    assert ReviewTarget("uncommitted").label == "uncommitted"
    assert ReviewTarget("uncommitted").flags() == ["--uncommitted"]
    assert ReviewTarget("base", "main").label == "base:main"
    assert ReviewTarget("base", "main").flags() == ["--base", "main"]
    commit = ReviewTarget("commit", "abc123", "Fix it")
    assert commit.label == "commit:abc123"
    assert commit.flags() == ["--commit", "abc123", "--title", "Fix it"]


def test_review_argv_passes_model_effort_and_focus_as_config() -> None:
    argv = review_argv(
        "/bin/codex",
        ReviewTarget("base", "main"),
        model="gpt-x",
        effort="high",
        developer_instructions='Check "quotes"\nand lines',
        extra=["-c", "mcp_servers.x.enabled=false"],
    )
    assert argv[:4] == ["/bin/codex", "review", "--base", "main"]
    assert 'model="gpt-x"' in argv
    assert 'model_reasoning_effort="high"' in argv
    assert 'developer_instructions="Check \\"quotes\\"\\nand lines"' in argv
    assert argv[-2:] == ["-c", "mcp_servers.x.enabled=false"]
    plain = review_argv("/bin/codex", ReviewTarget("uncommitted"))
    assert not any(a.startswith(("model", "developer_instructions")) for a in plain)
    with pytest.raises(InvalidInput):
        review_argv("/bin/codex", ReviewTarget("uncommitted"), model="bad\nname")


def test_focus_goes_after_the_users_own_developer_instructions() -> None:
    assert focus_instructions("the locking").endswith("\nthe locking")
    both = focus_instructions("the locking", "Always answer in English.")
    assert both.startswith("Always answer in English.\n\n")
    assert both.endswith("the locking")


def test_describe_says_what_was_reviewed() -> None:
    assert describe(ReviewTarget("uncommitted"), None).startswith("[codex review] Review the uncommitted changes")
    assert "commit abc (Fix it)" in describe(ReviewTarget("commit", "abc", "Fix it"), None)
    assert describe(ReviewTarget("base", "main"), "errors").endswith("\nFocus: errors")


def test_the_thread_id_comes_from_codexs_header() -> None:
    header = (
        "OpenAI Codex v0.171.0\n--------\nworkdir: /r\nmodel: mock-model\napproval: never\nsandbox: read-only\n"
        "session id: 01A233F3-C4AD-7111-A87B-97C20DA064BC\n--------\nuser\ncurrent changes\n"
    )
    assert session_id(header) == "01a233f3-c4ad-7111-a87b-97c20da064bc"
    assert session_id("workdir: /r\n") is None
    assert session_id("the session id: 01a233f3-c4ad-7111-a87b-97c20da064bc was") is None


def test_review_output_is_read_from_an_object_or_its_json() -> None:
    assert parse_output(OUTPUT) == EXPECTED
    assert parse_output(json.dumps(OUTPUT)) == EXPECTED
    assert parse_output("Looks fine to me.") is None
    assert parse_output({"title": "not a review"}) is None
    partial = parse_output({"findings": [{"title": "t", "priority": True, "confidence_score": "high"}, "junk"]})
    assert partial == ReviewOutput(findings=[Finding("t", "")], verdict=None)
    assert parse_output({"findings": [], "overall_correctness": ""}) == ReviewOutput()


def item(kind: str, **fields: object) -> dict[str, object]:
    """An `item_completed` event of a rollout."""
    return {"type": "event_msg", "payload": {"type": "item_completed", "item": {"type": kind, **fields}}}


def message(role: str, text: str) -> dict[str, object]:
    """A `response_item` message of a rollout."""
    return {
        "type": "response_item",
        "payload": {"type": "message", "role": role, "content": [{"type": "output_text", "text": text}]},
    }


def test_the_review_is_read_from_its_rollout_records() -> None:
    request = (
        "Review the current code changes (staged, unstaged, and untracked files) and provide prioritized findings."
    )
    rendered = (
        "It drops an item.\n\nReview comment:\n\n- [P1] Off by one — /x/a.py:2-3\n  The loop skips the last item."
    )
    records: list[dict[str, object]] = [
        {"type": "session_meta", "payload": {"id": "t", "cwd": "/r"}},
        item("EnteredReviewMode", target={"type": "uncommittedChanges"}, user_facing_hint="current changes"),
        item("UserMessage", content=[{"type": "text", "text": request, "text_elements": []}]),
        message("user", "<user_action>\n  <action>review</action>\n</user_action>"),
        item("ExitedReviewMode", review_output=OUTPUT),
        message("assistant", rendered),
        item("AgentMessage", content=[{"type": "Text", "text": rendered}]),
        message("assistant", "a later answer"),
    ]
    found = read_review(records)
    assert found.request == request
    assert found.reply == rendered
    assert found.output == EXPECTED
    assert read_review(records[:3]).output is None


def test_an_answer_codex_could_not_parse_is_read_field_by_field() -> None:
    """Codex parses strictly: a finding without code_location fails it, and it keeps the whole answer as the
    explanation with an empty verdict and confidence 0."""
    answer = json.dumps({"findings": [{"title": "Loose", "body": "b"}], "overall_correctness": "patch is correct"})
    fallback = {"findings": [], "overall_correctness": "", "overall_explanation": answer, "overall_confidence_score": 0}
    found = read_review([item("ExitedReviewMode", review_output=fallback), message("assistant", answer)])
    assert found.output == ReviewOutput(findings=[Finding("Loose", "b")], verdict="patch is correct")
    prose = {
        "findings": [],
        "overall_correctness": "",
        "overall_explanation": "No issues.",
        "overall_confidence_score": 0,
    }
    assert read_review([item("ExitedReviewMode", review_output=prose)]).output == ReviewOutput(explanation="No issues.")


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "T"}
    env["GIT_COMMITTER_EMAIL"] = "t@e"
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.anyio
async def test_targets_are_checked_with_git(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.txt").write_text("one\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "First line")
    sha = git(repo, "rev-parse", "HEAD")
    with pytest.raises(InvalidInput, match="no uncommitted changes"):
        await resolve_target(str(repo), None, None)
    assert await resolve_target(str(repo), None, "HEAD") == ReviewTarget("commit", sha, "First line")
    with pytest.raises(InvalidInput, match=r"unknown branch 'nope' .*\(main\)"):
        await resolve_target(str(repo), "nope", None)
    with pytest.raises(InvalidInput, match="has no changes against 'main'"):
        await resolve_target(str(repo), "main", None)
    (repo / "a.txt").write_text("two\n")  # an unstaged change is also a change against the base
    assert await resolve_target(str(repo), "main", None) == ReviewTarget("base", "main")
    assert await resolve_target(str(repo), None, None) == ReviewTarget("uncommitted")
    with pytest.raises(InvalidInput, match="is not a git commit"):
        await resolve_target(str(repo), None, "-p")
    with pytest.raises(InvalidInput, match="not inside a git repository"):
        await resolve_target(str(tmp_path), None, None)


def test_the_fake_model_answers_review_requests_only() -> None:
    user = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Review this"}]}]
    assert review_answer({"input": user}, ["Review this"]) is None
    guidelines = {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": REVIEW_MARKER}]}
    answer = review_answer({"input": [guidelines, *user]}, ["Review this"])
    assert answer is not None
    assert json.loads(answer.text)["findings"][0]["body"] == "REVIEWED: Review this"
    focus = {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "[[review:{}]]"}]}
    chosen = review_answer({"input": [guidelines, focus, *user]}, ["Review this"])
    assert chosen is not None
    assert chosen.text == "{}"
