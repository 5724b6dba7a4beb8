"""Issue 10: Codex's own MCP client uses codex-mcp as the README says, and a Codex that codex-mcp starts never
starts codex-mcp again.

- `codex exec` (the real binary) with the README's registration calls codex_start, then codex_reply on the returned
  conversation, through Codex's MCP client; Codex's own output shows both replies. Without the approvals the
  README adds, the acting tools fail under exec and the read-only ones still run.
- With codex-mcp registered in the config every Codex reads, no session codex-mcp starts (new, resumed after
  codex_end, replayed after its rollout is gone) runs a codex-mcp of its own: codex-mcp turns those entries off
  with `-c`, which the real Codex honours (`codex mcp list`), names with dots and spaces included.
- A codex-mcp that runs inside such a session anyway (registered through a wrapper it does not recognise, or
  started with the session's environment) refuses to start Codex and shows nothing of the outer server;
  CODEX_MCP_MAX_NESTING=1 allows one level on purpose."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import psutil
import pytest

from codex_mcp.codex.argv import new_session_argv, toml_value
from codex_mcp.codex.nesting import DEPTH_ENV, SESSION_MARKER
from codex_mcp.codex.settings import JsonValue, LaunchOptions
from codex_mcp.config import Settings
from codex_mcp.conversations.manager import Manager

from ..conftest import FAKE_KEY, REPO, Sandbox, mcp_server
from ..helpers import await_until, call, call_error, processes_with_env, reply, start, start_result

pytestmark = [pytest.mark.anyio, pytest.mark.codex]

REFUSAL = "runs inside a Codex session that codex-mcp started"


def readme_entry() -> dict[str, Any]:
    """The registration the README gives for Codex's own MCP client, as Codex reads it."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Use it from Codex's own MCP client") :]
    block = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the README lost its Codex registration"
    entry: dict[str, Any] = tomllib.loads(block.group(1))["mcp_servers"]["codex-mcp"]
    return entry


def entry_toml(name: str, entry: dict[str, Any]) -> str:
    """One [mcp_servers.<name>] table (nested tables written inline)."""
    return f"\n[mcp_servers.{json.dumps(name)}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in entry.items())


def register(sandbox: Sandbox, name: str, entry: dict[str, Any]) -> None:
    """Add an MCP server entry to the config.toml every Codex of this test reads."""
    with (sandbox.codex_home / "config.toml").open("a") as f:
        f.write(entry_toml(name, entry))


def ours(sandbox: Sandbox, codex_bin: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """An entry that starts this checkout's codex-mcp, with what the README's leaves to the user's setup: the
    Codex to run, the state dir, the fake model's key (Codex passes CODEX_HOME on through env_vars)."""
    return {
        **entry,
        "command": sys.executable,
        "args": ["-m", "codex_mcp", "--codex-bin", str(codex_bin)],
        "env": {"CODEX_MCP_STATE_DIR": str(sandbox.state_dir), FAKE_KEY: sandbox.env[FAKE_KEY]},
    }


def exec_events(sandbox: Sandbox, codex_bin: Path, prompt: str) -> list[dict[str, Any]]:
    """`codex exec --json` in the work folder; its events."""
    argv = [str(codex_bin), "exec", "--json", "--skip-git-repo-check", "-C", str(sandbox.work), prompt]
    proc = subprocess.run(
        argv, cwd=sandbox.work, env=sandbox.env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL
    )
    assert proc.returncode == 0, f"codex exec failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def tool_calls(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["item"] for e in events if e.get("type") == "item.completed" and e["item"].get("type") == "mcp_tool_call"]


def final_message(events: list[dict[str, Any]]) -> str:
    texts = [
        e["item"]["text"]
        for e in events
        if e.get("type") == "item.completed" and e["item"].get("type") == "agent_message"
    ]
    assert texts, f"Codex gave no answer: {events}"
    return str(texts[-1])


async def no_codex_left(sandbox: Sandbox) -> None:
    """The Codex sessions our server ran under `codex exec` end with it."""
    assert await await_until(lambda: not processes_with_env("CODEX_HOME", str(sandbox.codex_home)), timeout=15)


def start_and_reply(sandbox: Sandbox, server: str = "codex-mcp") -> str:
    cwd = json.dumps(str(sandbox.work))
    return (
        f'[[mcp:{server}:codex_start:{{"prompt": "inner one", "cwd": {cwd}}}]] '
        f'[[mcp:{server}:codex_reply:{{"conversationId": "$conversationId", "prompt": "inner two"}}]]'
    )


@pytest.mark.parametrize("approvals", ["readme", "default_tools_approval_mode"])
async def test_codex_exec_converses_through_codex_mcp(sandbox: Sandbox, codex_bin: Path, approvals: str) -> None:
    entry = readme_entry()
    if approvals == "default_tools_approval_mode":
        entry = {k: v for k, v in entry.items() if k != "tools"} | {"default_tools_approval_mode": "approve"}
    register(sandbox, "codex-mcp", ours(sandbox, codex_bin, entry))
    events = exec_events(sandbox, codex_bin, start_and_reply(sandbox))
    calls = tool_calls(events)
    assert [(c["server"], c["tool"], c["status"]) for c in calls] == [
        ("codex-mcp", "codex_start", "completed"),
        ("codex-mcp", "codex_reply", "completed"),
    ], calls
    started, replied = (c["result"]["structured_content"] for c in calls)
    assert started["reply"] == "ECHO: inner one"
    assert replied["conversationId"] == started["conversationId"]
    assert (replied["turn"], replied["recovery"], replied["reply"]) == (2, "live", "ECHO: inner two")
    # Codex's own answer carries both replies (the fake model reports every tool output).
    answer = final_message(events)
    assert "ECHO: inner one" in answer
    assert "ECHO: inner two" in answer
    await no_codex_left(sandbox)


async def test_without_approvals_exec_runs_only_the_read_only_tools(sandbox: Sandbox, codex_bin: Path) -> None:
    entry = {k: v for k, v in readme_entry().items() if k != "tools"}
    register(sandbox, "codex-mcp", ours(sandbox, codex_bin, entry))
    cwd = json.dumps(str(sandbox.work))
    prompt = f'[[mcp:codex-mcp:codex_list:{{}}]] [[mcp:codex-mcp:codex_start:{{"prompt": "x", "cwd": {cwd}}}]]'
    calls = tool_calls(exec_events(sandbox, codex_bin, prompt))
    listed, started = calls
    assert (listed["tool"], listed["status"]) == ("codex_list", "completed")  # readOnlyHint: never asks
    assert listed["result"]["structured_content"]["conversations"] == []
    assert (started["tool"], started["status"]) == ("codex_start", "failed")
    assert "requires approval" in started["error"]["message"]
    await no_codex_left(sandbox)  # Codex's shell-snapshot child may outlive `codex exec` by a moment


# --- no codex-mcp inside the sessions codex-mcp starts ------------------------------------------------------


def our_server() -> psutil.Process:
    """The codex-mcp server this test started (a child of the test process)."""
    [server] = [p for p in psutil.Process().children() if "codex_mcp" in p.cmdline()]
    return server


def descendants_running(server: psutil.Process, argument: str) -> list[psutil.Process]:
    """Processes under the server with this argument (codex_mcp: a codex-mcp, run as `python -m codex_mcp`)."""
    found = []
    for proc in server.children(recursive=True):
        try:
            if argument in proc.cmdline():
                found.append(proc)
        except psutil.Error:
            continue
    return found


STAND_IN = "from mcp.server import MCPServer; MCPServer('other').run()"
"""Another MCP server (with no tools)."""


async def test_sessions_codex_mcp_starts_do_not_start_it_again(sandbox: Sandbox, codex_bin: Path) -> None:
    register(sandbox, "codex-mcp", ours(sandbox, codex_bin, readme_entry()))
    # Another server Codex does start: shows that the sessions start their MCP servers where we look.
    register(sandbox, "other", {"command": sys.executable, "args": ["-c", STAND_IN]})
    async with mcp_server(sandbox, codex_bin) as client:
        server = our_server()

        async def check(how: str) -> None:
            assert await await_until(lambda: bool(descendants_running(server, STAND_IN)), timeout=20), how
            assert not descendants_running(server, "codex_mcp"), f"{how}: a nested codex-mcp runs"
            [tui] = [p for p in server.children() if p.name() == "codex"]
            argv = tui.cmdline()
            assert "mcp_servers.codex-mcp=" + toml_value({"command": sys.executable, "enabled": False}) in argv

        started = await start_result(client, "one", cwd=sandbox.work)
        cid = started["conversationId"]
        await check("new session")
        await call(client, "codex_end", conversationId=cid)
        resumed = await reply(client, cid, "two")
        assert resumed["recovery"] == "resumed"
        await check("resumed session")
        await call(client, "codex_end", conversationId=cid)
        for rollout in sandbox.codex_home.glob(f"sessions/*/*/*/rollout-*-{cid}.jsonl"):
            rollout.unlink()
        replayed = await reply(client, cid, "three")
        assert replayed["recovery"] == "replayed"
        await check("replayed session")


async def test_the_flags_are_what_codex_reads(sandbox: Sandbox, codex_bin: Path) -> None:
    """`codex mcp list` with the flags a session of ours gets: every codex-mcp entry disabled, whatever its name
    and wherever it is defined, the others untouched."""
    entry = ours(sandbox, codex_bin, {})
    for name in ("codex-mcp", "my.server", "sp ace"):
        register(sandbox, name, entry)
    register(sandbox, "other", {"command": sys.executable, "args": ["-c", STAND_IN]})
    profile = {"mcp_servers": {"from-profile": {"command": "uvx", "args": ["codex-mcp"]}}}
    (sandbox.codex_home / "work.config.toml").write_text(
        entry_toml("from-profile", profile["mcp_servers"]["from-profile"])
    )
    manager = Manager(Settings(codex_bin=str(codex_bin), state_dir=sandbox.state_dir, spare_keep_s=0), sandbox.env)
    client: dict[str, JsonValue] = {
        "mcp_servers.other.args": ["-c", STAND_IN, "x"],
        "mcp_servers.extra": {"command": "codex-mcp"},
    }
    options = LaunchOptions(cwd=str(sandbox.work), profile="work", config=client)
    found = manager.launcher.own_entries(options)
    assert sorted(e.name for e in found) == ["codex-mcp", "extra", "from-profile", "my.server", "sp ace"]
    argv = new_session_argv(str(codex_bin), options, found)
    flags = [a for i, a in enumerate(argv[1:]) if a in ("-c", "-p") or argv[i] in ("-c", "-p")]
    proc = subprocess.run(
        [str(codex_bin), *flags, "mcp", "list", "--json"], env=sandbox.env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    listed = {s["name"]: s for s in json.loads(proc.stdout)}
    assert {name: s["enabled"] for name, s in listed.items()} == {
        "codex-mcp": False,
        "extra": False,
        "from-profile": False,
        "my.server": False,
        "sp ace": False,
        "other": True,
    }
    assert listed["other"]["transport"]["args"] == ["-c", STAND_IN, "x"]  # the client's override survives


# --- a codex-mcp inside a session refuses ---------------------------------------------------------------------


def sneaky(sandbox: Sandbox, codex_bin: Path) -> dict[str, Any]:
    """codex-mcp behind a wrapper codex-mcp cannot recognise as itself."""
    return {
        "command": "/bin/sh",
        "args": ["-c", 'exec "$0" -m "$1" --codex-bin "$2"', sys.executable, "codex_" + "mcp", str(codex_bin)],
        "required": True,
        "default_tools_approval_mode": "approve",
        "env": {"CODEX_MCP_STATE_DIR": str(sandbox.state_dir), FAKE_KEY: sandbox.env[FAKE_KEY]},
        "env_vars": ["CODEX_HOME"],
    }


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell wraps codex-mcp")
async def test_a_codex_mcp_started_inside_a_session_refuses(sandbox: Sandbox, codex_bin: Path) -> None:
    register(sandbox, "sneaky", sneaky(sandbox, codex_bin))
    async with mcp_server(sandbox, codex_bin) as client:
        first = await start_result(client, "outer conversation", cwd=sandbox.work)
        # The Codex of the next conversation asks the wrapped codex-mcp (which it started) for a conversation.
        asked = await start_result(
            client,
            '[[mcp:sneaky:codex_start:{"prompt": "deeper"}]] [[mcp:sneaky:codex_list:{}]]',
            cwd=sandbox.work,
        )
        assert asked["status"] == "completed", asked
        assert asked["reply"].count(REFUSAL) == 2, asked["reply"]
        assert first["conversationId"] not in asked["reply"]
        # Each of our two sessions started the wrapped codex-mcp; neither started a Codex.
        server = our_server()
        nested = descendants_running(server, "codex_" + "mcp")
        assert len(nested) == 2
        for proc in nested:
            print(f"a nested codex-mcp that refuses: {proc.memory_full_info().rss / 1e6:.0f} MB RSS")
            assert not proc.children(recursive=True)
        assert len([p for p in server.children() if p.name() == "codex"]) == 2


@pytest.mark.version_independent
async def test_nesting_is_refused_unless_allowed(sandbox: Sandbox, codex_bin: Path) -> None:
    """A codex-mcp started with a session's environment (as Codex's shell tool would start one)."""
    async with mcp_server(sandbox, codex_bin) as outer:
        outer_id = await start(outer, "outer", cwd=sandbox.work)
        inside = {SESSION_MARKER: "0123456789abcdef01234567", DEPTH_ENV: "1"}
        async with mcp_server(sandbox, codex_bin, env=inside) as nested:
            for tool, args in (
                ("codex_start", {"prompt": "x", "cwd": str(sandbox.work)}),
                ("codex_reply", {"conversationId": outer_id, "prompt": "x"}),
                ("codex_list", {}),
                ("codex_status", {"conversationId": outer_id}),
            ):
                error = await call_error(nested, tool, **args)
                assert REFUSAL in error
                assert "CODEX_MCP_MAX_NESTING=1" in error
                assert outer_id not in error
        assert not (sandbox.state_dir / "nested-1").exists()
        async with mcp_server(sandbox, codex_bin, env={**inside, "CODEX_MCP_MAX_NESTING": "1"}) as allowed:
            inner = await start_result(allowed, "allowed", cwd=sandbox.work)
            listed = await call(allowed, "codex_list")
            assert [c["conversationId"] for c in listed["conversations"]] == [inner["conversationId"]]
            assert (sandbox.state_dir / "nested-1" / "conversations").is_dir()
            depths = {
                p.environ().get(DEPTH_ENV)
                for p in psutil.process_iter()
                if p.name() == "codex" and p.environ().get("CODEX_HOME") == str(sandbox.codex_home)
            }
            assert depths == {"1", "2"}  # the outer server's Codex, and the nested one's
        listed = await call(outer, "codex_list")
        assert [c["conversationId"] for c in listed["conversations"]] == [outer_id]
