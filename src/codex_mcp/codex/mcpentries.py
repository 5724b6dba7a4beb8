"""Codex's MCP server entries as Codex reads them for one session, and which of them run codex-mcp itself.

The Codex TUI that codex-mcp launches reads the same config as a Codex in a terminal. If that config registers
codex-mcp (so that Codex can use it), every live session would start its own codex-mcp (~75 MB each), which
would share our state dir, list our conversations and offer codex_start to the model inside Codex. So each
launch looks up those entries here and codex.py turns them off for that Codex with ``-c``.

Layers, lowest first, as Codex 0.169-0.171 merges them (codex-rs/config/src/loader/mod.rs): the system
config, ``$CODEX_HOME/config.toml``, the ``-p`` profile ``$CODEX_HOME/<profile>.config.toml``, each
``.codex/config.toml`` from the project root down to the folder, the ``-c`` overrides, the managed config.
Tables merge key by key; anything else is replaced. Only files are read: nothing is executed."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shlex
import shutil
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from . import nesting

Table = dict[str, object]

NAMES = frozenset({"codex-mcp", "codex_mcp"})
"""What our console script, our package and our module are called."""

_PYTHON = re.compile(r"(python|pypy)(\d+(\.\d+)*)?w?|py")
_WRAPPERS = frozenset({"env", "uvx", "uv", "pipx", "nice", "nohup", "time", "exec", "sudo", "doas", "cmd"})
"""Programs that run another program named among their arguments (uvx codex-mcp, uv tool run codex-mcp, pipx run
codex-mcp, env VAR=1 codex-mcp, cmd /c codex-mcp)."""
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "fish", "pwsh", "powershell"})
_SCRIPT_LIMIT = 256 * 1024
_DEFAULT_MARKERS = (".git",)
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Entry:
    """An enabled MCP server entry of the effective config that runs codex-mcp."""

    name: str
    command: str

    @property
    def plain_name(self) -> bool:
        """True if the name can go into a dotted ``-c`` key (Codex splits keys on every dot, with no quoting)."""
        return _SAFE_NAME.fullmatch(self.name) is not None


def merge(base: Table, over: Mapping[str, object]) -> None:
    """Merge over into base in place, as Codex merges config layers: tables key by key, other values replaced."""
    for key, value in over.items():
        current = base.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merge(current, value)
        else:
            base[key] = _copy(value)


def _copy(value: object) -> object:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def apply_override(table: Table, key: str, value: object) -> None:
    """Apply one ``-c key=value`` the way Codex does: split the key on every dot, make missing (or non-table)
    steps tables, and replace what is at the end."""
    parts = key.split(".")
    current = table
    for part in parts[:-1]:
        step = current.get(part)
        if not isinstance(step, dict):
            step = {}
            current[part] = step
        current = step
    current[parts[-1]] = _copy(value)


def override_layer(config: Mapping[str, object]) -> Table:
    """The layer a client's ``config`` overrides make, applied in order."""
    layer: Table = {}
    for key, value in config.items():
        apply_override(layer, key, value)
    return layer


def read_toml(path: Path) -> Table:
    """A config file's table; empty when it is missing or unreadable (Codex reports a broken one itself)."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}


def system_config_dir() -> Path:
    """Where Codex looks for the system-wide config.toml and managed_config.toml."""
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "OpenAI" / "Codex"
    return Path("/etc/codex")


def project_dirs(cwd: Path, markers: Sequence[str]) -> list[Path]:
    """The folders whose ``.codex/config.toml`` Codex reads: the project root (the nearest folder holding one of
    the markers, else cwd itself) down to cwd."""
    chain = [cwd, *cwd.parents]
    for i, folder in enumerate(chain):
        if any((folder / marker).exists() for marker in markers):
            return list(reversed(chain[: i + 1]))
    return [cwd]


def effective_config(
    codex_home: Path,
    *,
    cwd: str | None = None,
    profile: str | None = None,
    config: Mapping[str, object] | None = None,
    system_dir: Path | None = None,
) -> Table:
    """The config a Codex session launched with these options ends up with, as far as files and overrides say.

    Project layers are read whether or not Codex trusts the folder (codex-mcp trusts the session's folder; a
    parent folder may not be): finding an entry Codex will not load only means turning off one that is not there."""
    system = system_dir if system_dir is not None else system_config_dir()
    overrides = override_layer(config or {})
    merged: Table = {}
    merge(merged, read_toml(system / "config.toml"))
    merge(merged, read_toml(codex_home / "config.toml"))
    if profile and "/" not in profile and "\\" not in profile and profile not in (".", ".."):
        merge(merged, read_toml(codex_home / f"{profile}.config.toml"))
    if cwd:
        so_far: Table = {}
        merge(so_far, merged)
        merge(so_far, overrides)
        markers = so_far.get("project_root_markers")
        usable = [m for m in markers if isinstance(m, str)] if isinstance(markers, list) else list(_DEFAULT_MARKERS)
        for folder in project_dirs(Path(cwd), usable):
            merge(merged, read_toml(folder / ".codex" / "config.toml"))
    merge(merged, overrides)
    merge(merged, read_toml(system / "managed_config.toml"))
    return merged


def servers(config: Mapping[str, object]) -> dict[str, Table]:
    """The ``mcp_servers`` tables of a config, by name."""
    table = config.get("mcp_servers")
    if not isinstance(table, dict):
        return {}
    return {name: entry for name, entry in table.items() if isinstance(entry, dict)}


def self_entries(config: Mapping[str, object], env: Mapping[str, str] | None = None) -> list[Entry]:
    """The enabled stdio entries that start codex-mcp (as their command lines say, or as a nested server found:
    nesting.learn_own_entry)."""
    found: list[Entry] = []
    source = (env or os.environ).get(nesting.LEARNED_ENV)
    learned = read_learned(Path(source) if source else None)
    for name, entry in servers(config).items():
        command = entry.get("command")
        raw_args = entry.get("args", [])
        if entry.get("enabled", True) is False or not isinstance(command, str) or not command:
            continue
        args = [a for a in raw_args if isinstance(a, str)] if isinstance(raw_args, list) else []
        entry_env = entry.get("env")
        path = entry_env.get("PATH") if isinstance(entry_env, dict) else None
        search = path if isinstance(path, str) else (env or os.environ).get("PATH")

        def inspect(program: str, search: str | None = search) -> bool:
            return script_is_ours(program, search)

        if runs_codex_mcp(command, args, inspect=inspect) or (name, command, args) in learned:
            found.append(Entry(name, command))
    return found


def _entry_line(entry: Mapping[str, object]) -> tuple[str, list[str]] | None:
    command, raw = entry.get("command"), entry.get("args", [])
    if not isinstance(command, str) or not command:
        return None
    return command, [a for a in raw if isinstance(a, str)] if isinstance(raw, list) else []


def entry_started_as(config: Mapping[str, object], cmdline: Sequence[str]) -> str | None:
    """The enabled stdio entry whose command line is this process's (Codex runs command with args; a launcher
    such as npx shows as its interpreter and script, then the args), if exactly one matches."""
    if not cmdline:
        return None
    names = [program(word) for word in cmdline[:2]]
    found = []
    for name, entry in servers(config).items():
        line = _entry_line(entry)
        if entry.get("enabled", True) is False or line is None:
            continue
        command, args = line
        tail_matches = not args or list(cmdline[-len(args) :]) == args
        if tail_matches and program(command) in names and len(cmdline) - len(args) <= 2:
            found.append(name)
    return found[0] if len(found) == 1 else None


def note_learned(path: Path, config: Mapping[str, object], name: str) -> None:
    """Add the entry (name, command and args as the config has them now) to the learned entries at path."""
    line = _entry_line(servers(config).get(name, {}))
    if line is None:
        return
    known = read_learned(path)
    record = (name, line[0], line[1])
    if record in known:
        return
    rows = [{"name": n, "command": c, "args": a} for n, c, a in [*known, record]]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps(rows), encoding="utf-8")
    os.replace(tmp, path)


def read_learned(path: Path | None) -> list[tuple[str, str, list[str]]]:
    """The learned entries (an entry learned once and edited since is not one any more: its line differs)."""
    if path is None:
        return []
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    out = []
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and isinstance(row.get("name"), str) and isinstance(row.get("command"), str):
            args = row.get("args")
            out.append(
                (row["name"], row["command"], [a for a in args if isinstance(a, str)] if isinstance(args, list) else [])
            )
    return out


def program(word: str) -> str:
    """A command's program name: the last path component, lower-cased, without a Windows executable suffix."""
    name = re.split(r"[\\/]", word)[-1].lower()
    for suffix in (".exe", ".cmd", ".bat", ".ps1"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def package(word: str) -> str:
    """A program or package name without a version or extras: 'codex-mcp@1.2', 'codex-mcp==1.2',
    'codex-mcp[x]' are all 'codex-mcp'."""
    return re.split(r"[@=<>~!\[;\s]", program(word), maxsplit=1)[0]


def runs_codex_mcp(
    command: str, args: Sequence[str], *, inspect: Callable[[str], bool] | None = None, depth: int = 0
) -> bool:
    """True if this command line starts codex-mcp: our console script (by name or path), ``python -m codex_mcp``,
    a launcher running it (uvx, uv tool run, pipx run, env, a shell's -c), or (with inspect) a script or link that
    is ours. False for anything else, including other servers run by the same launchers."""
    if depth > 3:
        return False
    name = program(command)
    if package(command) in NAMES:
        return True
    if _PYTHON.fullmatch(name):
        return _python_runs_us(args, inspect)
    if name in _WRAPPERS:
        return any(
            runs_codex_mcp(word, args[i + 1 :], depth=depth + 1)
            for i, word in enumerate(args)
            if not word.startswith("-") and "=" not in word
        )
    if name in _SHELLS:
        for i, word in enumerate(args[:-1]):
            if _runs_a_command_line(name, word):
                try:
                    words = shlex.split(args[i + 1])
                except ValueError:
                    return False
                return any(
                    runs_codex_mcp(w, words[j + 1 :], depth=depth + 1)
                    for j, w in enumerate(words)
                    if not w.startswith("-") and "=" not in w
                )
        return False
    return inspect(command) if inspect is not None else False


def _runs_a_command_line(shell: str, flag: str) -> bool:
    """True if the flag makes the shell run its next argument as a command line (sh -c, bash -lc, pwsh -Command)."""
    if shell in ("pwsh", "powershell"):
        return flag.lower() in ("-c", "-command")
    return flag.startswith("-") and not flag.startswith("--") and "c" in flag[1:]


def _python_runs_us(args: Sequence[str], inspect: Callable[[str], bool] | None) -> bool:
    """``python [options] -m codex_mcp``, ``-c`` code importing it, or a script that is ours."""
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--" or not word.startswith("-") or word == "-":
            rest = args[i + 1 :] if word == "--" else args[i:]
            if not rest:
                return False
            script = rest[0]
            parts = re.split(r"[\\/]", script)
            return (
                package(script) in NAMES
                or "codex_mcp" in parts[-2:-1]
                or (inspect(script) if inspect is not None else False)
            )
        if word.startswith("--"):
            i += 1
            continue
        flags = word[1:]
        for j, flag in enumerate(flags):
            if flag in "cm":
                value = flags[j + 1 :] or (args[i + 1] if i + 1 < len(args) else "")
                if flag == "m":
                    return value == "codex_mcp" or value.startswith("codex_mcp.")
                return "codex_mcp" in value
            if flag in "WX":
                i += 0 if flags[j + 1 :] else 1
                break
        i += 1
    return False


def script_is_ours(command: str, search_path: str | None) -> bool:
    """True if the program is codex-mcp under another name: a link to our console script, or a small script
    (a pip console script, a shell wrapper) that imports or runs codex-mcp. Binaries are not read."""
    located = command if re.search(r"[\\/]", command) else shutil.which(command, path=search_path)
    if not located:
        return False
    try:
        real = os.path.realpath(located)
        if package(real) in NAMES:
            return True
        if os.path.getsize(real) > _SCRIPT_LIMIT:
            return False
        with open(real, "rb") as f:
            head = f.read(_SCRIPT_LIMIT)
    except OSError:
        return False
    if not head.startswith(b"#!") and not real.lower().endswith((".py", ".cmd", ".bat", ".ps1", ".sh")):
        return False
    return re.search(rb"\bcodex[-_]mcp\b", head) is not None


def learn_own_entry() -> str | None:
    """In a nested server that refuses: find the entry of Codex's config that started this process and note it
    where the outer server reads it (nesting.LEARNED_ENV on the Codex process). The entry's name, or None if it cannot
    be told (no Codex of ours among the ancestors: a container, say; or no entry matches the command line)."""
    try:
        chain = [psutil.Process(), *psutil.Process().parents()]
        for below, proc in itertools.pairwise(chain):
            with contextlib.suppress(psutil.Error):
                env = proc.environ()
                if env.get(nesting.LEARNED_ENV):
                    started = below.cmdline()  # what Codex ran for the entry (this process, or a launcher of it)
                    home = Path(env.get("CODEX_HOME") or Path.home() / ".codex")
                    config = effective_config(home, cwd=proc.cwd())
                    name = entry_started_as(config, started)
                    if name is not None:
                        note_learned(Path(env[nesting.LEARNED_ENV]), config, name)
                    return name
    except psutil.Error:
        return None
    return None
