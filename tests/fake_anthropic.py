"""A loopback stand-in for the Anthropic Messages API, so a test can run the real Claude Code (``claude -p``)
with no account and no network: Claude Code reads ``ANTHROPIC_BASE_URL`` and ``ANTHROPIC_API_KEY`` and POSTs
``/v1/messages`` with ``"stream": true``, reading server-sent events back.

A test scripts the "model" with a ``Script``: a function from the request body to the content blocks of the
answer (text and ``tool_use`` blocks). Every request is recorded, so a test can assert what Claude Code sent.
Stdlib only (``http.server`` in a thread), like ``codex_mcp.cli.fakemodel``.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast

from codex_mcp.cli.fakemodel import serve_loopback

JsonObject = dict[str, object]
Script = Callable[[JsonObject], list[JsonObject]]


@dataclass(frozen=True)
class Request:
    """One request as the fake received it."""

    method: str
    path: str
    body: JsonObject


def text_block(text: str) -> JsonObject:
    """A text content block of an answer."""
    return {"type": "text", "text": text}


def tool_use(name: str, arguments: JsonObject) -> JsonObject:
    """A ``tool_use`` content block of an answer: the model calls a tool."""
    return {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": name, "input": arguments}


@dataclass
class FakeAnthropic:
    """A running fake Messages API; use as a context manager."""

    script: Script
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        """The ``ANTHROPIC_BASE_URL`` to give Claude Code."""
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> FakeAnthropic:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server, _ = serve_loopback(self.host, self.port, Handler, "fake-anthropic")
        self.port = self._server.server_address[1]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def recorded(self) -> list[Request]:
        """A copy of the requests so far."""
        with self._lock:
            return list(self.requests)

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)


def _sse(event: str, data: JsonObject) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _events(model: str, blocks: list[JsonObject]) -> Iterator[bytes]:
    """The stream of one answer, as the Messages API sends it: each block opened, filled by a delta, closed."""
    message: JsonObject = {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 1},
    }
    yield _sse("message_start", {"type": "message_start", "message": message})
    for index, block in enumerate(blocks):
        if block["type"] == "tool_use":
            start: JsonObject = {**block, "input": {}}
            delta: JsonObject = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        else:
            start = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        yield _sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})
        yield _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})
    stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    yield _sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": 5},
        },
    )
    yield _sse("message_stop", {"type": "message_stop"})


class _Handler(BaseHTTPRequestHandler):
    owner: FakeAnthropic
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: the test's output is for the test."""

    def do_GET(self) -> None:
        self.owner._record(Request("GET", self.path, {}))
        self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": "not found"}})

    def do_CONNECT(self) -> None:
        # The test makes this server the HTTPS proxy: a CONNECT is a connection that tried to leave 127.0.0.1.
        self.owner._record(Request("CONNECT", self.path, {}))
        self._json(403, {"type": "error", "error": {"type": "permission_error", "message": "no network in tests"}})

    def do_HEAD(self) -> None:
        self.owner._record(Request("HEAD", self.path, {}))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = cast(JsonObject, json.loads(raw or b"{}"))
        except json.JSONDecodeError:
            body = {}
        self.owner._record(Request("POST", self.path, body))
        path = self.path.split("?", 1)[0]
        if path.endswith("/count_tokens"):
            self._json(200, {"input_tokens": 100})
            return
        if not path.endswith("/v1/messages"):
            self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": "not found"}})
            return
        blocks = self.owner.script(body)
        model = str(body.get("model") or "fake-model")
        if not body.get("stream"):
            content = blocks
            stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
            self._json(
                200,
                {
                    "id": f"msg_{uuid.uuid4().hex[:24]}",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": content,
                    "stop_reason": stop,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 5},
                },
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for chunk in _events(model, blocks):
                self.wfile.write(chunk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _json(self, status: int, payload: JsonObject) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
