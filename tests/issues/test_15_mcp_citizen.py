"""Issue 15: a first-class MCP citizen. Tools carry titles and true annotations and one-line descriptions; the
server has prompts (review, ask, continue) with argument completion, conversations as resources (a list and a
Markdown transcript per conversation) that a client can subscribe to, and its log reaches the client as MCP log
messages at the level the client asks for. Driven through the real MCP Inspector CLI and the official SDK client,
on real conversations with the real Codex."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp_types import (
    LoggingMessageNotificationParams,
    PromptReference,
    ResourceTemplateReference,
    ResourceUpdatedNotification,
)

from ..conftest import Sandbox, mcp_server
from ..helpers import await_until, call, reply, start, write_old_records
from ..test_inspector import inspect, inspector, run_inspector
from .test_13_plugin import Scripted, claude, claude_with_plugin

__all__ = ["claude", "inspector"]  # the fixtures, used by name

PROMPT_PREFIX = "mcp__plugin_codex-mcp_codex__"

pytestmark = [pytest.mark.anyio, pytest.mark.codex]

READ_ONLY_TOOLS = {"codex_list", "codex_status", "codex_attach_info", "codex_transcript"}


def _descriptions(schema: dict[str, Any]) -> list[str]:
    """Every description in a JSON schema, nested ones included."""
    found: list[str] = []
    if isinstance(schema.get("description"), str):
        found.append(schema["description"])
    for value in schema.values():
        if isinstance(value, dict):
            found += _descriptions(value)
        elif isinstance(value, list):
            found += [d for item in value if isinstance(item, dict) for d in _descriptions(item)]
    return found


def _one_line(text: str) -> bool:
    return "  " not in text and "\n" not in text and "\t" not in text


@pytest.mark.version_independent
def test_inspector_lists_titles_annotations_prompts_and_templates(
    inspector: Path, sandbox: Sandbox, codex_bin: Path
) -> None:
    tools = {t["name"]: t for t in inspect(inspector, sandbox, codex_bin, "--method", "tools/list")["tools"]}
    for name, tool in tools.items():
        assert tool["title"], name
        hints = tool["annotations"]
        assert set(hints) >= {"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"}, name
        assert hints["readOnlyHint"] is (name in READ_ONLY_TOOLS), name
        if hints["readOnlyHint"]:
            assert not hints["destructiveHint"], name
            assert not hints["openWorldHint"], name
        for text in [tool["description"], *_descriptions(tool["inputSchema"])]:
            assert _one_line(text), f"{name}: {text!r}"
        assert len(tool["description"]) < 600, name
    # Codex acts after these: it runs commands, changes files and reaches the network.
    for name in ("codex_start", "codex_reply", "codex_approve"):
        assert tools[name]["annotations"]["destructiveHint"], name
        assert tools[name]["annotations"]["openWorldHint"], name
    # What a person or a model searches for is in the words.
    assert "second opinion" in tools["codex_review"]["description"]
    assert "delegate" in tools["codex_start"]["description"]
    assert "Continue" in tools["codex_reply"]["description"]

    prompts = {p["name"]: p for p in inspect(inspector, sandbox, codex_bin, "--method", "prompts/list")["prompts"]}
    assert {n: [(a["name"], a["required"]) for a in p["arguments"]] for n, p in prompts.items()} == {
        "review": [("base", False), ("focus", False)],
        "ask": [("task", True)],
        "continue": [("conversationId", True), ("message", True)],
    }
    for prompt in prompts.values():
        assert prompt["title"]
        assert _one_line(prompt["description"])

    templates = inspect(inspector, sandbox, codex_bin, "--method", "resources/templates/list")["resourceTemplates"]
    assert [t["uriTemplate"] for t in templates] == [
        "codex://conversations/{conversationId}",
        "codex://conversations/{conversationId}/turns/{from_turn}",
    ]
    assert all(t["mimeType"] == "text/markdown" for t in templates)


@pytest.mark.version_independent
def test_inspector_reads_real_conversations_as_resources_and_prompts(
    inspector: Path, sandbox: Sandbox, codex_bin: Path
) -> None:
    def run(*method: str) -> dict[str, Any]:
        return inspect(inspector, sandbox, codex_bin, *method)

    started = run(
        "--method", "tools/call", "--tool-name", "codex_start", "--tool-arg", "prompt=explain the parser, please"
    )["structuredContent"]
    cid = started["conversationId"]
    # A second Inspector session is a second server process: the turn resumes the thread.
    run(
        "--method", "tools/call", "--tool-name", "codex_reply",
        "--tool-arg", f"conversationId={cid}", "--tool-arg", "prompt=[[reply:The parser builds a tree.]]",
    )  # fmt: skip

    listed = {r["uri"]: r for r in run("--method", "resources/list")["resources"]}
    assert "codex://conversations" in listed
    mine = listed[f"codex://conversations/{cid}"]
    assert mine["title"] == "explain the parser, please"
    assert mine["mimeType"] == "text/markdown"
    assert "2 turn(s)" in mine["description"]

    read = run("--method", "resources/read", "--uri", f"codex://conversations/{cid}")["contents"][0]
    assert read["mimeType"] == "text/markdown"
    text = read["text"]
    assert text.startswith(f"# Codex conversation {cid}\n")
    assert f"- Folder: {sandbox.work}" in text
    assert "## Turn 1 (completed, " in text
    assert "> explain the parser, please" in text
    assert "ECHO: explain the parser, please" in text  # the fake model's reply to turn 1
    assert "## Turn 2 (completed, resumed, " in text
    assert "The parser builds a tree." in text

    page = run("--method", "resources/read", "--uri", f"codex://conversations/{cid}/turns/2")["contents"][0]["text"]
    assert "## Turn 2 " in page
    assert "## Turn 1 " not in page
    assert f"Turns 1-1 are not shown here. Read them at codex://conversations/{cid}/turns/1." in page

    overview = run("--method", "resources/read", "--uri", "codex://conversations")["contents"][0]["text"]
    assert f"`{cid}`: explain the parser, please (2 turn(s)" in overview

    # The same read on a 2026-07-28 connection.
    modern = run("--protocol-era", "modern", "--method", "resources/read", "--uri", f"codex://conversations/{cid}")
    assert modern["contents"][0]["text"] == text

    cont = run(
        "--method", "prompts/get", "--prompt-name", "continue",
        "--prompt-args", f"conversationId={cid}", "message=now add tests",
    )["messages"]  # fmt: skip
    assert [m["role"] for m in cont] == ["user"]
    asked = cont[0]["content"]["text"]
    assert f"conversationId = '{cid}'" in asked
    assert "codex_reply" in asked
    assert "The parser builds a tree." in asked  # the last reply, for context
    assert asked.endswith("Message for Codex:\nnow add tests")

    review = run("--method", "prompts/get", "--prompt-name", "review", "--prompt-args", "base=main", "focus=errors")
    text_of_review = review["messages"][0]["content"]["text"]
    assert "codex_review(" in text_of_review
    assert "base='main'" in text_of_review
    assert text_of_review.endswith("Focus of the review:\nerrors")

    ask = run("--method", "prompts/get", "--prompt-name", "ask", "--prompt-args", "task=why is CI slow?")
    assert "codex_start" in ask["messages"][0]["content"]["text"]

    unknown = str(uuid.uuid4())
    failed = run_inspector(
        inspector, sandbox, codex_bin, "--method", "resources/read", "--uri", f"codex://conversations/{unknown}"
    )
    assert failed.returncode != 0
    assert f"unknown conversationId '{unknown}': call codex_list" in failed.stdout + failed.stderr


@pytest.mark.version_independent
async def test_completion_of_conversation_ids_turns_and_branches(sandbox: Sandbox, codex_bin: Path) -> None:
    """completion/complete (the Inspector CLI has no method for it; the SDK client does)."""
    git = ["git", "-C", str(sandbox.work), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "first"], check=True)
    for branch in ("feature/parser", "fix-ci"):
        subprocess.run([*git, "branch", branch], check=True)
    async with mcp_server(sandbox, codex_bin) as client:
        assert client.server_capabilities.completions is not None
        first = await start(client, "one", cwd=sandbox.work)
        second = await start(client, "two", cwd=sandbox.work)
        template = ResourceTemplateReference(uri="codex://conversations/{conversationId}")
        everything = await client.complete(template, {"name": "conversationId", "value": ""})
        assert everything.completion.values == [second, first]  # the most recent first
        assert everything.completion.total == 2
        listed = (await client.list_resources()).resources
        assert [r.uri for r in listed] == [f"codex://conversations{s}" for s in ("", f"/{second}", f"/{first}")]
        assert len({r.name for r in listed}) == 3  # ids made in the same second share their first 8 characters
        one = await client.complete(template, {"name": "conversationId", "value": first[:-1].upper()})
        assert one.completion.values == [first]
        cont = await client.complete(PromptReference(name="continue"), {"name": "conversationId", "value": second[:-1]})
        assert cont.completion.values == [second]
        await reply(client, first, "again")
        turns = await client.complete(
            ResourceTemplateReference(uri="codex://conversations/{conversationId}/turns/{from_turn}"),
            {"name": "from_turn", "value": ""},
            context_arguments={"conversationId": first},
        )
        assert turns.completion.values == ["1", "2"]
        base = await client.complete(PromptReference(name="review"), {"name": "base", "value": "f"})
        assert base.completion.values == ["feature/parser", "fix-ci"]


LEGACY_API = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
"""resources/subscribe and logging/setLevel: handshake-era methods (as Claude Code connects), which the SDK's client
marks deprecated for 2026-07-28 connections."""


@LEGACY_API
@pytest.mark.version_independent
async def test_subscribed_conversation_tells_the_client_when_a_turn_settles(sandbox: Sandbox, codex_bin: Path) -> None:
    """Handshake era (as Claude Code connects): resources/subscribe, then notifications/resources/updated."""
    messages: list[Any] = []

    async def on_message(message: Any) -> None:
        messages.append(message)

    def updated() -> list[str]:
        return [m.params.uri for m in messages if isinstance(m, ResourceUpdatedNotification)]

    async with mcp_server(sandbox, codex_bin, mode="legacy", message_handler=on_message) as client:
        assert client.server_capabilities.resources is not None
        assert client.server_capabilities.resources.subscribe
        cid = await start(client, "first", cwd=sandbox.work)
        uri = f"codex://conversations/{cid}"
        await client.subscribe_resource(uri)
        assert updated() == []
        await reply(client, cid, "second")
        assert await await_until(lambda: uri in updated())
        after = (await client.read_resource(uri)).contents[0]
        assert "## Turn 2 (completed" in after.text  # type: ignore[union-attr]

        await client.unsubscribe_resource(uri)
        seen = len(updated())
        await reply(client, cid, "third")
        await call(client, "codex_list")  # a round trip after the turn: an update would have come before it
        assert updated()[seen:] == []

        with pytest.raises(Exception, match="unknown conversationId"):
            await client.subscribe_resource(f"codex://conversations/{uuid.uuid4()}")


@pytest.mark.version_independent
async def test_listen_stream_gets_the_update_on_a_modern_connection(sandbox: Sandbox, codex_bin: Path) -> None:
    """2026-07-28 connections subscribe with subscriptions/listen: the update arrives on that stream."""
    async with mcp_server(sandbox, codex_bin) as client:
        assert client.protocol_version == "2026-07-28"
        cid = await start(client, "first", cwd=sandbox.work)
        uri = f"codex://conversations/{cid}"
        async with client.listen(resource_subscriptions=[uri]) as stream:
            await reply(client, cid, "second")
            with anyio.fail_after(30):
                async for event in stream:
                    if getattr(event, "uri", None) == uri:
                        break


@LEGACY_API
@pytest.mark.version_independent
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_log_reaches_the_client_at_the_level_it_asks_for(sandbox: Sandbox, codex_bin: Path, mode: str) -> None:
    """The server's own log as MCP log messages: handshake-era clients set a level with logging/setLevel (warning
    until they do); 2026-07-28 clients opt in per request."""
    logged: list[LoggingMessageNotificationParams] = []

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        logged.append(params)

    options: dict[str, Any] = {"logging_callback": on_log}
    if mode == "auto":
        options["log_level"] = "info"
    async with mcp_server(sandbox, codex_bin, mode=mode, **options) as client:
        if mode == "legacy":
            await start(client, "before asking", cwd=sandbox.work)
            assert [m for m in logged if m.level == "info"] == []  # warning and above until the client asks
            await client.set_logging_level("info")
        cid = await start(client, "after asking", cwd=sandbox.work)
        assert await await_until(lambda: any(f"started conversation {cid}" in str(m.data) for m in logged))
        started = next(m for m in logged if f"started conversation {cid}" in str(m.data))
        assert started.level == "info"
        assert started.logger == "codex_mcp.conversations.manager"
        assert all(m.level != "debug" for m in logged)


@pytest.mark.version_independent
def test_claude_code_offers_the_prompts_as_slash_commands(claude: Path, sandbox: Sandbox, codex_bin: Path) -> None:
    """The pinned Claude Code, with this repository's plugin, lists the server's prompts as slash commands and expands
    one into the message its model gets. It passes only the first word of an argument (anthropics/claude-code#14210),
    so the message tells the model to take the whole text typed after the command, which it also gets."""
    script = Scripted([], lambda done: "noted")
    run = claude_with_plugin(claude, sandbox, codex_bin, script, f"/{PROMPT_PREFIX}ask why is CI slow")
    assert {PROMPT_PREFIX + name for name in ("review", "ask", "continue")} <= set(run.init["slash_commands"])
    # The model's request with the expanded command (Claude Code also makes side requests, in no fixed order).
    bodies = [json.dumps(r.body.get("messages")) for r in run.requests if isinstance(r.body, dict)]
    sent = next((b for b in bodies if "<command-args>" in b), "")
    assert "Ask Codex (OpenAI's coding agent) with the codex_start tool" in sent
    assert "<command-args>why is CI slow</command-args>" in sent
    assert "if the text typed after this command says more than the request below, use the whole of it" in sent


@pytest.mark.version_independent
async def test_months_of_records_are_resources_a_page_at_a_time(sandbox: Sandbox, codex_bin: Path) -> None:
    """400 conversations of 40 turns left by an earlier codex-mcp (records, no index rows): resources/list pages
    them 50 at a time, an old one reads as its newest turns with where the rest are, and completion stays bounded."""
    old = write_old_records(sandbox.state_dir, 400, turns=40, projects=sandbox.work)
    async with mcp_server(sandbox, codex_bin) as client:
        first = await client.list_resources()
        assert [r.uri for r in first.resources[:2]] == ["codex://conversations", f"codex://conversations/{old[-1]}"]
        assert len(first.resources) == 51
        seen = [r.uri for r in first.resources[1:]]
        cursor = first.next_cursor
        while cursor:
            page = await client.list_resources(cursor=cursor)
            seen += [r.uri for r in page.resources]
            cursor = page.next_cursor
        assert seen == [f"codex://conversations/{cid}" for cid in reversed(old)]

        text = (await client.read_resource(f"codex://conversations/{old[0]}")).contents[0].text  # type: ignore[union-attr]
        assert "## Turn 40 (completed, " in text
        assert "## Turn 1 (" not in text
        assert f"are not shown here. Read them at codex://conversations/{old[0]}/turns/1." in text
        assert len(text) < 24_000  # within the reply budget (20,000 characters of turns), header included

        ids = await client.complete(
            ResourceTemplateReference(uri="codex://conversations/{conversationId}"),
            {"name": "conversationId", "value": ""},
        )
        assert len(ids.completion.values) == 100
        assert ids.completion.total == 400
        assert ids.completion.has_more
