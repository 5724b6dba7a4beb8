"""Issue 13 (part): model and effort that stick, background turns with a stall signal, strict arguments.

What reached the fake model proves each setting: the Responses request's ``model`` and ``reasoning.effort``."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import pytest

from codex_mcp.cli.fakemodel import FakeModel, Recorded

from ..conftest import Sandbox, mcp_server
from ..faults_helpers import await_true
from ..helpers import await_until, call, call_error, reply, start, start_result

pytestmark = [pytest.mark.anyio, pytest.mark.codex]


def asked(fake: FakeModel, marker: str) -> Recorded:
    """The latest real request whose latest user message holds marker."""
    found = [r for r in fake.user_requests() if r.user_texts and marker in r.user_texts[-1]]
    assert found, f"the model never got {marker!r}"
    return found[-1]


def effort_of(request: Recorded) -> object:
    reasoning = request.body.get("reasoning")
    return reasoning.get("effort") if isinstance(reasoning, dict) else None


async def test_model_and_effort_reach_the_model_and_stick(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    """codex_start's model and effort reach the model; codex_reply switches both from its turn on, the thread keeps
    its context, the change sticks (later replies, codex_status, codex_list, a resume after codex_end)."""
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "remember OSPREY", cwd=sandbox.work, model="model-a", effort="high")
        first = asked(fake_model, "remember OSPREY")
        assert (first.body["model"], effort_of(first)) == ("model-a", "high")

        switched = await reply(client, cid, "[[history]] switch", model="model-b", effort="low")
        assert switched["status"] == "completed", switched
        assert switched["reply"] == "remember OSPREY | [[history]] switch", "the new settings lost the context"
        request = asked(fake_model, "switch")
        assert (request.body["model"], effort_of(request)) == ("model-b", "low")

        later = await reply(client, cid, "later turn")
        assert later["status"] == "completed"
        assert later["recovery"] == "live", "a reply without settings restarted the session"
        request = asked(fake_model, "later turn")
        assert (request.body["model"], effort_of(request)) == ("model-b", "low")

        status = await call(client, "codex_status", conversationId=cid)
        assert (status["model"], status["effort"]) == ("model-b", "low")
        [listed] = (await call(client, "codex_list"))["conversations"]
        assert (listed["model"], listed["effort"]) == ("model-b", "low")

        await call(client, "codex_end", conversationId=cid)
        resumed = await reply(client, cid, "after the end")
        assert resumed["recovery"] == "resumed"
        request = asked(fake_model, "after the end")
        assert (request.body["model"], effort_of(request)) == ("model-b", "low")


async def test_an_unknown_model_is_a_tool_error_and_the_conversation_goes_on(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    """A model Codex cannot use fails the call with Codex's own words; the conversation keeps its earlier model
    and the next reply works."""
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "remember HERON", cwd=sandbox.work, model="model-a")
        message = await call_error(
            client, "codex_reply", conversationId=cid, prompt="try it", model="no-such-model", timeout_s=60
        )
        assert "no-such-model" in message, message
        assert "keeps model model-a" in message, message
        assert "does not exist" in message, "not Codex's own words for the refusal: " + message
        status = await call(client, "codex_status", conversationId=cid)
        assert status["model"] == "model-a"
        after = await reply(client, cid, "[[history]] and on")
        assert after["status"] == "completed", after
        assert after["reply"].startswith("remember HERON"), after
        assert asked(fake_model, "and on").body["model"] == "model-a"


async def test_background_turns_return_at_once_and_are_collected(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    """timeout_s=0 returns as soon as the turn is queued or running, with the conversationId; codex_status collects
    the reply; codex_interrupt cancels a background turn."""
    async with mcp_server(sandbox, codex_bin) as client:
        began = time.monotonic()
        started = await start_result(client, "[[delay:3]] in the background", cwd=sandbox.work, timeout_s=0)
        assert time.monotonic() - began < 3, "timeout_s=0 waited for the reply"
        assert started["status"] in ("queued", "running"), started
        cid = started["conversationId"]
        done = await call(client, "codex_status", conversationId=cid, wait_s=30)
        assert done["status"] == "completed", done
        assert done["reply"] == "ECHO: [[delay:3]] in the background"

        queued = await reply(client, cid, "[[delay:30]] to be cancelled", timeout_s=0)
        assert queued["status"] in ("queued", "running"), queued
        assert await await_until(lambda: bool(fake_model.user_requests()) and "cancelled" in asked_text(fake_model))
        stopped = await call(client, "codex_interrupt", conversationId=cid)
        assert stopped["interrupted"] is True, stopped
        assert stopped["status"] == "interrupted", stopped


def asked_text(fake: FakeModel) -> str:
    requests = fake.user_requests()
    return requests[-1].user_texts[-1] if requests and requests[-1].user_texts else ""


@pytest.mark.version_independent
async def test_a_stalled_model_shows_as_quiet(sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel) -> None:
    """While the model sends nothing, codex_status says how long Codex has shown no progress (the ticking
    'Working' timer does not count as progress); an idle conversation says nothing of it."""
    async with mcp_server(sandbox, codex_bin) as client:
        started = await start_result(client, "[[delay:7]] stall here", cwd=sandbox.work, timeout_s=0)
        cid = started["conversationId"]
        quiet: list[float] = []

        async def observe() -> bool:
            status = await call(client, "codex_status", conversationId=cid)
            if status["quiet_s"] is not None:
                quiet.append(status["quiet_s"])
            return bool(quiet) and quiet[-1] >= 3.0

        assert await await_true(observe, timeout=6.5, interval=0.3), (
            f"quiet_s never grew while the model was silent: {quiet}"
        )
        done = await call(client, "codex_status", conversationId=cid, wait_s=30)
        assert done["status"] == "completed"
        assert done["quiet_s"] is None, "an idle conversation reports no quiet stretch"


@pytest.mark.version_independent
async def test_unknown_arguments_are_tool_errors(sandbox: Sandbox, codex_bin: Path) -> None:
    """An argument a tool does not take is named in a tool error, never dropped silently; nothing runs."""
    async with mcp_server(sandbox, codex_bin) as client:
        message = await call_error(client, "codex_start", prompt="hi", cwd=str(sandbox.work), modle="model-a")
        assert "'modle'" in message, message
        assert "model" in message.split("its arguments are", 1)[1], message
        cid = await start(client, "strict", cwd=sandbox.work)
        message = await call_error(client, "codex_status", conversationId=cid, model="model-b")
        assert "does not take 'model'" in message, message
        message = await call_error(client, "codex_reply", conversationId=cid, prompt="x", attachments=["/tmp/a.png"])
        assert "'attachments'" in message, message
        listed = await call(client, "codex_transcript", conversationId=cid)
        assert listed["turns_total"] == 1, "a refused call reached Codex"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


PNG_1X1 = (
    b"\x89PNG\r\n\x1a\n"
    + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    + png_chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
    + png_chunk(b"IEND", b"")
)
"""A valid 1×1 red PNG (Codex decodes an image before it sends it)."""


def input_images(request: Recorded) -> list[str]:
    """The image URLs of the request's latest user message."""
    items = request.body.get("input")
    assert isinstance(items, list)
    users = [i for i in items if isinstance(i, dict) and i.get("role") == "user"]
    content = users[-1].get("content") if users else None
    return [c["image_url"] for c in content or [] if isinstance(c, dict) and c.get("type") == "input_image"]


async def test_images_reach_the_model_with_their_prompt(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel, tmp_path: Path
) -> None:
    """images on codex_start and codex_reply reach the model as input_image items of that turn's message; a path
    that cannot be sent is a tool error before anything reaches Codex."""
    picture = tmp_path / "pixel.png"
    picture.write_bytes(PNG_1X1)
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not an image")
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as f:
        f.write(PNG_1X1[:16])
        f.truncate(21 * 1024 * 1024)  # sparse: a PNG header and 21 MB
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "look at this picture", cwd=sandbox.work, images=[str(picture)])
        [url] = input_images(asked(fake_model, "look at this picture"))
        assert url.startswith("data:image/png;base64,"), url[:40]
        answered = await reply(client, cid, "and this one again", images=[str(picture)])
        assert answered["status"] == "completed", answered
        assert len(input_images(asked(fake_model, "and this one again"))) == 1
        plain = await reply(client, cid, "no picture now")
        assert plain["status"] == "completed"
        assert input_images(asked(fake_model, "no picture now")) == []
        cases = {
            str(tmp_path / "missing.png"): "does not exist",
            str(text_file): "is not a PNG, JPEG, GIF or WebP image",
            "pixel.png": "not an absolute path",
            str(huge): "at most 20971520 bytes",
            str(tmp_path): "is not a file",
        }
        for path, expected in cases.items():
            message = await call_error(client, "codex_reply", conversationId=cid, prompt="never sent", images=[path])
            assert expected in message, (path, message)
        assert not [r for r in fake_model.user_requests() if "never sent" in " ".join(r.user_texts)]


async def test_steer_adds_to_the_running_turn(sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel) -> None:
    """codex_reply(steer=true) while a turn runs adds the text to that turn, as a person typing into the running
    Codex does: no new turn, the model gets the text within the same turn, the result is that turn's reply.
    With no turn running, steer is an ordinary reply."""
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "first", cwd=sandbox.work)
        long = await reply(client, cid, "[[delay:4]] a long task", timeout_s=0)
        assert await await_until(lambda: "a long task" in asked_text(fake_model), 10)
        steered = await reply(client, cid, "[[history]] also mind the tests", steer=True, timeout_s=60)
        assert steered["steered"] is True, steered
        assert steered["turn"] == long["turn"], "steering started a new turn"
        assert steered["status"] == "completed", steered
        request = asked(fake_model, "also mind the tests")
        assert "[[delay:4]] a long task" in request.user_texts, "the steer lost the turn it was added to"
        transcript = await call(client, "codex_transcript", conversationId=cid)
        assert transcript["turns_total"] == 2
        assert "also mind the tests" in transcript["turns"][1]["prompt"]
        idle = await reply(client, cid, "nothing runs now", steer=True)
        assert idle["steered"] is False
        assert idle["turn"] == 3
        assert idle["reply"] == "ECHO: nothing runs now"
