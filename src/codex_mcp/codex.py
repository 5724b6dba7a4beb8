"""How Codex is launched and read: argv for new sessions, ``-c`` overrides, prompt encoding, and what the
TUI's screen says (ready, thread id, blocking dialogs). Facts verified against every Codex in
SUPPORTED_VERSIONS (see docs/compatibility.md; tests/test_codex_contract.py and the golden fixtures in
tests/fixtures/codex/ notice when Codex changes)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

from . import mcpentries
from .errors import CodexNotFound, InvalidInput
from .mcpentries import Entry

SUPPORTED_VERSIONS: tuple[str, ...] = ("0.169.0", "0.171.0")
"""The supported window: Codex releases the whole test suite passes on, oldest first (0.170 was never published).
Its ends bound the window; see version_support."""
RECOMMENDED_VERSION = "0.171.0"
"""The one to install: scripts/setup.sh pins it, and install hints name it."""
TESTED_VERSIONS = SUPPORTED_VERSIONS
"""The old name of SUPPORTED_VERSIONS, kept for callers not yet moved to version_support."""

VersionSupport = Literal["supported", "newer_untested", "older_unsupported", "unknown"]
_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?")


def version_key(version: str) -> tuple[int, int, int, int] | None:
    """A sortable key for a version like '0.171.0' (semver order: a pre-release such as '0.171.0-alpha.2'
    comes just before its release; build metadata after '+' is ignored), or None if it is not one."""
    m = _VERSION_RE.fullmatch(version.strip())
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), 0 if m.group(4) else 1


def version_support(version: str | None) -> VersionSupport:
    """Where a Codex version stands against the supported window, comparing numerically (0.99.0 < 0.171.0).

    The window is the closed range from the oldest to the newest of SUPPORTED_VERSIONS: a release inside it
    that we did not test by itself (a patch release such as 0.169.1) counts as supported, since what we rely
    on holds at both ends. Newer than the window: newer_untested (it probably works; docs/compatibility.md
    says how to check and add it). Older: older_unsupported (it may lack flags or screens we depend on).
    No version, or one we cannot read: unknown."""
    key = version_key(version) if version else None
    if key is None:
        return "unknown"
    window = sorted(k for k in map(version_key, SUPPORTED_VERSIONS) if k is not None)
    if key < window[0]:
        return "older_unsupported"
    if key > window[-1]:
        return "newer_untested"
    return "supported"


Sandbox = Literal["read-only", "workspace-write", "danger-full-access"]
ApprovalPolicy = Literal["on-request", "never"]
Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]
"""Codex's reasoning effort (`model_reasoning_effort`); which ones a model accepts is the model's business."""
JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]

UUID_RE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_CONFIG_KEY_RE = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")

# The footer shows the full thread UUID and the run state from start-up; that is how we learn
# Codex's own thread id before the rollout file exists.
STATUS_LINE_OVERRIDE = 'tui.status_line=["thread-id","model-name","run-state"]'

# Keys we set ourselves; a client override of these would break how we drive Codex.
RESERVED_CONFIG_KEYS = ("tui.status_line", "projects")


@dataclass(frozen=True)
class LaunchOptions:
    """The per-conversation settings a client may choose."""

    cwd: str
    model: str | None = None
    profile: str | None = None
    sandbox: Sandbox | None = None
    approval_policy: ApprovalPolicy | None = None
    config: Mapping[str, JsonValue] = field(default_factory=dict)
    effort: Effort | None = None


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


def _toml_string(text: str) -> str:
    """A TOML basic string. JSON string syntax is TOML's, given non-ASCII stays literal (JSON's surrogate-pair
    escapes are invalid TOML) and DEL is escaped (TOML forbids it raw)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("config strings must be valid Unicode text (no lone surrogates)") from None
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: JsonValue) -> str:
    """Render a JSON value as the TOML that ``codex -c key=value`` parses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput("config values must be finite numbers")
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise InvalidInput("config values cannot be null; leave the key out instead")


_MAX_ARG = 128 * 1024 - 1  # the kernel's limit for one argument (MAX_ARG_STRLEN, with its NUL)
_MAX_CONFIG = 512 * 1024  # all overrides together, well under ARG_MAX with the environment


def config_overrides(config: Mapping[str, JsonValue]) -> list[str]:
    """Validated ``-c`` arguments for the client's config overrides."""
    args: list[str] = []
    total = 0
    for key, value in config.items():
        if not _CONFIG_KEY_RE.fullmatch(key):
            raise InvalidInput(
                f"config key {key!r} is not a dotted Codex config path (letters, digits, _ and - "
                "separated by dots), e.g. 'model_reasoning_effort'"
            )
        if any(key == r or key.startswith(r + ".") or r.startswith(key + ".") for r in RESERVED_CONFIG_KEYS):
            raise InvalidInput(f"config key {key!r} is set by codex-mcp itself and cannot be overridden")
        arg = f"{key}={toml_value(value)}"
        size = len(arg.encode())
        total += size
        if size > _MAX_ARG or total > _MAX_CONFIG:
            raise InvalidInput(
                f"config value for {key!r} is too large to pass to Codex ({size} bytes; one value may be at most "
                f"{_MAX_ARG}, all together {_MAX_CONFIG}): put large settings in a Codex profile instead"
            )
        args += ["-c", arg]
    return args


def check_name(what: str, value: str) -> str:
    """A model or profile name that can go into argv: printable, no control characters, valid Unicode."""
    if any(c < " " or "\x7f" <= c <= "\x9f" for c in value) or len(value) > 200:
        raise InvalidInput(f"{what} {value[:80]!r} is not a valid name (printable text, at most 200 characters)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{what} must be valid Unicode text") from None
    return value


def disable_entries(entries: Sequence[Entry], config: Mapping[str, JsonValue]) -> list[str]:
    """``-c`` flags that turn these MCP server entries off for one Codex session, placed after the client's own
    overrides (``config``) so they win.

    Each entry keeps its command: Codex refuses to start on an entry without one ("invalid transport"), so an
    entry we found but Codex does not load (an untrusted project folder's) must still be a valid one. Codex splits
    ``-c`` keys on every dot with no quoting, so a name like ``my.server`` cannot be a dotted key: then one
    ``mcp_servers={...}`` table carries every entry, together with the client's own ``mcp_servers`` overrides
    (it replaces them in Codex's override layer)."""
    if not entries:
        return []
    if all(e.plain_name for e in entries):
        return [
            arg
            for e in entries
            for arg in ("-c", f"mcp_servers.{e.name}={toml_value({'command': e.command, 'enabled': False})}")
        ]
    layer = mcpentries.override_layer(config).get("mcp_servers")
    table = cast(dict[str, JsonValue], dict(layer) if isinstance(layer, dict) else {})
    for e in entries:
        table[e.name] = {"command": e.command, "enabled": False}
    return ["-c", f"mcp_servers={toml_value(table)}"]


# --- one-off screens a person answers in their own terminal -------------------------------------

# Codex 0.169-0.171 keep these `[notice]` switches (codex-rs/core config `Notice`; the TUI checks them before it
# shows the screen): the full-access and world-writable (Windows) warnings, the nudge to switch to a cheaper model
# when rate limits run low (it can open mid-conversation, where our next paste would land in it), the old GPT-5.1
# migration prompts and the government-cloud guidance. Two keys hold dots, which `-c` cannot address one by one.
_HIDDEN_NOTICES = (
    "hide_full_access_warning",
    "hide_world_writable_warning",
    "hide_rate_limit_model_nudge",
    "hide_gpt5_1_migration_prompt",
    "hide_gpt-5.1-codex-max_migration_prompt",
    "hide_gov_cloud_guidance",
)


def model_upgrades(catalog: object) -> dict[str, str]:
    """Which model the catalog offers in place of which: {configured slug: upgrade slug}. ``catalog`` is the JSON
    of a `model_catalog_json` file or of `$CODEX_HOME/models_cache.json` (both hold ``models``, a ModelInfo list
    whose ``upgrade`` is ``{"model": slug, ...}``, or a plain slug in some releases)."""
    models = catalog.get("models") if isinstance(catalog, dict) else None
    found: dict[str, str] = {}
    for info in models if isinstance(models, list) else []:
        if not isinstance(info, dict) or not isinstance(info.get("slug"), str):
            continue
        upgrade = info.get("upgrade")
        target = upgrade.get("model") if isinstance(upgrade, dict) else upgrade
        if isinstance(target, str) and target and target != info["slug"]:
            found[info["slug"]] = target
    return found


def notice_override(upgrades: Mapping[str, str]) -> list[str]:
    """One ``-c notice={...}`` that keeps Codex's one-off screens away from our sessions: the switches above, and
    every model migration the catalog offers marked as already seen (``notice.model_migrations``: Codex shows the
    "Try new model / Use existing model" prompt unless it maps the configured model to that exact target). The
    inline table merges with the user's `[notice]` in config.toml, which Codex never sees changed; answering the
    prompt instead would make Codex write the choice there."""
    table: dict[str, JsonValue] = {key: True for key in _HIDDEN_NOTICES}
    if upgrades:
        table["model_migrations"] = dict(upgrades)
    return ["-c", f"notice={toml_value(table)}"]


def session_args(
    options: LaunchOptions, disabled: Sequence[Entry] = (), upgrades: Mapping[str, str] | None = None
) -> list[str]:
    """The flags every Codex session of ours gets, new or resumed (no shell quoting: argv items). ``disabled``:
    MCP server entries of Codex's config that run codex-mcp itself, turned off for this session. ``upgrades``: the
    model migrations Codex's catalog offers (model_upgrades), answered "keep the configured model"."""
    args = ["--no-daemon"]
    if options.model:
        args += ["-m", check_name("model", options.model)]
    if options.profile:
        args += ["-p", check_name("profile", options.profile)]
    if options.sandbox:
        args += ["-s", options.sandbox]
    if options.approval_policy:
        args += ["-a", options.approval_policy]
    # No TUI animations: start-up to a ready composer is ~0.3 s shorter and every turn repaints less (measured
    # in docs/benchmarks.md); replies are the same. Before the client's overrides, so they can turn it back on.
    args += ["-c", "tui.animations=false"]
    # Before the client's overrides too: a client's own notice.* settings apply on top.
    args += notice_override(upgrades or {})
    args += config_overrides(options.config)
    if options.effort:  # after the client's config, so the effort parameter wins over a config entry
        args += ["-c", f"model_reasoning_effort={toml_value(options.effort)}"]
    # After the client's overrides, so a Codex we start never starts codex-mcp again (mcpentries.py says why).
    args += disable_entries(disabled, options.config)
    trust: dict[str, JsonValue] = {options.cwd: {"trust_level": "trusted"}}
    args += [
        "-c",
        STATUS_LINE_OVERRIDE,
        # Trust the requested folder for this session only, so the trust dialog never shows; the
        # inline-table form merges with config.toml and works for any path.
        "-c",
        f"projects={toml_value(trust)}",
        "-c",
        "check_for_update_on_startup=false",
        "-C",
        options.cwd,
    ]
    return args


def new_session_argv(
    binary: str, options: LaunchOptions, disabled: Sequence[Entry] = (), upgrades: Mapping[str, str] | None = None
) -> list[str]:
    """argv for a new interactive Codex session."""
    return [binary, *session_args(options, disabled, upgrades)]


def resume_argv(
    binary: str,
    thread_id: str,
    options: LaunchOptions,
    disabled: Sequence[Entry] = (),
    upgrades: Mapping[str, str] | None = None,
) -> list[str]:
    """argv that reopens an existing thread with the conversation's original settings re-applied."""
    return [binary, "resume", thread_id, *session_args(options, disabled, upgrades)]


def codex_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for Codex: ours passed through (CODEX_HOME, API keys...), with a terminal type
    the TUI knows."""
    env = dict(os.environ if base is None else base)
    env["TERM"] = "xterm-256color"
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    return env


# --- prompts ---------------------------------------------------------------------------------

PASTE_START = b"\x1b[200~"
PASTE_END = b"\x1b[201~"
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def sanitize_prompt(text: str) -> str:
    """The prompt as Codex will receive it: line breaks normalised, control characters (ESC, C0, DEL,
    C1) removed, surrounding whitespace trimmed (as Codex does). Raises InvalidInput if nothing is left."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_RE.sub("", text).strip()
    text = _SURROGATE_RE.sub("\ufffd", text)  # lone surrogates (possible in JSON) cannot be sent as UTF-8
    if not text:
        raise InvalidInput("prompt is empty (after removing whitespace and control characters): send some text")
    return text


def encode_prompt(text: str) -> bytes:
    """Bytes that submit text as one bracketed paste, so it is data and never keystrokes.

    - no ESC or control byte survives, so nothing can end the paste early or press a key;
    - a leading space keeps a leading ``/`` or ``!`` from running a slash command or a shell command;
    - a trailing newline keeps the cursor out of a trailing ``$skill`` / ``@file`` mention, whose popup
      would otherwise take the Enter;
    Codex trims the added whitespace before sending, so the model gets exactly sanitize_prompt(text).
    """
    clean = sanitize_prompt(text)
    if clean[0] in "/!":
        clean = " " + clean
    return PASTE_START + (clean + "\n").encode("utf-8") + PASTE_END + b"\r"


def encode_images(paths: Sequence[str]) -> bytes:
    """Bytes that attach images to the next prompt as a person does: each path pasted on its own, which Codex's
    composer recognises as an image file and turns into an attachment (the paths were checked: images.py)."""
    return b"".join(PASTE_START + path.encode("utf-8") + PASTE_END for path in paths)


TITLE_CHARS = 60


def thread_title(prompt: str) -> str:
    """A thread name taken from a prompt: its words on one line, at most TITLE_CHARS characters (cut at a word,
    with an ellipsis); what Codex's resume picker shows instead of a title the model wrote."""
    words = " ".join(_CONTROL_RE.sub(" ", prompt).split())
    if len(words) <= TITLE_CHARS:
        return words
    cut = words[: TITLE_CHARS - 1]
    if " " in cut[TITLE_CHARS // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"


def rename_keys(title: str) -> bytes:
    """Bytes that run ``/rename <title>`` in the composer (pasted, so the title is data: control characters are
    gone, and one line). A thread named before its first prompt gets no title request from Codex: the TUI asks the
    model for one only while the thread has no name (0.169-0.171, thread_routing.rs)."""
    return PASTE_START + b"/rename " + thread_title(title).encode("utf-8") + PASTE_END + b"\r"


QUIT_KEYS = PASTE_START + b"/quit" + PASTE_END + b"\r"
"""Codex's own way out: /quit exits in well under 0.1 s."""

INTERRUPT_KEY = b"\x1b"


def is_activity_line(line: str) -> bool:
    """Codex's line that says it is working, with its ticking timer ("Working (12s • esc to interrupt)")."""
    return "esc to interrupt" in line and not UUID_RE.search(line)


def quit_steps(run_state: str | None) -> list[tuple[float, bytes]]:
    """How to make Codex exit from where it is: (delay in seconds, keys) to send in turn. A running turn or a
    dialog would take /quit as text; Esc first returns to the composer."""
    if run_state in ("working", "blocked"):
        return [(0.0, INTERRUPT_KEY), (0.2, QUIT_KEYS)]
    return [(0.0, QUIT_KEYS)]


# --- reading the screen ------------------------------------------------------------------------

RunState = Literal["idle", "working", "done", "blocked", "error"]


def parse_run_state(osc_data: str) -> tuple[str, dict[str, str]]:
    """Split OSC 7501 data like 'state=blocked:app=codex:kind=permission' into ('blocked', {...})."""
    fields: dict[str, str] = {}
    for part in osc_data.split(":"):
        key, _, value = part.partition("=")
        fields[key] = value
    return fields.get("state", ""), fields


@dataclass(frozen=True)
class ScreenFacts:
    """What the TUI shows right now."""

    ready: bool
    thread_id: str | None
    footer_state: str | None
    blocker: str | None


_BLOCKERS = (
    ("trust this folder", "Codex asks whether to trust this folder"),
    ("do you trust", "Codex asks whether to trust this folder"),
    ("sign in with chatgpt", "Codex is not logged in: run `codex login` or configure an API key"),
    ("open in another app", "this conversation is open in another Codex window"),
    ("welcome to codex", "Codex shows its first-run onboarding: run `codex` once by hand"),
    (
        "use existing model",
        "Codex offers a newer model and waits for a choice (codex-mcp could not tell which from Codex's model "
        "catalog): run `codex` once by hand and answer it, or pass model= to codex_start",
    ),
)

UNKNOWN_SCREEN_HINT = (
    "run `codex-mcp doctor --e2e` to see the screens Codex shows at start-up, and report this screen if it is new"
)


def read_screen(lines: Sequence[str]) -> ScreenFacts:
    """Find the composer, the status-line footer (thread id, run state) and any blocking dialog."""
    composer = any(line.startswith("› ") or line == "›" for line in lines)
    thread_id = None
    footer_state = None
    for line in reversed(lines):
        m = UUID_RE.search(line)
        if m and "·" in line:
            thread_id = m.group(0)
            footer_state = line.rsplit("·", 1)[-1].strip() or None
            break
    blocker = None
    lowered = "\n".join(lines).lower()
    for needle, meaning in _BLOCKERS:
        if needle in lowered:
            blocker = meaning
            break
    return ScreenFacts(composer and thread_id is not None, thread_id, footer_state, blocker)
