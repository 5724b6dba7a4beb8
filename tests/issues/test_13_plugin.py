"""Issue 13: the Claude Code plugin shipped in this repository (`.claude-plugin/marketplace.json`,
`plugins/codex-mcp/`) is valid, and loaded into the real Claude Code it drives the real codex-mcp and Codex.

- `claude plugin validate --strict` passes on the marketplace (the repository root) and on the plugin folder.
- End to end: `claude -p --plugin-dir plugins/codex-mcp` (the pinned Claude Code in .claude-cli/) talks to a fake
  Anthropic Messages API on 127.0.0.1 whose scripted "model" loads the plugin's codex tools with ToolSearch when
  Claude Code defers them (and calls them directly when it does not), calls codex_start, then codex_reply on the
  returned conversationId. The plugin's MCP server is this checkout's codex-mcp running the real Codex against the
  fake OpenAI model: both prompts reach it, the second with the first in its history, and Claude Code's output
  shows Codex's replies.
- `/codex-mcp:ask` in a later Claude Code session (a new codex-mcp process) finds the folder's conversation with
  codex_list and continues it with codex_reply, on the command's own allowed-tools; the plugin's commands, skill and
  agent are loaded under the `codex-mcp:` namespace, clear of OpenAI's plugin (`codex:`).

Claude Code is isolated: its own HOME and CLAUDE_CONFIG_DIR under tmp_path, no telemetry, update checks or other
non-essential traffic, and every proxied connection goes to the fake (which records and refuses it), so nothing
leaves 127.0.0.1 unnoticed."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from codex_mcp.cli.fakemodel import FakeModel

from ..conftest import REPO, Sandbox
from ..fake_anthropic import FakeAnthropic, JsonObject, Request, text_block, tool_use
from ..helpers import processes_with_env
from ..platforms import script

pytestmark = [pytest.mark.codex, pytest.mark.version_independent]

CLAUDE = REPO / ".claude-cli" / "node_modules" / ".bin" / "claude"
PLUGIN = REPO / "plugins" / "codex-mcp"
# Claude Code names a plugin's MCP tools mcp__plugin_<plugin>_<server>__<tool>; the server is "codex" in .mcp.json.
TOOL_PREFIX = "mcp__plugin_codex-mcp_codex__"
START = TOOL_PREFIX + "codex_start"
LIST = TOOL_PREFIX + "codex_list"
REPLY = TOOL_PREFIX + "codex_reply"
SERVER = "plugin:codex-mcp:codex"
TOOL_SEARCH = "ToolSearch"
WAIT_FOR_SERVERS = "WaitForMcpServers"  # Claude Code's tool for servers still connecting, when tools are not deferred
_CONVERSATION_ID = re.compile(r'"conversationId"\s*:\s*"([0-9a-f-]{36})"')


@pytest.fixture(scope="module")
def claude() -> Path:
    assert CLAUDE.exists(), "Claude Code is not installed: run `bash scripts/setup.sh` (installs it into .claude-cli/)"
    return CLAUDE


def isolated_env(home: Path, **extra: str) -> dict[str, str]:
    """Claude Code's environment: its own HOME and config dir, nothing sent anywhere but 127.0.0.1."""
    return {
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",  # no telemetry, error reports, update or feature checks
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        **extra,
    }


@pytest.mark.parametrize("path", [REPO, PLUGIN], ids=["marketplace", "plugin"])
def test_plugin_validates_strictly(claude: Path, tmp_path: Path, path: Path) -> None:
    done = subprocess.run(
        [str(claude), "plugin", "validate", "--strict", str(path)],
        env=isolated_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation passed" in done.stdout


def test_marketplace_lists_the_plugin_folder() -> None:
    market = json.loads((REPO / ".claude-plugin" / "marketplace.json").read_text())
    manifest = json.loads((PLUGIN / ".claude-plugin" / "plugin.json").read_text())
    (entry,) = market["plugins"]
    assert (REPO / entry["source"]).resolve() == PLUGIN
    assert entry["name"] == manifest["name"] == "codex-mcp"
    # Not OpenAI's names (marketplace openai-codex, plugin codex): both plugins can be installed side by side.
    assert market["name"] != "openai-codex"
    assert entry["version"] == manifest["version"]


# --- end to end -----------------------------------------------------------------------------------


def _blocks(body: JsonObject, kind: str) -> list[dict[str, Any]]:
    """Content blocks of one type across the request's messages, in order."""
    found: list[dict[str, Any]] = []
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == kind:
                found.append(block)
    return found


def _content(block: dict[str, Any]) -> list[dict[str, Any]]:
    content = block.get("content")
    return [c for c in content if isinstance(c, dict)] if isinstance(content, list) else []


def _result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, list):
        return "".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return str(content)


def _tools(body: JsonObject) -> list[dict[str, Any]]:
    tools = body.get("tools")
    return [t for t in tools if isinstance(t, dict)] if isinstance(tools, list) else []


def tool_names(body: JsonObject) -> set[str]:
    """Every tool the request names (loaded or deferred)."""
    return {str(t.get("name")) for t in _tools(body)}


def loaded_tools(body: JsonObject) -> set[str]:
    """Tools the model may call in this request. A deferred tool is sent with ``defer_loading`` and becomes
    callable once a ToolSearch result in the history refers to it (a ``tool_reference`` block)."""
    referenced = {str(b.get("tool_name")) for r in _blocks(body, "tool_result") for b in _content(r)}
    return {str(t["name"]) for t in _tools(body) if not t.get("defer_loading") or t["name"] in referenced}


def deferred_tools(body: JsonObject) -> set[str]:
    """Tools this request sends with ``defer_loading`` (named, not yet loaded unless referenced)."""
    return {str(t["name"]) for t in _tools(body) if t.get("defer_loading")}


Step = tuple[str, Callable[[list[str]], JsonObject]]
"""One tool call of a script: the tool, and its arguments made from the results of the calls before it."""


class Scripted:
    """The fake Claude: make the codex tools callable (ToolSearch when they are deferred, WaitForMcpServers while
    the server starts), call the steps' tools in order, then answer with final(results).

    Stateless: each answer follows from the history Claude Code sends (the calls made and their results)."""

    def __init__(self, steps: list[Step], final: Callable[[list[str]], str]) -> None:
        self.steps, self.final = steps, final
        self.needed = [tool for tool, _ in steps]

    def __call__(self, body: JsonObject) -> list[JsonObject]:
        names = tool_names(body)
        if not names & {TOOL_SEARCH, WAIT_FOR_SERVERS, *self.needed}:
            return [text_block("ok")]  # a side request (not the main loop): nothing to script
        calls = _blocks(body, "tool_use")
        results = {str(b["tool_use_id"]): _result_text(b) for b in _blocks(body, "tool_result")}
        if not set(self.needed) <= loaded_tools(body):
            # Deferred tools are loaded by name (ToolSearch waits for a server still starting). Otherwise the tools
            # of a server that is still starting (codex-mcp takes ~1 s) come once WaitForMcpServers returns.
            called = {str(c["name"]) for c in calls}
            if TOOL_SEARCH in names and TOOL_SEARCH not in called:
                return [tool_use(TOOL_SEARCH, {"query": "select:" + ",".join(self.needed), "max_results": 5})]
            if WAIT_FOR_SERVERS in names and WAIT_FOR_SERVERS not in called:
                return [tool_use(WAIT_FOR_SERVERS, {"servers": [SERVER]})]
            return [text_block(f"SCRIPT FAILED: the codex tools never became available: {sorted(names)}")]
        done = [results.get(str(c["id"]), "") for c in calls if c["name"] in self.needed]
        if len(done) < len(self.steps):
            tool, arguments = self.steps[len(done)]
            return [tool_use(tool, arguments(done))]
        return [text_block(self.final(done))]


def conversation_id(result: str) -> str:
    """The first conversationId in a tool result."""
    found = _CONVERSATION_ID.search(result)
    assert found, f"no conversationId in {result!r}"
    return found.group(1)


def proxy_env(trap: str) -> dict[str, str]:
    """Proxy settings that send every non-loopback HTTP(S) request to a fake, which records and refuses it."""
    return {"HTTPS_PROXY": trap, "HTTP_PROXY": trap, "NO_PROXY": "127.0.0.1,localhost"}


def wrapper(path: Path, command: Path, env: dict[str, str]) -> Path:
    """An executable that runs command with env added (the plugin's server command takes no arguments)."""
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
    sets = "".join(f'set "{k}={v}"\n' for k, v in env.items())
    return script(path, sh=f'{exports}exec {shlex.quote(str(command))} "$@"\n', cmd=f'{sets}"{command}" %*\n')


def run_claude(claude: Path, env: dict[str, str], cwd: Path, prompt: str, *allowed: str) -> list[dict[str, Any]]:
    """`claude -p` with the plugin loaded from this checkout; its stream-json events."""
    done = subprocess.run(
        [
            str(claude), "-p", prompt, "--output-format", "stream-json", "--verbose",
            "--plugin-dir", str(PLUGIN),
            "--no-session-persistence",
            # Nothing may wait for a person: tools not allowed here are refused, not asked about.
            "--permission-mode", "dontAsk", *(["--allowedTools", ",".join(allowed)] if allowed else []),
        ],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, f"claude failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@dataclass
class ClaudeRun:
    """One `claude -p` run: its stream-json events and the requests the fake Anthropic API received."""

    events: list[dict[str, Any]]
    requests: list[Request]
    took_s: float

    @property
    def init(self) -> dict[str, Any]:
        return next(e for e in self.events if e.get("type") == "system" and e.get("subtype") == "init")

    def conversation(self, tool: str) -> JsonObject:
        """The main loop's last request that offered tool: it carries the whole conversation."""
        main = [r.body for r in self.requests if tool in tool_names(r.body)]
        assert main, f"{tool} reached no request: {[(r.method, r.path) for r in self.requests]}"
        return main[-1]

    def tool_results(self) -> list[str]:
        """The tool results Claude Code's output shows, in order."""
        return [
            _result_text(block)
            for e in self.events
            if e.get("type") == "user"
            for block in e["message"]["content"]
            if isinstance(block, dict) and block.get("type") == "tool_result"
        ]


def claude_with_plugin(
    claude: Path, sandbox: Sandbox, codex_bin: Path, script: Scripted, prompt: str, *allowed: str, **extra_env: str
) -> ClaudeRun:
    """Claude Code with the plugin, on the scripted fake API, its MCP server this checkout's codex-mcp running the
    Codex under test against the fake OpenAI model; asserts that Claude Code reached nothing but 127.0.0.1."""
    server = Path(sys.executable).parent / "codex-mcp"
    assert server.exists(), f"{server} is missing: the package is not installed in this venv (scripts/setup.sh)"
    with FakeAnthropic(script) as fake, FakeAnthropic(lambda body: []) as codex_trap:
        env = isolated_env(
            sandbox.home,
            **{k: v for k, v in sandbox.env.items() if k not in ("HOME", "PATH", "LANG")},
            **proxy_env(fake.base_url),
            ANTHROPIC_BASE_URL=fake.base_url,
            ANTHROPIC_API_KEY="sk-ant-test-key",
            # What the plugin's .mcp.json reads: this checkout's codex-mcp (behind a wrapper that gives it and its
            # Codex a trap of their own, so what Codex contacts is not counted as Claude Code's), and the Codex
            # under test.
            CODEX_MCP_COMMAND=str(wrapper(sandbox.home / "codex-mcp", server, proxy_env(codex_trap.base_url))),
            CODEX_MCP_CODEX_BIN=str(codex_bin),
            # `claude -p` waits only briefly for its MCP servers before it starts, and then runs without a server
            # still starting (status "pending", no prompts or tools): on a busy 2-core machine a Python server
            # can take longer (measured: pending under 6 busy loops). Wait for the connection, as a person's
            # interactive Claude Code in effect does before they type.
            MCP_CONNECTION_NONBLOCKING="false",
            MCP_CONNECT_TIMEOUT_MS="60000",
            **extra_env,
        )
        began = time.monotonic()
        events = run_claude(claude, env, sandbox.work, prompt, *allowed)
        run = ClaudeRun(events, fake.recorded(), time.monotonic() - began)
    left = [r.path for r in run.requests if r.method == "CONNECT" or not r.path.startswith("/")]
    assert not left, f"Claude Code tried to reach {left}"
    plugin_servers = [s for s in run.init["mcp_servers"] if s["source"] == "plugin"]
    assert [s["name"] for s in plugin_servers] == [SERVER]
    assert [s.get("status") for s in plugin_servers] == ["connected"], f"the plugin's server: {plugin_servers}"
    assert run.events[-1]["type"] == "result", run.events[-1]
    assert run.events[-1]["is_error"] is False, run.events[-1]
    # Claude Code stops its MCP servers as it exits, and codex-mcp takes its Codex with it: wait for that, so that
    # the next run (or the sandbox's check for leftovers) does not meet this run's Codex.
    deadline = time.monotonic() + 10
    while processes_with_env("CODEX_HOME", str(sandbox.codex_home)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return run


def turns_with(fake_model: FakeModel, marker: str) -> list[list[str]]:
    """The user messages of each real turn whose latest message carries marker, as the fake OpenAI model got them."""
    return [r.user_texts for r in fake_model.user_requests() if r.user_texts and marker in r.user_texts[-1]]


@pytest.mark.parametrize("deferred", [True, False], ids=["tools-deferred", "tools-loaded"])
def test_claude_code_drives_codex_through_the_plugin(
    claude: Path, sandbox: Sandbox, fake_model: FakeModel, codex_bin: Path, deferred: bool
) -> None:
    marker = uuid.uuid4().hex[:8]
    first, second = f"plugin hello {marker}", f"plugin again {marker} [[history]]"
    script = Scripted(
        [
            (START, lambda done: {"prompt": first, "cwd": str(sandbox.work)}),
            (REPLY, lambda done: {"conversationId": conversation_id(done[0]), "prompt": second}),
        ],
        lambda done: f"Codex answered the follow-up: {json.loads(done[1])['reply']}",
    )
    run = claude_with_plugin(
        claude, sandbox, codex_bin, script, "Ask Codex, then follow up.", START, REPLY,
        **({} if deferred else {"ENABLE_TOOL_SEARCH": "false"}),
    )  # fmt: skip

    last = run.conversation(START)
    called = [b["name"] for b in _blocks(last, "tool_use")]
    if deferred:  # sent with defer_loading, and callable only after the ToolSearch call loaded them
        assert {START, REPLY} <= deferred_tools(last)
        assert called == [TOOL_SEARCH, START, REPLY]
    else:  # WaitForMcpServers first when codex-mcp was still starting
        assert not {START, REPLY} & deferred_tools(last)
        assert called[-2:] == [START, REPLY]
        assert TOOL_SEARCH not in called

    # What reached the fake OpenAI model through codex-mcp and the real Codex: one thread, the second turn with the
    # first in its history.
    assert turns_with(fake_model, marker) == [[first], [first, second]]

    # What Claude Code shows: both results and the final answer.
    shown = run.tool_results()
    assert any(f'"reply":"ECHO: {first}"' in r for r in shown), shown
    assert any(f'"reply":"{first} | {second}"' in r for r in shown), shown
    assert run.events[-1]["result"] == f"Codex answered the follow-up: {first} | {second}"
    assert run.took_s < 60, f"claude -p took {run.took_s:.1f} s"


def test_ask_command_continues_the_repository_conversation(
    claude: Path, sandbox: Sandbox, fake_model: FakeModel, codex_bin: Path
) -> None:
    """/codex-mcp:ask in a later Claude Code session finds the folder's conversation with codex_list and continues
    it with codex_reply (codex-mcp resumes the Codex thread: a new server process), on the command's own
    allowed-tools."""
    marker = uuid.uuid4().hex[:8]
    first, later = f"plugin first {marker}", f"plugin later {marker} [[history]]"
    start = Scripted([(START, lambda done: {"prompt": first, "cwd": str(sandbox.work)})], lambda done: "started")
    started = claude_with_plugin(claude, sandbox, codex_bin, start, "Ask Codex.", START)
    cid = conversation_id(started.tool_results()[-1])

    ask = Scripted(
        [
            (LIST, lambda done: {"cwd": str(sandbox.work), "limit": 5}),
            (REPLY, lambda done: {"conversationId": conversation_id(done[0]), "prompt": later}),
        ],
        lambda done: json.loads(done[1])["reply"],
    )
    run = claude_with_plugin(claude, sandbox, codex_bin, ask, f"/codex-mcp:ask {later}")  # no --allowedTools

    init = run.init
    commands = {
        "codex-mcp:" + c
        for c in ("setup", "review", "ask", "status", "interrupt", "attach", "fork", "rewind", "compact")
    }
    assert commands <= set(init["slash_commands"])
    assert "codex-mcp:codex-conversations" in init["skills"]
    assert "codex-mcp:codex-delegate" in init["agents"]
    assert not [c for c in init["slash_commands"] if c.startswith("codex:")]  # OpenAI's plugin's namespace

    sent = json.dumps(run.conversation(LIST)["messages"])
    assert "in this repository's Codex conversation" in sent  # the command's text, expanded for the model
    assert json.dumps(f"Raw arguments: `{later}`")[1:-1] in sent  # $ARGUMENTS filled in
    shown = run.tool_results()
    assert any(f'"conversationId":"{cid}"' in r for r in shown[:-1]), shown  # codex_list found it
    replied = json.loads(shown[-1])
    assert (replied["conversationId"], replied["recovery"]) == (cid, "resumed")
    assert turns_with(fake_model, marker) == [[first], [first, later]]
    assert run.events[-1]["result"] == f"{first} | {later}"


FORK = TOOL_PREFIX + "codex_fork"


def test_fork_command_branches_the_repository_conversation(
    claude: Path, sandbox: Sandbox, fake_model: FakeModel, codex_bin: Path
) -> None:
    """Issue 24: /codex-mcp:fork --at 1 in a later Claude Code session finds the folder's conversation and branches it
    with codex_fork at turn 1, on the command's own allowed-tools; the branch's Codex sees turn 1 only."""
    marker = uuid.uuid4().hex[:8]
    first, second, branch = f"fork one {marker}", f"fork two {marker}", f"fork branch {marker} [[history]]"
    setup = Scripted(
        [
            (START, lambda done: {"prompt": first, "cwd": str(sandbox.work)}),
            (REPLY, lambda done: {"conversationId": conversation_id(done[0]), "prompt": second}),
        ],
        lambda done: "two turns",
    )
    started = claude_with_plugin(claude, sandbox, codex_bin, setup, "Ask Codex twice.", START, REPLY)
    cid = conversation_id(started.tool_results()[-1])  # the reply names the conversation

    fork = Scripted(
        [
            (LIST, lambda done: {"cwd": str(sandbox.work), "limit": 5}),
            (FORK, lambda done: {"conversationId": conversation_id(done[0]), "prompt": branch, "at_turn": 1}),
        ],
        lambda done: json.loads(done[1])["reply"],
    )
    run = claude_with_plugin(claude, sandbox, codex_bin, fork, f"/codex-mcp:fork --at 1 {branch}")
    assert "codex-mcp:fork" in set(run.init["slash_commands"])
    sent = json.dumps(run.conversation(LIST)["messages"])
    assert json.dumps(f"Raw arguments: `--at 1 {branch}`")[1:-1] in sent  # $ARGUMENTS filled in
    forked = json.loads(run.tool_results()[-1])
    assert forked["forked_from"] == cid, forked
    assert forked["conversationId"] != cid
    assert turns_with(fake_model, marker)[-1] == [first, branch], "the branch's Codex saw more than turn 1"
    assert run.events[-1]["result"] == f"{first} | {branch}"
