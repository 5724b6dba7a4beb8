"""What the benchmark scripts share: the pinned Codex, and finding a run's processes by their environment."""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import psutil
from mcp.client.stdio import StdioServerParameters

from codex_mcp.cli.fakemodel import FakeModel, codex_config_toml
from codex_mcp.terminal.processes import processes_with_env

REPO = Path(__file__).resolve().parent.parent


def pinned_codex() -> str:
    """The native Codex binary scripts/setup.sh installed, else `codex` on PATH."""
    for candidate in (REPO / ".codex-cli/node_modules/@openai").glob("codex-linux-*/vendor/*/bin/codex"):
        return str(candidate)
    return "codex"


def procs_with(var: str, value: str) -> list[tuple[int, str]]:
    """(pid, command line) of every live process (zombies and this process left out) whose environment has
    var=value. Through psutil, so it works wherever psutil reads environments (Linux, macOS, Windows)."""
    found: list[tuple[int, str]] = []
    # Status and command line are read only for the few processes that match.
    for proc in processes_with_env(var, value):
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(proc.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):  # it ended meanwhile (a ZombieProcess is a NoSuchProcess)
            continue
        found.append((proc.pid, cmd))
    return found


def codex_pids(home: Path) -> list[int]:
    """Codex processes (not our server) of the run using this CODEX_HOME."""
    return [pid for pid, cmd in procs_with("CODEX_HOME", str(home)) if "codex_mcp" not in cmd]


@contextmanager
def bench_world(codex_bin: str, **extra_env: str) -> Iterator[tuple[Path, Path, StdioServerParameters]]:
    """A throwaway CODEX_HOME (pointing Codex at a fresh fake model), a work folder, and the parameters that
    start our server on them: (codex home, work folder, server parameters)."""
    with tempfile.TemporaryDirectory() as tmp, FakeModel() as fake:
        home = Path(tmp) / "codex-home"
        work = Path(tmp) / "work"
        home.mkdir()
        work.mkdir()
        (home / "config.toml").write_text(codex_config_toml(fake.base_url))
        env = {
            **os.environ,
            "CODEX_HOME": str(home),
            "CODEX_MCP_FAKE_KEY": "bench",
            "CODEX_MCP_STATE_DIR": str(Path(tmp) / "state"),
            **extra_env,
        }
        yield (
            home,
            work,
            StdioServerParameters(
                command=sys.executable, args=["-m", "codex_mcp", "--codex-bin", codex_bin], env=env, cwd=str(work)
            ),
        )


_SECTION = re.compile(r"<!-- (?P<name>[a-z_]+): begin -->\n.*?<!-- (?P=name): end -->\n", re.S)


def write_section(path: Path, name: str, body: str) -> None:
    """Put body into path between `<!-- name: begin -->` and `<!-- name: end -->` (replacing what was there, or
    appended): how a script that measures one thing owns its part of a report another script writes."""
    block = f"<!-- {name}: begin -->\n{body.rstrip()}\n<!-- {name}: end -->\n"
    text = path.read_text() if path.exists() else ""
    for found in _SECTION.finditer(text):
        if found.group("name") == name:
            path.write_text(text[: found.start()] + block + text[found.end() :])
            return
    path.write_text(text.rstrip("\n") + "\n\n" + block)


def carry_sections(previous: str, rendered: str) -> str:
    """rendered, plus the marked sections of previous that it does not have (see write_section)."""
    have = {m.group("name") for m in _SECTION.finditer(rendered)}
    kept = [m.group(0) for m in _SECTION.finditer(previous) if m.group("name") not in have]
    return rendered.rstrip("\n") + "".join("\n\n" + k for k in kept) + ("\n" if kept else "")


def rounds_main(run: Callable[[argparse.Namespace], Awaitable[None]], doc: str | None) -> None:
    """The command line of a benchmark of --rounds rounds on --codex-bin (the pinned Codex by default)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--codex-bin", default=pinned_codex())
    anyio.run(run, parser.parse_args())
