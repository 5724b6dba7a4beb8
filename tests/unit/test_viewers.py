"""Viewers: the terminals attached to one session and who holds the keyboard (our turns wait while someone does)."""

from __future__ import annotations

from codex_mcp.session.viewers import Viewer, ViewerMode, Viewers

ALICE, BOB, CAROL = 101, 202, 303


def viewer(mode: ViewerMode) -> Viewer:
    return Viewer(mode=mode, since=0.0, rows=24, cols=80)


class Freed:
    """Counts on_keyboard_free calls (the session wakes queued turns on each)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def test_no_viewers_is_falsy_and_the_first_attach_says_so() -> None:
    viewers = Viewers()
    assert not viewers
    assert viewers.modes() == []
    assert viewers.add(ALICE, viewer("watch")) is True
    assert viewers
    assert viewers.add(BOB, viewer("watch")) is False
    viewers.remove(ALICE)
    viewers.remove(BOB)
    assert not viewers
    assert viewers.add(CAROL, viewer("control")) is True, "attaching after everyone left is a first again"


def test_modes_are_in_attach_order() -> None:
    viewers = Viewers()
    viewers.add(CAROL, viewer("watch"))
    viewers.add(ALICE, viewer("control"))
    viewers.add(BOB, viewer("watch"))
    assert viewers.modes() == ["watch", "control", "watch"]
    viewers.remove(CAROL)
    viewers.add(CAROL, viewer("control"))
    assert viewers.modes() == ["control", "watch", "control"]


def test_one_person_at_a_time_holds_the_keyboard() -> None:
    freed = Freed()
    viewers = Viewers(on_keyboard_free=freed)
    assert viewers.input_holder is None
    assert viewers.take_input(ALICE, "alice") is True
    assert viewers.input_holder == "alice"
    assert viewers.holds_input(ALICE)
    assert not viewers.holds_input(BOB)

    assert viewers.take_input(BOB, "bob") is False, "a second person is refused"
    assert viewers.input_holder == "alice"
    assert not viewers.holds_input(BOB)
    assert viewers.take_input(ALICE, "alice (again)") is True, "the holder may take it again"
    assert viewers.input_holder == "alice (again)"

    assert viewers.release_input(BOB) is False, "only the holder gives it back"
    assert viewers.input_holder == "alice (again)"
    assert freed.calls == 0

    assert viewers.release_input(ALICE) is True
    assert viewers.input_holder is None
    assert not viewers.holds_input(ALICE)
    assert freed.calls == 1
    assert viewers.release_input(ALICE) is False, "giving it back twice frees nothing more"
    assert freed.calls == 1
    assert viewers.take_input(BOB, "bob") is True


def test_the_holder_detaching_gives_the_keyboard_back() -> None:
    freed = Freed()
    viewers = Viewers(on_keyboard_free=freed)
    viewers.add(ALICE, viewer("control"))
    viewers.take_input(ALICE, "alice")
    viewers.add(BOB, viewer("watch"))
    assert viewers.take_input(BOB, "bob") is False

    gone = viewers.remove(ALICE)
    assert gone is not None
    assert gone.mode == "control"
    assert viewers.input_holder is None
    assert freed.calls == 1, "queued turns are woken"
    assert viewers.take_input(CAROL, "carol") is True


def test_a_watcher_detaching_leaves_the_keyboard_alone() -> None:
    freed = Freed()
    viewers = Viewers(on_keyboard_free=freed)
    viewers.add(ALICE, viewer("control"))
    viewers.take_input(ALICE, "alice")
    viewers.add(BOB, viewer("watch"))
    assert viewers.remove(BOB) is not None
    assert viewers.remove(BOB) is None, "an unknown terminal is nobody"
    assert viewers.input_holder == "alice"
    assert freed.calls == 0


def test_anyone_controls_while_a_control_terminal_is_attached() -> None:
    viewers = Viewers()
    assert not viewers.anyone_controls
    viewers.add(ALICE, viewer("watch"))
    assert not viewers.anyone_controls
    viewers.add(BOB, viewer("control"))
    assert viewers.anyone_controls
    viewers.remove(BOB)
    assert not viewers.anyone_controls
    assert viewers


def test_releasing_without_a_listener_works() -> None:
    viewers = Viewers()
    viewers.add(ALICE, viewer("control"))
    assert viewers.take_input(ALICE, "alice")
    viewers.remove(ALICE)
    assert viewers.input_holder is None
    assert not viewers
