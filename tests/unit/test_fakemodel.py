"""The fake model's [[mcp:SERVER:TOOL:JSON]] directive: the function_call items Codex 0.169+ expects for an MCP
tool (tests/issues/test_10_codex_as_client.py drives the real Codex with it)."""

from __future__ import annotations

import json

from codex_mcp.cli.fakemodel import McpCall, default_answer, mcp_namespace

CID = "01a23366-4f20-7412-b107-b82d33361df6"
PROMPT = (
    '[[mcp:codex-mcp:codex_start:{"prompt": "one"}]] '
    '[[mcp:codex-mcp:codex_reply:{"conversationId": "$conversationId", "prompt": "two"}]]'
)


def body(*outputs: str) -> dict[str, object]:
    items: list[object] = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": PROMPT}]}]
    for out in outputs:
        items += [{"type": "function_call", "name": "x"}, {"type": "function_call_output", "output": out}]
    return {"input": items}


def test_namespace_names() -> None:
    assert mcp_namespace("codex-mcp") == "mcp__codex_mcp"
    assert mcp_namespace("my.server") == "mcp__my_server"


def test_calls_run_in_order_then_the_turn_answers_with_every_output() -> None:
    first = default_answer(body(), [PROMPT])
    assert first.mcp_call == McpCall("mcp__codex_mcp", "codex_start", '{"prompt": "one"}')
    started = json.dumps({"conversationId": CID, "reply": "ECHO: one"})
    second = default_answer(body(f"Wall time: 1s\nOutput:\n{started}"), [PROMPT])
    assert second.mcp_call is not None
    assert json.loads(second.mcp_call.arguments) == {"conversationId": CID, "prompt": "two"}
    done = default_answer(body("out one", "out two"), [PROMPT])
    assert done.mcp_call is None
    assert done.text == "TOOL OUTPUT: out one | TOOL OUTPUT: out two"


def test_a_malformed_directive_is_answered_not_raised() -> None:
    answer = default_answer({"input": []}, ["[[mcp:codex-mcp:codex_start:{not json}]]"])
    assert answer.mcp_call is None
    assert answer.text.startswith("BAD MCP DIRECTIVE")
