"""Approvals without a PTY: when a blocked turn counts as waiting (ApprovalWatch), what the client is told
(ApprovalRequest), and the key each decision presses (approval_keys). Screens are the golden captures of each
supported Codex (tests/fixtures/codex/<version>/approval.pty) rendered by our Screen."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from codex_mcp.codex.versions import version_key
from codex_mcp.errors import InvalidInput
from codex_mcp.session.approvals import DENY_KEY, ApprovalRequest, ApprovalWatch, approval_keys, read_approval

from .golden_screens import FIXTURES, golden_lines

VERSIONS = sorted(
    (p.name for p in FIXTURES.iterdir() if (p / "capture.json").is_file()),
    key=lambda name: version_key(name) or (0, 0, 0, 0),
)
COMMAND = "touch golden.txt"
CHOICES = [
    "Yes, proceed (y)",
    f"Yes, and don't ask again for commands that start with `{COMMAND}` (p)",
    "No, and tell Codex what to do differently (esc)",
]


def dialog_without_choices(lines: list[str]) -> list[str]:
    """The approval dialog as it looks mid-draw: the question, reason and command, no choices yet."""
    cut = next(i for i, line in enumerate(lines) if "1. Yes" in line)
    return lines[:cut] + [""] * (len(lines) - cut)


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def poll_until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Ask predicate until it is true or timeout passes (a retry_until for code with no event loop)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class FakeScreen:
    """The screen the watch reads: whatever the test shows now."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def read(self) -> list[str]:
        return self.lines


# --- ApprovalWatch -----------------------------------------------------------------------------------


def test_blocked_without_a_dialog_is_not_waiting_until_the_grace_passes(version: str) -> None:
    grace = 0.2
    watch = ApprovalWatch(FakeScreen(golden_lines(version, "startup")).read, grace_s=grace)
    since = time.monotonic()
    assert watch.waiting(True) is False, "OSC 7501 says blocked ~1 s before the dialog: a key now hits the composer"
    assert watch.pending is None
    assert poll_until(lambda: watch.waiting(True), timeout=5.0), "still not waiting long after the grace"
    assert time.monotonic() - since >= grace
    assert watch.pending is None, "waiting without a dialog: nothing to show but the screen"


def test_waiting_as_soon_as_the_dialog_is_on_screen(version: str) -> None:
    watch = ApprovalWatch(FakeScreen(golden_lines(version, "approval")).read, grace_s=60)
    assert watch.waiting(True) is True
    assert watch.pending is not None
    assert watch.pending.command == COMMAND
    assert watch.pending.choice_labels() == CHOICES


def test_the_dialog_is_read_until_whole_then_kept_while_blocked(version: str) -> None:
    whole = golden_lines(version, "approval")
    screen = FakeScreen(golden_lines(version, "startup"))
    watch = ApprovalWatch(screen.read, grace_s=60)
    assert watch.waiting(True) is False

    screen.lines = dialog_without_choices(whole)
    assert watch.waiting(True) is True, "the dialog is readable"
    assert watch.pending is not None
    assert watch.pending.question == "Would you like to run the following command?"
    assert watch.pending.choices == []

    screen.lines = whole
    assert watch.waiting(True) is True
    assert watch.pending is not None
    assert watch.pending.choice_labels() == CHOICES

    # Once whole, the request is kept as it was, whatever the screen shows while Codex stays blocked.
    kept = watch.pending
    screen.lines = golden_lines(version, "startup")
    assert watch.waiting(True) is True
    assert watch.pending is kept


def test_not_blocked_forgets_the_dialog_and_the_wait(version: str) -> None:
    screen = FakeScreen(golden_lines(version, "approval"))
    watch = ApprovalWatch(screen.read, grace_s=60)
    assert watch.waiting(True) is True
    assert watch.waiting(False) is False
    assert watch.pending is None
    # Blocked again with no dialog: a new wait, with a new grace.
    screen.lines = golden_lines(version, "startup")
    assert watch.waiting(True) is False
    assert watch.pending is None


def test_not_blocked_is_never_waiting_even_with_a_dialog_on_screen(version: str) -> None:
    watch = ApprovalWatch(FakeScreen(golden_lines(version, "approval")).read, grace_s=0)
    assert watch.waiting(False) is False
    assert watch.pending is None


# --- ApprovalRequest ---------------------------------------------------------------------------------


def test_request_message_and_choice_labels(version: str) -> None:
    request = read_approval(golden_lines(version, "approval"))
    assert request is not None
    assert request.message() == (
        f"Would you like to run the following command?\nCommand: {COMMAND}\nReason: Needs to run {COMMAND}"
    )
    assert request.choice_labels() == CHOICES


def test_request_message_leaves_out_what_codex_did_not_say() -> None:
    request = ApprovalRequest("Would you like to make the following edits?", None, None, [("y", "Yes")], [])
    assert request.message() == "Would you like to make the following edits?"
    assert request.choice_labels() == ["Yes (y)"]


# --- approval_keys -----------------------------------------------------------------------------------


def test_keys_for_each_decision_on_the_golden_dialog(version: str) -> None:
    request = read_approval(golden_lines(version, "approval"))
    assert approval_keys("approve", request) == b"y"
    assert approval_keys("approve_always", request) == b"p"
    assert approval_keys("deny", request) == DENY_KEY == b"\x1b"
    with pytest.raises(InvalidInput) as caught:
        approval_keys("approve_for_session", request)
    said = str(caught.value)
    assert "does not offer an approval limited to this session" in said
    assert all(choice in said for choice in CHOICES), "the refusal lists what Codex does offer"
    assert "approve_always" in said
    assert "approve (this once)" in said


def request_offering(*choices: tuple[str, str]) -> ApprovalRequest:
    return ApprovalRequest("Would you like to run the following command?", "ls", None, list(choices), [])


@pytest.mark.parametrize(
    ("label", "decision"),
    [
        ("Yes, and don't ask again for this session", "approve_for_session"),
        ("Yes, always allow `ls`", "approve_always"),
        ("Yes, and don’t ask again for `ls`", "approve_always"),  # a typographic apostrophe
    ],
)
def test_keys_follow_the_choices_codex_offers(label: str, decision: str) -> None:
    request = request_offering(("y", "Yes, proceed"), ("a", label), ("esc", "No"))
    assert approval_keys(decision, request) == b"a"


def test_approve_for_session_never_presses_a_lasting_choice() -> None:
    request = request_offering(("y", "Yes, proceed"), ("p", "Yes, and don't ask again"), ("esc", "No"))
    with pytest.raises(InvalidInput, match="limited to this session"):
        approval_keys("approve_for_session", request)


def test_keys_with_no_dialog_read() -> None:
    assert approval_keys("approve", None) == b"y"
    assert approval_keys("deny", None) == DENY_KEY
    with pytest.raises(InvalidInput, match=r"limited to this session here; its choices are: none seen"):
        approval_keys("approve_for_session", None)
    with pytest.raises(InvalidInput, match=r"does not offer 'don't ask again' here; its choices are: none seen"):
        approval_keys("approve_always", None)


@pytest.mark.parametrize("decision", ["yes", "", "APPROVE", "approve "])
def test_an_unknown_decision_is_refused_naming_the_valid_ones(decision: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        approval_keys(decision, request_offering(("y", "Yes, proceed")))
    assert str(caught.value) == (
        f"decision must be approve, approve_for_session, approve_always or deny, not {decision!r}"
    )
