"""The ways of talking to Codex that the benchmark compares, each timing one turn its own way:

McpMethod   codex_start / codex_reply through the official MCP client and our server over stdio
TuiMethod   Codex's own TUI driven directly with the project's layers (Terminal, Screen, encode_prompt)
AppServer   `codex app-server` JSON-RPC over stdio: turn/start until turn/completed
ExecMethod  one `codex exec [resume <id>] --json` process per turn
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, cast

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from codex_mcp.codex.argv import new_session_argv
from codex_mcp.codex.keys import QUIT_KEYS, encode_prompt
from codex_mcp.codex.rollout import RolloutTail, find_rollout
from codex_mcp.codex.settings import LaunchOptions
from codex_mcp.codex.tui import parse_run_state, read_screen
from codex_mcp.session.screen import Screen
from codex_mcp.terminal import Terminal

from .lab import Lab
from .probes import children, cpu_ms, pids_using, proc_file

ROWS, COLS = 50, 160


@dataclass
class TurnSample:
    """One measured turn."""

    ms: float
    reply_ms: float | None = None  # exec: to the reply line on stdout (before the process exits)
    sent_at: float = 0.0  # wall clock (epoch s) when the method was handed the prompt


class BenchError(RuntimeError):
    """A method did not do what the benchmark expects (wrong reply, exit, timeout)."""


# --- method: Codex's own TUI, driven with the project's layers ---------------------------------------


class TuiSession:
    """One Codex TUI in a PTY (Terminal + Screen), timed from the paste to the rollout's task_complete."""

    def __init__(self, terminal: Terminal, home: Path, on_turn: Callable[[bool], None]) -> None:
        self.terminal = terminal
        self.on_turn = on_turn
        self.turns = 0
        self.screen = Screen(COLS, ROWS, answer=terminal.write_nowait)
        self.home = home
        self.thread_id: str | None = None
        self.run_state: str | None = None
        self.bytes_out = 0
        self._tail: RolloutTail | None = None
        self._hold = False
        self._held = bytearray()
        terminal.subscribe(self._on_output)

    @property
    def pid(self) -> int:
        """The Codex process."""
        return self.terminal.pid

    def _on_output(self, data: bytes) -> None:
        self.bytes_out += len(data)
        if self._hold:  # during a measured turn: keep pyte's parsing off this process's critical path
            self._held += data
        else:
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        for osc in self.screen.feed(data):
            if osc.code == "7501":
                state, _ = parse_run_state(osc.data)
                if state:
                    self.run_state = state

    def _release(self) -> None:
        self._hold = False
        data, self._held = bytes(self._held), bytearray()
        if data:
            self._feed(data)

    async def wait_ready(self, timeout: float = 45.0) -> None:
        """Until the composer is drawn, the footer shows the thread id and 'Ready', and Codex is not working."""
        deadline = time.monotonic() + timeout
        while True:
            facts = read_screen(self.screen.lines())
            if facts.ready and facts.thread_id and facts.footer_state == "Ready" and self.run_state != "working":
                self.thread_id = facts.thread_id
                return
            if not self.terminal.alive:
                raise BenchError(f"Codex exited: {self.screen.text_lines()[-5:]}")
            if facts.blocker and not facts.ready:
                raise BenchError(f"Codex is blocked: {facts.blocker}")
            if time.monotonic() > deadline:
                raise BenchError(f"Codex not ready after {timeout}s: {self.screen.text_lines()[-5:]}")
            await asyncio.sleep(0.005)

    async def wait_idle(self, timeout: float = 30.0) -> None:
        """Until the footer says Ready and OSC 7501 does not say working (as our server waits before a turn)."""
        deadline = time.monotonic() + timeout
        while not (
            self.run_state in (None, "idle", "done", "error")
            and read_screen(self.screen.lines()).footer_state == "Ready"
        ):
            if time.monotonic() > deadline or not self.terminal.alive:
                raise BenchError(f"TUI not idle: {self.screen.text_lines()[-5:]}")
            await asyncio.sleep(0.005)

    async def turn(self, prompt: str, timeout: float = 60.0) -> TurnSample:
        """Paste a prompt and wait for its task_complete; checks the reply."""
        await self.wait_idle()
        assert self.thread_id is not None
        if self._tail is None and (path := find_rollout(self.home, self.thread_id)) is not None:
            self._tail = RolloutTail(path, path.stat().st_size)
        elif self._tail is not None:
            self._tail.read_new()
        data = encode_prompt(prompt)
        self.on_turn(self.turns == 0)
        self.turns += 1
        self._hold = True
        sent_at = time.time()
        began = time.perf_counter()
        try:
            self.terminal.write_nowait(data)
            while True:
                if self._tail is None:
                    path = find_rollout(self.home, self.thread_id, recent_only=True)
                    if path is not None:
                        self._tail = RolloutTail(path, 0)  # a new thread's rollout: all of it is this turn's
                for rec in self._tail.read_new() if self._tail is not None else []:
                    payload = rec.get("payload")
                    if rec.get("type") == "event_msg" and isinstance(payload, dict):
                        if payload.get("type") == "task_complete":
                            elapsed = (time.perf_counter() - began) * 1000
                            reply = payload.get("last_agent_message")
                            if reply != f"ECHO: {prompt}":
                                raise BenchError(f"tui: unexpected reply {reply!r} to {prompt!r}")
                            return TurnSample(elapsed, sent_at=sent_at)
                        if payload.get("type") == "turn_aborted":
                            raise BenchError(f"tui: turn aborted: {payload}")
                if not self.terminal.alive:
                    raise BenchError("tui: Codex exited during a turn")
                if time.perf_counter() - began > timeout:
                    raise BenchError(f"tui: no task_complete after {timeout}s")
                await asyncio.sleep(0.002)
        finally:
            self._release()

    async def close(self) -> None:
        """/quit, then signals to the process group."""
        await self.terminal.terminate(lambda: self.terminal.write_nowait(QUIT_KEYS), grace_s=2.0)


class TuiMethod:
    """Spawns TUIs the way codex-mcp does (new_session_argv: --no-daemon, status line, trust)."""

    def __init__(self, lab: Lab, name: str = "tui") -> None:
        self.lab = lab
        self.name = name
        self.home = lab.codex_home(name)
        self.sessions: list[TuiSession] = []

    async def launch(self, config: Sequence[str] = (), cwd: Path | None = None) -> tuple[TuiSession, float]:
        """Spawn a TUI; (session, ms from spawn to ready)."""
        folder = cwd or self.lab.work
        argv = new_session_argv(self.lab.codex_bin, LaunchOptions(cwd=str(folder)))
        argv += [arg for item in config for arg in ("-c", item)]  # last, so they override ours
        began = time.perf_counter()
        terminal = await Terminal.spawn(argv, cwd=str(folder), env=self.lab.env(self.name), rows=ROWS, cols=COLS)
        session = TuiSession(terminal, self.home, lambda first: self.lab.count(self.name, thread=first))
        self.sessions.append(session)
        await session.wait_ready()
        return session, (time.perf_counter() - began) * 1000

    async def start(self, prompt: str, config: Sequence[str] = (), cwd: Path | None = None) -> tuple[TuiSession, float]:
        """Spawn a TUI and run its first turn; (session, ms from spawn to the first task_complete)."""
        began = time.perf_counter()
        session, _ = await self.launch(config, cwd)
        await session.turn(prompt)
        return session, (time.perf_counter() - began) * 1000

    def cpu_ms(self) -> float:
        """CPU of every TUI this method started."""
        return sum(cpu_ms(s.pid) for s in self.sessions if s.terminal.alive)

    async def close(self, session: TuiSession | None = None) -> None:
        """End one TUI, or all of them (in parallel)."""
        targets = [session] if session is not None else list(self.sessions)
        await asyncio.gather(*(s.close() for s in targets))
        for s in targets:
            self.sessions.remove(s)


# --- method: our MCP server ------------------------------------------------------------------------


class McpMethod:
    """codex_start / codex_reply through the official MCP client and our server over stdio."""

    def __init__(self, lab: Lab, client: Client, server_pid: int, errlog: Path, name: str = "mcp") -> None:
        self.lab = lab
        self.client = client
        self.server_pid = server_pid
        self.errlog = errlog
        self.name = name
        self.home = lab.codex_home(name)

    @staticmethod
    @contextlib.asynccontextmanager
    async def serve(lab: Lab, name: str = "mcp", **settings: str) -> AsyncIterator[McpMethod]:
        """Run our server (the editable install) with its own CODEX_HOME and model (name), and connect to it.
        settings: CODEX_MCP_* variables on top of the defaults (a warm spare after each start, one prewarmed)."""
        env = lab.env(name)
        env["CODEX_MCP_STATE_DIR"] = str(lab.root / f"{name}-state")
        env["CODEX_MCP_MAX_SESSIONS"] = "40"
        env.update(settings)
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "codex_mcp", "--codex-bin", lab.codex_bin, "-v"],
            env=env,
            cwd=str(lab.work),
        )
        errlog = lab.root / "logs" / f"{name}-server.stderr"
        with errlog.open("a") as err:
            async with Client(stdio_client(params, errlog=err), read_timeout_seconds=180) as client:
                home = str(lab.codex_home(name)).encode()
                [server] = [
                    pid
                    for pid in pids_using(lab.root)
                    if b"codex_mcp" in proc_file(pid, "cmdline") and home in proc_file(pid, "environ")
                ]
                yield McpMethod(lab, client, server, errlog, name)
            # The server ends every session on stdin EOF; make sure it is gone.
            for _ in range(100):
                if not proc_file(server, "stat"):
                    break
                await anyio.sleep(0.1)
            else:
                with contextlib.suppress(OSError):
                    os.kill(server, signal.SIGKILL)

    async def _call(self, tool: str, args: dict[str, object]) -> dict[str, object]:
        result = await self.client.call_tool(tool, args)
        content = cast("dict[str, object] | None", result.structured_content)
        if result.is_error or content is None:
            tail = "\n".join(self.errlog.read_text(errors="replace").splitlines()[-30:])
            raise BenchError(f"{tool} failed: {result.content}\nserver log ({self.errlog}):\n{tail}")
        return content

    async def start(self, prompt: str, config: dict[str, object] | None = None) -> tuple[str, float]:
        """codex_start (with Codex config overrides, if any); (conversationId, ms)."""
        self.lab.count(self.name, thread=True)
        args: dict[str, object] = {"prompt": prompt, "cwd": str(self.lab.work)}
        if config:
            args["config"] = config
        began = time.perf_counter()
        content = await self._call("codex_start", args)
        elapsed = (time.perf_counter() - began) * 1000
        if content.get("status") != "completed" or content.get("reply") != f"ECHO: {prompt}":
            raise BenchError(f"codex_start: {content}")
        return str(content["conversationId"]), elapsed

    async def turn(self, cid: str, prompt: str) -> TurnSample:
        """codex_reply on a live conversation; checks the reply."""
        self.lab.count(self.name)
        sent_at = time.time()
        began = time.perf_counter()
        content = await self._call("codex_reply", {"conversationId": cid, "prompt": prompt})
        elapsed = (time.perf_counter() - began) * 1000
        if content.get("status") != "completed" or content.get("reply") != f"ECHO: {prompt}":
            raise BenchError(f"codex_reply: {content}")
        if content.get("recovery") != "live":
            raise BenchError(f"codex_reply was not live: {content.get('recovery')}")
        return TurnSample(elapsed, sent_at=sent_at)

    async def call_ms(self) -> float:
        """One codex_list round trip (a few conversations): what any MCP call to our server costs."""
        began = time.perf_counter()
        await self._call("codex_list", {})
        return (time.perf_counter() - began) * 1000

    async def end(self, cid: str) -> None:
        """codex_end."""
        await self._call("codex_end", {"conversationId": cid})

    def codex_pids(self) -> list[int]:
        """The live Codex processes of the server."""
        return children(self.server_pid)

    def cpu_ms(self) -> tuple[float, float]:
        """(the server's own CPU, CPU of its live Codex processes)."""
        return cpu_ms(self.server_pid, reaped=False), sum(cpu_ms(p) for p in self.codex_pids())


# --- method: codex app-server (JSON-RPC over stdio) -------------------------------------------------


class AppServer:
    """One `codex app-server` process: initialize, thread/start, turn/start until turn/completed."""

    def __init__(self, lab: Lab, name: str, *, counted: bool = True) -> None:
        self.lab = lab
        self.name = name
        self.counted = counted
        self.home = lab.codex_home(name)
        self._fresh: set[str] = set()
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, object]]] = {}
        self._completed: dict[str, asyncio.Queue[tuple[float, dict[str, object]]]] = {}
        self._stderr: TextIO | None = None

    @property
    def pid(self) -> int:
        """The app-server process."""
        assert self.proc is not None
        return self.proc.pid

    async def open(self) -> None:
        """Start the process and initialize the connection."""
        self._stderr = open(self.lab.root / "logs" / f"{self.name}.stderr", "a")  # noqa: ASYNC230, SIM115
        self.proc = await asyncio.create_subprocess_exec(
            self.lab.codex_bin,
            "app-server",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._stderr,
            env=self.lab.env(self.name),
            cwd=str(self.lab.work),
            limit=1 << 26,
        )
        self._reader = asyncio.create_task(self._read())
        await self.request("initialize", {"clientInfo": {"name": "codex-mcp-bench", "version": "0"}})
        await self._send({"jsonrpc": "2.0", "method": "initialized"})

    async def _send(self, message: dict[str, object]) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        await self.proc.stdin.drain()

    async def request(self, method: str, params: dict[str, object]) -> dict[str, object]:
        """One JSON-RPC request and its result."""
        self._next_id += 1
        rid = self._next_id
        future: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        await self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        return await asyncio.wait_for(future, 60)

    async def _read(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            at = time.perf_counter()
            msg = json.loads(line)
            if "id" in msg and ("result" in msg or "error" in msg):
                future = self._pending.pop(msg["id"], None)
                if future is not None and not future.done():
                    if "error" in msg:
                        future.set_exception(BenchError(f"app-server: {msg['error']}"))
                    else:
                        future.set_result(msg["result"])
            elif "id" in msg and "method" in msg:  # a request to us (approvals): never expected here
                await self._send({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": "no"}})
            elif msg.get("method") == "turn/completed":
                params = msg["params"]
                queue = self._completed.get(params["threadId"])
                if queue is not None:
                    queue.put_nowait((at, params["turn"]))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BenchError("app-server exited"))

    async def start_thread(self) -> str:
        """thread/start in the work folder; the thread id."""
        result = await self.request("thread/start", {"cwd": str(self.lab.work)})
        thread = cast("dict[str, object]", result["thread"])
        tid = str(thread["id"])
        self._completed[tid] = asyncio.Queue()
        self._fresh.add(tid)
        return tid

    async def turn(self, tid: str, prompt: str) -> TurnSample:
        """turn/start and wait for turn/completed; checks the reply."""
        if self.counted:
            self.lab.count("app-server", thread=tid in self._fresh)
        self._fresh.discard(tid)
        sent_at = time.time()
        began = time.perf_counter()
        await self.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": prompt}]})
        at, turn = await asyncio.wait_for(self._completed[tid].get(), 60)
        items = cast("list[dict[str, object]]", turn.get("items") or [])
        replies = [i.get("text") for i in items if i.get("type") == "agentMessage"]
        if turn.get("status") != "completed" or replies[-1:] != [f"ECHO: {prompt}"]:
            raise BenchError(f"app-server turn: {turn.get('status')} {replies}")
        return TurnSample((at - began) * 1000, sent_at=sent_at)

    async def close(self) -> None:
        """Close stdin and wait; kill if it lingers."""
        if self.proc is not None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 2)
        if self._stderr is not None:
            self._stderr.close()


# --- method: one codex exec process per turn --------------------------------------------------------


@dataclass(frozen=True)
class ExecRun:
    """One `codex exec` process."""

    ms: float
    reply_ms: float | None
    reply: str | None
    thread_id: str | None
    cpu_ms: float
    maxrss_kb: int
    sent_at: float


class ExecMethod:
    """`codex exec [resume <id>] --json --skip-git-repo-check <prompt>`, one process per turn."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.home = lab.codex_home("exec")
        self.cpu_total = 0.0
        self.maxrss_kb: list[int] = []

    def _run(self, args: list[str]) -> ExecRun:
        env = self.lab.env("exec")
        with open(self.lab.root / "logs" / "exec.stderr", "ab") as err:
            sent_at = time.time()
            began = time.perf_counter()
            proc = subprocess.Popen(
                [self.lab.codex_bin, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                cwd=str(self.lab.work),
            )
            reply_ms = reply = thread_id = None
            assert proc.stdout is not None
            for line in proc.stdout:
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if event.get("type") == "thread.started":
                        thread_id = event.get("thread_id")
                    item = event.get("item") or {}
                    if event.get("type") == "item.completed" and item.get("type") == "agent_message":
                        reply = item.get("text")
                        reply_ms = (time.perf_counter() - began) * 1000
            proc.stdout.close()
            # wait4, not wait: its rusage is the exec process's CPU and peak memory.
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            elapsed = (time.perf_counter() - began) * 1000
        if proc.returncode != 0:
            raise BenchError(f"codex exec exited {proc.returncode}; see {err.name}")
        cpu = (usage.ru_utime + usage.ru_stime) * 1000
        return ExecRun(elapsed, reply_ms, reply, thread_id, cpu, usage.ru_maxrss, sent_at)

    async def run(self, args: list[str], prompt: str) -> ExecRun:
        """Run one exec process off the event loop; checks the reply."""
        run = await anyio.to_thread.run_sync(self._run, [*args, "--json", "--skip-git-repo-check", prompt])
        if run.reply != f"ECHO: {prompt}":
            raise BenchError(f"exec: unexpected reply {run.reply!r}")
        self.cpu_total += run.cpu_ms
        self.maxrss_kb.append(run.maxrss_kb)
        return run

    async def start(self, prompt: str) -> tuple[str, float]:
        """A new thread: (thread id, ms to exit)."""
        self.lab.count("exec", thread=True)
        run = await self.run(["exec"], prompt)
        assert run.thread_id is not None
        return run.thread_id, run.ms

    async def turn(self, tid: str, prompt: str) -> TurnSample:
        """`codex exec resume <tid>`: ms to exit (and to the reply line)."""
        self.lab.count("exec")
        run = await self.run(["exec", "resume", tid], prompt)
        return TurnSample(run.ms, run.reply_ms, run.sent_at)
