"""What to execute for Codex (the native binary behind npm's wrapper), its version, and its environment."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import CodexNotFound
from .versions import RECOMMENDED_VERSION

_TRIPLES = {
    ("linux", "x86_64"): ("codex-linux-x64", "x86_64-unknown-linux-musl"),
    ("linux", "aarch64"): ("codex-linux-arm64", "aarch64-unknown-linux-musl"),
    ("darwin", "x86_64"): ("codex-darwin-x64", "x86_64-apple-darwin"),
    ("darwin", "arm64"): ("codex-darwin-arm64", "aarch64-apple-darwin"),
    ("win32", "amd64"): ("codex-win32-x64", "x86_64-pc-windows-msvc"),
    ("win32", "arm64"): ("codex-win32-arm64", "aarch64-pc-windows-msvc"),
}


def native_binary(
    wrapper: str, platform: str | None = None, machine: str | None = None
) -> tuple[str, dict[str, str]] | None:
    """The native Codex executable behind an npm install (the `codex` symlink to bin/codex.js, or the Windows
    `codex.cmd` shim), with the environment the npm wrapper would add. Launching it directly needs no Node
    process per session and, on Windows, no shell (a .cmd file only runs under cmd.exe)."""
    import platform as platform_module
    from pathlib import Path

    plat = platform or sys.platform
    arch = (machine or platform_module.machine()).lower()
    target = _TRIPLES.get((plat, arch))
    if target is None:
        return None
    package, triple = target
    exe = "codex.exe" if plat == "win32" else "codex"
    path = Path(wrapper)
    roots: list[Path] = []
    if path.suffix.lower() in (".cmd", ".ps1", "") and path.parent.joinpath("node_modules").is_dir():
        roots.append(path.parent / "node_modules" / "@openai" / "codex")  # Windows npm prefix layout
    resolved = path.resolve()
    if resolved.name == "codex.js" and resolved.parent.name == "bin":
        roots.append(resolved.parent.parent)  # POSIX: <prefix>/bin/codex -> .../@openai/codex/bin/codex.js
    for root in roots:
        for vendor in (
            root / "node_modules" / "@openai" / package / "vendor",
            root.parent / package / "vendor",  # hoisted next to @openai/codex
            root / "vendor",
        ):
            candidate = vendor / triple / "bin" / exe
            if candidate.is_file():
                env = {"CODEX_MANAGED_PACKAGE_ROOT": str(root.resolve()), "CODEX_MANAGED_BY_NPM": "1"}
                return str(candidate), env
    return None


@dataclass(frozen=True)
class CodexBinary:
    """What to execute for Codex, and what to add to its environment."""

    path: str
    env: dict[str, str] = field(default_factory=dict)


def find_codex(codex_bin: str) -> CodexBinary:
    """The Codex to run: the configured one, or the native executable behind it when it is the npm wrapper."""
    found = resolve_binary(codex_bin)
    native = native_binary(found)
    if native is not None:
        return CodexBinary(native[0], native[1])
    if sys.platform == "win32" and found.lower().endswith((".cmd", ".bat", ".ps1")):
        raise CodexNotFound(
            f"{found} is a script shim and the native codex.exe behind it was not found", RECOMMENDED_VERSION
        )
    return CodexBinary(found)


def resolve_binary(codex_bin: str) -> str:
    """An absolute path to an executable Codex, or CodexNotFound saying how to get one."""
    if os.sep in codex_bin or (os.altsep and os.altsep in codex_bin):
        path = os.path.abspath(os.path.expanduser(codex_bin))
        if not os.path.isfile(path):
            raise CodexNotFound(f"{path} does not exist", RECOMMENDED_VERSION)
        if not os.access(path, os.X_OK):
            raise CodexNotFound(f"{path} is not executable", RECOMMENDED_VERSION)
        return path
    found = shutil.which(codex_bin)
    if found is None:
        raise CodexNotFound(f"{codex_bin!r} is not on PATH", RECOMMENDED_VERSION)
    return found


async def codex_version(binary: str, env: Mapping[str, str] | None = None) -> str:
    """The version Codex reports (e.g. '0.171.0'), or 'unknown'."""
    proc = await asyncio.create_subprocess_exec(
        binary,
        "--version",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=dict(env) if env is not None else None,
    )
    try:
        async with asyncio.timeout(15):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return "unknown"
    m = re.search(r"(\d+\.\d+\.\d+\S*)", out.decode(errors="replace"))
    return m.group(1) if m else "unknown"


def codex_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for Codex: ours passed through (CODEX_HOME, API keys...), with a terminal type
    the TUI knows."""
    env = dict(os.environ if base is None else base)
    env["TERM"] = "xterm-256color"
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    return env
