"""What codex-mcp types into the TUI: a prompt as one bracketed paste (cleaned first), image paths, /rename,
/quit and the interrupt key."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import InvalidInput

PASTE_START = b"\x1b[200~"
PASTE_END = b"\x1b[201~"
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def sanitize_prompt(text: str) -> str:
    """The prompt as Codex will receive it: line breaks normalised, control characters (ESC, C0, DEL,
    C1) removed, surrounding whitespace trimmed (as Codex does). Raises InvalidInput if nothing is left."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_RE.sub("", text).strip()
    text = _SURROGATE_RE.sub("\ufffd", text)  # lone surrogates (possible in JSON) cannot be sent as UTF-8
    if not text:
        raise InvalidInput("prompt is empty (after removing whitespace and control characters): send some text")
    return text


def is_clean(text: str) -> bool:
    """True if sanitize_prompt would return text unchanged."""
    return (
        bool(text)
        and text == text.strip()
        and "\r" not in text
        and _CONTROL_RE.search(text) is None
        and _SURROGATE_RE.search(text) is None
    )


def encode_prompt(text: str) -> bytes:
    """Bytes that submit text as one bracketed paste, so it is data and never keystrokes.

    - no ESC or control byte survives, so nothing can end the paste early or press a key;
    - a leading space keeps a leading ``/`` or ``!`` from running a slash command or a shell command;
    - a trailing newline keeps the cursor out of a trailing ``$skill`` / ``@file`` mention, whose popup
      would otherwise take the Enter;
    Codex trims the added whitespace before sending, so the model gets exactly sanitize_prompt(text).
    A prompt comes here sanitised already (the manager does it once, on its way in); a payload built from
    elsewhere (a replay of a rollout's history) is sanitised here only if it needs it.
    """
    clean = text if is_clean(text) else sanitize_prompt(text)
    if clean[0] in "/!":
        clean = " " + clean
    return PASTE_START + (clean + "\n").encode("utf-8") + PASTE_END + b"\r"


def encode_images(paths: Sequence[str]) -> bytes:
    """Bytes that attach images to the next prompt as a person does: each path pasted on its own, which Codex's
    composer recognises as an image file and turns into an attachment (the paths were checked: images.py)."""
    return b"".join(PASTE_START + path.encode("utf-8") + PASTE_END for path in paths)


COMPACT_KEYS = PASTE_START + b"/compact" + PASTE_END + b"\r"
"""Codex's /compact, sent as /quit is (a prompt never runs a slash command: encode_prompt). Typed keys would not
do: Enter in the same burst of input is taken as part of a paste (seen on 0.171)."""


def turn_keys(kind: str, payload: str, images: Sequence[str]) -> bytes:
    """What a turn sends: a compaction's command, else the images and the prompt (encode_prompt)."""
    return COMPACT_KEYS if kind == "compact" else encode_images(images) + encode_prompt(payload)


TITLE_CHARS = 60


def thread_title(prompt: str) -> str:
    """A thread name taken from a prompt: its words on one line, at most TITLE_CHARS characters (cut at a word,
    with an ellipsis); what Codex's resume picker shows instead of a title the model wrote."""
    words = " ".join(_CONTROL_RE.sub(" ", prompt).split())
    if len(words) <= TITLE_CHARS:
        return words
    cut = words[: TITLE_CHARS - 1]
    if " " in cut[TITLE_CHARS // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"


def rename_keys(title: str) -> bytes:
    """Bytes that run ``/rename <title>`` in the composer (pasted, so the title is data: control characters are
    gone, and one line); none when the title has no words. A thread named before its first prompt gets no title
    request from Codex: the TUI asks the model for one only while the thread has no name (0.169-0.171,
    thread_routing.rs)."""
    name = thread_title(title)
    return PASTE_START + b"/rename " + name.encode("utf-8") + PASTE_END + b"\r" if name else b""


QUIT_KEYS = PASTE_START + b"/quit" + PASTE_END + b"\r"
"""Codex's own way out: /quit exits in well under 0.1 s."""

INTERRUPT_KEY = b"\x1b"


def quit_steps(run_state: str | None) -> list[tuple[float, bytes]]:
    """How to make Codex exit from where it is: (delay in seconds, keys) to send in turn. A running turn or a
    dialog would take /quit as text; Esc first returns to the composer."""
    if run_state in ("working", "blocked"):
        return [(0.0, INTERRUPT_KEY), (0.2, QUIT_KEYS)]
    return [(0.0, QUIT_KEYS)]
