"""Where every method runs: an isolated HOME, work folders and a git repository (the Lab), a CODEX_HOME per
method, and a fake model per method in its own process that logs every request Codex makes, hidden ones included.
Also the progress log and the prompts every method sends."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from codex_mcp.cli.fakemodel import TITLE_MARKER, Answer, FakeModel, JsonObject, codex_config_toml
from codex_mcp.codex.binary import codex_env

PLAIN_TITLE = "[[plain-title]]"
"""In a prompt: the fake model answers this turn's title request with plain text instead of the JSON Codex asks for."""
COMPARE_PY = Path(__file__).resolve().parent.parent / "compare.py"
"""The benchmark's entry point: run with --serve-model, it is the fake model's child process (serve_model)."""


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def prompt(method: str, label: str, n: int) -> str:
    """A unique prompt the fake model echoes back."""
    return f"bench {method} {label} turn {n}"


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
            [sys.executable, str(COMPARE_PY), "--serve-model", str(log)],
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
        env = codex_env(os.environ)
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
