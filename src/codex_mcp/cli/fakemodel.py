"""A loopback stand-in for the OpenAI Responses API, so Codex can run with no account and no network.

Codex POSTs ``/v1/responses`` and reads server-sent events back. This server answers every request by
echoing the user's latest message, which lets tests (and ``--fake-model`` checks) prove what the model
actually received. A prompt can steer the answer with directives, so a test that drives the MCP server
as a subprocess still controls the model:

``[[reply:TEXT]]``   answer exactly TEXT
``[[delay:SECONDS]]`` wait before answering (a long turn)
``[[fail:STATUS]]``   answer with that HTTP status and an error body
``[[drop]]``          start the event stream, then close it without completing the response
``[[slow:SECONDS]]``  stream the answer as ``response.output_text.delta`` events spread over SECONDS
                      before completing it (a slow but live stream)
``[[ratelimit:PERCENT]]`` send the rate-limit headers Codex reads from a response (``x-codex-primary-used-percent``
                      and the 5-hour window's), saying PERCENT of the limit is used
``[[history]]``       answer with every user message of the request, joined by `` | ``
A request for a model whose name starts with ``no-such-`` is answered 404 ``model_not_found``, as the real API
answers a model that does not exist.
``[[exec:COMMAND]]``  ask Codex to run COMMAND with its ``exec_command`` tool; the turn after the tool
                      result answers with the command's output
``[[escalate:COMMAND]]`` the same, asking to run it outside the sandbox (``require_escalated``), which
                      makes Codex ask the user for approval under ``-a on-request``
``[[mcp:SERVER:TOOL:JSON]]`` ask Codex to call TOOL of its MCP server SERVER with the JSON arguments (a
                      ``function_call`` with ``name`` TOOL and ``namespace`` ``mcp__SERVER``, non-alphanumerics
                      as ``_``, as Codex 0.169+ offers MCP tools). Several run one after the other; in the
                      arguments ``$conversationId`` stands for the conversationId in the previous call's output.
                      Then the turn answers with every output
``[[review:JSON]]``   in any message of a review request (Codex's review guidelines are its developer message;
                      codex_review's instructions travel as another): answer with exactly that review output JSON.
                      A review request without it gets one fake finding whose body echoes Codex's request;
                      ``[[delay:SECONDS]]`` in it makes the review take that long

It is deliberately small and dependency-free (stdlib ``http.server`` in a thread).
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast

JsonObject = dict[str, object]

TITLE_MARKER = "Generate a concise"
UNKNOWN_MODEL_PREFIX = "no-such-"
REVIEW_MARKER = "# Review guidelines"
"""How Codex's review prompt (codex-rs/core/review_prompt.md), its reviewer's developer message, begins."""
_REVIEW = re.compile(r"\[\[review:(\{.*\})\]\]", re.DOTALL)
_DIRECTIVE = re.compile(
    r"\[\[(reply|delay|fail|drop|slow|history|exec|escalate|mcp|ratelimit)(?::(.*?))?\]\]", re.DOTALL
)
_MCP_CALL = re.compile(r"([^:]+):([^:]+):(\{.*\})", re.DOTALL)
_CONVERSATION_ID = re.compile(r"conversationId\W+([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


@dataclass(frozen=True)
class McpCall:
    """A call of one MCP tool, as the model asks Codex for it."""

    namespace: str
    tool: str
    arguments: str


def mcp_namespace(server: str) -> str:
    """The namespace Codex gives an MCP server's tools: ``mcp__`` and the server name, non-alphanumerics as ``_``."""
    return "mcp__" + re.sub(r"[^A-Za-z0-9]", "_", server)


@dataclass
class Answer:
    """What the fake model does with one request."""

    text: str = ""
    delay_s: float = 0.0
    fail_status: int | None = None
    drop: bool = False
    slow_s: float = 0.0
    exec_command: str | None = None
    escalate: bool = False
    mcp_call: McpCall | None = None
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers (e.g. Codex's rate-limit ones)


@dataclass
class Recorded:
    """One request as the fake model received it."""

    body: JsonObject
    user_texts: list[str]
    is_title: bool
    answer: Answer

    def texts(self, role: str) -> list[str]:
        """The texts of the request's messages of one role (user: without Codex's ``<...>`` context blocks)."""
        return _message_texts(self.body, role)

    @property
    def is_review(self) -> bool:
        """A request of Codex's code reviewer (its developer message is Codex's review prompt)."""
        return any(t.startswith(REVIEW_MARKER) for t in self.texts("developer"))


Responder = Callable[[JsonObject, list[str]], Answer | None]


def serve_loopback(
    host: str, port: int, handler: type[BaseHTTPRequestHandler], name: str
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Bind handler on host:port (0: any free port) and serve it from a daemon thread, one thread per request."""
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    return server, thread


def _message_texts(body: JsonObject, role: str) -> list[str]:
    """Texts of the request's ``message`` items of one role, in order, leaving out Codex's own
    ``<...>`` context blocks (environment, instructions)."""
    texts: list[str] = []
    items = body.get("input")
    if not isinstance(items, list):
        return texts
    for item in items:
        if not isinstance(item, dict) or item.get("type") != "message" or item.get("role") != role:
            continue
        content = item.get("content")
        parts: list[str] = []
        in_image = False
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            for c in content:
                if not isinstance(c, dict) or not isinstance(c.get("text"), str):
                    continue
                # An attached image comes wrapped in `<image name=…>` … `</image>` text parts: not the prompt.
                if c["text"].startswith("<image"):
                    in_image = True
                elif c["text"].startswith("</image>"):
                    in_image = False
                elif not in_image:
                    parts.append(c["text"])
        text = "".join(parts)
        if role == "user" and text.lstrip().startswith("<"):
            continue
        texts.append(text)
    return texts


def review_answer(body: JsonObject, user_texts: list[str]) -> Answer | None:
    """The answer to a request of Codex's reviewer (None for any other request): the review output JSON a
    ``[[review:JSON]]`` directive gives, else one fake finding that echoes the request."""
    developer = _message_texts(body, "developer")
    if not any(t.startswith(REVIEW_MARKER) for t in developer):
        return None
    every = "\n".join(developer + user_texts)
    delay = _REVIEW_DELAY.search(every)  # a long review, as a real one on a big change is
    delay_s = float(delay.group(1)) if delay else 0.0
    if (given := _REVIEW.search(every)) is not None:
        return Answer(text=given.group(1), delay_s=delay_s)
    last = user_texts[-1] if user_texts else ""
    finding = {
        "title": "[P2] Fake finding",
        "body": f"REVIEWED: {last}",
        "confidence_score": 0.5,
        "priority": 2,
        "code_location": {"absolute_file_path": "/fake/file.py", "line_range": {"start": 1, "end": 2}},
    }
    output = {
        "findings": [finding],
        "overall_correctness": "patch is incorrect",
        "overall_explanation": "The fake reviewer always finds one thing.",
        "overall_confidence_score": 0.5,
    }
    return Answer(text=json.dumps(output), delay_s=delay_s)


_REVIEW_DELAY = re.compile(r"\[\[delay:([0-9.]+)\]\]")


def default_answer(body: JsonObject, user_texts: list[str]) -> Answer:
    """Echo the latest user message, obeying any directives in it; a review request gets a review."""
    if (review := review_answer(body, user_texts)) is not None:
        return review
    last = user_texts[-1] if user_texts else ""
    if last.startswith(TITLE_MARKER) or TITLE_MARKER in last[:200]:
        # Codex asks for structured output ({"title": ...}); a plain answer is dropped and asked for again on
        # every later turn, which a real model never causes.
        return Answer(text=json.dumps({"title": "Fake title"}))
    answer = Answer(text=f"ECHO: {last}")
    # Tool results that came back for this turn (after the latest user message). Codex may add its own messages
    # after an output (e.g. an approved command prefix).
    outputs: list[str] = []
    items = body.get("input")
    if isinstance(items, list):
        last_user = max(
            (i for i, item in enumerate(items) if isinstance(item, dict) and item.get("role") == "user"), default=-1
        )
        for item in items[last_user + 1 :]:
            if isinstance(item, dict) and item.get("type") == "function_call_output":
                out = item.get("output")
                outputs.append(out if isinstance(out, str) else json.dumps(out))
    calls = [m.group(2) or "" for m in _DIRECTIVE.finditer(last) if m.group(1) == "mcp"]
    if calls:
        if len(outputs) < len(calls):
            call = _mcp_call(calls[len(outputs)], outputs[-1] if outputs else "")
            return Answer(mcp_call=call) if isinstance(call, McpCall) else Answer(text=call)
        return Answer(text=" | ".join(f"TOOL OUTPUT: {out}" for out in outputs))
    if outputs:  # report the result instead of asking again
        return Answer(text=f"TOOL OUTPUT: {outputs[-1]}")
    for m in _DIRECTIVE.finditer(last):
        kind, arg = m.group(1), m.group(2) or ""
        if kind == "reply":
            answer.text = arg
        elif kind == "delay":
            answer.delay_s = float(arg or "0")
        elif kind == "fail":
            answer.fail_status = int(arg or "500")
        elif kind == "drop":
            answer.drop = True
        elif kind == "slow":
            answer.slow_s = float(arg or "0")
        elif kind == "history":
            answer.text = " | ".join(user_texts)
        elif kind == "ratelimit":
            answer.headers = {
                "x-codex-primary-used-percent": arg or "95",
                "x-codex-primary-window-minutes": "300",
                "x-codex-primary-reset-after-seconds": "3600",
            }
        elif kind in ("exec", "escalate"):
            answer.exec_command = arg
            answer.escalate = kind == "escalate"
    return answer


def _mcp_call(directive: str, previous_output: str) -> McpCall | str:
    """The call an ``mcp`` directive asks for, ``$conversationId`` filled in from the previous output; or, for a
    malformed directive (the test's mistake), the answer that says so."""
    m = _MCP_CALL.fullmatch(directive.strip())
    found = _CONVERSATION_ID.search(previous_output)
    arguments = m.group(3).replace("$conversationId", found.group(1) if found else "") if m else ""
    try:
        json.loads(arguments)
    except json.JSONDecodeError:
        return f"BAD MCP DIRECTIVE (want SERVER:TOOL:JSON): {directive}"
    assert m is not None
    return McpCall(mcp_namespace(m.group(1)), m.group(2), arguments)


@dataclass
class FakeModel:
    """A running fake Responses API server; use as a context manager or call start()/stop()."""

    host: str = "127.0.0.1"
    port: int = 0
    responder: Responder | None = None
    requests: list[Recorded] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give Codex's model provider."""
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> FakeModel:
        """Bind and serve in a daemon thread."""
        model = self

        class Handler(_Handler):
            fake = model

        self._server, self._thread = serve_loopback(self.host, self.port, Handler, "fake-model")
        self.port = self._server.server_address[1]
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeModel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def user_requests(self) -> list[Recorded]:
        """Requests for real turns (not Codex's hidden title generation)."""
        with self._lock:
            return [r for r in self.requests if not r.is_title]

    def _answer(self, body: JsonObject) -> Answer:
        texts = _message_texts(body, "user")
        answer = None
        if self.responder is not None:
            answer = self.responder(body, texts)
        if answer is None:
            answer = default_answer(body, texts)
        last = texts[-1] if texts else ""
        with self._lock:
            self.requests.append(Recorded(body, texts, TITLE_MARKER in last[:200], answer))
        return answer


def _sse(event: str, data: JsonObject) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _events(answer: Answer) -> Iterator[bytes]:
    rid = f"resp_{uuid.uuid4().hex}"
    yield _sse("response.created", {"type": "response.created", "response": {"id": rid}})
    if answer.drop:
        return
    if answer.mcp_call is not None:
        item: JsonObject = {
            "type": "function_call",
            "id": f"fc_{uuid.uuid4().hex}",
            "call_id": f"call_{uuid.uuid4().hex}",
            "name": answer.mcp_call.tool,
            "namespace": answer.mcp_call.namespace,
            "arguments": answer.mcp_call.arguments,
        }
    elif answer.exec_command is not None:
        item = {
            "type": "function_call",
            "id": f"fc_{uuid.uuid4().hex}",
            "call_id": f"call_{uuid.uuid4().hex}",
            "name": "exec_command",
            "arguments": json.dumps(
                {"cmd": answer.exec_command}
                | (
                    {"sandbox_permissions": "require_escalated", "justification": f"Needs to run {answer.exec_command}"}
                    if answer.escalate
                    else {}
                )
            ),
        }
    else:
        item = {
            "type": "message",
            "role": "assistant",
            "id": f"msg_{uuid.uuid4().hex}",
            "content": [{"type": "output_text", "text": answer.text}],
        }
        if answer.slow_s > 0:
            yield from _slow_deltas(item, answer.text, answer.slow_s)
    yield _sse("response.output_item.done", {"type": "response.output_item.done", "item": item})
    usage = {
        "input_tokens": 10,
        "input_tokens_details": None,
        "output_tokens": 5,
        "output_tokens_details": None,
        "total_tokens": 15,
    }
    yield _sse("response.completed", {"type": "response.completed", "response": {"id": rid, "usage": usage}})


def _slow_deltas(item: JsonObject, text: str, seconds: float) -> Iterator[bytes]:
    """The message item announced, then its text in pieces spread evenly over ``seconds`` (a live stream
    that takes its time, as a slow model does)."""
    yield _sse(
        "response.output_item.added",
        {"type": "response.output_item.added", "output_index": 0, "item": {**item, "content": []}},
    )
    pieces = max(1, min(len(text), int(seconds * 4) or 1))
    size = -(-len(text) // pieces) if text else 0
    chunks = [text[i : i + size] for i in range(0, len(text), size)] if size else [""]
    for chunk in chunks:
        time.sleep(seconds / len(chunks))
        yield _sse(
            "response.output_text.delta",
            {
                "type": "response.output_text.delta",
                "item_id": item["id"],
                "output_index": 0,
                "content_index": 0,
                "delta": chunk,
            },
        )


class _Handler(BaseHTTPRequestHandler):
    fake: FakeModel
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: a test's stderr is for the server under test."""

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"data": [], "models": []})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/responses"):
            self._json(404, {"error": {"message": "not found"}})
            return
        try:
            body = cast(JsonObject, json.loads(raw or b"{}"))
        except json.JSONDecodeError:
            self._json(400, {"error": {"message": "bad json"}})
            return
        model = body.get("model")
        if isinstance(model, str) and model.startswith(UNKNOWN_MODEL_PREFIX):
            message = f"The model `{model}` does not exist or you do not have access to it."
            self._json(404, {"error": {"message": message, "type": "invalid_request_error", "code": "model_not_found"}})
            return
        answer = self.fake._answer(body)
        if answer.delay_s:
            time.sleep(answer.delay_s)
        if answer.fail_status is not None:
            self._json(
                answer.fail_status,
                {"error": {"message": f"fake model failure {answer.fail_status}", "type": "server_error"}},
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            for chunk in _events(answer):
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


def codex_config_toml(base_url: str, env_key: str = "CODEX_MCP_FAKE_KEY") -> str:
    """A ``config.toml`` that points Codex at the fake model and keeps it from retrying for long."""
    return (
        'model = "mock-model"\n'
        'model_provider = "mock"\n'
        "check_for_update_on_startup = false\n"
        "\n[model_providers.mock]\n"
        'name = "mock"\n'
        f'base_url = "{base_url}"\n'
        'wire_api = "responses"\n'
        f'env_key = "{env_key}"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n"
    )


def main(argv: list[str] | None = None) -> None:
    """Run the fake model in the foreground (for manual experiments)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with FakeModel(port=args.port) as fake:
        print(fake.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()


def catalog_model(slug: str, upgrade: dict[str, str] | None = None) -> dict[str, object]:
    """One ModelInfo of a Codex model catalog (`model_catalog_json`), with the fields Codex 0.169-0.171 require: how
    a test offers a model upgrade, which the fake model's provider cannot (a custom provider fetches no /models)."""
    return {
        "slug": slug,
        "display_name": slug,
        "description": f"The {slug} model",
        "default_reasoning_level": "medium",
        "supported_reasoning_levels": [{"effort": "medium", "description": "balanced"}],
        "shell_type": "default",
        "visibility": "list",
        "supported_in_api": True,
        "priority": 1,
        "upgrade": upgrade,
        "base_instructions": "You are a test model.",
        "supports_reasoning_summaries": False,
        "support_verbosity": False,
        "default_verbosity": None,
        "apply_patch_tool_type": None,
        "truncation_policy": {"mode": "bytes", "limit": 10000},
        "supports_parallel_tool_calls": False,
        "context_window": 100000,
        "experimental_supported_tools": [],
    }
