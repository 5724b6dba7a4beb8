"""The argv of a Codex session: flags for a conversation's settings, validated ``-c`` overrides (TOML values),
the MCP entries turned off, Codex's one-off start-up screens kept away."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import cast

from pydantic import JsonValue

from ..errors import InvalidInput
from . import mcpentries
from .mcpentries import Entry
from .settings import LaunchOptions

_CONFIG_KEY_RE = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")

# The footer shows the full thread UUID and the run state from start-up; that is how we learn
# Codex's own thread id before the rollout file exists.
STATUS_LINE_OVERRIDE = 'tui.status_line=["thread-id","model-name","run-state"]'

# Keys we set ourselves; a client override of these would break how we drive Codex.
RESERVED_CONFIG_KEYS = ("tui.status_line", "projects")


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


def app_server_argv(binary: str, options: LaunchOptions, disabled: Sequence[Entry] = ()) -> list[str]:
    """argv of Codex's app-server for one thread operation (appserver.py): the client's config overrides and
    codex-mcp's own entries turned off, as in a session (it starts a thread's MCP servers when it loads one)."""
    return [
        binary,
        "app-server",
        *config_overrides(options.config),
        *disable_entries(disabled, options.config),
        "-c",
        "check_for_update_on_startup=false",
    ]
