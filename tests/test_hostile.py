"""Hostile input and security: fuzzed tool arguments through a real MCP client (a tool error that says what is
wrong, never a crash, never a hang), hostile prompts end to end (data, never keystrokes), garbage on the
protocol, owner-only state, no listening sockets, and no shell between the server and Codex."""

from __future__ import annotations

import json
import os
import queue
import stat
import subprocess
import sys
import threading
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp_types import CallToolResult

from codex_mcp.cli.fakemodel import FakeModel
from codex_mcp.codex.keys import sanitize_prompt
from codex_mcp.errors import InvalidInput

from .conftest import Sandbox, mcp_server
from .faults_helpers import (
    codex_children,
    codex_processes,
    crashes_in,
    logged_server,
    socket_report,
)
from .helpers import await_until, call, reply, start, start_result, text_of
from .test_conversations import server_pid

SEARCH = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

# --- a stand-in Codex that records how it was started ----------------------------------------------------


@dataclass
class StubCodex:
    """An executable that answers `--version` like Codex 0.169.0 and otherwise writes down its argv and cwd,
    then exits 3: every codex_start that gets as far as launching Codex fails fast, and the test sees exactly
    what Codex would have been given."""

    path: Path
    log: Path

    def records(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def stub_codex(tmp_path: Path) -> StubCodex:
    path = tmp_path / "stub-bin" / "codex"
    log = tmp_path / "stub-launches.jsonl"
    path.parent.mkdir()
    path.write_text(
        f"#!{sys.executable} -IS\n"
        "import json, os, sys\n"
        "if sys.argv[1:] == ['--version']:\n"
        "    print('codex-cli 0.169.0')\n"
        "    sys.exit(0)\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(json.dumps({'argv': sys.argv, 'cwd': os.getcwd()}) + '\\n')\n"
        "sys.exit(3)\n"
    )
    path.chmod(0o755)
    return StubCodex(path, log)


@contextmanager
def served(sandbox: Sandbox, codex_bin: Path | str, log: Path) -> Iterator[tuple[BlockingPortal, Client]]:
    """A server and a client on an event loop in another thread, so that hypothesis (which is synchronous)
    can drive one server process through many examples."""
    with (
        start_blocking_portal(backend="asyncio") as portal,
        portal.wrap_async_context_manager(logged_server(sandbox, codex_bin, log)) as client,
    ):
        yield portal, client


async def bounded(client: Client, tool: str, arguments: dict[str, Any], limit: float = 60.0) -> CallToolResult:
    """One tool call that must come back within limit seconds (a hang fails the example)."""
    with anyio.fail_after(limit):
        return await client.call_tool(tool, arguments)


def must(portal: BlockingPortal, client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """helpers.call from the test's thread: a tool call that must succeed; its structured content."""

    async def run() -> dict[str, Any]:
        return await call(client, tool, **arguments)

    return portal.call(run)


def error_tail(tool: str, result: CallToolResult) -> str:
    """The message of a tool error, after checking it is one of ours and not the SDK's bare crash text."""
    text = text_of(result)
    prefix = f"Error executing tool {tool}"
    assert text.startswith(prefix), text
    tail = text[len(prefix) :].lstrip(": ")
    # "Error executing tool <name>" alone is what the SDK says when the tool raised an unexpected exception.
    assert len(tail) >= 10, f"{tool} crashed instead of saying what is wrong: {text!r}"
    return tail


# --- strategies ------------------------------------------------------------------------------------------

ODD_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x1b[201~",
    "../../x",
    "$(touch pwned)",
    "`touch pwned`",
    "'\"",
    "\\",
    "%s%n",
    "\ufeff",
    "😀",
    "a\nb",
    "\r\n",
    "x" * 100_000,
]
odd_text = st.one_of(st.text(max_size=40), st.sampled_from(ODD_STRINGS))
non_strings = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
anything = st.one_of(odd_text, non_strings)
numbers = st.one_of(
    st.none(),
    st.floats(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1e-300, 0.001, 3600, 3600.001, 1e308]),
    st.text(max_size=5),
    st.booleans(),
)
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(),
        st.text(max_size=30),
        st.sampled_from(ODD_STRINGS[:-1]),
        st.just("v" * 140_000),  # more than one argument may carry
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12,
)
config_keys = st.one_of(
    st.sampled_from(
        ["model_reasoning_effort", "a.b", "a-b_c.d-e", "projects", "projects.x", "tui", "tui.status_line", "x."]
    ),
    st.from_regex(r"[A-Za-z0-9_-]{1,12}(\.[A-Za-z0-9_-]{1,12}){0,2}", fullmatch=True),
    st.text(max_size=20),
)
configs = st.one_of(st.none(), st.dictionaries(config_keys, json_values, max_size=4), non_strings, odd_text)


def cwds(work: Path) -> st.SearchStrategy[object]:
    """Folders: the right one written oddly, relative ones, escapes, /proc, devices, files, long ones, junk."""
    w = str(work)
    fixed = [
        w,
        w + "/",
        w + "/../work",
        w + "/./.",
        w + "/missing",
        w + "\x00",
        "relative/dir",
        ".",
        "..",
        "../../x",
        "~",
        "~/",
        "~/missing",
        "/",
        "//",
        "/proc",
        "/proc/self",
        "/proc/self/cwd",
        "/proc/self/fd/0",
        "/dev/null",
        "/etc/passwd",
        "/nonexistent",
        "",
        "   ",
        "\t",
        "\x00",
        "/tmp/" + "d" * 250,
        "/" + "/".join(["d" * 200] * 15),
        "/tmp/" + "d" * 300,  # a name too long for the file system
        "/" + "d" * 5000,  # a path too long for the kernel
        "~nosuchuser/project",
        "/proc/1/root",  # no permission, even for root in some containers
    ]
    built = st.lists(
        st.text(alphabet=st.characters(exclude_characters="/\x00"), min_size=1, max_size=30), max_size=6
    ).map(lambda parts: "/" + "/".join(parts))
    return st.one_of(st.none(), st.sampled_from(fixed), built, st.text(max_size=60), non_strings)


Fields = dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]]


@st.composite
def mostly_right(draw: st.DrawFn, fields: Fields, required: frozenset[str]) -> dict[str, Any]:
    """Arguments that are mostly right, so that calls get past the SDK's type checks into our code: every
    required field and some optional ones with a sensible value, then up to three mutations (a field given an
    odd value or a value of the wrong type, a field dropped, a field no tool declares added)."""
    args: dict[str, Any] = {}
    for name, (sensible, _) in fields.items():
        if name in required or draw(st.booleans()):
            args[name] = draw(sensible)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        what = draw(st.sampled_from([*fields, "<drop>", "<extra>"]))
        if what == "<extra>":
            args[draw(st.text(max_size=12).filter(lambda k: k not in fields))] = draw(anything)
        elif what == "<drop>":
            if args:
                del args[draw(st.sampled_from(sorted(args)))]
        else:
            args[what] = draw(st.one_of(fields[what][1], non_strings))
    return args


sensible_prompts = st.text(min_size=1, max_size=80).filter(lambda s: "[" not in s and s.strip())  # no directives
odd_prompts = st.one_of(st.sampled_from(ODD_STRINGS), st.text(alphabet="\x00\x1b\r\n\t \x7f\x9b", max_size=10))
sensible_config = st.dictionaries(
    st.from_regex(r"[A-Za-z0-9_-]{1,12}(\.[A-Za-z0-9_-]{1,12}){0,2}", fullmatch=True).filter(
        lambda k: k.split(".")[0] not in ("projects", "tui")
    ),
    json_values.filter(lambda v: v is not None),
    max_size=4,
)


START_PARAMETERS = {
    "prompt",
    "cwd",
    "model",
    "profile",
    "sandbox",
    "approval_policy",
    "config",
    "timeout_s",
    "effort",
    "images",
}


def start_arguments(sandbox: Sandbox) -> st.SearchStrategy[dict[str, Any]]:
    w = str(sandbox.work)
    fields: Fields = {
        "prompt": (sensible_prompts, odd_prompts),
        "cwd": (
            st.sampled_from([None, w, w + "/", w + "/../work", w + "/./.", "~", str(sandbox.home)]),
            cwds(sandbox.work),
        ),
        "model": (
            st.one_of(st.sampled_from(["", "mock-model", "gpt-5-codex"]), st.text(max_size=30)),
            st.one_of(odd_text, st.text(min_size=190, max_size=210)),
        ),
        "profile": (st.sampled_from(["", "default", "work"]), odd_text),
        "sandbox": (st.sampled_from(["read-only", "workspace-write", "danger-full-access"]), odd_text),
        "approval_policy": (st.sampled_from(["on-request", "never"]), st.one_of(st.just("untrusted"), odd_text)),
        "config": (sensible_config, configs),
        "timeout_s": (st.floats(min_value=0.5, max_value=60), numbers),
        "effort": (st.sampled_from(["none", "minimal", "low", "medium", "high", "xhigh"]), odd_text),
        "images": (st.just([]), st.one_of(st.lists(odd_text, max_size=3), odd_text)),
    }
    assert set(fields) == START_PARAMETERS
    return mostly_right(fields, frozenset({"prompt"}))


# --- fuzzing every tool ----------------------------------------------------------------------------------


def as_received(value: object) -> object:
    """A value as the tool receives it: for parameters not declared plain `str`, the SDK first parses a
    string argument that holds a JSON array, object, boolean or null (so `"null"` arrives as None)."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return value
        if not isinstance(parsed, str | int | float):
            return parsed
    return value


def expected_cwd(cwd: object, sandbox: Sandbox) -> str | None:
    """Where Codex must run for this cwd argument (None when the test cannot tell: /proc/self is the server
    there and the test here)."""
    if cwd is None or (isinstance(cwd, str) and not cwd.strip()):
        return os.path.realpath(sandbox.work)
    assert isinstance(cwd, str)
    if cwd.startswith("/proc/"):
        return None
    if cwd == "~" or cwd.startswith("~/"):
        cwd = str(sandbox.home) + cwd[1:]
    return os.path.realpath(cwd)


def check_launch(record: dict[str, Any], arguments: dict[str, Any], stub: StubCodex, sandbox: Sandbox) -> None:
    """Codex got every value as one argv item, exactly as the client sent it (no shell, no quoting)."""
    argv: list[str] = record["argv"]
    assert argv[0] == str(stub.path)
    cwd = argv[argv.index("-C") + 1]
    assert cwd == record["cwd"], "Codex was not started in the folder it was told about"
    expected = expected_cwd(as_received(arguments.get("cwd")), sandbox)
    if expected is not None:
        assert cwd == expected
    model = as_received(arguments.get("model"))
    if isinstance(model, str) and model:
        assert argv[argv.index("-m") + 1] == model
    else:
        assert "-m" not in argv
    config = as_received(arguments.get("config"))
    for key, value in (config if isinstance(config, dict) else {}).items():
        items = [a[len(key) + 1 :] for i, a in enumerate(argv) if a.startswith(f"{key}=") and argv[i - 1] == "-c"]
        assert any(tomllib.loads(f"v = {item}")["v"] == value for item in items), (key, value, items)
    effort = as_received(arguments.get("effort"))
    if effort:  # the effort parameter comes after the client's config, so it wins over a config entry for it
        efforts = [a for i, a in enumerate(argv) if a.startswith("model_reasoning_effort=") and argv[i - 1] == "-c"]
        assert efforts[-1] == f'model_reasoning_effort="{effort}"', efforts


@pytest.mark.codex
@pytest.mark.version_independent
def test_fuzzed_start_arguments_are_tool_errors_never_crashes(
    sandbox: Sandbox, stub_codex: StubCodex, tmp_path: Path
) -> None:
    """codex_start with generated arguments against a Codex stand-in that records its argv and exits: every
    call is a tool error saying what is wrong (or, when it got as far as launching, that Codex did not start),
    a rejected call launches nothing, and a launched one hands every value over intact."""
    log = tmp_path / "server.log"
    calls = 0
    with served(sandbox, stub_codex.path, log) as (portal, client):
        [start_tool] = [t for t in portal.call(client.list_tools).tools if t.name == "codex_start"]
        assert set(start_tool.input_schema["properties"]) == START_PARAMETERS, "the fuzz does not know them all"

        @settings(SEARCH, max_examples=160)
        @given(start_arguments(sandbox))
        @example({"prompt": "hi", "cwd": str(sandbox.work), "config": {"k": "$(touch pwned) `x` 'q\" \\ \n"}})
        @example({"prompt": "hi", "cwd": "../../x"})
        @example({"prompt": "hi", "model": "--dangerously-bypass-approvals-and-sandbox"})
        @example({"prompt": "hi", "config": {"projects": {"/": {"trust_level": "trusted"}}}})
        @example({"prompt": 7, "cwd": ["/"], "timeout_s": "soon", "surprise": None})
        @example({"prompt": "0", "model": "null", "config": '{"a": [1, "b"]}'})
        @example({"prompt": "0", "profile": "\x00"})  # once raised ValueError reading the profile's file
        def one_call(arguments: dict[str, Any]) -> None:
            nonlocal calls
            launched_before = len(stub_codex.records())
            result = portal.call(bounded, client, "codex_start", arguments)
            calls += 1
            assert result.is_error, f"the stand-in cannot start, yet: {result.structured_content}"
            tail = error_tail("codex_start", result)
            launched = stub_codex.records()[launched_before:]
            if tail.startswith("Codex did not start"):
                assert "exit code 3" in tail, tail
                assert len(launched) == 1, launched
                check_launch(launched[0], arguments, stub_codex, sandbox)
            else:
                assert launched == [], f"a rejected call launched Codex: {tail}"

        one_call()
        listed = must(portal, client, "codex_list")
        assert listed["conversations"] == [], "a failed codex_start left a conversation behind"
    assert calls > 80
    assert not crashes_in(log), crashes_in(log)
    assert not list(sandbox.work.rglob("pwned*"))


# The tools fuzzed against a live conversation, with their (required, optional) parameters. A tool the server
# lists that is neither here nor codex_start fails the test: new tools get fuzzed too.
CONVERSATION_TOOLS: dict[str, tuple[set[str], set[str]]] = {
    "codex_reply": ({"conversationId", "prompt"}, {"timeout_s", "model", "effort", "images", "steer"}),
    "codex_status": ({"conversationId"}, {"wait_s", "turn", "offset"}),
    "codex_interrupt": ({"conversationId"}, set()),
    "codex_approve": ({"conversationId", "decision"}, {"timeout_s"}),
    "codex_end": ({"conversationId"}, set()),
    "codex_attach_info": ({"conversationId"}, set()),
    "codex_list": (set(), {"limit", "cursor", "state", "cwd", "text"}),
    "codex_transcript": ({"conversationId"}, {"from_turn", "limit"}),
    # Its cwd values are never git repositories, so every review is refused before Codex runs.
    "codex_review": (set(), {"cwd", "base", "commit", "instructions", "model", "effort", "timeout_s"}),
    # A fork is a new conversation (its result names it): the checks below count those apart.
    "codex_fork": ({"conversationId", "prompt"}, {"at_turn", "model", "effort", "timeout_s"}),
    # Never to 0: the final check reads the base turn back from the thread.
    "codex_rewind": ({"conversationId", "to_turn"}, set()),
    "codex_compact": ({"conversationId"}, {"timeout_s"}),
}


def conversation_arguments(cid: str) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """A tool and arguments for it: the real conversation id (also written oddly), other ids, and junk."""
    odd_ids = st.one_of(
        st.sampled_from(
            [
                cid.replace("-", ""),
                cid[:-1],
                cid + "0",
                f"../{cid}",
                f"{cid}/../../x",
                "../../x",
                "/etc/passwd",
                str(uuid.UUID(int=0)),
                str(uuid.uuid4()),
                cid + "\x00",
                "x" * 100_000,
            ]
        ),
        odd_text,
    )
    fields: Fields = {
        "conversationId": (st.sampled_from([cid, cid.upper(), f"  {cid}\n"]), odd_ids),
        "prompt": (sensible_prompts, odd_prompts),
        "timeout_s": (st.floats(min_value=0.001, max_value=30), numbers),
        "wait_s": (st.floats(min_value=0, max_value=3), numbers),
        "turn": (st.integers(min_value=1, max_value=6), st.one_of(st.integers(), numbers)),
        "decision": (st.sampled_from(["approve", "approve_for_session", "approve_always", "deny"]), odd_text),
        "offset": (st.integers(min_value=0, max_value=50), st.one_of(st.integers(), numbers)),
        "limit": (st.integers(min_value=1, max_value=50), st.one_of(st.integers(), numbers)),
        "from_turn": (st.integers(min_value=1, max_value=6), st.one_of(st.integers(), numbers)),
        "cursor": (st.none(), odd_text),
        "state": (st.sampled_from(["live", "ended"]), odd_text),
        "cwd": (st.sampled_from(["/", "/tmp", "/nonexistent/old/project"]), odd_text),
        "text": (st.sampled_from(["fuzz", "base", ""]), odd_text),
        # A change of model or effort restarts the session (a resume): right values mostly keep what it has.
        "model": (st.sampled_from(["", "mock-model"]), odd_text),
        "effort": (st.sampled_from(["medium"]), odd_text),
        "base": (st.sampled_from(["main", "origin/main", "-x"]), odd_text),
        "commit": (st.sampled_from(["HEAD", "0123abc", "HEAD~1"]), odd_text),
        "instructions": (sensible_prompts, odd_prompts),
        "images": (st.just([]), st.one_of(st.lists(odd_text, max_size=3), odd_text)),
        "steer": (st.just(False), st.one_of(st.booleans(), odd_text)),
        "at_turn": (st.integers(min_value=1, max_value=6), st.one_of(st.integers(max_value=0), numbers, odd_text)),
        "to_turn": (st.integers(min_value=1, max_value=6), st.one_of(st.integers(max_value=-1), numbers, odd_text)),
    }
    return st.one_of(
        *(
            st.tuples(
                st.just(tool),
                mostly_right({f: fields[f] for f in sorted(required | optional)}, frozenset(required)),
            )
            for tool, (required, optional) in CONVERSATION_TOOLS.items()
        )
    )


@pytest.mark.codex
@pytest.mark.version_independent
def test_fuzzed_conversation_tool_arguments_never_crash(sandbox: Sandbox, codex_bin: Path, tmp_path: Path) -> None:
    """Every other tool with generated arguments, against one live conversation on the real Codex: each call
    returns (a result, or a tool error saying what is wrong), and the conversation works afterwards."""
    log = tmp_path / "server.log"
    calls: dict[str, int] = {}
    forks: set[str] = set()
    with served(sandbox, codex_bin, log) as (portal, client):
        listed_tools = portal.call(client.list_tools).tools
        for tool in listed_tools:
            assert tool.name == "codex_start" or tool.name in CONVERSATION_TOOLS, f"{tool.name} is not fuzzed"
            params = set(tool.input_schema.get("properties", {}))
            if tool.name in CONVERSATION_TOOLS:
                required, optional = CONVERSATION_TOOLS[tool.name]
                assert params == required | optional, f"{tool.name}: the fuzz does not know {params}"
        cid = must(portal, client, "codex_start", prompt="fuzz base", cwd=str(sandbox.work))["conversationId"]

        @settings(SEARCH, max_examples=150)
        @given(conversation_arguments(cid))
        @example(("codex_reply", {"conversationId": "../../x", "prompt": "hi"}))
        @example(("codex_status", {"conversationId": cid, "turn": 2**70}))
        @example(("codex_status", {"conversationId": cid, "wait_s": -1e308}))
        @example(("codex_approve", {"conversationId": cid, "decision": "approve"}))
        # The tools last in the list, which a run of 150 generated examples can miss (seen once in CI).
        @example(("codex_attach_info", {"conversationId": cid}))
        @example(("codex_list", {"state": "live"}))
        @example(("codex_transcript", {"conversationId": cid, "from_turn": 2**70}))
        @example(("codex_review", {"cwd": "/nonexistent/old/project"}))
        @example(("codex_fork", {"conversationId": cid, "prompt": "fork fuzz", "at_turn": 1}))
        @example(("codex_rewind", {"conversationId": cid, "to_turn": 2**70}))
        @example(("codex_compact", {"conversationId": cid}))
        def one_call(tool_and_arguments: tuple[str, dict[str, Any]]) -> None:
            tool, arguments = tool_and_arguments
            result = portal.call(bounded, client, tool, arguments)
            calls[tool] = calls.get(tool, 0) + 1
            if result.is_error:
                error_tail(tool, result)
            else:
                assert result.structured_content is not None, text_of(result)
                if tool == "codex_fork":
                    assert result.structured_content["forked_from"] == cid
                    forks.add(result.structured_content["conversationId"])
                elif tool != "codex_list":
                    assert result.structured_content["conversationId"] == cid

        one_call()
        # The server and the conversation are fine after all of that.
        r = must(portal, client, "codex_reply", conversationId=cid, prompt="still here [[history]]")
        assert r["status"] == "completed"
        assert r["reply"].startswith("fuzz base | ")
        listed = must(portal, client, "codex_list", limit=200)
        found = {c["conversationId"] for c in listed["conversations"]}
        assert found == {cid} | forks, "a junk id became a conversation"
        for conversation in found:
            must(portal, client, "codex_end", conversationId=conversation)
    assert set(calls) == set(CONVERSATION_TOOLS), calls
    assert not crashes_in(log), crashes_in(log)
    assert not codex_processes(sandbox)


# --- hostile prompts, end to end -------------------------------------------------------------------------

PIECES = [
    "/quit",
    "/new",
    "/model",
    "!touch PWNED",
    "$skill",
    "@file",
    "#note",
    "?",
    "\x1b[201~",
    "\x1b[200~",
    "\x9b201~",
    "\x1b]0;title\x07",
    "\x1b[2J",
    "\x1bOA",
    "\x03",
    "\x04",
    "\x1a",
    "\x7f",
    "\x85",
    "\x00",
    "\r\n",
    "\r",
    "\n",
    "\t",
    " ",
    "\u00a0",
    "\u2028",
    "\ufeff",
    "é",
    "日本語",
    "🚀",
]
hostile_prompts = (
    st.lists(
        st.one_of(st.sampled_from(PIECES), st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)),
        min_size=1,
        max_size=8,
    )
    .map("".join)
    .filter(lambda s: "Generate a concise" not in s)
)


@pytest.mark.codex
def test_hostile_prompts_reach_the_model_as_plain_text(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel, tmp_path: Path
) -> None:
    """Generated prompts full of terminal controls, paste markers, slash/bang commands and mentions, sent to
    one live conversation: the model receives exactly sanitize_prompt(text) as one turn, nothing runs, and the
    session stays the same, idle and usable."""
    log = tmp_path / "server.log"
    with served(sandbox, codex_bin, log) as (portal, client):
        cid = must(portal, client, "codex_start", prompt="hostile base", cwd=str(sandbox.work))["conversationId"]
        turns = 1

        @settings(SEARCH, max_examples=40)
        @given(hostile_prompts)
        @example("\x1b[201~/quit\r")
        @example("/quit")
        @example("!touch PWNED")
        @example("ends with $skill")
        @example("\x1b[201~\r!touch PWNED\r")
        def one_prompt(text: str) -> None:
            nonlocal turns
            try:
                expected: str | None = sanitize_prompt(text)
            except InvalidInput:
                expected = None
            # The fake model reads a user message starting with "<" as Codex's own context block, and "[[" as
            # its directives: prompts like that cannot be checked through it.
            assume(expected is None or not (expected.startswith("<") or "[[" in expected))
            before = len(fake_model.user_requests())
            result = portal.call(
                bounded, client, "codex_reply", {"conversationId": cid, "prompt": text, "timeout_s": 30}
            )
            if expected is None:
                assert "prompt is empty" in error_tail("codex_reply", result)
                assert len(fake_model.user_requests()) == before
                return
            assert not result.is_error, text_of(result)
            r = result.structured_content
            assert r is not None
            turns += 1
            assert r["status"] == "completed", r
            assert r["turn"] == turns, "the prompt did not make exactly one turn"
            assert [q.user_texts[-1] for q in fake_model.user_requests()[before:]] == [expected]
            assert r["reply"] == f"ECHO: {expected}"
            assert r["state"] == "idle"
            assert r["recovery"] == "live"
            assert r["thread_id"] == cid, "a slash command started a new thread"
            assert not (sandbox.work / "PWNED").exists(), "a ! command ran"

        one_prompt()
        status = must(portal, client, "codex_status", conversationId=cid)
        assert status["state"] == "idle"
        assert status["turns"] == turns
        assert status["end_reason"] is None
    assert not crashes_in(log), crashes_in(log)


# --- what the fuzzing found (each was a bare crash or a stuck session until fixed) ---------------------------


@pytest.mark.codex
@pytest.mark.version_independent
@pytest.mark.anyio
async def test_unusable_cwd_paths_are_tool_errors(sandbox: Sandbox, stub_codex: StubCodex, tmp_path: Path) -> None:
    """Paths the OS refuses to look at (too long, ~ of an unknown user) are a tool error about the cwd, not an
    OSError or RuntimeError escaping check_cwd."""
    log = tmp_path / "server.log"
    async with logged_server(sandbox, stub_codex.path, log) as client:
        for cwd in ["/" + "d" * 5000, "/tmp/" + "d" * 300, "~nosuchuser/project"]:
            result = await client.call_tool("codex_start", {"prompt": "hi", "cwd": cwd})
            assert "cwd" in error_tail("codex_start", result)
    assert not stub_codex.records()
    assert not crashes_in(log), crashes_in(log)


@pytest.mark.codex
@pytest.mark.version_independent
@pytest.mark.anyio
async def test_oversized_config_values_are_tool_errors(sandbox: Sandbox, stub_codex: StubCodex, tmp_path: Path) -> None:
    """A config value longer than one argument may be (128 KiB), or all of them together too long for execve,
    is a tool error before anything is spawned, not an E2BIG escaping the spawn."""
    log = tmp_path / "server.log"
    async with logged_server(sandbox, stub_codex.path, log) as client:
        for config in [{"developer_instructions": "x" * 200_000}, {f"k{n}": "y" * 100_000 for n in range(30)}]:
            result = await client.call_tool("codex_start", {"prompt": "hi", "cwd": str(sandbox.work), "config": config})
            error_tail("codex_start", result)
    assert not crashes_in(log), crashes_in(log)


# --- garbage on the protocol -----------------------------------------------------------------------------


@pytest.mark.codex
@pytest.mark.version_independent
def test_protocol_garbage_is_survived(sandbox: Sandbox, stub_codex: StubCodex, tmp_path: Path) -> None:
    """Lines a client cannot normally send: not JSON, not UTF-8, lone surrogates in strings, NaN and Infinity,
    arguments that are not an object, an unknown tool. The server answers what it can with errors and goes
    on serving."""
    err = tmp_path / "server.log"
    garbage: list[bytes] = [
        b"garbage",
        b"\xff\xfe\x00 not utf-8",
        b"{}",
        b"[]",
        b'{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"codex_start",'
        b'"arguments":{"prompt":"\\ud800 x","cwd":"\\udc80"}}}',
        b'{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"codex_reply",'
        b'"arguments":{"conversationId":"\\ud800","prompt":"x","timeout_s":NaN}}}',
        b'{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"codex_status",'
        b'"arguments":{"conversationId":"01a1fbea-b6ba-73a1-8251-f4e5e362b223","wait_s":NaN}}}',
        b'{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"codex_start",'
        b'"arguments":{"prompt":"x","timeout_s":Infinity}}}',
        b'{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"codex_start","arguments":[1,2]}}',
        b'{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"name":"no_such_tool","arguments":{}}}',
        b'{"jsonrpc":"2.0","id":16,"method":"tools/call","params":{"name":"codex_start",'
        b'"arguments":{"prompt":"x","config":{"\\ud800":1,"a":"\\udfff"}}}}',
        b'{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"codex_list"}}',
        b'{"jsonrpc":"2.0","id":18,"method":"tools/call","params":{"name":"codex_start",'
        b'"arguments":{"prompt":"x","timeout_s":-0.0,"cwd":null}}}',
    ]
    with err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "codex_mcp", "--codex-bin", str(stub_codex.path), "-v"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=sandbox.env,
            cwd=sandbox.work,
        )
    assert proc.stdin is not None
    assert proc.stdout is not None
    lines: queue.Queue[bytes] = queue.Queue()

    def read_stdout() -> None:
        assert proc.stdout is not None
        for line in iter(proc.stdout.readline, b""):
            lines.put(line)

    threading.Thread(target=read_stdout, daemon=True).start()
    responses: dict[int, dict[str, Any]] = {}

    def send(raw: bytes) -> None:
        assert proc.stdin is not None
        proc.stdin.write(raw + b"\n")
        proc.stdin.flush()

    def wait_for(id_: int, timeout: float = 20.0) -> dict[str, Any]:
        while id_ not in responses:
            message = json.loads(lines.get(timeout=timeout))  # stdout carries JSON-RPC only
            if "id" in message:
                responses[message["id"]] = message
        return responses[id_]

    try:
        send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-06-18",
                        "capabilities": {},
                        "clientInfo": {"name": "raw", "version": "0"},
                    },
                }
            ).encode()
        )
        wait_for(1)
        send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
        for raw in garbage:
            send(raw)
        send(b'{"jsonrpc":"2.0","id":99,"method":"tools/call","params":{"name":"codex_list","arguments":{}}}')
        final = wait_for(99)
        assert final["result"]["structuredContent"]["conversations"] == []
        for id_ in (12, 13, 14, 15, 17, 18):  # well-formed requests are all answered
            wait_for(id_)
        for id_, response in responses.items():
            if id_ in (1, 17, 99):
                continue
            # Lines the SDK cannot parse get no answer at all; whatever is answered is an error.
            assert "error" in response or response["result"].get("isError"), response
            if "result" in response:
                for item in response["result"]["content"]:
                    assert item["text"].strip() != "Error executing tool codex_start", response
        assert responses[13]["result"]["isError"]
        assert "timeout_s" in responses[13]["result"]["content"][0]["text"]
        proc.stdin.close()  # EOF: a clean exit
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert not crashes_in(err), crashes_in(err)


# --- security ---------------------------------------------------------------------------------------------


@pytest.mark.codex
@pytest.mark.version_independent
@pytest.mark.anyio
async def test_state_is_owner_only_even_with_a_permissive_umask(sandbox: Sandbox, codex_bin: Path) -> None:
    """The state files hold prompts and replies: whatever the umask and however loose the folders were, the
    state dir and its folder end up 0700 and every file in them 0600, owned by us."""
    state = Path(sandbox.env["CODEX_MCP_STATE_DIR"])
    (state / "conversations").mkdir()
    state.chmod(0o777)
    (state / "conversations").chmod(0o777)
    old = os.umask(0)
    try:
        async with mcp_server(sandbox, codex_bin) as client:
            cid = await start(client, "secret", cwd=sandbox.work)
            await reply(client, cid, "more secrets")
            live_files = sorted((state / "conversations").iterdir())
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in live_files}
            await call(client, "codex_end", conversationId=cid)
    finally:
        os.umask(old)
    assert f"{cid}.json" in modes
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "conversations").stat().st_mode) == 0o700
    assert all(mode == 0o600 for mode in modes.values()), modes
    for path in (state / "conversations").iterdir():
        info = path.lstat()
        assert stat.S_IMODE(info.st_mode) == 0o600, path
        assert info.st_uid == os.getuid()


def control_socket(sandbox: Sandbox, server: int) -> Path:
    """Where the server's control channel (codex-mcp ls / attach) listens."""
    return Path(sandbox.env["CODEX_MCP_STATE_DIR"]) / "control" / f"{server}.sock"


@pytest.mark.codex
@pytest.mark.version_independent
@pytest.mark.anyio
async def test_the_only_channel_is_the_owner_only_control_socket(sandbox: Sandbox, codex_bin: Path) -> None:
    """Besides stdio the server has exactly one way in: its control socket, a unix socket in an owner-only
    folder (peers of other users are refused: tests/test_attach.py). No TCP/UDP socket, no other listener,
    with sessions live and a turn running. Another channel must come with a test of who it accepts."""
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "sockets", cwd=sandbox.work)
        running = await reply(client, cid, "busy [[delay:3]]", timeout_s=1)
        assert running["status"] == "running"
        server = server_pid(sandbox)
        path = control_socket(sandbox, server)
        report = socket_report(server)
        assert report["inet"] == [], report
        [listener] = report["listening"]
        assert listener.endswith(f"name={str(path)!r}"), report
        assert report["named_unix"] == [listener], report
        assert report["unix"], "expected asyncio's own socketpair too: is the inspection working?"
        info = path.lstat()
        assert stat.S_ISSOCK(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert info.st_uid == os.getuid()
        done = await call(client, "codex_status", conversationId=cid, wait_s=15)
        assert done["status"] == "completed"
        assert socket_report(server)["listening"] == [listener]


async def control_exchange(path: Path, payload: bytes, limit: float = 10.0) -> tuple[list[dict[str, Any]], bool]:
    """Send payload on a fresh control connection; the frames that came back and whether the server closed the
    connection within limit seconds."""
    received = b""
    closed = False
    async with await anyio.connect_unix(path) as stream:
        try:
            if payload:
                await stream.send(payload)
            await stream.send_eof()  # nothing more is coming: a server waiting for a request line sees EOF
        except anyio.BrokenResourceError:
            pass  # the server hung up before it had read everything: that is a refusal too
        with anyio.move_on_after(limit):
            while True:
                try:
                    received += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    closed = True
                    break
    return [json.loads(line) for line in received.splitlines() if line.strip()], closed


@pytest.mark.codex
@pytest.mark.version_independent
@pytest.mark.anyio
async def test_control_socket_garbage_is_refused_and_costs_nothing(sandbox: Sandbox, codex_bin: Path) -> None:
    """Junk on the control channel: each connection gets an error (or is just closed), the server and the live
    conversation carry on, and nobody is left holding Codex's keyboard."""
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "control base", cwd=sandbox.work)
        path = control_socket(sandbox, server_pid(sandbox))
        junk = [
            b"",
            b"garbage\n",
            b"\xff\xfe\x00\n",
            b"[]\n",
            b"null\n",
            b'{"op": 7}\n',
            b'{"op": "attach", "id": "../../x"}\n',
            b'{"op": "attach", "id": "01a1fbea-b6ba-73a1-8251-f4e5e362b223"}\n',
            b'{"op": "attach", "id": ["' + cid.encode() + b'"]}\n',
            b'{"op": "attach", "id": "' + cid.encode() + b'", "mode": "watch", "rows": "many"}\n',
            b"x" * (2 << 20),  # a line longer than the channel takes
        ]
        for payload in junk:
            frames, closed = await control_exchange(path, payload)
            assert closed, f"{payload[:60]!r}: the connection was left open"
            assert all(f.get("ok") is False for f in frames), (payload[:60], frames)
        frames, closed = await control_exchange(path, b'{"op": "list"}\n')
        assert frames[0]["ok"] is True
        assert [c["conversationId"] for c in frames[0]["conversations"]] == [cid]
        assert frames[0]["conversations"][0]["input"] is None, "someone holds the keyboard"
        r = await reply(client, cid, "after the junk", timeout_s=30)
        assert r["status"] == "completed", r
        assert r["reply"] == "ECHO: after the junk"


@pytest.mark.codex
@pytest.mark.version_independent
@pytest.mark.anyio
async def test_a_bad_control_attach_does_not_keep_the_keyboard(sandbox: Sandbox, codex_bin: Path) -> None:
    """A control attach that fails half-way (its size is not a number) must not leave the keyboard taken, or
    every later agent turn would wait for a person who is not there."""
    async with mcp_server(sandbox, codex_bin) as client:
        cid = await start(client, "keyboard base", cwd=sandbox.work)
        path = control_socket(sandbox, server_pid(sandbox))
        request = {"op": "attach", "id": cid, "mode": "control", "rows": "many", "cols": 80}
        frames, closed = await control_exchange(path, json.dumps(request).encode() + b"\n")
        assert closed
        assert all(f.get("ok") is False for f in frames), frames
        r = await reply(client, cid, "after the bad attach", timeout_s=10)
        assert r["status"] == "completed", f"the agent's turn is stuck behind a keyboard nobody holds: {r}"


HOSTILE_FOLDER = "$(touch pwned) ; rm -rf x 'quote\" `touch pwned2` | & * ? [a] ${HOME} ~ \\ ü"
HOSTILE_VALUE = "say '$(touch pwned3)' \"`touch pwned4`\" ; rm -rf x \\ done"
HOSTILE_MODEL = "mock'$(touch pwned5)\"`touch pwned6`"


@pytest.mark.codex
@pytest.mark.anyio
async def test_no_shell_between_the_server_and_codex(
    sandbox: Sandbox, codex_bin: Path, fake_model: FakeModel, tmp_path: Path
) -> None:
    """A folder, a model name and a config value full of shell syntax reach Codex as they are, as single argv
    items of a process the server started itself; nothing in them runs, at start or on resume."""
    work = sandbox.work / HOSTILE_FOLDER
    work.mkdir()
    canary = sandbox.work / "x" / "canary"  # what `rm -rf x` would take, run where the server runs
    canary.parent.mkdir()
    canary.touch()
    real = os.path.realpath(work)
    async with mcp_server(sandbox, codex_bin) as client:
        started = await start_result(
            client,
            "hostile launch",
            cwd=work,
            model=HOSTILE_MODEL,
            config={"developer_instructions": HOSTILE_VALUE},
        )
        assert started["status"] == "completed", started
        assert started["cwd"] == real
        cid = started["conversationId"]
        server = server_pid(sandbox)
        [codex] = codex_children(server)
        process = psutil.Process(codex)
        assert os.path.realpath(process.exe()) == os.path.realpath(codex_bin)
        assert process.cwd() == real
        argv = process.cmdline()
        assert argv[0] == str(codex_bin)
        assert argv[argv.index("-C") + 1] == real
        assert argv[argv.index("-m") + 1] == HOSTILE_MODEL
        [instructions] = [a for a in argv if a.startswith("developer_instructions=")]
        assert tomllib.loads("v = " + instructions.split("=", 1)[1])["v"] == HOSTILE_VALUE
        # What Codex made of them reached the model unchanged.
        [request] = [r for r in fake_model.user_requests() if r.user_texts and r.user_texts[-1] == "hostile launch"]
        assert request.body["model"] == HOSTILE_MODEL
        assert HOSTILE_VALUE in texts_of(request.body), "the developer instructions did not arrive intact"

        await call(client, "codex_end", conversationId=cid)
        again = await reply(client, cid, "hostile resume")
        assert again["recovery"] == "resumed"
        assert again["reply"] == "ECHO: hostile resume"
        await call(client, "codex_end", conversationId=cid)
    assert not list(tmp_path.rglob("pwned*")), "something ran a shell command from the arguments"
    assert canary.exists()


def texts_of(body: dict[str, object]) -> list[str]:
    """Every text part of a model request's input items."""
    found: list[str] = []
    items = body.get("input")
    for item in items if isinstance(items, list) else []:
        content = item.get("content") if isinstance(item, dict) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                found.append(part["text"])
    return found


@pytest.mark.codex
@pytest.mark.anyio
async def test_names_that_look_like_flags_stay_values(sandbox: Sandbox, codex_bin: Path) -> None:
    """A model or profile named like a Codex flag is given as the value of -m/-p, which Codex refuses; it never
    turns into the flag (here: the one that drops the sandbox and every approval)."""
    flag = "--dangerously-bypass-approvals-and-sandbox"
    async with mcp_server(sandbox, codex_bin) as client:
        for field in ("model", "profile"):
            result = await client.call_tool("codex_start", {"prompt": "hi", "cwd": str(sandbox.work), field: flag})
            assert result.is_error, result.structured_content
            assert "Codex did not start" in error_tail("codex_start", result)
        assert (await call(client, "codex_list"))["conversations"] == []
        assert await await_until(lambda: not codex_processes(sandbox), 5)
