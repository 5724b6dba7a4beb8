"""Issue 11: the screens a real account sees never block a session.

When Codex's model catalog offers an upgrade for the configured model, Codex 0.169-0.171 open with a blocking
"Try new model / Use existing model" prompt; codex_start used to wait 45 s on it and fail. A custom provider does
not fetch /models, so the catalog comes from a `model_catalog_json` file here, as the issue describes. codex-mcp
keeps the configured model (a `-c notice={model_migrations=...}` override, never an edit of config.toml) and says
once in the result that a newer model is on offer. A screen it does not know fails fast, within about the call's
timeout_s, with the screen and a pointer to `codex-mcp doctor`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from codex_mcp.cli.doctor import check_start_screens
from codex_mcp.cli.fakemodel import FakeModel, catalog_model
from codex_mcp.codex.argv import toml_value
from codex_mcp.codex.tui import read_screen
from codex_mcp.config import Settings
from codex_mcp.session.screen import Screen
from codex_mcp.terminal import Terminal

from ..conftest import Sandbox, mcp_server
from ..helpers import await_until, call, call_error, reply, start_result

pytestmark = [pytest.mark.anyio, pytest.mark.codex]

TARGET = "mock-model-next"


def offer_upgrade(sandbox: Sandbox) -> bytes:
    """Make the catalog offer TARGET in place of the configured mock-model; returns config.toml as written."""
    catalog = sandbox.home / "catalog.json"
    upgrade = {"model": TARGET, "migration_markdown": f"Try **{TARGET}**, it is newer."}
    catalog.write_text(json.dumps({"models": [catalog_model(TARGET), catalog_model("mock-model", upgrade)]}))
    config = sandbox.codex_home / "config.toml"
    # Codex notes screen-reader detection in config.toml the first time it runs, whoever runs it: said up front
    # so that any other change to the file shows.
    text = f"model_catalog_json = {json.dumps(str(catalog))}\n" + config.read_text()
    text += "\n[tui]\nscreen_reader_detection_done = true\n"
    config.write_text(text)
    return config.read_bytes()


def models_asked(fake: FakeModel, marker: str) -> list[object]:
    return [r.body.get("model") for r in fake.user_requests() if r.user_texts and marker in r.user_texts[-1]]


async def test_the_catalog_offer_is_a_blocking_prompt_without_our_override(sandbox: Sandbox, codex_bin: Path) -> None:
    """The reproduction holds: Codex shows the prompt, and read_screen calls it a dialog we know."""
    offer_upgrade(sandbox)
    argv = [str(codex_bin), "--no-daemon", "-C", str(sandbox.work)]
    argv += ["-c", f"projects={toml_value({str(sandbox.work): {'trust_level': 'trusted'}})}"]
    terminal = await Terminal.spawn(
        argv, cwd=str(sandbox.work), env={**sandbox.env, "TERM": "xterm-256color"}, rows=40, cols=120
    )
    screen = Screen(120, 40, answer=terminal.write_nowait)

    def feed(data: bytes) -> None:
        screen.feed(data)

    terminal.subscribe(feed)
    try:
        shown = await await_until(lambda: "Use existing model" in "\n".join(screen.text_lines()), 20)
        assert shown, "\n".join(screen.text_lines())
        facts = read_screen(screen.lines())
        assert not facts.ready
        assert facts.blocker is not None
        assert "newer model" in facts.blocker
    finally:
        await terminal.terminate(grace_s=0)


async def test_start_and_resume_keep_the_configured_model_and_tell_once(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    before = offer_upgrade(sandbox)
    async with mcp_server(sandbox, codex_bin) as client:
        began = time.monotonic()
        started = await start_result(client, "say ORIOLE-11", cwd=sandbox.work, timeout_s=30)
        assert time.monotonic() - began < 20, "the start-up waited on the migration prompt"
        assert started["status"] == "completed", started
        assert started["reply"] == "ECHO: say ORIOLE-11"
        assert models_asked(fake_model, "ORIOLE-11") == ["mock-model"]
        [notice] = started["notices"]
        assert TARGET in notice, notice
        assert "keeps mock-model" in notice, notice
        cid = started["conversationId"]

        again = await reply(client, cid, "say WREN-11", timeout_s=30)
        assert again["status"] == "completed", again
        assert again["notices"] == [], again

        assert (await call(client, "codex_end", conversationId=cid))["ended"] is True
        resumed = await reply(client, cid, "say LINNET-11", timeout_s=30)
        assert resumed["status"] == "completed", resumed
        assert resumed["recovery"] == "resumed", resumed
        assert resumed["notices"] == [], "told twice in one conversation"
        assert models_asked(fake_model, "LINNET-11") == ["mock-model"]
        await call(client, "codex_end", conversationId=cid)
    assert (sandbox.codex_home / "config.toml").read_bytes() == before


async def test_rate_limits_running_low_do_not_stop_the_next_turn(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel
) -> None:
    """Codex reads rate-limit headers from the model's responses; at 90 % it may open a nudge to switch to a
    cheaper model before the next turn. The nudge itself needs the model Codex names (gpt-5.4-mini and the like)
    in the catalog and, it seems, a ChatGPT account: not reproduced on the fake model, so this shows the headers
    are read (Codex's warning) and that the turns after them run on the configured model."""
    catalog = sandbox.home / "catalog.json"
    nudges = ("gpt-5.4-mini", "gpt-5.1-codex-mini", "gpt-5.6-luna")
    catalog.write_text(json.dumps({"models": [catalog_model("mock-model"), *map(catalog_model, nudges)]}))
    config = sandbox.codex_home / "config.toml"
    config.write_text(f"model_catalog_json = {json.dumps(str(catalog))}\n" + config.read_text())
    async with mcp_server(sandbox, codex_bin) as client:
        first = await start_result(client, "[[ratelimit:95]] say HERON-11", cwd=sandbox.work)
        assert first["status"] == "completed", first
        cid = first["conversationId"]
        second = await reply(client, cid, "say EGRET-11", timeout_s=20)
        assert second["status"] == "completed", second
        assert models_asked(fake_model, "EGRET-11") == ["mock-model"]
        status = await call(client, "codex_status", conversationId=cid)
        screen = "\n".join(status["screen"])
        assert "limit" in screen, screen  # Codex's "Heads up, you have less than 5% of your 5h limit left"
        assert "Approaching rate limits" not in screen, screen
        await call(client, "codex_end", conversationId=cid)


def stuck_codex(folder: Path) -> Path:
    """A stand-in `codex` that draws a screen codex-mcp has never seen and waits on it."""
    script = folder / "codex"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, time\n"
        "if '--version' in sys.argv:\n"
        "    print('codex-cli 0.171.0')\n"
        "    sys.exit(0)\n"
        "sys.stdout.write('\\x1b[2J\\x1b[H  Something brand new\\r\\n\\r\\n  > 1. Accept the novelty\\r\\n'\n"
        "                 '    2. Decline it\\r\\n\\r\\n  press enter to continue\\r\\n')\n"
        "sys.stdout.flush()\n"
        "time.sleep(120)\n"
    )
    script.chmod(0o755)
    return script


async def test_an_unknown_screen_fails_fast_with_the_screen(sandbox: Sandbox) -> None:
    fake = stuck_codex(sandbox.home)
    async with mcp_server(sandbox, fake) as client:
        began = time.monotonic()
        error = await call_error(client, "codex_start", prompt="hello", cwd=str(sandbox.work), timeout_s=2)
        took = time.monotonic() - began
    assert took < 12, f"took {took:.1f}s"
    assert "Something brand new" in error, error
    assert "Accept the novelty" in error, error
    assert "codex-mcp doctor" in error, error


async def test_doctor_opens_a_real_session_and_reports_the_screen(
    sandbox: Sandbox, codex_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in sandbox.env.items():
        monkeypatch.setenv(key, value)
    before = offer_upgrade(sandbox)
    [ok, told] = await check_start_screens(Settings(codex_bin=str(codex_bin)))
    assert ok.level == "ok", ok
    assert TARGET in told.message, told
    assert (sandbox.codex_home / "config.toml").read_bytes() == before

    [stuck] = await check_start_screens(Settings(codex_bin=str(stuck_codex(sandbox.home))))
    assert stuck.level == "fail", stuck
    assert "Something brand new" in stuck.message, stuck
