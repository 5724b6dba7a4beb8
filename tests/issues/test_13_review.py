"""Issue 13 (the review part): codex_review runs Codex's own reviewer (`codex review`) on a git repository's changes
and returns its findings; the review is a conversation that codex_reply continues in the same Codex thread.

What reached the fake model proves each part: Codex's review request for the target (uncommitted, a base branch, a
commit), the caller's focus text, the model and the effort. A follow-up's request carries the review. Nothing to
review (a clean tree, an unknown branch or commit, no git repository, no folder) is a tool error that says what to
pass instead, and Codex never runs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from codex_mcp.cli.fakemodel import FakeModel, Recorded

from ..conftest import Sandbox, mcp_server
from ..helpers import call, call_error, reply

pytestmark = [pytest.mark.anyio, pytest.mark.codex]

UNCOMMITTED_REQUEST = (
    "Review the current code changes (staged, unstaged, and untracked files) and provide prioritized findings."
)


def git(repo: Path, *args: str) -> str:
    """One git command in repo, as a person with a name and email (the sandbox HOME has no git config)."""
    who = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env = {**os.environ, **who, "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com"}
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True, timeout=30)
    return done.stdout.strip()


def make_repo(folder: Path) -> Path:
    """A repository with a commit on main, a branch `feature` one commit ahead, and an uncommitted change."""
    repo = folder / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "add")
    git(repo, "checkout", "-qb", "feature")
    (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    git(repo, "commit", "-qam", "Subtract instead")
    (repo / "notes.txt").write_text("untracked\n")
    return repo


def reviews_since(fake: FakeModel, before: int) -> list[Recorded]:
    """The requests of Codex's reviewer the fake model got after the first `before` requests."""
    with fake._lock:
        return [r for r in fake.requests[before:] if r.is_review]


def rollouts(sandbox: Sandbox) -> list[Path]:
    """Every rollout Codex wrote in this test."""
    return sorted(sandbox.codex_home.glob("sessions/*/*/*/rollout-*.jsonl"))


async def test_uncommitted_review_returns_findings_and_continues_as_a_conversation(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    repo = make_repo(sandbox.work)
    async with mcp_server(sandbox, codex_bin) as client:
        before = len(fake_model.requests)
        result = await call(client, "codex_review", cwd=str(repo))
        [request] = reviews_since(fake_model, before)
        assert request.user_texts[-1] == UNCOMMITTED_REQUEST
        assert result["status"] == "completed", result
        assert result["target"] == "uncommitted"
        assert result["cwd"] == str(repo)
        assert result["verdict"] == "patch is incorrect"
        assert result["confidence"] == 0.5
        assert result["findings"] == [
            {
                "title": "[P2] Fake finding",
                "body": f"REVIEWED: {UNCOMMITTED_REQUEST}",
                "priority": 2,
                "confidence": 0.5,
                "file": "/fake/file.py",
                "line_start": 1,
                "line_end": 2,
            }
        ]
        assert "[P2] Fake finding" in result["reply"]  # the review as Codex renders it, always
        cid = result["conversationId"]
        assert result["thread_id"] == cid
        assert [p.name for p in rollouts(sandbox) if cid in p.name], "the review's thread has no rollout"

        # A follow-up resumes the review's own thread: its request carries the review, and the same thread id.
        followed = await reply(client, cid, "Which finding matters most? [[history]]")
        assert followed["status"] == "completed", followed
        assert followed["conversationId"] == cid
        assert followed["thread_id"] == cid
        assert followed["recovery"] == "resumed"
        # (requests[before:], not user_requests()[before:]: the fake is shared by the whole run, and `before`
        # counts title requests too)
        since = fake_model.requests[before:]
        [asked] = [r for r in since if not r.is_title and "Which finding matters most" in r.user_texts[-1]]
        assert "[P2] Fake finding" in json.dumps(asked.body["input"]), "the follow-up did not carry the review"
        status = await call(client, "codex_status", conversationId=cid)
        assert status["turns"] == 2
        transcript = await call(client, "codex_transcript", conversationId=cid)
        assert transcript["turns"][0]["prompt"].startswith("[codex review] Review the uncommitted changes")
        [listed] = [c for c in (await call(client, "codex_list"))["conversations"] if c["conversationId"] == cid]
        assert listed["sandbox"] == "read-only"


async def test_base_and_commit_reviews_with_focus_model_and_effort(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    repo = make_repo(sandbox.work)
    custom = {
        "findings": [
            {"title": "[P0] Wrong operator", "body": "`add` subtracts.", "confidence_score": 0.9, "priority": 0,
             "code_location": {"absolute_file_path": str(repo / "calc.py"), "line_range": {"start": 2, "end": 2}}},
            {"title": "No priority given", "body": "Something else."},
        ],
        "overall_correctness": "patch is incorrect",
        "overall_explanation": "add() no longer adds.",
        "overall_confidence_score": 0.8,
    }  # fmt: skip
    focus = f"Challenge the arithmetic. [[review:{json.dumps(custom)}]]"
    async with mcp_server(sandbox, codex_bin) as client:
        before = len(fake_model.requests)
        based = await call(
            client, "codex_review", cwd=str(repo), base="main", instructions=focus, model="review-model", effort="high"
        )
        [request] = reviews_since(fake_model, before)
        assert request.user_texts[-1].startswith("Review the code changes against the base branch 'main'.")
        assert any("Challenge the arithmetic." in t for t in request.texts("developer")), "the focus did not arrive"
        assert request.body["model"] == "review-model"
        assert request.body["reasoning"]["effort"] == "high"  # type: ignore[index]
        assert based["target"] == "base:main"
        assert based["status"] == "completed", based
        assert based["verdict"] == "patch is incorrect", json.dumps(based)
        assert based["explanation"] == "add() no longer adds."
        first, second = based["findings"]
        assert (first["priority"], first["file"], first["line_start"]) == (0, str(repo / "calc.py"), 2)
        assert (second["title"], second["priority"], second["file"]) == ("No priority given", None, None)

        sha = git(repo, "rev-parse", "HEAD")
        before = len(fake_model.requests)
        committed = await call(client, "codex_review", cwd=str(repo), commit=sha[:8])
        [request] = reviews_since(fake_model, before)
        assert f"commit {sha}" in request.user_texts[-1]
        assert "Subtract instead" in request.user_texts[-1]  # the commit's title, which codex-mcp passes on
        assert committed["target"] == f"commit:{sha}"
        assert committed["status"] == "completed", committed
        assert committed["conversationId"] != based["conversationId"]


NOTHING_TO_REVIEW = [
    ({"base": "main", "commit": "HEAD"}, "pass base or commit, not both"),
    ({"base": "no-such-branch"}, "unknown branch 'no-such-branch'"),
    ({"base": "--output=/tmp/x"}, "is not a git branch"),
    ({"commit": "0123456789abcdef"}, "unknown commit '0123456789abcdef'"),
    ({}, "nothing to review"),  # a clean tree
    ({"base": "feature"}, "nothing to review"),  # the branch it is on
]


async def test_nothing_to_review_is_a_clear_error_and_runs_no_codex(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    repo = make_repo(sandbox.work)
    (repo / "notes.txt").unlink()  # a clean tree
    plain = sandbox.work / "plain"
    plain.mkdir()
    (plain / "file.txt").write_text("not in git\n")
    before = len(fake_model.requests)
    async with mcp_server(sandbox, codex_bin) as client:
        for arguments, says in NOTHING_TO_REVIEW:
            error = await call_error(client, "codex_review", cwd=str(repo), **arguments)
            assert says in error, arguments
            assert "pass" in error.lower(), error  # it says what to send instead
        error = await call_error(client, "codex_review", cwd=str(plain))
        assert "not inside a git repository" in error
        assert "pass the folder of a git repository" in error
        error = await call_error(client, "codex_review", cwd=str(sandbox.work / "missing"))
        assert "does not exist" in error
    assert len(fake_model.requests) == before, "Codex asked the model"
    assert not rollouts(sandbox), "Codex ran"
