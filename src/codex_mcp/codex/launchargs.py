"""What a Codex start is made of, from a conversation's settings and the config they make (read once): the argv
of a new, resumed or review session, with codex-mcp's own MCP entries turned off and Codex's model-migration
screen answered, and what to tell the client about that screen. Pure: it reads config files, runs nothing."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from . import mcpentries
from .argv import app_server_argv, check_name, disable_entries, model_upgrades, new_session_argv, resume_argv
from .review import ReviewTarget, focus_instructions, review_argv
from .settings import LaunchOptions


@dataclass(frozen=True)
class LaunchArgs:
    """A start's argv, what to tell the client about it, and codex-mcp's own entries it turns off."""

    argv: list[str]
    notices: list[str]
    own: list[mcpentries.Entry]


def session_config(home: Path, options: LaunchOptions) -> mcpentries.Table:
    """The config a session with these options ends up with; the model and profile names are checked first
    (before a profile name becomes a file name: a NUL byte would raise)."""
    for what, name in (("model", options.model), ("profile", options.profile)):
        if name:
            check_name(what, name)
    return mcpentries.effective_config(home, cwd=options.cwd, profile=options.profile, config=options.config)


def session_args(
    binary: str,
    home: Path,
    options: LaunchOptions,
    env: Mapping[str, str],
    *,
    thread_id: str | None = None,
    keep_own: bool = False,
) -> LaunchArgs:
    """A TUI session with these settings: new, or resuming thread_id. keep_own: leave codex-mcp's own entries on
    (nesting one level deeper is allowed on purpose)."""
    config = session_config(home, options)
    upgrades, notices = start_upgrades(home, options, config)
    own = [] if keep_own else mcpentries.self_entries(config, env)
    if thread_id is None:
        argv = new_session_argv(binary, options, own, upgrades)
    else:
        argv = resume_argv(binary, thread_id, options, own, upgrades)
    return LaunchArgs(argv, notices, own)


def review_args(
    binary: str,
    home: Path,
    target: ReviewTarget,
    options: LaunchOptions,
    env: Mapping[str, str],
    focus: str | None,
    *,
    keep_own: bool = False,
) -> LaunchArgs:
    """`codex review` of the target (review.py says why not the TUI's /review); focus: what to look at."""
    config = session_config(home, options)
    own = [] if keep_own else mcpentries.self_entries(config, env)
    developer = None
    if focus:
        # A -c developer_instructions replaces the config's own: keep the user's in front of the focus.
        existing = config.get("developer_instructions")
        developer = focus_instructions(focus, existing if isinstance(existing, str) else None)
    argv = review_argv(
        binary,
        target,
        model=options.model,
        effort=options.effort,
        developer_instructions=developer,
        extra=disable_entries(own, {}),
    )
    return LaunchArgs(argv, [], own)


def start_upgrades(
    home: Path, options: LaunchOptions, config: Mapping[str, object]
) -> tuple[dict[str, str], list[str]]:
    """The model migrations Codex's catalog offers (answered "keep the configured model" by a ``-c`` override,
    so the prompt never shows: notice_override), and what to tell the client about the one that concerns a
    session with these options.

    The catalog is the config's `model_catalog_json` file, else Codex's cache of the provider's /models
    (`$CODEX_HOME/models_cache.json`); either missing or unreadable means no migration is known, and should Codex
    show the prompt anyway, start-up fails at once saying so (read_screen)."""
    named = config.get("model_catalog_json")
    path = Path(os.path.expanduser(named)) if isinstance(named, str) and named else home / "models_cache.json"
    if not path.is_absolute():
        path = home / path
    try:
        upgrades = model_upgrades(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        upgrades = {}
    model = options.model
    profiles = config.get("profiles")
    if model is None and options.profile and isinstance(profiles, dict):
        chosen = profiles.get(options.profile)
        if isinstance(chosen, dict) and isinstance(chosen.get("model"), str):
            model = chosen["model"]
    if model is None and isinstance(config.get("model"), str):
        model = cast(str, config["model"])
    notices = []
    if model is not None and model in upgrades:
        notices.append(
            f"Codex offers a newer model, {upgrades[model]}, in place of {model}. This conversation keeps "
            f"{model}; to use the newer one, start a conversation with model={upgrades[model]!r}."
        )
    return upgrades, notices


def app_server_args(
    binary: str, home: Path, options: LaunchOptions, env: Mapping[str, str], *, keep_own: bool = False
) -> LaunchArgs:
    """Codex's app-server for a thread operation on a conversation with these settings (fork, revert)."""
    config = session_config(home, options)
    own = [] if keep_own else mcpentries.self_entries(config, env)
    return LaunchArgs(app_server_argv(binary, options, own), [], own)
