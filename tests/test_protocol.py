"""stdout belongs to the MCP protocol: with Codex sessions running and verbose logging on, every line the
server writes to stdout is a JSON-RPC message, and the logs go to stderr."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import Sandbox

pytestmark = [pytest.mark.codex]


def rpc(method: str, params: dict[str, Any], id_: int | None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    if id_ is not None:
        message["id"] = id_
    return (json.dumps(message) + "\n").encode()


def test_stdout_is_only_protocol_and_logs_go_to_stderr(sandbox: Sandbox, codex_bin: Path, tmp_path: Path) -> None:
    requests = b"".join(
        [
            rpc(
                "initialize",
                {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
                1,
            ),
            rpc("notifications/initialized", {}, None),
            rpc("tools/list", {}, 2),
            rpc("tools/call", {"name": "codex_start", "arguments": {"prompt": "raw protocol check"}}, 3),
        ]
    )
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as stderr_file:  # a file, not a pipe: -vv output must never stall the server
        proc = subprocess.Popen(
            [sys.executable, "-m", "codex_mcp", "--codex-bin", str(codex_bin), "-vv"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            env=sandbox.env,
            cwd=sandbox.work,
        )
    try:
        _exchange(proc, requests, stderr_path)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


def _exchange(proc: subprocess.Popen[bytes], requests: bytes, stderr_path: Path) -> None:
    assert proc.stdin is not None
    assert proc.stdout is not None
    responses: dict[int, dict[str, Any]] = {}

    def send_and_wait(data: bytes, id_: int) -> None:
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(data)
        proc.stdin.flush()
        while id_ not in responses:
            line = proc.stdout.readline()
            assert line, "the server closed stdout early"
            message = json.loads(line)  # fails on anything that is not one JSON document per line
            assert message["jsonrpc"] == "2.0"
            if "id" in message:
                responses[message["id"]] = message

    send_and_wait(requests, 3)
    send_and_wait(rpc("tools/call", {"name": "codex_list", "arguments": {}}, 4), 4)
    proc.stdin.close()  # EOF: the server ends every Codex session and exits
    rest = proc.stdout.read()
    assert proc.wait(timeout=30) == 0
    for line in rest.splitlines():
        assert json.loads(line)["jsonrpc"] == "2.0"

    tools = {t["name"] for t in responses[2]["result"]["tools"]}
    assert {"codex_start", "codex_reply", "codex_status", "codex_end", "codex_list", "codex_review"} <= tools
    start = responses[3]["result"]
    assert not start.get("isError")
    assert start["structuredContent"]["reply"] == "ECHO: raw protocol check"
    assert start["content"][0]["text"].startswith("ECHO: raw protocol check")
    assert responses[4]["result"]["structuredContent"]["conversations"][0]["state"] == "idle"
    log = stderr_path.read_text()
    assert "started conversation" in log
    assert "shutting down 1 Codex session" in log


@pytest.mark.version_independent  # the transport, not Codex
def test_a_server_writing_to_a_file_answers_every_request(sandbox: Sandbox, codex_bin: Path, tmp_path: Path) -> None:
    """stdout that is a file, not a pipe (then the SDK's own transport serves, not the event-loop one): every
    request is answered, and the file holds only JSON-RPC."""
    requests = (
        rpc(
            "initialize",
            {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "file", "version": "0"}},
            1,
        )
        + rpc("notifications/initialized", {}, None)
        + rpc("tools/list", {}, 2)
        + rpc("tools/call", {"name": "codex_list", "arguments": {}}, 3)
    )
    out = tmp_path / "stdout.jsonl"
    with out.open("wb") as stdout:
        proc = subprocess.Popen(
            [sys.executable, "-m", "codex_mcp", "--codex-bin", str(codex_bin)],
            stdin=subprocess.PIPE,
            stdout=stdout,
            stderr=subprocess.DEVNULL,
            env={**sandbox.env, "CODEX_MCP_PREWARM": "0"},
            cwd=sandbox.work,
        )
    assert proc.stdin is not None
    try:
        proc.stdin.write(requests)
        proc.stdin.flush()
        deadline = time.monotonic() + 60
        replies: dict[int, dict[str, Any]] = {}
        while len(replies) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
            replies = {m["id"]: m for m in map(json.loads, out.read_bytes().splitlines()) if "id" in m}
        assert sorted(replies) == [1, 2, 3]
        assert any(t["name"] == "codex_start" for t in replies[2]["result"]["tools"])
        assert replies[3]["result"]["structuredContent"]["conversations"] == []
    finally:
        proc.stdin.close()
        proc.wait(30)
