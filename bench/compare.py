"""Side-by-side benchmark: codex-mcp against the other ways of talking to Codex, all on the same instant fake model,
so Codex's own work is the floor. Writes docs/benchmarks.md (tables, goals) and docs/benchmarks.png (chart).

    .venv/bin/python bench/compare.py            # full run, ~7 minutes on 2 cores
    .venv/bin/python bench/compare.py --quick    # smaller samples, ~2 minutes

Methods, interleaved round by round so a noisy machine hits all of them alike:

    mcp         codex_reply through our server (the official MCP client over stdio, our server, a live Codex TUI)
    tui         Codex's own TUI turn, driven directly with the project's layers (Terminal, Screen, encode_prompt):
                from the paste write to the rollout's task_complete line (polled every 2 ms)
    exec        one `codex exec resume <thread id> --json` process per turn (what exec-based servers do)
    app-server  `codex app-server` JSON-RPC over stdio: turn/start until turn/completed (the floor for anything
                built on Codex)

Codex runs with an empty HOME (so the machine's shell profile, which Codex's shell snapshot sources in a login
shell, stays out of the figures; --real-home keeps yours) and a CODEX_HOME per method under ~/.cache (with one
under /tmp, Codex skips setting up its helper binaries, which a real CODEX_HOME does not). Each method has its
own fake model process, which counts the requests Codex makes, hidden ones included. The fake model answers
Codex's title request with the structured JSON Codex asks for, as a real model does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import pickle
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO, cast

import anyio
from common import carry_sections
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from codex_mcp import codex
from codex_mcp.fakemodel import TITLE_MARKER, Answer, FakeModel, JsonObject, codex_config_toml
from codex_mcp.rollout import RolloutTail, find_rollout
from codex_mcp.screen import Screen
from codex_mcp.store import Store
from codex_mcp.terminal import Terminal

REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PLAIN_TITLE = "[[plain-title]]"
"""In a prompt: the fake model answers this turn's title request with plain text instead of the JSON Codex asks for."""
ROWS, COLS = 50, 160
DEPTHS = (1, 20, 50)
METHODS = ("mcp", "tui", "app-server", "exec")
GAP_S = 0.1
"""Pause after every measured turn, so work a method does after its turn does not land in the next one."""


def pinned_codex() -> str:
    """The Codex CLI the tests pin (the native binary), else `codex` on PATH."""
    for candidate in (REPO / ".codex-cli/node_modules/@openai").glob("codex-linux-*/vendor/*/bin/codex"):
        return str(candidate)
    return "codex"


# --- numbers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    """Median and spread of a sample."""

    median: float
    p25: float
    p75: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Stats:
        """Stats of values (NaN-filled when empty)."""
        v = sorted(values)
        if not v:
            nan = float("nan")
            return cls(nan, nan, nan, nan, nan, 0)
        if len(v) >= 4:
            q = statistics.quantiles(v, n=4, method="inclusive")
            p25, p75 = q[0], q[2]
        else:
            p25, p75 = v[0], v[-1]
        return cls(statistics.median(v), p25, p75, v[0], v[-1], len(v))

    def ms(self) -> str:
        """'123 (110–140)' in ms."""
        if self.n == 0:
            return "–"
        return f"{self.median:.0f} ({self.p25:.0f}–{self.p75:.0f})"


def ratio(a: float, b: float) -> float:
    """a / b, NaN when b is 0 or missing."""
    return a / b if b and b == b else float("nan")


# --- processes -------------------------------------------------------------------------------------


def cpu_ms(pid: int, *, reaped: bool = True) -> float:
    """CPU time of a process, ms, with (reaped=True) the children it has waited for; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11 : 15 if reaped else 13]) * 1000.0 / CLK_TCK


def memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, Pss) of a process in kB; (0, 0) if it is gone."""
    rss = pss = 0
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    return rss, pss


def children(pid: int) -> list[int]:
    """Direct children of a process."""
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(p) for p in f.read().split()]
    return out


def proc_file(pid: int, name: str) -> bytes:
    """/proc/<pid>/<name>, or b"" if the process is gone."""
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read()
    except OSError:
        return b""


def command_of(pid: int) -> str:
    """The program a process runs (argv[0])."""
    return proc_file(pid, "cmdline").split(b"\0")[0].decode(errors="replace")


def pids_using(root: Path) -> list[int]:
    """Processes whose environment points into root (our HOMEs and CODEX_HOMEs), this process excluded."""
    needle = str(root).encode()
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry}/environ", "rb") as f:
            if any(
                var.split(b"=", 1)[0] in (b"CODEX_HOME", b"HOME") and needle in var for var in f.read().split(b"\0")
            ):
                found.append(int(entry))
    return found


def timed_ms(fn: Callable[[], object], n: int) -> float:
    """Median wall time of n calls, ms."""
    times = []
    for _ in range(n):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def server_costs(screen: Screen, state_dir: Path, conversation_id: str, scratch: Path) -> dict[str, float]:
    """Two things our server does on every turn, timed alone on this machine: rendering the whole screen
    (before it pastes, to see that the TUI is idle) and saving the conversation (three times per turn)."""
    costs = {"lines_ms": timed_ms(screen.lines, 30)}
    loaded = Store(state_dir).load(conversation_id)
    if loaded is not None:
        record = loaded[0]
        store = Store(scratch)
        costs["save_ms"] = timed_ms(lambda: store.save(record), 20)
        costs["save_turns"] = len(record.turns)
    return costs


def rollout_turn_times(home: Path, thread_id: str) -> list[tuple[float, float]]:
    """(task_started, task_complete) wall-clock times (epoch s, ms resolution) of every turn in a rollout."""
    path = find_rollout(home, thread_id)
    if path is None:
        return []
    out: list[tuple[float, float]] = []
    started: float | None = None
    for rec in RolloutTail(path).read_new():
        payload = rec.get("payload")
        stamp = rec.get("timestamp")
        if rec.get("type") != "event_msg" or not isinstance(payload, dict) or not isinstance(stamp, str):
            continue
        at = datetime.fromisoformat(stamp).timestamp()
        if payload.get("type") == "task_started":
            started = at
        elif payload.get("type") == "task_complete" and started is not None:
            out.append((started, at))
            started = None
    return out


def rollout_durations(home: Path, thread_id: str) -> list[float]:
    """duration_ms of every task_complete in a thread's rollout, in order."""
    path = find_rollout(home, thread_id)
    if path is None:
        return []
    out: list[float] = []
    for rec in RolloutTail(path).read_new():
        payload = rec.get("payload")
        if rec.get("type") == "event_msg" and isinstance(payload, dict) and payload.get("type") == "task_complete":
            duration = payload.get("duration_ms")
            if isinstance(duration, int | float):
                out.append(float(duration))
    return out


# --- the fake model, in its own process ------------------------------------------------------------


def serve_model(log_path: str) -> None:
    """Run a fake model that logs every request (hidden ones included) as a JSON line; stop on stdin EOF."""
    lock = threading.Lock()
    log = open(log_path, "a")  # noqa: SIM115 - open for the life of the process

    def respond(body: JsonObject, texts: list[str]) -> Answer | None:
        last = texts[-1] if texts else ""
        is_title = TITLE_MARKER in last[:200]
        with lock:
            log.write(json.dumps({"title": is_title, "text": last[-400:]}) + "\n")
            log.flush()
        if is_title:
            # Codex asks for {"title": ...} (structured output); a plain answer is dropped and asked for again
            # on the next turn (what a fake model that answers in plain text provokes).
            return Answer(text="Fake title" if PLAIN_TITLE in last else json.dumps({"title": "Fake title"}))
        return None

    with FakeModel(responder=respond) as fake:
        print(fake.base_url, flush=True)
        sys.stdin.read()


@dataclass
class ModelProcess:
    """A fake model in a child process (off this process's GIL), with its request log."""

    log: Path
    proc: subprocess.Popen[str]
    base_url: str

    @classmethod
    def start(cls, log: Path) -> ModelProcess:
        """Start it and read its base URL."""
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-model", str(log)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        return cls(log, proc, proc.stdout.readline().strip())

    def records(self) -> list[dict[str, object]]:
        """Every request so far: {"title": bool, "text": the last user text}."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        """Stop the process."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@dataclass(frozen=True)
class RequestCounts:
    """What one method's Codex asked the model."""

    user: int
    title: int
    other: int


def count_requests(records: Sequence[dict[str, object]], tag: str) -> RequestCounts:
    """Requests for prompts carrying tag, Codex's title requests for them (the title prompt quotes the user's
    message), and requests that carry none of our prompts at all."""
    user = title = other = 0
    for rec in records:
        text = str(rec.get("text", ""))
        if tag in text:
            if rec.get("title"):
                title += 1
            else:
                user += 1
        elif "bench " not in text:
            other += 1
    return RequestCounts(user, title, other)


# --- the lab: directories and environments ---------------------------------------------------------


@dataclass
class Lab:
    """Where everything runs: an isolated HOME, a work folder, a git repo, a CODEX_HOME and model per method."""

    root: Path
    codex_bin: str
    real_home: bool
    models: dict[str, ModelProcess] = field(default_factory=dict)
    sent: dict[str, list[int]] = field(default_factory=dict)
    """Per method: [user turns sent, threads started]."""

    def count(self, method: str, *, thread: bool = False) -> None:
        """Note one user turn sent by a method (and whether it started a thread)."""
        tally = self.sent.setdefault(method, [0, 0])
        tally[0] += 1
        tally[1] += int(thread)

    @property
    def home(self) -> Path:
        """The HOME Codex sees."""
        return self.root / "home"

    @property
    def work(self) -> Path:
        """A plain project folder."""
        return self.root / "work"

    @property
    def repo(self) -> Path:
        """A project folder that is a git repository with one commit."""
        return self.root / "repo"

    def prepare(self) -> None:
        """Create the folders and the git repo."""
        for d in (self.home, self.work, self.repo, self.root / "logs"):
            d.mkdir(parents=True, exist_ok=True)
        (self.repo / "README.md").write_text("bench\n")
        git_env = {**os.environ, "HOME": str(self.home), "GIT_CONFIG_NOSYSTEM": "1"}
        ident = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
        for args in (["init", "-q"], ["add", "README.md"], [*ident, "commit", "-q", "-m", "init"]):
            subprocess.run(["git", *args], cwd=self.repo, env=git_env, check=True)

    def codex_home(self, name: str) -> Path:
        """The CODEX_HOME of one method, with its own fake model."""
        path = self.root / f"codex-home-{name}"
        if name not in self.models:
            path.mkdir(parents=True, exist_ok=True)
            model = ModelProcess.start(self.root / "logs" / f"model-{name}.jsonl")
            self.models[name] = model
            (path / "config.toml").write_text(codex_config_toml(model.base_url))
        return path

    def env(self, name: str) -> dict[str, str]:
        """The environment for Codex (and our server) of one method."""
        env = codex.codex_env(os.environ)
        env["CODEX_HOME"] = str(self.codex_home(name))
        env["CODEX_MCP_FAKE_KEY"] = "bench"
        if not self.real_home:
            env["HOME"] = str(self.home)
        return env

    def requests(self, name: str) -> RequestCounts:
        """What the model of one method was asked for that method's own prompts."""
        return count_requests(self.models[name].records(), f"bench {name} ")

    def close(self) -> None:
        """Stop the model processes."""
        for model in self.models.values():
            model.stop()


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
                state, _ = codex.parse_run_state(osc.data)
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
            facts = codex.read_screen(self.screen.lines())
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
            and codex.read_screen(self.screen.lines()).footer_state == "Ready"
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
        data = codex.encode_prompt(prompt)
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
        await self.terminal.terminate(lambda: self.terminal.write_nowait(codex.QUIT_KEYS), grace_s=2.0)


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
        argv = codex.new_session_argv(self.lab.codex_bin, codex.LaunchOptions(cwd=str(folder)))
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

    def __init__(self, lab: Lab, client: Client, server_pid: int, errlog: Path) -> None:
        self.lab = lab
        self.client = client
        self.server_pid = server_pid
        self.errlog = errlog
        self.home = lab.codex_home("mcp")

    @staticmethod
    @contextlib.asynccontextmanager
    async def serve(lab: Lab) -> AsyncIterator[McpMethod]:
        """Run our server (the editable install) and connect to it."""
        env = lab.env("mcp")
        env["CODEX_MCP_STATE_DIR"] = str(lab.root / "mcp-state")
        env["CODEX_MCP_MAX_SESSIONS"] = "40"
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "codex_mcp", "--codex-bin", lab.codex_bin, "-v"],
            env=env,
            cwd=str(lab.work),
        )
        errlog = lab.root / "logs" / "mcp-server.stderr"
        with errlog.open("w") as err:
            async with Client(stdio_client(params, errlog=err), read_timeout_seconds=180) as client:
                home = str(lab.codex_home("mcp")).encode()
                [server] = [
                    pid
                    for pid in pids_using(lab.root)
                    if b"codex_mcp" in proc_file(pid, "cmdline") and home in proc_file(pid, "environ")
                ]
                yield McpMethod(lab, client, server, errlog)
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
        self.lab.count("mcp", thread=True)
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
        self.lab.count("mcp")
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


# --- results ---------------------------------------------------------------------------------------


@dataclass
class VariantResult:
    """One TUI setting, measured with the tui method."""

    name: str
    config: list[str]
    effect: str
    ready_ms: list[float] = field(default_factory=list)
    first_ms: list[float] = field(default_factory=list)
    turn_ms: list[float] = field(default_factory=list)
    cpu_per_turn: list[float] = field(default_factory=list)
    bytes_per_turn: list[float] = field(default_factory=list)
    wait_bytes_per_s: list[float] = field(default_factory=list)
    wait_cpu_per_s: list[float] = field(default_factory=list)
    requests: RequestCounts | None = None
    turns: int = 0
    threads: int = 0


@dataclass
class Results:
    """Everything measured; rendered into docs/benchmarks.md and the chart."""

    latency: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    codex_ms: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    phases: dict[str, dict[int, list[tuple[float, float, float]]]] = field(default_factory=dict)
    """Per turn: (before Codex's task starts, the task, after it completes), ms, from rollout timestamps."""
    exec_reply_ms: dict[int, list[float]] = field(default_factory=dict)
    cpu_per_turn: dict[str, dict[int, float]] = field(default_factory=dict)
    server_cpu_per_turn: dict[int, float] = field(default_factory=dict)
    mcp_call_ms: list[float] = field(default_factory=list)
    start_ms: dict[str, list[float]] = field(default_factory=dict)
    tui_ready_ms: list[float] = field(default_factory=list)
    server_alone_kb: tuple[int, int] = (0, 0)
    server_by_live: dict[int, tuple[int, int]] = field(default_factory=dict)
    server_after_end_kb: tuple[int, int] = (0, 0)
    codex_by_live: dict[int, tuple[int, int]] = field(default_factory=dict)
    tui_by_turns: dict[int, tuple[int, int]] = field(default_factory=dict)
    app_server_kb: dict[int, tuple[int, int]] = field(default_factory=dict)
    exec_maxrss_kb: list[int] = field(default_factory=list)
    scale_latency: list[tuple[int, list[float]]] = field(default_factory=list)
    idle_cpu_pct: dict[int, tuple[float, float]] = field(default_factory=dict)
    idle_ab: tuple[list[float], list[float]] = ([], [])
    throughput: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    variants: list[VariantResult] = field(default_factory=list)
    hidden: dict[str, tuple[RequestCounts, int, int]] = field(default_factory=dict)
    section_s: dict[str, float] = field(default_factory=dict)
    server_costs: dict[str, float] = field(default_factory=dict)
    exec_rollout_kb: dict[int, float] = field(default_factory=dict)
    leftovers: list[str] = field(default_factory=list)


def prompt(method: str, label: str, n: int) -> str:
    """A unique prompt the fake model echoes back."""
    return f"bench {method} {label} turn {n}"


async def gather_in_batches(jobs: Sequence[Callable[[], Awaitable[None]]], size: int) -> None:
    """Run jobs concurrently, at most size at a time."""
    for i in range(0, len(jobs), size):
        async with anyio.create_task_group() as tg:
            for job in jobs[i : i + size]:
                tg.start_soon(_await, job)


async def _await(job: Callable[[], Awaitable[None]]) -> None:
    await job()


# --- sections --------------------------------------------------------------------------------------


@dataclass
class Plan:
    """How much to measure."""

    rounds: int
    start_rounds: int
    scale_turns: int
    idle_counts: tuple[int, ...]
    concurrency: tuple[int, ...]
    throughput_turns: int
    throughput_reps: int
    variant_rounds: int
    variant_starts: int
    wait_s: float


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def section_turns(
    lab: Lab, plan: Plan, res: Results, mcp: McpMethod, tui: TuiMethod, app: AppServer, ex: ExecMethod
) -> None:
    """Per-turn latency at 1/20/50 turns of history, interleaved; Codex's own time per turn; CPU per turn."""
    rng = random.Random(7)
    threads: dict[str, dict[int, str]] = {m: {} for m in METHODS}
    tuis: dict[int, TuiSession] = {}
    deepest = max(DEPTHS)

    async def build_mcp() -> None:
        for depth in DEPTHS:
            cid, _ = await mcp.start(prompt("mcp", f"d{depth}", 0))
            for n in range(1, depth):
                await mcp.turn(cid, prompt("mcp", f"d{depth}", n))
            threads["mcp"][depth] = cid

    async def build_tui() -> None:
        for depth in DEPTHS:
            session, _ = await tui.start(prompt("tui", f"d{depth}", 0))
            if depth == deepest:
                res.tui_by_turns[1] = memory_kb(session.pid)
            for n in range(1, depth):
                await session.turn(prompt("tui", f"d{depth}", n))
                if depth == deepest and n + 1 in (10, 20, 50):
                    res.tui_by_turns[n + 1] = memory_kb(session.pid)
            assert session.thread_id is not None
            tuis[depth] = session
            threads["tui"][depth] = session.thread_id

    async def build_app(server: AppServer, method: str, label: str) -> None:
        for depth in DEPTHS:
            tid = await server.start_thread()
            for n in range(depth):
                await server.turn(tid, prompt(label, f"d{depth}", n))
            threads[method][depth] = tid
            if method == "app-server":
                res.app_server_kb[len(threads[method])] = memory_kb(server.pid)

    # exec's threads are built by a short-lived app-server on exec's CODEX_HOME (same rollout format; much
    # faster than 71 exec processes); it exits before exec resumes them.
    builder = AppServer(lab, "exec", counted=False)
    await builder.open()
    log("building histories (1, 20, 50 turns) for each method")
    await build_mcp()
    await build_tui()
    await build_app(app, "app-server", "app-server")
    await build_app(builder, "exec", "exec-history")
    await builder.close()

    for depth in DEPTHS:
        log(f"measuring turns at depth {depth}")
        cpu0 = {
            "mcp": sum(mcp.cpu_ms()),
            "tui": cpu_ms(tuis[depth].pid),
            "app-server": cpu_ms(app.pid),
            "exec": ex.cpu_total,
        }
        server0 = mcp.cpu_ms()[0]
        samples: dict[str, list[TurnSample]] = {}
        for r in range(plan.rounds):
            order = list(METHODS)
            rng.shuffle(order)
            for method in order:
                p = prompt(method, f"d{depth}", depth + r)
                if method == "mcp":
                    sample = await mcp.turn(threads["mcp"][depth], p)
                elif method == "tui":
                    sample = await tuis[depth].turn(p)
                elif method == "app-server":
                    sample = await app.turn(threads["app-server"][depth], p)
                else:
                    sample = await ex.turn(threads["exec"][depth], p)
                    if sample.reply_ms is not None:
                        res.exec_reply_ms.setdefault(depth, []).append(sample.reply_ms)
                res.latency.setdefault(method, {}).setdefault(depth, []).append(sample.ms)
                samples.setdefault(method, []).append(sample)
                await anyio.sleep(GAP_S)
            res.mcp_call_ms.append(await mcp.call_ms())
        cpu1 = {
            "mcp": sum(mcp.cpu_ms()),
            "tui": cpu_ms(tuis[depth].pid),
            "app-server": cpu_ms(app.pid),
            "exec": ex.cpu_total,
        }
        for method in METHODS:
            res.cpu_per_turn.setdefault(method, {})[depth] = (cpu1[method] - cpu0[method]) / plan.rounds
        # The codex_list calls (~2 ms of CPU each) count here too: a small overestimate.
        res.server_cpu_per_turn[depth] = (mcp.cpu_ms()[0] - server0) / plan.rounds
        homes = {"mcp": mcp.home, "tui": tui.home, "app-server": app.home, "exec": ex.home}
        for method in METHODS:
            own = rollout_durations(homes[method], threads[method][depth])[-plan.rounds :]
            res.codex_ms.setdefault(method, {})[depth] = own
            times = rollout_turn_times(homes[method], threads[method][depth])[-plan.rounds :]
            res.phases.setdefault(method, {})[depth] = [
                (
                    (started - sample.sent_at) * 1000,
                    (done - started) * 1000,
                    sample.ms - (done - sample.sent_at) * 1000,
                )
                for sample, (started, done) in zip(samples[method], times, strict=True)
            ]

    for depth in DEPTHS:
        path = find_rollout(ex.home, threads["exec"][depth])
        res.exec_rollout_kb[depth] = path.stat().st_size / 1024 if path else float("nan")
    # Blocks the loop for a moment; nothing is being timed now.
    res.server_costs = server_costs(
        tuis[deepest].screen, lab.root / "mcp-state", threads["mcp"][deepest], lab.root / "scratch"
    )
    for depth in DEPTHS:
        await mcp.end(threads["mcp"][depth])
    await tui.close()


async def section_start(lab: Lab, plan: Plan, res: Results, mcp: McpMethod, tui: TuiMethod, ex: ExecMethod) -> None:
    """codex_start → first reply, against codex exec's first turn, a raw TUI and a cold app-server."""
    rng = random.Random(11)
    kinds = ["mcp", "mcp-animated", "tui", "exec", "app-server"]
    for r in range(plan.start_rounds):
        rng.shuffle(kinds)
        for kind in kinds:
            p = prompt("mcp" if kind == "mcp-animated" else kind, f"start-{kind}", r)
            if kind in ("mcp", "mcp-animated"):
                cid, ms = await mcp.start(p, {"tui.animations": True} if kind == "mcp-animated" else None)
                await anyio.sleep(GAP_S)
                await mcp.end(cid)
            elif kind == "tui":
                began = time.perf_counter()
                session, ready = await tui.launch()
                await session.turn(p)
                ms = (time.perf_counter() - began) * 1000
                res.tui_ready_ms.append(ready)
                await anyio.sleep(GAP_S)
                await tui.close(session)
            elif kind == "exec":
                _, ms = await ex.start(p)
            else:
                began = time.perf_counter()
                cold = AppServer(lab, "app-server")
                await cold.open()
                tid = await cold.start_thread()
                await cold.turn(tid, p)
                ms = (time.perf_counter() - began) * 1000
                await cold.close()
            res.start_ms.setdefault(kind, []).append(ms)
            await anyio.sleep(GAP_S)


async def settle(pids: Callable[[], list[int]], quiet_pct: float = 3.0, limit_s: float = 15.0) -> None:
    """Wait until the given processes together use less than quiet_pct of one core (bounded)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        watched = pids()
        before = sum(cpu_ms(p) for p in watched)
        await anyio.sleep(0.5)
        if (sum(cpu_ms(p) for p in watched) - before) / 5.0 < quiet_pct:
            return


async def section_scale(lab: Lab, plan: Plan, res: Results, mcp: McpMethod, ex: ExecMethod) -> None:
    """Latency on one conversation with 0..N idle others live; memory per session; idle CPU; throughput."""
    res.server_alone_kb = memory_kb(mcp.server_pid)  # before this section's sessions (earlier ones are ended)
    before = set(mcp.codex_pids())
    target, _ = await mcp.start(prompt("mcp", "scale", 0))
    [target_pid] = set(mcp.codex_pids()) - before
    for n in range(1, 3):
        await mcp.turn(target, prompt("mcp", "scale", n))
    others: list[str] = []
    counter = [3]

    async def reach(count: int) -> None:
        while len(others) > count:
            await mcp.end(others.pop())
        missing = count - len(others)

        def job(i: int) -> Callable[[], Awaitable[None]]:
            async def go() -> None:
                cid, _ = await mcp.start(prompt("mcp", f"idle{i}", 0))
                others.append(cid)

            return go

        await gather_in_batches([job(len(others) + i) for i in range(missing)], 4)

    def other_pids() -> list[int]:
        return [p for p in mcp.codex_pids() if p != target_pid]

    first_zero = True
    for count in plan.idle_counts:
        log(f"scale: {count} idle conversations live")
        await reach(count)
        await settle(lambda: [*other_pids(), mcp.server_pid])
        window = 2.0
        others_before = sum(cpu_ms(p) for p in other_pids())
        server_before = cpu_ms(mcp.server_pid)
        await anyio.sleep(window)
        idle_pct = (sum(cpu_ms(p) for p in other_pids()) - others_before) / (window * 10)
        server_pct = (cpu_ms(mcp.server_pid) - server_before) / (window * 10)
        res.idle_cpu_pct[count] = (idle_pct, server_pct)
        mem = memory_kb(mcp.server_pid)
        if count == 0 and not first_zero:
            res.server_after_end_kb = mem
        else:
            res.server_by_live[count + 1] = mem
            codex_mem = [memory_kb(p) for p in mcp.codex_pids()]
            res.codex_by_live[count + 1] = (sum(m[0] for m in codex_mem), sum(m[1] for m in codex_mem))
        first_zero = first_zero and count != 0
        samples: list[float] = []
        for _ in range(plan.scale_turns):
            sample = await mcp.turn(target, prompt("mcp", "scale", counter[0]))
            counter[0] += 1
            samples.append(sample.ms)
            await anyio.sleep(GAP_S)
        res.scale_latency.append((count, samples))
        if count == max(plan.idle_counts) and count:
            await idle_ab(plan, res, mcp, target, other_pids, counter)
        if count == max(plan.idle_counts):
            await section_throughput(lab, plan, res, mcp, [target, *others], ex)
    for cid in [*others, target]:
        await mcp.end(cid)


async def idle_ab(
    plan: Plan, res: Results, mcp: McpMethod, target: str, others: Callable[[], list[int]], counter: list[int]
) -> None:
    """Turns on the target, alternating: the idle others running, then frozen (SIGSTOP: no CPU at all, as if
    alone; memory and the server's tables unchanged). Interleaved, so background load hits both alike."""
    running: list[float] = []
    frozen: list[float] = []
    for _ in range(plan.scale_turns):
        for stop in (False, True):
            pids = others()
            if stop:
                for pid in pids:
                    with contextlib.suppress(OSError):
                        os.killpg(pid, signal.SIGSTOP)
            await anyio.sleep(0.3)
            try:
                sample = await mcp.turn(target, prompt("mcp", "scale", counter[0]))
            finally:
                if stop:
                    for pid in pids:
                        with contextlib.suppress(OSError):
                            os.killpg(pid, signal.SIGCONT)
            counter[0] += 1
            (frozen if stop else running).append(sample.ms)
    res.idle_ab = (running, frozen)


async def section_throughput(
    lab: Lab, plan: Plan, res: Results, mcp: McpMethod, conversations: list[str], ex: ExecMethod
) -> None:
    """Turns/s with N conversations replying at once: our server, one app-server, N exec processes."""
    log("throughput")
    top = max(plan.concurrency)
    app = AppServer(lab, "app-server-throughput", counted=False)
    await app.open()
    app_threads = [await app.start_thread() for _ in range(top)]
    for i, tid in enumerate(app_threads):
        await app.turn(tid, prompt("app-server", f"tp{i}", 0))
    exec_threads: list[str] = []

    async def new_exec(i: int) -> None:
        tid, _ = await ex.start(prompt("exec", f"tp{i}", 0))
        exec_threads.append(tid)

    await gather_in_batches([functools.partial(new_exec, i) for i in range(top)], 2)
    counter = [1]
    order = list(plan.concurrency)
    for rep in range(plan.throughput_reps):
        for n in order if rep % 2 == 0 else reversed(order):
            for method in ("mcp", "app-server", "exec"):
                turns = plan.throughput_turns if method != "exec" else max(1, plan.throughput_turns // 2)
                base = counter[0]
                counter[0] += turns

                async def worker(i: int, method: str = method, turns: int = turns, base: int = base) -> None:
                    for k in range(turns):
                        p = prompt(method, f"tp{i}", base + k)
                        if method == "mcp":
                            await mcp.turn(conversations[i], p)
                        elif method == "app-server":
                            await app.turn(app_threads[i], p)
                        else:
                            await ex.turn(exec_threads[i], p)

                began = time.perf_counter()
                async with anyio.create_task_group() as tg:
                    for i in range(n):
                        tg.start_soon(worker, i)
                rate = n * turns / (time.perf_counter() - began)
                res.throughput.setdefault(method, {}).setdefault(n, []).append(rate)
                await anyio.sleep(0.3)
    await app.close()


VARIANTS: list[tuple[str, list[str], str, str]] = [
    ("default", [], "", "our settings today (`codex.session_args`)"),
    (
        "animations on",
        ["tui.animations=true"],
        "",
        "Codex's own default: spinner and shimmer redraws while working; transcript and replies the same",
    ),
    ("animations off", ["tui.animations=false"], "", "no spinner/shimmer redraws; transcript and replies unchanged"),
    (
        "shell snapshot off",
        ["features.shell_snapshot=false"],
        "",
        "commands no longer start from a snapshot of the user's login-shell environment",
    ),
    ("git repo cwd", [], "repo", "not a setting: the project folder is a git repository, as for most users"),
    (
        "title answered as plain text",
        [],
        PLAIN_TITLE,
        "not a setting: the fake model answers Codex's title request in plain text, not the JSON it asks for",
    ),
]


async def section_variants(lab: Lab, plan: Plan, res: Results) -> None:
    """Codex settings (and two conditions) that may change per-turn cost, measured with the tui method."""
    tui = TuiMethod(lab, "variants")
    model = lab.models["variants"]
    rng = random.Random(13)
    results = [VariantResult(name, config, effect) for name, config, _, effect in VARIANTS]
    for start in range(plan.variant_starts):
        log(f"settings: start {start + 1}/{plan.variant_starts}")
        order = list(range(len(VARIANTS)))
        rng.shuffle(order)
        live: dict[int, TuiSession] = {}
        for i in order:
            _, config, special, _ = VARIANTS[i]
            cwd = lab.repo if special == "repo" else lab.work
            marker = f" {PLAIN_TITLE}" if special == PLAIN_TITLE else ""
            began = time.perf_counter()
            session, ready = await tui.launch(config, cwd)
            await session.turn(f"{prompt('v', f'{i}s{start}', 0)}{marker}")
            results[i].ready_ms.append(ready)
            results[i].first_ms.append((time.perf_counter() - began) * 1000)
            results[i].threads += 1
            live[i] = session
            await anyio.sleep(GAP_S)
        cpu0 = {i: cpu_ms(s.pid) for i, s in live.items()}
        bytes0 = {i: s.bytes_out for i, s in live.items()}
        for r in range(plan.variant_rounds):
            rng.shuffle(order)
            for i in order:
                marker = f" {PLAIN_TITLE}" if VARIANTS[i][2] == PLAIN_TITLE else ""
                sample = await live[i].turn(f"{prompt('v', f'{i}s{start}', r + 1)}{marker}")
                results[i].turn_ms.append(sample.ms)
                await anyio.sleep(GAP_S)
        for i, s in live.items():
            await s.wait_idle()
            results[i].cpu_per_turn.append((cpu_ms(s.pid) - cpu0[i]) / plan.variant_rounds)
            results[i].bytes_per_turn.append((s.bytes_out - bytes0[i]) / plan.variant_rounds)
        # A turn whose model takes wait_s to answer: what Codex draws and burns while it waits.
        for i in order:
            s = live[i]
            marker = f" {PLAIN_TITLE}" if VARIANTS[i][2] == PLAIN_TITLE else ""
            p = f"{prompt('v', f'{i}s{start}', 99)} [[delay:{plan.wait_s}]]{marker}"
            c0, b0 = cpu_ms(s.pid), s.bytes_out
            await s.turn(p)
            results[i].wait_cpu_per_s.append((cpu_ms(s.pid) - c0) / plan.wait_s)
            results[i].wait_bytes_per_s.append((s.bytes_out - b0) / plan.wait_s)
        await tui.close()
    records = model.records()
    for i, v in enumerate(results):
        v.requests = count_requests(records, f"bench v {i}s")
        v.turns = v.threads * (plan.variant_rounds + 2)
    res.variants = results


# --- report ----------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        mem = f"{int(f.readline().split()[1]) / 1048576:.0f} GB"
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def phase_delta(res: Results, a: str, b: str, index: int) -> float:
    """Median of one phase (0 before the task, 1 the task, 2 after it) for method a minus b, all depths pooled."""

    def pooled(m: str) -> float:
        return Stats.of(ph[index] for d in DEPTHS for ph in res.phases.get(m, {}).get(d, [])).median

    return pooled(a) - pooled(b)


def goal_rows(res: Results) -> list[tuple[str, str, str, bool, str]]:
    """(goal, measured, target, met, why) for the issue's goals."""
    rows: list[tuple[str, str, str, bool, str]] = []
    lat = {m: {d: Stats.of(v) for d, v in res.latency.get(m, {}).items()} for m in METHODS}
    own = res.codex_ms

    # Overhead, paired: (tool time - Codex's own task time) for mcp against the same for the raw TUI.
    def outside(method: str, depth: int) -> list[float]:
        return [t - c for t, c in zip(res.latency[method][depth], own[method][depth], strict=False)]

    paired = {d: Stats.of(outside("mcp", d)).median - Stats.of(outside("tui", d)).median for d in DEPTHS}
    direct = {d: lat["mcp"][d].median - lat["tui"][d].median for d in DEPTHS}
    worst = max(paired.values())
    call = Stats.of(res.mcp_call_ms).median
    server_cpu = statistics.median(res.server_cpu_per_turn.values())
    costs = res.server_costs
    delta = [phase_delta(res, "mcp", "tui", i) for i in range(3)]
    rows.append(
        (
            "overhead over Codex's own TUI turn",
            ", ".join(f"{paired[d]:+.0f} ms @{d}" for d in DEPTHS)
            + " (paired); "
            + ", ".join(f"{direct[d]:+.0f}" for d in DEPTHS)
            + " ms (difference of medians)",
            "≤ 20 ms",
            worst <= 20,
            f"by Codex's own timestamps (pooled): {delta[0]:+.0f} ms before its task starts (the MCP request, "
            f"two saves of the conversation, JSON + fsync, {costs.get('save_ms', float('nan')):.1f} ms each; "
            f"a full render of the 160×50 pyte screen to see that the TUI is idle, "
            f"{costs.get('lines_ms', float('nan')):.1f} ms), {delta[2]:+.0f} ms after it ends (noticing "
            "task_complete, read when output arrives or every 10 ms; a third save; the MCP response; an MCP call "
            f"costs {call:.1f} ms); "
            + (
                f"Codex's task itself took {delta[1]:+.0f} ms longer than under the raw harness"
                if delta[1] >= 3
                else "Codex's task itself took no longer than under the raw harness"
            )
            + f". The server spends {server_cpu:.0f} ms of CPU per turn, mostly pyte parsing the TUI's output as "
            f"it arrives, on {os.cpu_count()} cores Codex needs too",
        )
    )
    for depth, target in ((1, 2.5), (50, 4.0)):
        speedup = ratio(lat["exec"][depth].median, lat["mcp"][depth].median)
        exec_own = Stats.of(own["exec"][depth]).median
        why = (
            f"exec spends {exec_own:.0f} ms in the turn itself and the other "
            f"{lat['exec'][depth].median - exec_own:.0f} ms starting a process, loading config and state, "
            "resuming the thread and shutting down"
        )
        if depth == max(DEPTHS):
            first = min(DEPTHS)
            growth = lat["exec"][depth].median - lat["exec"][first].median
            ours = lat["mcp"][depth].median - lat["mcp"][first].median
            why += (
                f". From {first} to {depth} turns of history exec's turn changed by {growth:+.0f} ms and ours by "
                f"{ours:+.0f} ms: resuming reads a {res.exec_rollout_kb.get(depth, float('nan')):.0f} KB rollout "
                "here (short prompts and replies), so exec's cost is per process, not per turn of history, and "
                "the ratio stays near its short-history value; long real turns would make resuming dearer"
            )
        rows.append(
            (
                f"per turn vs exec-per-turn, {depth} turn(s) of history",
                f"{speedup:.2f}× ({lat['mcp'][depth].median:.0f} vs {lat['exec'][depth].median:.0f} ms)",
                f"≥ {target}×",
                speedup >= target,
                why,
            )
        )
    start_mcp = Stats.of(res.start_ms.get("mcp", [])).median
    start_animated = Stats.of(res.start_ms.get("mcp-animated", [])).median
    start_exec = Stats.of(res.start_ms.get("exec", [])).median
    ready = Stats.of(res.tui_ready_ms).median
    rows.append(
        (
            "codex_start → first reply vs codex exec",
            f"{start_mcp:.0f} vs {start_exec:.0f} ms ({ratio(start_mcp, start_exec):.2f}×); with Codex's "
            f"animations turned back on {start_animated:.0f} ms ({ratio(start_animated, start_exec):.2f}×)",
            "≤ 1.0×",
            start_mcp <= start_exec,
            f"a TUI needs {ready:.0f} ms from spawn to a ready composer (raw, no MCP) before the first prompt "
            "can go in; exec takes the prompt on its command line and draws nothing",
        )
    )
    live = sorted(res.server_by_live)
    if len(live) >= 2:
        lo, hi = live[0], live[-1]
        per = (res.server_by_live[hi][0] - res.server_by_live[lo][0]) / (hi - lo) / 1024
        per_pss = (res.server_by_live[hi][1] - res.server_by_live[lo][1]) / (hi - lo) / 1024
        codex_each = res.codex_by_live[hi][0] / hi / 1024
        rows.append(
            (
                "memory per session beyond Codex's RSS",
                f"{per:.1f} MB RSS ({per_pss:.1f} MB PSS) per session in the server; Codex {codex_each:.0f} MB each",
                "≤ 5 MB",
                per <= 5,
                "a pyte screen (160×50), the conversation record and its asyncio tasks",
            )
        )
    alone = [s for c, v in res.scale_latency if c == 0 for s in v]
    most = max((c for c, _ in res.scale_latency), default=0)
    crowded = [s for c, v in res.scale_latency if c == most for s in v]
    slow = ratio(Stats.of(crowded).median, Stats.of(alone).median)
    running, frozen = res.idle_ab
    ab = ratio(Stats.of(running).median, Stats.of(frozen).median)
    idle_pct, server_pct = res.idle_cpu_pct.get(most, (float("nan"), float("nan")))
    rows.append(
        (
            f"idle sessions cost no CPU ({most} idle others)",
            f"{ab:.2f}× (others running vs frozen, interleaved); {slow:.2f}× (vs no others, run before and "
            f"after); the {most} idle TUIs use {idle_pct:.1f}% of a core, the server {server_pct:.1f}%",
            "≤ 1.2×",
            ab <= 1.2,
            f"the server does nothing for an idle session: it reads a PTY only when there is output and polls "
            f"rollouts only while a turn runs. An idle Codex TUI wakes for its own timers "
            f"(≈ {idle_pct / max(most, 1):.1f}% of a core each), too little to slow a turn",
        )
    )
    return rows


def render_markdown(res: Results, meta: dict[str, str], plan: Plan) -> str:
    """docs/benchmarks.md."""
    out: list[str] = []
    w = out.append
    w("# Benchmarks")
    w("")
    w(
        "codex-mcp side by side with the other ways of talking to Codex, all against the same instant fake model "
        "(`codex_mcp.fakemodel`), so what is left is the work each path and Codex itself do. Generated by "
        "`bench/compare.py`; do not edit by hand."
    )
    w("")
    w("```sh")
    w("pip install -e '.[bench]'            # matplotlib, for the chart")
    w(".venv/bin/python bench/compare.py    # full run (~7 min on 2 cores); --quick for a ~2.5 min smoke run")
    w("```")
    w("")
    w(
        f"Measured {meta['date']} on {meta['cpu']}, {meta['memory']} RAM, {meta['os']}, Python {meta['python']}, "
        f"Codex {meta['codex']}. Run: `{meta['command']}` ({meta['duration']}; 1-minute load average during "
        f"the run {meta['load']}, the benchmark's own processes included). "
        "The machine is small and noisy: the methods take turns round by round, tables give medians with "
        "p25–p75 in brackets, and the comparisons are ratios of medians."
    )
    w("")
    w("![benchmarks](benchmarks.png)")
    w("")
    w("**Methods.** `mcp`: `codex_reply` through our server (official MCP client over stdio → our server → a live")
    w("Codex TUI in a PTY). `tui`: Codex's own TUI turn driven directly with the project's layers, from the paste")
    w("write to the rollout's `task_complete` line, polled every 2 ms (no MCP, no server). `exec`: one")
    w("`codex exec resume <thread id> --json` process per turn, timed to its exit, as exec-based MCP servers do.")
    w("`app-server`: Codex's JSON-RPC server over stdio, `turn/start` until `turn/completed`: the floor for")
    w("anything built on Codex. The `tui` harness feeds the screen model only between turns, so it times Codex")
    w("alone; our server parses the TUI's output as it arrives, and that cost counts as ours. Codex runs with")
    w("an empty HOME, so the machine's shell profile (which Codex's shell snapshot sources in a login shell)")
    w("does not enter the figures. Each method has its own CODEX_HOME and fake model process; the fake model")
    w("answers Codex's title request with the JSON Codex asks for, as a real model does.")
    w("")

    w("## Goals")
    w("")
    w("| goal | measured | target | result | why |")
    w("| --- | --- | --- | --- | --- |")
    for goal, measured, target, met, why in goal_rows(res):
        w(f"| {goal} | {measured} | {target} | {'**met**' if met else '**missed**'} | {why} |")
    w("")

    w("## Per-turn latency on a live conversation")
    w("")
    w(f"Wall time of one turn, ms, median (p25–p75), {plan.rounds} turns per cell. History: the thread already")
    w(f"holds 1, 20 or 50 turns when measuring starts (and up to {plan.rounds - 1} more by its end).")
    w("")
    w("| history | mcp | tui (Codex's own) | app-server | exec per turn | exec ÷ mcp | mcp − tui |")
    w("| --- | --- | --- | --- | --- | --- | --- |")
    for d in DEPTHS:
        s = {m: Stats.of(res.latency.get(m, {}).get(d, [])) for m in METHODS}
        w(
            f"| {d} | {s['mcp'].ms()} | {s['tui'].ms()} | {s['app-server'].ms()} | {s['exec'].ms()} | "
            f"{ratio(s['exec'].median, s['mcp'].median):.2f}× | {s['mcp'].median - s['tui'].median:+.0f} |"
        )
    w("")
    w("Where the time goes, from the timestamps Codex writes into each thread's rollout: from handing the")
    w("prompt to the method until Codex's task starts (`task_started`), the task itself, and from `task_complete`")
    w("until the method returns the reply. CPU per turn: all processes of the method, children included.")
    w("")
    w("| history | method | wall ms | before the task | Codex's task | after the task | CPU ms per turn |")
    w("| --- | --- | --- | --- | --- | --- | --- |")
    for d in DEPTHS:
        for m in METHODS:
            wall = res.latency.get(m, {}).get(d, [])
            phases = res.phases.get(m, {}).get(d, [])
            before, task, after = (Stats.of(ph[i] for ph in phases) for i in range(3))
            cpu = res.cpu_per_turn.get(m, {}).get(d, float("nan"))
            extra = f" (server {res.server_cpu_per_turn[d]:.0f})" if m == "mcp" else ""
            w(f"| {d} | {m} | {Stats.of(wall).ms()} | {before.ms()} | {task.ms()} | {after.ms()} | {cpu:.0f}{extra} |")
    w("")
    w("Process start-up is CPU-heavy, so exec's figures swing the most with the machine's load, and so does")
    w("the exec ÷ mcp ratio between runs; compare runs by their ratios and load averages.")
    w("")
    if res.exec_reply_ms:
        reply = Stats.of(v for vs in res.exec_reply_ms.values() for v in vs)
        w(
            f"exec writes its reply line after {reply.ms()} ms and exits later; an MCP call over stdio to our server "
            f"(`codex_list`) costs {Stats.of(res.mcp_call_ms).ms()} ms."
        )
        w("")

    w("## Our overhead")
    w("")
    w("`mcp` minus `tui` at the same history depth. *Paired* subtracts Codex's own task time turn by turn first")
    w("(wall − `duration_ms`), which removes Codex's turn-to-turn variance from the comparison.")
    w("")
    w("| history | mcp − tui (medians) | paired: (mcp − own) − (tui − own) | before the task | Codex's task | after |")
    w("| --- | --- | --- | --- | --- | --- |")
    for d in DEPTHS:
        ours, raw = res.latency["mcp"][d], res.latency["tui"][d]
        om = [a - b for a, b in zip(ours, res.codex_ms["mcp"][d], strict=False)]
        ot = [a - b for a, b in zip(raw, res.codex_ms["tui"][d], strict=False)]
        ph = [
            Stats.of(x[i] for x in res.phases["mcp"][d]).median - Stats.of(x[i] for x in res.phases["tui"][d]).median
            for i in range(3)
        ]
        w(
            f"| {d} | {Stats.of(ours).median - Stats.of(raw).median:+.0f} ms | "
            f"{Stats.of(om).median - Stats.of(ot).median:+.0f} ms | {ph[0]:+.0f} ms | {ph[1]:+.0f} ms | "
            f"{ph[2]:+.0f} ms |"
        )
    w("")
    w("The last three columns split the difference by Codex's rollout timestamps: before Codex's task starts,")
    w("the task itself (longer when the server's own CPU work competes with Codex for the cores), and after it.")
    w("")
    costs = res.server_costs
    w("What our server does on the path of every turn, each timed alone on this machine:")
    w("")
    w("| step | ms |")
    w("| --- | --- |")
    w(f"| the MCP call itself over stdio (a `codex_list` round trip) | {Stats.of(res.mcp_call_ms).median:.1f} |")
    w(
        "| `Screen.lines()`: render the whole 160×50 screen, to see from the footer that the TUI is idle "
        f"before pasting | {costs.get('lines_ms', float('nan')):.1f} |"
    )
    w(
        f"| save the conversation record ({costs.get('save_turns', 0):.0f} turns, JSON + fsync); it is saved when "
        f"the turn is queued, when it starts and when it ends | 3 × {costs.get('save_ms', float('nan')):.1f} |"
    )
    w("| notice `task_complete`: the rollout is read when output arrives and at least every 10 ms | ≈ 5 |")
    w("")

    w("## Start: a new conversation to its first reply")
    w("")
    w("| path | ms, median (p25–p75) | n |")
    w("| --- | --- | --- |")
    labels = {
        "mcp": "`codex_start` (our server: spawn the TUI, wait until ready, first turn)",
        "mcp-animated": '`codex_start` with `config={"tui.animations": true}` (Codex\'s default)',
        "tui": "raw TUI: spawn → ready → first `task_complete`",
        "exec": "`codex exec --json` (new thread), to exit",
        "app-server": "cold `codex app-server`: spawn, initialize, thread/start, first turn",
    }
    for k in ("mcp", "mcp-animated", "tui", "exec", "app-server"):
        st = Stats.of(res.start_ms.get(k, []))
        w(f"| {labels[k]} | {st.ms()} | {st.n} |")
    w(f"| of which the TUI's spawn → ready | {Stats.of(res.tui_ready_ms).ms()} | {len(res.tui_ready_ms)} |")
    w("")

    w("## Memory")
    w("")
    w("RSS and PSS from `/proc/<pid>/status` and `/proc/<pid>/smaps_rollup`, MB.")
    w("")
    w("| what | RSS | PSS |")
    w("| --- | --- | --- |")
    a = res.server_alone_kb
    w(f"| our server, no live session (after the turn benchmarks) | {a[0] / 1024:.1f} | {a[1] / 1024:.1f} |")
    for n, (rss, pss) in sorted(res.server_by_live.items()):
        w(f"| our server, {n} live session(s) | {rss / 1024:.1f} | {pss / 1024:.1f} |")
    e = res.server_after_end_kb
    if e[0]:
        w(f"| our server, all sessions ended again | {e[0] / 1024:.1f} | {e[1] / 1024:.1f} |")
    for n, (rss, pss) in sorted(res.codex_by_live.items()):
        w(
            f"| Codex TUIs of {n} live session(s), total (each) | {rss / 1024:.0f} ({rss / n / 1024:.0f}) | "
            f"{pss / 1024:.0f} ({pss / n / 1024:.0f}) |"
        )
    for n, (rss, pss) in sorted(res.tui_by_turns.items()):
        w(f"| one Codex TUI after {n} turn(s) | {rss / 1024:.0f} | {pss / 1024:.0f} |")
    for n, (rss, pss) in sorted(res.app_server_kb.items()):
        w(f"| `codex app-server` holding {n} thread(s) | {rss / 1024:.0f} | {pss / 1024:.0f} |")
    if res.exec_maxrss_kb:
        peak = Stats.of(float(k) / 1024 for k in res.exec_maxrss_kb)
        w(f"| one `codex exec` process, peak (while it runs) | {peak.median:.0f} | – |")
    w("")

    w("## Scale")
    w("")
    w(f"Latency of `codex_reply` on one conversation while others are live but idle ({plan.scale_turns} turns")
    w("per row, in this order; the last row repeats the first after ending the others). CPU: what the idle")
    w("Codex processes and our server use over 2 s with nothing running, in % of one core.")
    w("")
    w("| idle others | ms, median (p25–p75) | vs alone | idle Codex CPU | server CPU |")
    w("| --- | --- | --- | --- | --- |")
    alone = Stats.of(s for c, v in res.scale_latency if c == 0 for s in v).median
    seen: set[int] = set()
    for count, samples in res.scale_latency:
        st = Stats.of(samples)
        idle, server = res.idle_cpu_pct.get(count, (float("nan"), float("nan")))
        again = " (again)" if count in seen else ""
        seen.add(count)
        w(f"| {count}{again} | {st.ms()} | {ratio(st.median, alone):.2f}× | {idle:.1f}% | {server:.1f}% |")
    w("")
    running, frozen = res.idle_ab
    if running:
        w(
            f"The same {max(c for c, _ in res.scale_latency)} idle others, interleaved turn by turn: running "
            f"{Stats.of(running).ms()} ms, frozen with SIGSTOP (no CPU, as if absent) {Stats.of(frozen).ms()} ms: "
            f"{ratio(Stats.of(running).median, Stats.of(frozen).median):.2f}×. This pairing is immune to the "
            "machine's background load drifting between the rows above."
        )
        w("")
    w("Throughput: N conversations replying at once, each sending its next prompt as soon as the last is")
    w(f"answered; turns per second, median of {plan.throughput_reps} runs. Codex is CPU-bound even against an")
    w(f"instant model, so on {os.cpu_count()} cores the ceiling is the machine as much as the path.")
    w("")
    w("| conversations | mcp | app-server (one process) | exec (one process per turn) |")
    w("| --- | --- | --- | --- |")
    for n in plan.concurrency:
        cells = [Stats.of(res.throughput.get(m, {}).get(n, [])).median for m in ("mcp", "app-server", "exec")]
        w(f"| {n} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    w("")

    w("## Hidden model requests")
    w("")
    w("What each method's Codex asked the fake model, per user turn. Codex's TUI (so also `mcp`) asks for a")
    w("thread title after the first prompt of a new thread, in parallel with the turn; `exec` and `app-server`")
    w("never do. When the title answer is not the JSON Codex asks for (a fake model answering in plain text),")
    w("Codex drops it and asks again on every later turn (the last settings row below).")
    w("")
    w("| method | user turns | model requests for them | title requests | other requests | threads started |")
    w("| --- | --- | --- | --- | --- | --- |")
    for m, (counts, turns, threads) in res.hidden.items():
        w(f"| {m} | {turns} | {counts.user} | {counts.title} | {counts.other} | {threads} |")
    w("")

    w("## Codex settings")
    w("")
    w("Measured with the `tui` method (Codex started with our server's arguments; a row's `-c` comes last and")
    w("overrides them), the variants taking turns. *Wait* is a turn whose model takes")
    w(f"{plan.wait_s:g} s to answer: what Codex draws (bytes our server must parse) and burns while it waits.")
    w("")
    w(
        "| variant | `-c` | spawn → ready | first turn (from spawn) | per turn | CPU ms/turn | PTY bytes/turn | "
        "wait: bytes/s | wait: CPU ms/s | requests per turn (user + title) | what the user gets |"
    )
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for v in res.variants:
        req = v.requests or RequestCounts(0, 0, 0)
        conf = "<br>".join(f"`{c}`" for c in v.config) or "–"
        w(
            f"| {v.name} | {conf} | {Stats.of(v.ready_ms).ms()} | {Stats.of(v.first_ms).ms()} | "
            f"{Stats.of(v.turn_ms).ms()} | {statistics.median(v.cpu_per_turn):.0f} | "
            f"{statistics.median(v.bytes_per_turn):.0f} | {statistics.median(v.wait_bytes_per_s):.0f} | "
            f"{statistics.median(v.wait_cpu_per_s):.0f} | {req.user / max(v.turns, 1):.2f} + "
            f"{req.title / max(v.turns, 1):.2f} | {v.effect} |"
        )
    w("")
    quiet = next((v for v in res.variants if v.name == "animations off"), None)
    animated = next((v for v in res.variants if v.name == "animations on"), None)
    if quiet is not None and animated is not None:
        drawn = statistics.median(animated.wait_bytes_per_s)
        calm = statistics.median(quiet.wait_bytes_per_s)
        w(
            f"While waiting on the model, animations off changed what the TUI draws from {drawn:.0f} to "
            f"{calm:.0f} bytes/s and Codex's CPU from {statistics.median(animated.wait_cpu_per_s):.0f} to "
            f"{statistics.median(quiet.wait_cpu_per_s):.0f} ms/s; with real turns of seconds to minutes, that is "
            "where the difference lies, for Codex and for our server's parsing alike."
        )
        w("")
    w("Title generation has no setting in Codex 0.169: the TUI asks whenever its thread has no name yet")
    w("(`tui/src/app/thread_title.rs`), with the session's own model when the provider is not OpenAI's.")
    plain = next((v for v in res.variants if v.name.startswith("title answered")), None)
    base = next((v for v in res.variants if v.name == "default"), None)
    if plain is not None and base is not None:
        w(
            f"A title request on every turn (a fake model answering it in plain text) costs Codex "
            f"{statistics.median(plain.cpu_per_turn) - statistics.median(base.cpu_per_turn):+.0f} ms of CPU and "
            f"{Stats.of(plain.turn_ms).median - Stats.of(base.turn_ms).median:+.0f} ms of latency per turn here; "
            "per-turn figures measured against that fake model overstate Codex's own turn."
        )
    w("")

    w("## Sections")
    w("")
    w("| section | seconds |")
    w("| --- | --- |")
    for name, secs in res.section_s.items():
        w(f"| {name} | {secs:.0f} |")
    w("")
    left = ", ".join(res.leftovers) if res.leftovers else "none"
    w(f"Processes left behind after the run (checked by environment): {left}.")
    w("")
    return "\n".join(out)


def render_chart(res: Results, path: Path) -> bool:
    """docs/benchmarks.png; False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed (pip install -e '.[bench]'): no chart")
        return False
    colors = {"mcp": "#1f77b4", "tui": "#2ca02c", "app-server": "#9467bd", "exec": "#d62728"}
    fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
    fig.suptitle("codex-mcp vs other ways to drive Codex (instant fake model; medians, bars p25–p75)")

    ax = axes[0][0]
    width = 0.2
    for k, m in enumerate(METHODS):
        st = [Stats.of(res.latency.get(m, {}).get(d, [])) for d in DEPTHS]
        xs = [i + (k - 1.5) * width for i in range(len(DEPTHS))]
        ax.bar(
            xs,
            [s.median for s in st],
            width,
            yerr=[[s.median - s.p25 for s in st], [s.p75 - s.median for s in st]],
            label=m,
            color=colors[m],
            capsize=2,
        )
    ax.set_xticks(range(len(DEPTHS)), [f"{d}" for d in DEPTHS])
    ax.set_xlabel("turns of history")
    ax.set_ylabel("ms per turn")
    ax.set_title("Per-turn latency")
    ax.legend(loc="upper left", fontsize=8)

    ax = axes[0][1]
    for k, m in enumerate(("mcp", "tui", "app-server")):
        before = [Stats.of(ph[0] for ph in res.phases[m][d]).median for d in DEPTHS]
        after = [Stats.of(ph[2] for ph in res.phases[m][d]).median for d in DEPTHS]
        xs = [i + (k - 1) * 0.27 for i in range(len(DEPTHS))]
        ax.bar(xs, before, 0.27, label=f"{m}: before the task", color=colors[m])
        ax.bar(xs, after, 0.27, bottom=before, label=f"{m}: after it", color=colors[m], alpha=0.45)
    ax.set_xticks(range(len(DEPTHS)), [f"{d}" for d in DEPTHS])
    ax.set_xlabel("turns of history")
    ax.set_ylabel("ms (medians)")
    ax.set_title("Time outside Codex's own task")
    ax.set_ylim(top=ax.get_ylim()[1] * 1.6)
    ax.legend(fontsize=7, ncol=3, loc="upper center")

    ax = axes[0][2]
    kinds = [
        ("mcp", "codex_start"),
        ("mcp-animated", "codex_start\nanimations on"),
        ("tui", "raw\nTUI"),
        ("exec", "codex\nexec"),
        ("app-server", "cold\napp-server"),
    ]
    st = [Stats.of(res.start_ms.get(k, [])) for k, _ in kinds]
    ax.bar(
        range(len(kinds)),
        [s.median for s in st],
        yerr=[[s.median - s.p25 for s in st], [s.p75 - s.median for s in st]],
        color=[colors.get(k, "#17becf") for k, _ in kinds],
        capsize=3,
    )
    ax.set_xticks(range(len(kinds)), [label for _, label in kinds], fontsize=8)
    ax.set_ylabel("ms")
    ax.set_title("New conversation → first reply")

    ax = axes[1][0]
    labels: list[str] = []
    seen: set[int] = set()
    st = []
    for count, samples in res.scale_latency:
        labels.append(f"{count}{' again' if count in seen else ''}")
        seen.add(count)
        st.append(Stats.of(samples))
    bar_colors = [colors["mcp"]] * len(st)
    running, frozen = res.idle_ab
    if running:
        most = max(c for c, _ in res.scale_latency)
        labels += [f"{most}\nrunning*", f"{most}\nfrozen*"]
        st += [Stats.of(running), Stats.of(frozen)]
        bar_colors += ["#ff7f0e", "#c7c7c7"]
    ax.bar(
        range(len(st)),
        [s.median for s in st],
        yerr=[[s.median - s.p25 for s in st], [s.p75 - s.median for s in st]],
        color=bar_colors,
        capsize=3,
    )
    ax.set_xticks(range(len(st)), labels, fontsize=8)
    ax.set_xlabel("idle conversations live (* interleaved pair: others running / frozen)")
    ax.set_ylabel("ms per codex_reply")
    ax.set_title("Latency with idle sessions")

    ax = axes[1][1]
    for m in ("mcp", "app-server", "exec"):
        ns = sorted(res.throughput.get(m, {}))
        ax.plot(ns, [Stats.of(res.throughput[m][n]).median for n in ns], marker="o", label=m, color=colors[m])
    ax.set_xticks(sorted({n for m in res.throughput.values() for n in m}))
    ax.set_xlabel("conversations replying at once")
    ax.set_ylabel("turns / s")
    ax.set_title(f"Throughput ({os.cpu_count()} cores)")
    ax.legend()

    ax = axes[1][2]
    turns = sorted(res.tui_by_turns)
    ax.plot(turns, [res.tui_by_turns[t][0] / 1024 for t in turns], marker="o", label="one Codex TUI, RSS")
    ax.plot(turns, [res.tui_by_turns[t][1] / 1024 for t in turns], marker="o", label="one Codex TUI, PSS")
    ax.set_xlabel("turns")
    ax.set_ylabel("MB")
    ax.set_title("Memory")
    live = sorted(res.server_by_live)
    ax2 = ax.twiny()
    ax2.plot(live, [res.server_by_live[n][0] / 1024 for n in live], marker="s", color="black", label="our server, RSS")
    ax2.set_xlabel("live sessions (our server)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="center right")
    ax.set_ylim(bottom=0)

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# --- main ------------------------------------------------------------------------------------------


def codex_version(binary: str) -> str:
    """What `codex --version` says, e.g. '0.169.0'."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout.split()
    return out[-1] if out else "unknown"


def plan_for(args: argparse.Namespace) -> Plan:
    """Sample sizes for --quick or the full run (--rounds overrides the per-turn rounds)."""
    if args.quick:
        plan = Plan(
            rounds=4,
            start_rounds=2,
            scale_turns=4,
            idle_counts=(0, 5, 0),
            concurrency=(1, 5),
            throughput_turns=2,
            throughput_reps=1,
            variant_rounds=3,
            variant_starts=1,
            wait_s=1.0,
        )
    else:
        plan = Plan(
            rounds=12,
            start_rounds=6,
            scale_turns=8,
            idle_counts=(0, 1, 5, 20, 0),
            concurrency=(1, 5, 10),
            throughput_turns=4,
            throughput_reps=2,
            variant_rounds=10,
            variant_starts=3,
            wait_s=1.5,
        )
    if args.rounds:
        plan.rounds = args.rounds
    return plan


async def measure(lab: Lab, plan: Plan, res: Results) -> None:
    """Every section, in order."""
    for name in ("mcp", "tui", "app-server", "exec", "variants"):
        lab.codex_home(name)
    async with McpMethod.serve(lab) as mcp:
        tui = TuiMethod(lab)
        app = AppServer(lab, "app-server")
        ex = ExecMethod(lab)
        await app.open()
        try:
            t = time.monotonic()
            await section_turns(lab, plan, res, mcp, tui, app, ex)
            res.section_s["per-turn latency (incl. building histories)"] = time.monotonic() - t
            await app.close()
            t = time.monotonic()
            log("start → first reply")
            await section_start(lab, plan, res, mcp, tui, ex)
            res.section_s["start → first reply"] = time.monotonic() - t
            t = time.monotonic()
            await section_scale(lab, plan, res, mcp, ex)
            res.section_s["scale, memory, throughput"] = time.monotonic() - t
        finally:
            await tui.close()
            await app.close()
        res.exec_maxrss_kb = ex.maxrss_kb
    t = time.monotonic()
    await section_variants(lab, plan, res)
    res.section_s["Codex settings"] = time.monotonic() - t
    # Hidden requests per method: the user turns each method sent against what reached its model.
    for method in METHODS:
        turns, threads = lab.sent.get(method, [0, 0])
        res.hidden[method] = (lab.requests(method), turns, threads)


async def sample_load(loads: list[float]) -> None:
    """The machine's 1-minute load average every 5 s (the benchmark's own processes included)."""
    while True:
        loads.append(os.getloadavg()[0])
        await anyio.sleep(5)


async def run(args: argparse.Namespace) -> None:
    """Every section, then the report; everything started is stopped, and leftovers are reported."""
    plan = plan_for(args)
    args.workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="run-", dir=args.workdir))
    lab = Lab(root, args.codex_bin, args.real_home)
    lab.prepare()
    res = Results()
    began = time.monotonic()
    version = codex_version(args.codex_bin)
    log(f"Codex {version}; working in {root}")
    loads: list[float] = []
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(sample_load, loads)
            await measure(lab, plan, res)
            tg.cancel_scope.cancel()
    finally:
        lab.close()
        await anyio.sleep(0.5)
        for pid in pids_using(root):
            with contextlib.suppress(OSError):
                res.leftovers.append(command_of(pid))
                os.kill(pid, signal.SIGKILL)
        if res.leftovers:
            log(f"killed leftover processes: {res.leftovers}")
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    total = time.monotonic() - began
    meta = machine() | {
        "codex": version,
        "date": time.strftime("%Y-%m-%d"),
        "command": "python bench/compare.py" + (" --quick" if args.quick else ""),
        "duration": f"{total / 60:.1f} min",
        "load": f"{statistics.median(loads):.1f} (max {max(loads):.1f})" if loads else "?",
    }
    saved = args.workdir / "last-run.pickle"
    saved.write_bytes(pickle.dumps((res, meta, plan)))
    write_report(args, res, meta, plan)
    log(f"done in {total / 60:.1f} min (results kept in {saved}; --render-only re-renders them)")


def write_report(args: argparse.Namespace, res: Results, meta: dict[str, str], plan: Plan) -> None:
    """docs/benchmarks.md and docs/benchmarks.png."""
    previous = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(carry_sections(previous, render_markdown(res, meta, plan)))  # other scripts' sections stay
    log(f"wrote {args.out}")
    if render_chart(res, args.chart):
        log(f"wrote {args.chart}")


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small samples, ~2 minutes")
    parser.add_argument("--rounds", type=int, help="turns per method and history depth (default 12, quick 4)")
    parser.add_argument("--codex-bin", default=pinned_codex())
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--chart", type=Path, default=REPO / "docs" / "benchmarks.png")
    parser.add_argument(
        "--workdir", type=Path, default=Path.home() / ".cache" / "codex-mcp-bench", help="where runs happen"
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (logs, CODEX_HOMEs)")
    parser.add_argument("--real-home", action="store_true", help="give Codex your HOME (and shell profile)")
    parser.add_argument(
        "--render-only", action="store_true", help="re-render the last run's results (after editing the report code)"
    )
    parser.add_argument("--serve-model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_model:
        serve_model(args.serve_model)
        return
    if args.render_only:
        # Our own file from an earlier run of this script, never anything downloaded.
        res, meta, plan = pickle.loads((args.workdir / "last-run.pickle").read_bytes())
        write_report(args, res, meta, plan)
        return
    anyio.run(run, args)


if __name__ == "__main__":
    main()
