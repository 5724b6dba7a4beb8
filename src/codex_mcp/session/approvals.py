"""Approvals: what Codex asks on its screen before it runs something, the decision a client gives, and the keys
that give Codex exactly that decision. Pure: reads screen lines, returns bytes; the session presses them."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from ..errors import InvalidInput

Decision = Literal["approve", "approve_for_session", "approve_always", "deny"]
"""What a client may answer: this once, for the session (where Codex offers it), always (a lasting rule), no."""

DENY_KEY = b"\x1b"
"""Codex's "No, and tell Codex what to do differently (esc)": the turn is stopped."""

_CHOICE_RE = re.compile(r"^\s*(?:›\s*)?(\d)\.\s+(.*?)\s*\(([^()]+)\)\s*$")


@dataclass(frozen=True)
class ApprovalRequest:
    """What Codex asks while a turn waits for a decision, as shown on its screen."""

    question: str
    command: str | None
    reason: str | None
    choices: list[tuple[str, str]]  # (key, label), e.g. ("y", "Yes, proceed")
    lines: list[str]

    def message(self) -> str:
        """The question, the command and the reason, one per line (what a person is asked)."""
        return "\n".join(
            [self.question]
            + ([f"Command: {self.command}"] if self.command else [])
            + ([f"Reason: {self.reason}"] if self.reason else [])
        )

    def choice_labels(self) -> list[str]:
        """The choices as Codex shows them, each with its key."""
        return [f"{label} ({key})" for key, label in self.choices]


def read_approval(lines: Sequence[str]) -> ApprovalRequest | None:
    """Find an approval dialog on the screen: its question, the command, the reason and the choices."""
    start = next((i for i, line in enumerate(lines) if "Would you like to" in line), None)
    if start is None:
        return None
    body = [line for line in lines[start:] if line.strip()]
    question = body[0].strip()
    choices: list[tuple[str, str]] = []
    command = reason = None
    for line in body[1:]:
        stripped = line.strip()
        m = _CHOICE_RE.match(line)
        if m:
            choices.append((m.group(3).strip(), m.group(2).strip()))
        elif stripped.startswith("$ ") and command is None:
            command = stripped[2:]
        elif stripped.lower().startswith("reason:") and reason is None:
            reason = stripped.split(":", 1)[1].strip()
    return ApprovalRequest(question, command, reason, choices, body)


def _choice_key(request: ApprovalRequest | None, *needles: str) -> str | None:
    if request is None:
        return None
    for key, label in request.choices:
        if any(n in label.lower() for n in needles):
            return key
    return None


def approval_keys(decision: str, request: ApprovalRequest | None) -> bytes:
    """The key that gives Codex exactly this decision, and never more than was decided.

    approve_for_session only where Codex offers a choice limited to the session. Codex 0.169 and 0.171 offer none:
    its "don't ask again" choice saves a lasting rule in $CODEX_HOME/rules, which is approve_always."""
    offered = ", ".join(request.choice_labels()) if request else "none seen"
    if decision == "approve":
        return b"y"
    if decision == "deny":
        return DENY_KEY
    if decision == "approve_for_session":
        key = _choice_key(request, "session")
        if key is None:
            raise InvalidInput(
                "Codex does not offer an approval limited to this session here; its choices are: "
                f"{offered}. Use approve (this once), or approve_always if the user wants Codex to stop "
                "asking for this kind of action (Codex saves that as a lasting rule)"
            )
        return key.encode()
    if decision == "approve_always":
        key = _choice_key(request, "don't ask again", "don’t ask again", "always")
        if key is None:
            raise InvalidInput(f"Codex does not offer 'don't ask again' here; its choices are: {offered}")
        return key.encode()
    raise InvalidInput(f"decision must be approve, approve_for_session, approve_always or deny, not {decision!r}")


DIALOG_GRACE_S = 5.0
"""How long Codex may say "blocked" without drawing a dialog before we report the wait anyway."""


class ApprovalWatch:
    """Whether the running turn waits on an approval, from Codex's run state and its screen, and the dialog it
    waits on, read from the screen once it is whole and kept until Codex stops being blocked."""

    def __init__(self, read_lines: Callable[[], Sequence[str]], *, grace_s: float = DIALOG_GRACE_S) -> None:
        self._read_lines = read_lines
        self._grace_s = grace_s
        self._blocked_since: float | None = None
        self.pending: ApprovalRequest | None = None

    def waiting(self, blocked: bool) -> bool:
        """Given whether Codex says it is blocked (OSC 7501), True once the turn should be reported as waiting.

        OSC 7501 says "blocked" about a second before the dialog is drawn, and a key pressed before then lands
        in the composer: the wait counts once the dialog is on screen, or when blocked stays unexplained."""
        if not blocked:
            self.reset()
            return False
        if self._blocked_since is None:
            self._blocked_since = time.monotonic()
        if self.pending is None or not self.pending.choices:
            # Read until the dialog is whole (it may arrive over several writes), then keep it.
            self.pending = read_approval(self._read_lines())
        return self.pending is not None or time.monotonic() - self._blocked_since > self._grace_s

    def reset(self) -> None:
        """Codex is no longer blocked (or the turn is over): forget the dialog."""
        self._blocked_since = None
        self.pending = None
