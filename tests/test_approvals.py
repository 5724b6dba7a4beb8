"""Approvals: Codex asks before running a command outside its sandbox; the waiting call says so at once,
codex_approve answers, nobody approves on the user's behalf, and clients with elicitation are asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp.client import ClientRequestContext
from mcp.client.client import ConnectMode
from mcp_types import ElicitRequestParams, ElicitResult, ErrorData

from .conftest import Sandbox, mcp_server
from .helpers import call, call_error, reply, start_result

pytestmark = [pytest.mark.anyio, pytest.mark.codex]

ASKING = {"approval_policy": "on-request", "sandbox": "read-only"}


async def start_asking(client: Any, sandbox: Sandbox, name: str) -> dict[str, Any]:
    r = await start_result(client, f"[[escalate:touch {name}]]", cwd=sandbox.work, timeout_s=30, **ASKING)
    assert r["status"] == "waiting_for_approval", r
    assert r["state"] == "waiting_for_approval"
    return r


async def test_approve_runs_the_command(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        asked = await start_asking(client, sandbox, "approved.txt")
        approval = asked["approval"]
        assert approval["question"] == "Would you like to run the following command?"
        assert approval["command"] == "touch approved.txt"
        assert approval["reason"] == "Needs to run touch approved.txt"
        assert "Yes, proceed (y)" in approval["choices"]
        assert not (sandbox.work / "approved.txt").exists()
        cid = asked["conversationId"]

        status = await call(client, "codex_status", conversationId=cid)
        assert status["status"] == "waiting_for_approval"
        assert status["approval"]["command"] == "touch approved.txt"

        done = await call(client, "codex_approve", conversationId=cid, decision="approve")
        assert done["status"] == "completed"
        assert done["reply"].startswith("TOOL OUTPUT:")
        assert "exited with code 0" in done["reply"]
        assert (sandbox.work / "approved.txt").exists()
        message = await call_error(client, "codex_approve", conversationId=cid, decision="approve")
        assert "not waiting for an approval" in message


async def test_deny_does_not_run_it_and_the_session_goes_on(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = (await start_asking(client, sandbox, "denied.txt"))["conversationId"]
        denied = await call(client, "codex_approve", conversationId=cid, decision="deny")
        assert denied["status"] == "interrupted"
        assert "denied" in denied["error"]
        assert not (sandbox.work / "denied.txt").exists()
        after = await reply(client, cid, "after the denial")
        assert after["reply"] == "ECHO: after the denial"


async def test_nobody_approves_on_the_users_behalf(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = (await start_asking(client, sandbox, "waiting.txt"))["conversationId"]
        # No answer: Codex keeps waiting, calls return promptly saying so.
        status = await call(client, "codex_status", conversationId=cid, wait_s=2)
        assert status["status"] == "waiting_for_approval"
        assert not (sandbox.work / "waiting.txt").exists()
        # Codex 0.169 has no approval limited to the session: asking for one is refused, not widened.
        message = await call_error(client, "codex_approve", conversationId=cid, decision="approve_for_session")
        assert "approve_always" in message
        assert not (sandbox.work / "waiting.txt").exists()
        still = await call(client, "codex_status", conversationId=cid)
        assert still["status"] == "waiting_for_approval"


async def test_approve_always_stops_codex_asking(sandbox: Sandbox, codex_bin: Path) -> None:
    async with mcp_server(sandbox, codex_bin) as client:
        cid = (await start_asking(client, sandbox, "always.txt"))["conversationId"]
        done = await call(client, "codex_approve", conversationId=cid, decision="approve_always")
        assert done["status"] == "completed"
        again = await reply(client, cid, "[[escalate:touch always.txt]]")
        assert again["status"] == "completed", "Codex asked again after approve_always"
    assert "always.txt" in (sandbox.codex_home / "rules" / "default.rules").read_text()


@pytest.mark.parametrize(
    ("answer", "mode"),
    [("approve", "legacy"), ("decline", "legacy"), ("approve", "auto")],
    ids=["accepted", "declined", "no-back-channel"],
)
async def test_clients_with_elicitation_are_asked(
    sandbox: Sandbox, codex_bin: Path, answer: str, mode: ConnectMode
) -> None:
    """Handshake-era clients (as Claude Code connects) are asked in the call. On a 2026-07-28 connection the
    server cannot ask mid-call, so the call returns waiting_for_approval as usual."""
    questions: list[str] = []

    async def on_elicit(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
        questions.append(params.message)
        if answer == "decline":
            return ElicitResult(action="decline")
        return ElicitResult(action="accept", content={"decision": "approve"})

    async with mcp_server(sandbox, codex_bin, elicitation_callback=on_elicit, mode=mode) as client:
        r = await start_result(
            client,
            "[[escalate:touch elicited.txt]]",
            cwd=sandbox.work,
            timeout_s=30,
            **ASKING,
        )
    if mode == "auto":
        assert r["status"] == "waiting_for_approval"
        assert not (sandbox.work / "elicited.txt").exists()
        return
    assert len(questions) == 1
    assert "touch elicited.txt" in questions[0]
    if answer == "approve":
        assert r["status"] == "completed"
        assert (sandbox.work / "elicited.txt").exists()
    else:
        assert r["status"] == "waiting_for_approval"
        assert not (sandbox.work / "elicited.txt").exists()
