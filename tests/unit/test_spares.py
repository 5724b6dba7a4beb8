"""spares.Spares alone: which start gets the spare, when it is replaced, expires, gives its place up, and that
nothing it started is left running (a stand-in for the session; tests/issues/test_14_speed.py runs real Codex)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import cast

import pytest

from codex_mcp.conversations.spares import SpareBoard, SpareKey, Spares
from codex_mcp.session.session import Session

pytestmark = pytest.mark.anyio

HERE = SpareKey(("codex", "-C", "/here"), "/here")
THERE = SpareKey(("codex", "-C", "/there"), "/there")


class StandIn:
    """What Spares uses of a Session: live, end()."""

    def __init__(self) -> None:
        self.live = True
        self.ended: str | None = None

    async def end(self, reason: str) -> None:
        self.live = False
        self.ended = reason


class Launcher:
    """Counts launches; each takes `delay` seconds, or fails."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.made: list[StandIn] = []
        self.delay = delay
        self.fail = fail

    async def __call__(self) -> Session:
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("Codex would not start")
        made = StandIn()
        self.made.append(made)
        return cast(Session, made)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_start_with_the_same_settings_takes_the_spare_once() -> None:
    spares, launch = Spares(keep_s=60), Launcher()
    spares.want(HERE, launch, room=True)
    await settle()
    assert spares.ready == 1
    assert await spares.take(THERE) is None, "other settings must not get it"
    taken = await spares.take(HERE)
    assert taken is cast(Session, launch.made[0])
    assert await spares.take(HERE) is None
    assert (spares.count, spares.taken) == (0, 1)
    await spares.close(0)
    assert launch.made[0].ended is None, "a taken spare is the conversation's, not the spares'"


async def test_a_start_waits_for_a_spare_that_is_still_starting() -> None:
    spares, launch = Spares(keep_s=60), Launcher(delay=0.05)
    spares.want(HERE, launch, room=True)
    assert spares.count == 1
    assert spares.ready == 0
    assert await spares.take(HERE) is cast(Session, launch.made[0])
    assert len(launch.made) == 1
    await spares.close(0)


async def test_new_settings_replace_the_spare_and_no_room_means_none() -> None:
    spares, launch = Spares(keep_s=60), Launcher()
    spares.want(HERE, launch, room=True)
    await settle()
    spares.want(THERE, launch, room=False)
    await settle()
    assert launch.made[0].ended == "spare settings changed"
    assert spares.count == 0, "a spare was started although the cap had no room"
    spares.want(THERE, launch, room=True)
    await settle()
    assert spares.ready == 1
    await spares.close(0)
    assert launch.made[1].ended == "server shutdown"


async def test_an_unused_spare_ends_after_keep_s() -> None:
    spares, launch = Spares(keep_s=0.05), Launcher()
    spares.want(HERE, launch, room=True)
    await asyncio.sleep(0.15)
    await settle()
    assert launch.made[0].ended == "spare unused"
    assert spares.count == 0
    await spares.close(0)


async def test_giving_the_place_up_ends_the_spare_before_returning() -> None:
    spares, launch = Spares(keep_s=60), Launcher()
    spares.want(HERE, launch, room=True)
    await settle()
    assert await spares.give_up() is True
    assert launch.made[0].ended == "spare place needed"
    assert await spares.give_up() is False
    starting = Launcher(delay=10)
    spares.want(HERE, starting, room=True)
    assert await spares.give_up() is True, "a starting spare holds a place too"
    assert starting.made == [], "the cancelled start went on"
    await spares.close(0)


async def test_a_spare_that_fails_to_start_or_dies_is_never_handed_out() -> None:
    spares = Spares(keep_s=60)
    spares.want(HERE, Launcher(fail=True), room=True)
    await settle()
    assert spares.count == 0
    launch = Launcher()
    spares.want(HERE, launch, room=True)
    await settle()
    launch.made[0].live = False  # Codex exited while it waited
    assert await spares.take(HERE) is None
    assert spares.count == 0
    spares.want(HERE, launch, room=True)  # the next start asks again: a new one
    await settle()
    assert len(launch.made) == 2
    assert await spares.take(HERE) is cast(Session, launch.made[1])
    await spares.close(0)


async def test_keep_s_zero_starts_nothing() -> None:
    spares, launch = Spares(keep_s=0), Launcher()
    spares.want(HERE, launch, room=True)
    await settle()
    assert (spares.count, launch.made) == (0, [])
    await spares.close(0)


def test_one_server_keeps_the_spare_for_a_key_across_the_servers_of_a_state_dir(tmp_path: Path) -> None:
    """Two boards on one folder stand for two servers (a lock is per open file, so one process shows it)."""
    key, other = SpareKey(("codex", "-C", "/w"), "/w"), SpareKey(("codex", "-m", "o3"), "/w")
    first, second = SpareBoard(tmp_path), SpareBoard(tmp_path)
    assert first.take(key)
    assert first.take(key)  # already its own
    assert not second.take(key)
    assert second.holder(key) == os.getpid()
    assert first.holder(key) is None  # not another's
    assert second.take(other)  # other settings: a spare of its own
    first.release(key)
    assert second.holder(key) is None
    assert second.take(key)
