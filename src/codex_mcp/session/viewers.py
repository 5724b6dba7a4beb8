"""People at attached terminals: who watches, and who holds the keyboard. While someone holds it, our turns wait.
Pure bookkeeping, keyed by the control connection; the session acts on what changes (sizes, redraws, waking
queued turns)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

ViewerMode = Literal["watch", "control"]


@dataclass
class Viewer:
    """A terminal attached to the session: watching, or holding the keyboard."""

    mode: ViewerMode
    since: float
    rows: int
    cols: int


class Viewers:
    """The terminals attached to one session and the keyboard's holder."""

    def __init__(self, *, on_keyboard_free: Callable[[], None] | None = None) -> None:
        self._on_keyboard_free = on_keyboard_free  # queued turns may go ahead
        self._viewers: dict[int, Viewer] = {}
        self.input_holder: str | None = None  # a person at the keyboard: our turns wait for them
        self._input_key: int | None = None

    def __bool__(self) -> bool:
        return bool(self._viewers)

    def modes(self) -> list[ViewerMode]:
        """How each attached terminal is attached, in attach order."""
        return [v.mode for v in self._viewers.values()]

    def add(self, key: int, viewer: Viewer) -> bool:
        """A terminal attached; True if it is the first."""
        first = not self._viewers
        self._viewers[key] = viewer
        return first

    def remove(self, key: int) -> Viewer | None:
        """A terminal detached (or its connection dropped); the keyboard goes back if it held it."""
        viewer = self._viewers.pop(key, None)
        if viewer is not None and viewer.mode == "control":
            self.release_input(key)
        return viewer

    @property
    def anyone_controls(self) -> bool:
        """True while a terminal attached to take the keyboard is still attached."""
        return any(v.mode == "control" for v in self._viewers.values())

    def take_input(self, key: int, who: str) -> bool:
        """Give a person the keyboard; False if someone else has it."""
        if self.input_holder is not None and self._input_key != key:
            return False
        self.input_holder = who
        self._input_key = key
        return True

    def release_input(self, key: int) -> bool:
        """The person gives the keyboard back; True if they held it (queued turns may go ahead)."""
        if self.input_holder is None or self._input_key != key:
            return False
        self.input_holder = None
        self._input_key = None
        if self._on_keyboard_free is not None:
            self._on_keyboard_free()
        return True

    def holds_input(self, key: int) -> bool:
        """True if this terminal holds the keyboard."""
        return self.input_holder is not None and self._input_key == key
