"""codex_review's parts below the manager: what to review (checked with git before Codex runs), the
`codex review` command line, the `codex review` process, and the review Codex recorded in its rollout.

Why `codex review` and not the TUI's `/review` (measured with Codex 0.169.0 and 0.171.0 against the fake model):
the TUI takes a target only through its preset popup (a list, then a branch or commit picker), keys that differ
from version to version; `/review TEXT` runs a custom review only. `codex review --uncommitted | --base B |
--commit SHA` takes the target as a flag and builds Codex's own request for it ("Review the current code changes
(staged, unstaged, and untracked files) …", the merge base of a branch, …), runs read-only with approval never,
and finishes in ~1 s warm (~2.4 s in a new CODEX_HOME); a TUI start to a ready composer alone is ~0.7 s. It
writes a thread (originator codex_exec) whose rollout holds the review: `EnteredReviewMode`, the structured
`ExitedReviewMode` output, the rendered review as an assistant message and Codex's `<user_action>` message
carrying it into the thread's history. `codex resume <that thread>` continues it, so codex_reply asks
follow-ups in the same thread. A prompt cannot go with a target flag ("the argument '--base' cannot be used with
'[PROMPT]'"), so the focus text travels as `-c developer_instructions=…`, which reaches the reviewer as a
developer message in both versions, next to Codex's review guidelines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

from .._internal.processtree import kill_tree
from ..errors import InvalidInput
from .argv import check_name, toml_value
from .settings import Effort, LaunchOptions

log = logging.getLogger(__name__)

JsonObject = dict[str, object]
Kind = Literal["uncommitted", "base", "commit"]

GIT_TIMEOUT_S = 10.0
"""How long one git check may take (a huge repository's status is the slow one)."""

_SESSION_ID = re.compile(
    r"^session id:\s*([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\s*$", re.M
)


@dataclass(frozen=True)
class ReviewTarget:
    """What Codex reviews: the uncommitted changes, the changes against a base branch, or one commit."""

    kind: Kind
    ref: str | None = None  # the branch name, or the commit's full SHA
    title: str | None = None  # the commit's subject line, which Codex puts in its request

    @property
    def label(self) -> str:
        """How results name it: "uncommitted", "base:<branch>" or "commit:<sha>"."""
        return self.kind if self.ref is None else f"{self.kind}:{self.ref}"

    def flags(self) -> list[str]:
        """The `codex review` flags that choose it."""
        if self.kind == "uncommitted":
            return ["--uncommitted"]
        assert self.ref is not None
        flags = [f"--{self.kind}", self.ref]
        return flags + (["--title", self.title] if self.title else [])


@dataclass(frozen=True)
class Finding:
    """One finding of Codex's reviewer (its ReviewOutputEvent's `findings` item)."""

    title: str
    body: str
    priority: int | None = None
    confidence: float | None = None
    file: str | None = None
    line_start: int | None = None
    line_end: int | None = None


@dataclass(frozen=True)
class ReviewOutput:
    """The reviewer's structured answer: findings and the overall verdict."""

    findings: list[Finding] = field(default_factory=list)
    verdict: str | None = None  # "patch is correct" | "patch is incorrect"
    explanation: str | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class RecordedReview:
    """A finished review as its thread's rollout records it."""

    request: str | None  # what Codex asked its reviewer
    reply: str | None  # the review as Codex rendered it into the thread
    output: ReviewOutput | None


@dataclass(frozen=True)
class ReviewRequest:
    """What a client asks codex_review for: the settings to run with (cwd already checked; model and effort as
    chosen; the reviewer runs read-only, whatever else they say) and what to review."""

    options: LaunchOptions
    base: str | None = None
    commit: str | None = None
    instructions: str | None = None


@dataclass
class ReviewRun:
    """One review the manager runs: its target, and the structured output once Codex has finished."""

    target: ReviewTarget
    output: ReviewOutput | None = None
    stopped: bool = False  # the caller gave up and Codex was stopped


# --- what to review ------------------------------------------------------------------------------


async def git(cwd: str, *args: str, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """Run one git command in cwd, bounded by GIT_TIMEOUT_S: (exit code, stdout, stderr)."""
    # Optional locks off: a check must never hold the index lock a person's own git is about to take.
    genv = {**(env or os.environ), "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=cwd,
            env=genv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        raise InvalidInput("git is not installed (not on PATH): codex_review needs git to find the changes") from None
    try:
        async with asyncio.timeout(GIT_TIMEOUT_S):
            out, err = await proc.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise InvalidInput(f"`git {' '.join(args)}` took more than {GIT_TIMEOUT_S:g}s in {cwd}; try again") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace").strip(), err.decode(errors="replace").strip()


def _check_ref(what: str, value: str) -> str:
    """A branch or commit name that cannot pass for an option of git or Codex."""
    ref = value.strip()
    if not ref or ref.startswith("-") or any(c in ref for c in "\x00\n\r") or len(ref) > 256:
        raise InvalidInput(f"{what} {value[:80]!r} is not a git {what}: pass a name like 'main' or a commit SHA")
    return ref


async def _branches(cwd: str, env: Mapping[str, str] | None) -> str:
    code, out, _ = await git(cwd, "for-each-ref", "--count=20", "--format=%(refname:short)", "refs/heads", env=env)
    return ", ".join(out.split()) if code == 0 and out else "none"


async def _commit_of(cwd: str, ref: str, env: Mapping[str, str] | None) -> str | None:
    """The commit a ref names in the repository at cwd, or None when git knows no such commit."""
    code, sha, _ = await git(cwd, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", env=env)
    return sha if code == 0 else None


async def resolve_target(
    cwd: str, base: str | None, commit: str | None, env: Mapping[str, str] | None = None
) -> ReviewTarget:
    """The target these arguments choose, checked with git: a repository, a known branch or commit, and
    something to review. Raises InvalidInput saying what to pass instead."""
    if base and commit:
        raise InvalidInput("pass base or commit, not both (or neither, to review the uncommitted changes)")
    code, top, err = await git(cwd, "rev-parse", "--show-toplevel", env=env)
    if code != 0:
        raise InvalidInput(
            f"{cwd} is not inside a git repository ({err.splitlines()[-1] if err else 'git rev-parse failed'}): "
            "codex_review reviews git changes; pass the folder of a git repository as cwd"
        )
    if commit:
        ref = _check_ref("commit", commit)
        sha = await _commit_of(cwd, ref, env)
        if sha is None:
            raise InvalidInput(
                f"unknown commit {ref!r} in {top}: pass a commit SHA that `git log` shows there (or a ref like HEAD~1)"
            )
        _, subject, _ = await git(cwd, "log", "-1", "--format=%s", sha, env=env)
        return ReviewTarget("commit", sha, subject or None)
    if base:
        ref = _check_ref("branch", base)
        sha = await _commit_of(cwd, ref, env)
        if sha is None:
            raise InvalidInput(
                f"unknown branch {ref!r} in {top}: pass a branch git knows there ({await _branches(cwd, env)})"
            )
        code, merge_base, _ = await git(cwd, "merge-base", "HEAD", sha, env=env)
        # Codex reviews `git diff <merge base>` (the working tree against it): nothing there, nothing to review.
        if code == 0 and (await git(cwd, "diff", "--quiet", merge_base, "--", env=env))[0] == 0:
            raise InvalidInput(
                f"nothing to review: {top} has no changes against {ref!r} (HEAD and the working tree match their "
                "merge base); pass another base, a commit, or no base to review uncommitted changes"
            )
        return ReviewTarget("base", ref)
    code, status, err = await git(cwd, "status", "--porcelain", "--untracked-files=all", env=env)
    if code != 0:
        raise InvalidInput(f"`git status` failed in {top}: {err[-300:]}")
    if not status:
        raise InvalidInput(
            f"nothing to review: {top} has no uncommitted changes (staged, unstaged or untracked). "
            "Pass base='<branch>' to review a branch's changes, or commit='<sha>' to review a commit"
        )
    return ReviewTarget("uncommitted")


# --- the command line ----------------------------------------------------------------------------


def focus_instructions(instructions: str, existing: str | None = None) -> str:
    """The developer instructions that carry the caller's focus to Codex's reviewer, after any the user's own
    config sets (a `-c developer_instructions` replaces the config's value)."""
    focus = f"Focus of this review, from the person who asked for it:\n{instructions}"
    return f"{existing.rstrip()}\n\n{focus}" if existing and existing.strip() else focus


def review_argv(
    binary: str,
    target: ReviewTarget,
    *,
    model: str | None = None,
    effort: Effort | None = None,
    developer_instructions: str | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """argv for `codex review` of the target. `codex review` has no -m or -C: the model and effort go as config
    overrides, and the process runs in the folder to review. extra: more flags (codex-mcp's own MCP entries
    turned off)."""
    argv = [binary, "review", *target.flags(), "-c", "check_for_update_on_startup=false"]
    if model:
        argv += ["-c", f"model={toml_value(check_name('model', model))}"]
    if effort:
        argv += ["-c", f"model_reasoning_effort={toml_value(effort)}"]
    if developer_instructions:
        argv += ["-c", f"developer_instructions={toml_value(developer_instructions)}"]
    return [*argv, *extra]


def describe(target: ReviewTarget, instructions: str | None) -> str:
    """The review as a turn's prompt in the transcript."""
    what = {
        "uncommitted": "the uncommitted changes (staged, unstaged and untracked)",
        "base": f"the changes against branch {target.ref}",
        "commit": f"commit {target.ref}" + (f" ({target.title})" if target.title else ""),
    }[target.kind]
    return f"[codex review] Review {what}." + (f"\nFocus: {instructions}" if instructions else "")


def session_id(stderr: str) -> str | None:
    """The thread id `codex review` prints in its header ("session id: <uuid>")."""
    found = _SESSION_ID.search(stderr)
    return found.group(1).lower() if found else None


# --- what the rollout says -----------------------------------------------------------------------


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _finding(item: object) -> Finding | None:
    if not isinstance(item, dict):
        return None
    location = item.get("code_location")
    location = location if isinstance(location, dict) else {}
    lines = location.get("line_range")
    lines = lines if isinstance(lines, dict) else {}
    return Finding(
        title=_text(item.get("title")) or "",
        body=_text(item.get("body")) or "",
        priority=_integer(item.get("priority")),
        confidence=_number(item.get("confidence_score")),
        file=_text(location.get("absolute_file_path")),
        line_start=_integer(lines.get("start")),
        line_end=_integer(lines.get("end")),
    )


def parse_output(value: object) -> ReviewOutput | None:
    """Codex's review output (ReviewOutputEvent: findings, overall_correctness, overall_explanation,
    overall_confidence_score), from its JSON object or text; None when it is not one."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, dict) or not any(
        k in value for k in ("findings", "overall_correctness", "overall_explanation")
    ):
        return None
    items = value.get("findings")
    findings = [f for f in map(_finding, items if isinstance(items, list) else []) if f is not None]
    return ReviewOutput(
        findings=findings,
        verdict=_text(value.get("overall_correctness")) or None,
        explanation=_text(value.get("overall_explanation")),
        confidence=_number(value.get("overall_confidence_score")),
    )


def _recovered(output: ReviewOutput | None) -> ReviewOutput | None:
    """Codex's output, or what its explanation holds when Codex could not parse the reviewer's answer. Codex
    parses strictly (a finding without code_location or confidence_score fails it) and then keeps the whole answer
    as the explanation with an empty verdict; parse_output reads such an answer field by field."""
    if output is None or output.findings or output.verdict or not output.explanation:
        return output
    # Codex's confidence of 0 there means no verdict was read, not a confident one.
    return parse_output(output.explanation.strip()) or ReviewOutput(explanation=output.explanation)


def _message(payload: JsonObject) -> str:
    content = payload.get("content")
    if isinstance(content, str):
        return content
    parts = [c.get("text") for c in content if isinstance(c, dict)] if isinstance(content, list) else []
    return "".join(p for p in parts if isinstance(p, str))


def read_review(records: Sequence[JsonObject]) -> RecordedReview:
    """The review in a `codex review` thread's rollout records: the request Codex's reviewer got (its
    `UserMessage` item), the structured output (`ExitedReviewMode`) and the rendered review (the assistant
    message after it). The last review wins: a thread can hold several."""
    request = reply = None
    output: ReviewOutput | None = None
    exited = False
    for record in records:
        payload = record.get("payload")
        if not isinstance(payload, dict):
            continue
        payload = cast(JsonObject, payload)
        item = payload.get("item")
        if record.get("type") == "event_msg" and payload.get("type") == "item_completed" and isinstance(item, dict):
            if item.get("type") == "UserMessage":
                request = _message(item) or request
            elif item.get("type") == "ExitedReviewMode":
                output, exited, reply = _recovered(parse_output(item.get("review_output"))), True, None
        elif exited and reply is None and record.get("type") == "response_item" and payload.get("type") == "message":
            reply = _message(payload) if payload.get("role") == "assistant" else None
    return RecordedReview(request, reply, output)


# --- the process ---------------------------------------------------------------------------------


class ReviewProcess:
    """One `codex review` run: its thread id as soon as Codex prints it, then its exit and output."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.stderr = ""

    @classmethod
    async def start(cls, argv: list[str], cwd: str, env: Mapping[str, str]) -> ReviewProcess:
        """Spawn it in its own process group (so every child goes with it), with no stdin."""
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        return cls(proc)

    async def thread_id(self, timeout: float) -> str | None:
        """The thread id from Codex's header, or None if Codex exits or stays silent for timeout seconds."""
        assert self.proc.stderr is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while line := await self.proc.stderr.readline():
                    self.stderr += line.decode(errors="replace")
                    if (found := session_id(self.stderr)) is not None:
                        return found
        return None

    async def finish(self) -> tuple[int, str]:
        """Wait for Codex to exit: (exit code, stdout). The rest of stderr joins self.stderr."""
        out, err = await self.proc.communicate()
        self.stderr += err.decode(errors="replace")
        assert self.proc.returncode is not None
        return self.proc.returncode, out.decode(errors="replace")

    def problem(self) -> str:
        """Codex's own words on why it failed: its error lines, else the end of its stderr."""
        lines = [ln for ln in self.stderr.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.lower().startswith(("error", "fatal"))]
        return "\n".join((errors or lines)[-8:])[-2000:]

    def stop(self) -> None:
        """Kill Codex and its children (the whole process group; on Windows the process tree); whoever awaits
        finish() reaps it."""
        if self.proc.returncode is not None:
            return
        if sys.platform == "win32":
            kill_tree(self.proc.pid)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    async def kill(self) -> None:
        """stop(), and reap it."""
        self.stop()
        with contextlib.suppress(ProcessLookupError):
            await self.proc.wait()
