"""``codex-mcp doctor``: checks what the server needs and prints one actionable line per problem."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..codex import mcpentries, nesting
from ..codex.binary import codex_version, find_codex
from ..codex.rollout import codex_home, count_rollouts, rollout_problem, zstd_problem
from ..codex.settings import LaunchOptions
from ..codex.versions import RECOMMENDED_VERSION, SUPPORTED_VERSIONS, version_support
from ..config import DEFAULT_TIMEOUT_S, Settings
from ..control import transport
from ..control.protocol import frame
from ..errors import CodexNotFound

Level = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, how it went, and what to do about it."""

    name: str
    level: Level
    message: str

    def line(self) -> str:
        """The printed form, e.g. 'FAIL  codex: … → do this'."""
        return f"{self.level.upper():<5} {self.name}: {self.message}"


async def check_codex(settings: Settings) -> list[Check]:
    """The Codex binary: found, runs, and a version in the supported window (newer: a warning; older: a failure,
    since codex-mcp passes flags and reads screens an older Codex may not have)."""
    try:
        binary = find_codex(settings.codex_bin).path
    except CodexNotFound as exc:
        return [Check("codex", "fail", str(exc))]
    version = await codex_version(binary)
    window = f"{SUPPORTED_VERSIONS[0]} to {SUPPORTED_VERSIONS[-1]}"
    install = f"`npm install -g @openai/codex@{RECOMMENDED_VERSION}`"
    support = version_support(version)
    if support == "unknown":
        return [
            Check("codex", "fail", f"{binary} did not report a version: is it the Codex CLI? Try `{binary} --version`")
        ]
    if support == "older_unsupported":
        return [
            Check(
                "codex",
                "fail",
                f"Codex {version} at {binary} is older than the supported versions ({window}): upgrade with {install}",
            )
        ]
    if support == "newer_untested":
        return [
            Check(
                "codex",
                "warn",
                f"Codex {version} at {binary} is newer than the versions codex-mcp is tested with ({window}); it "
                f"probably works (`codex-mcp doctor --e2e` tries it), or install the tested {install}",
            )
        ]
    return [Check("codex", "ok", f"Codex {version} at {binary} (supported: {window})")]


def check_codex_home() -> list[Check]:
    """CODEX_HOME, its config, and some way for Codex to authenticate."""
    home = codex_home()
    checks: list[Check] = []
    if not home.exists():
        return [
            Check("codex home", "warn", f"{home} does not exist yet: run `codex` once (or `codex login`) to set it up")
        ]
    config: dict[str, object] = {}
    config_path = home / "config.toml"
    if config_path.exists():
        try:
            config = tomllib.loads(config_path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            checks.append(Check("codex config", "fail", f"{config_path} is not valid TOML ({exc}): fix or move it"))
    checks.append(Check("codex home", "ok", str(home)))
    if (home / "auth.json").exists():
        checks.append(Check("auth", "ok", f"logged in ({home / 'auth.json'})"))
        return checks
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("CODEX_API_KEY"):
        checks.append(Check("auth", "ok", "API key in the environment"))
        return checks
    provider = config.get("model_provider")
    providers = config.get("model_providers")
    if isinstance(provider, str) and isinstance(providers, dict):
        entry = providers.get(provider)
        env_key = entry.get("env_key") if isinstance(entry, dict) else None
        if isinstance(env_key, str):
            if os.environ.get(env_key):
                checks.append(Check("auth", "ok", f"model provider {provider!r} with ${env_key} set"))
            else:
                checks.append(
                    Check("auth", "fail", f"model provider {provider!r} needs ${env_key}: set it in the server's env")
                )
            return checks
    checks.append(
        Check("auth", "fail", "no Codex login found: run `codex login`, or give the server OPENAI_API_KEY in its env")
    )
    return checks


def check_rollouts() -> list[Check]:
    """Codex's sessions dir: how many rollouts, how many compressed (``.jsonl.zst``), and that compressed ones
    can be read: zstd works, and the newest compressed rollout's first line decodes (nothing more is read)."""
    sessions = codex_home() / "sessions"
    counted = count_rollouts(codex_home())
    found = f"{sessions}: {counted.total} rollouts, {counted.compressed} compressed"
    if (problem := zstd_problem()) is not None:
        # Without zstd a compressed thread cannot be adopted, and its history is lost to a replay.
        return [Check("rollouts", "fail" if counted.compressed else "warn", f"{found}; cannot read those: {problem}")]
    newest = counted.newest_compressed
    if newest is not None and (problem := rollout_problem(newest)) is not None:
        return [Check("rollouts", "warn", f"{found}; {problem}: its conversation would be replayed, not resumed")]
    return [Check("rollouts", "ok", f"{found} (readable)" if counted.compressed else found)]


CONPTY_BUILD = 17763
"""Windows 10 1809, the first build with ConPTY (CreatePseudoConsole), which pywinpty needs."""


def check_conpty(build: int, pywinpty_problem: str | None) -> list[Check]:
    """Windows: ConPTY exists in this build and pywinpty loads (each conversation's Codex runs in one)."""
    if build < CONPTY_BUILD:
        return [
            Check(
                "pty",
                "fail",
                f"Windows build {build} has no ConPTY: codex-mcp needs Windows 10 version 1809 (build "
                f"{CONPTY_BUILD}) or later, or Windows 11",
            )
        ]
    if pywinpty_problem is not None:
        return [
            Check("pty", "fail", f"pywinpty cannot be loaded ({pywinpty_problem}): reinstall it (pip install pywinpty)")
        ]
    return [Check("pty", "ok", f"ConPTY available (Windows build {build}, pywinpty)")]


def _pywinpty_problem() -> str | None:
    try:
        import winpty  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except ImportError as exc:
        return str(exc)
    return None


def check_pty() -> list[Check]:
    """Pseudo-terminals can be opened (each conversation needs one): a PTY on POSIX, ConPTY on Windows."""
    if sys.platform == "win32":
        return check_conpty(sys.getwindowsversion().build, _pywinpty_problem())
    try:
        master, slave = os.openpty()
    except OSError as exc:
        return [Check("pty", "fail", f"cannot open a pseudo-terminal ({exc}): is /dev/pts mounted?")]
    os.close(master)
    os.close(slave)
    return [Check("pty", "ok", "pseudo-terminals available")]


def check_state_dir(settings: Settings) -> list[Check]:
    """The state dir exists or can be made, is a writable directory, and is owner-only."""
    path = Path(settings.state_dir)
    if path.exists() and not path.is_dir():
        return [Check("state dir", "fail", f"{path} is not a directory: move it away or pick another --state-dir")]
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            return [Check("state dir", "fail", f"{path} cannot be created: {parent} is a file, not a folder")]
        if parent is None or not os.access(parent, os.W_OK):
            return [
                Check(
                    "state dir",
                    "fail",
                    f"{path} cannot be created ({parent} is not writable): pick another --state-dir",
                )
            ]
        return [Check("state dir", "ok", f"{path} (created on first start, owner-only)")]
    if not os.access(path, os.W_OK | os.X_OK):
        return [Check("state dir", "fail", f"{path} is not writable: fix its owner or pick another --state-dir")]
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return [Check("state dir", "fail", f"{path} is readable by others (mode {mode:o}): run `chmod 700 {path}`")]
    corrupt = sorted(p.name for p in (path / "conversations").glob("*.corrupt"))
    if corrupt:
        return [Check("state dir", "warn", f"{path}: unreadable state set aside: {', '.join(corrupt)}")]
    return [Check("state dir", "ok", str(path))]


CODEX_TOOL_TIMEOUT_S = 300.0
"""How long Codex (0.169-0.171) waits for a tool call when its entry sets no tool_timeout_sec (measured: a 75 s call
completes)."""


def check_codex_client(settings: Settings, cwd: str | None = None) -> list[Check]:
    """Registrations of codex-mcp in Codex's own config (Codex as an MCP client, see the README): can their calls
    run, do they return before Codex gives up, do they see this CODEX_HOME; and the guard against nesting."""
    home = codex_home()
    config = mcpentries.effective_config(home, cwd=cwd or os.getcwd())
    checks: list[Check] = []
    depth = nesting.current_depth()
    if depth > settings.max_nesting:
        checks.append(
            Check(
                "nesting",
                "warn",
                f"this runs inside a Codex session that codex-mcp started (depth {depth}): a codex-mcp server started "
                f"here refuses to start Codex (CODEX_MCP_MAX_NESTING={settings.max_nesting})",
            )
        )
    elif depth:
        checks.append(Check("nesting", "ok", f"depth {depth}, allowed by CODEX_MCP_MAX_NESTING={settings.max_nesting}"))
    entries = mcpentries.self_entries(config)
    if not entries:
        checks.append(
            Check("codex mcp client", "ok", f"Codex's config ({home / 'config.toml'}) does not register codex-mcp")
        )
        return checks
    servers = mcpentries.servers(config)
    for entry in entries:
        checks += registration_checks(entry.name, servers[entry.name], settings)
    return checks


def registration_checks(name: str, entry: Mapping[str, object], settings: Settings) -> list[Check]:
    """What an entry of Codex's config that starts codex-mcp needs to work as the README says."""
    what = f"codex mcp client [mcp_servers.{name}]"
    checks: list[Check] = []
    tools = entry.get("tools")
    default_mode = entry.get("default_tools_approval_mode", "auto")

    def mode(tool: str) -> object:
        table = tools.get(tool) if isinstance(tools, dict) else None
        return table.get("approval_mode", default_mode) if isinstance(table, dict) else default_mode

    asking = [tool for tool in ("codex_start", "codex_reply") if mode(tool) != "approve"]
    if asking:
        checks.append(
            Check(
                what,
                "warn",
                f"Codex asks before every {' and '.join(asking)} call, and under `codex exec` such calls fail with "
                f'"MCP tool call requires approval": add [mcp_servers.{name}.tools.codex_start] approval_mode = '
                '"approve" (and the same for codex_reply), as in the README, unless you want to be asked in the TUI',
            )
        )
    else:
        checks.append(Check(what, "ok", "codex_start and codex_reply run without asking (read-only tools never ask)"))
    if entry.get("required") is not True:
        checks.append(
            Check(
                what,
                "warn",
                "not `required = true`: `codex exec` waits about 1 s for optional MCP servers and codex-mcp takes "
                "1-2 s to start, so its tools may be missing from the first turn",
            )
        )
    server_timeout = _server_timeout(entry)
    raw = entry.get("tool_timeout_sec", CODEX_TOOL_TIMEOUT_S)
    tool_timeout = float(raw) if isinstance(raw, int | float) else CODEX_TOOL_TIMEOUT_S
    if tool_timeout < server_timeout + 10:
        checks.append(
            Check(
                what,
                "warn",
                f"tool_timeout_sec {tool_timeout:g} leaves no room over codex-mcp's own timeout "
                f"({server_timeout:g} s): Codex would abandon calls that codex-mcp answers in time. Set it to "
                f"{server_timeout + 30:g} or more",
            )
        )
    else:
        checks.append(
            Check(what, "ok", f"tool_timeout_sec {tool_timeout:g} > codex-mcp's timeout {server_timeout:g} s")
        )
    env = entry.get("env")
    env_vars = entry.get("env_vars")
    passed = (isinstance(env, dict) and "CODEX_HOME" in env) or (
        isinstance(env_vars, list)
        and any(v == "CODEX_HOME" or (isinstance(v, dict) and v.get("name") == "CODEX_HOME") for v in env_vars)
    )
    ours = os.environ.get("CODEX_HOME")
    if not passed and ours and Path(ours).expanduser() != Path.home() / ".codex":
        checks.append(
            Check(
                what,
                "warn",
                f"CODEX_HOME is {ours}, but Codex does not pass it to MCP servers: this codex-mcp would use ~/.codex. "
                'Add env_vars = ["CODEX_HOME"] to the entry',
            )
        )
    checks.append(
        Check(
            what,
            "ok",
            "turned off in the Codex sessions codex-mcp starts, so they never start codex-mcp again"
            if settings.max_nesting == 0
            else f"left on in the Codex sessions codex-mcp starts (CODEX_MCP_MAX_NESTING={settings.max_nesting})",
        )
    )
    return checks


def _server_timeout(entry: Mapping[str, object]) -> float:
    """The default timeout_s of the codex-mcp this entry starts: its --timeout, else the CODEX_MCP_TIMEOUT_S of its
    `env` (Codex passes it no other environment), else the default."""
    args = entry.get("args")
    words = [a for a in args if isinstance(a, str)] if isinstance(args, list) else []
    for i, word in enumerate(words):
        value = word.partition("=")[2] if word.startswith("--timeout=") else None
        if word == "--timeout" and i + 1 < len(words):
            value = words[i + 1]
        if value is not None:
            try:
                return float(value)
            except ValueError:
                break
    env = entry.get("env")
    value = env.get("CODEX_MCP_TIMEOUT_S") if isinstance(env, dict) else None
    try:
        return float(value) if isinstance(value, str | int | float) else DEFAULT_TIMEOUT_S
    except ValueError:
        return DEFAULT_TIMEOUT_S


_WINDOWS_SANDBOX_FEATURES = ("elevated_windows_sandbox", "experimental_windows_sandbox")


def check_windows_sandbox(config: Mapping[str, object]) -> list[Check]:
    """Codex on Windows has no sandbox backend unless its config chooses one (`[windows] sandbox`, read from Codex's
    source): without it a conversation asked for workspace-write runs read-only, and its edits fail."""
    table = config.get("windows")
    chosen = table.get("sandbox") if isinstance(table, Mapping) else None
    if chosen in ("elevated", "unelevated"):
        return [Check("windows sandbox", "ok", f"Codex's Windows sandbox: {chosen}")]
    features = config.get("features")
    flags = [f for f in _WINDOWS_SANDBOX_FEATURES if isinstance(features, Mapping) and features.get(f) is True]
    if flags:  # the older way to turn it on, still read by Codex (WindowsSandboxLevel::from_features)
        return [Check("windows sandbox", "ok", f"Codex's Windows sandbox: on ([features] {flags[0]})")]
    return [
        Check(
            "windows sandbox",
            "warn",
            "Codex's config chooses no Windows sandbox, so conversations started with sandbox workspace-write run "
            'read-only (their edits fail): add [windows] sandbox = "unelevated" (or "elevated", which asks for '
            "administrator rights once) to config.toml, or start them with sandbox danger-full-access",
        )
    ]


def _codex_config() -> Mapping[str, object]:
    """Codex's config.toml as a table; empty when missing or broken (check_codex_home reports that)."""
    try:
        with (codex_home() / "config.toml").open("rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        return {}


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(await reader.readline())
    await writer.drain()
    writer.close()


async def check_control_channel(settings: Settings) -> list[Check]:
    """The channel `codex-mcp ls` and `attach` use: an endpoint of doctor's own, listened on and reached the way a
    server's is (in the state dir when it exists, else in a temporary folder), and the servers that answer."""
    kind = "a named pipe, secret-checked" if sys.platform == "win32" else "a Unix socket, owner-only"
    with tempfile.TemporaryDirectory(prefix="codex-mcp-doctor-") as spare:
        where = settings.state_dir if settings.state_dir.is_dir() else Path(spare)
        try:
            listener = await transport.listen(where, _echo, limit=1 << 16)
            try:
                reader, writer = await transport.connect(listener.endpoint, limit=1 << 16)
                writer.write(frame({"op": "doctor"}))
                answer = await asyncio.wait_for(reader.readline(), 5)
                writer.close()
            finally:
                await listener.close()
        except (OSError, TimeoutError) as exc:
            return [
                Check(
                    "control channel",
                    "fail",
                    f"cannot listen and connect in {transport.control_dir(where)} ({exc or type(exc).__name__}): "
                    "`codex-mcp ls` and `attach` will not reach sessions; check that folder's owner and permissions",
                )
            ]
    if answer != frame({"op": "doctor"}):
        return [Check("control channel", "fail", f"{kind} answered {answer!r} instead of the line sent")]
    running = len(transport.endpoints(settings.state_dir))
    return [Check("control channel", "ok", f"works ({kind}); servers on this state dir: {running}")]


async def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order a person would fix things."""
    return [
        *(await check_codex(settings)),
        *check_codex_home(),
        *check_rollouts(),
        *check_pty(),
        *check_state_dir(settings),
        *(check_windows_sandbox(_codex_config()) if sys.platform == "win32" else []),
        *(await check_control_channel(settings)),
        *check_codex_client(settings),
    ]


async def check_start_screens(settings: Settings) -> list[Check]:
    """Open a real Codex session with the user's own configuration, as codex_start would (no prompt is sent, so no
    model call), and report a screen that keeps it from its composer: a login, a dialog, a prompt new to us."""
    from ..conversations.deadline import Deadline
    from ..conversations.launcher import Launcher
    from ..errors import CodexStartFailed

    # The launcher a server would use, in a folder of its own (a first start there, like a new project's).
    launcher = Launcher(settings, os.environ)
    with tempfile.TemporaryDirectory(prefix="codex-mcp-doctor-") as cwd:
        try:
            plan = launcher.plan_new(LaunchOptions(cwd=cwd))
        except CodexNotFound as exc:
            return [Check("start-up", "fail", str(exc))]
        notices = plan.notices
        try:
            session = await launcher.launch(plan, Deadline.after(settings.start_timeout_s))
        except CodexStartFailed as exc:
            return [Check("start-up", "fail", str(exc).replace("\n", "\n      "))]
        await session.end("doctor")
    found = [Check("start-up", "ok", "a real Codex session reached its composer with your configuration")]
    # The model migration prompt a person sees in their own terminal: codex-mcp's sessions keep the configured model.
    found += [
        Check("start-up", "ok", f"model migration prompt kept away from codex-mcp's sessions: {n}") for n in notices
    ]
    return found


def doctor(settings: Settings, *, e2e: bool = False) -> int:
    """Print the checks (and, with e2e, run the demo on the built-in fake model); 0 if healthy."""
    checks = asyncio.run(run_checks(settings))
    for check in checks:
        print(check.line())
    healthy = all(c.level != "fail" for c in checks)
    if e2e and not any(c.name in ("codex", "pty") and c.level == "fail" for c in checks):
        from .demo import fake_codex_home, run_demo

        print("start-up: a real Codex session with your configuration (no prompt sent)")
        screens = asyncio.run(check_start_screens(settings))
        for check in screens:
            print(check.line())
        healthy &= all(c.level != "fail" for c in screens)

        print("end-to-end: a short conversation on the built-in fake model")
        with fake_codex_home():
            ok = asyncio.run(run_demo(settings, fake_model=True, cwd=os.getcwd(), say=lambda s: print("  " + s)))
        outcome = "the server drove Codex through a conversation" if ok else "see above"
        print(f"{'OK' if ok else 'FAIL':<5} end-to-end: {outcome}")
        healthy &= ok
    print("healthy" if healthy else "problems found: fix the FAIL lines above")
    return 0 if healthy else 1
