"""Starting Codex for a conversation: which Codex (its binary and version), the argv a conversation's settings
make (codex-mcp's own MCP entries turned off, Codex's one-off start-up screens answered), the environment every
session gets, and the start-up bound. The manager decides when; this knows how."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import cast

from ..codex import mcpentries, nesting
from ..codex.argv import check_name, model_upgrades, new_session_argv, resume_argv
from ..codex.binary import CodexBinary, codex_env, codex_version, find_codex
from ..codex.rollout import codex_home
from ..codex.settings import LaunchOptions
from ..codex.versions import RECOMMENDED_VERSION, SUPPORTED_VERSIONS, version_support
from ..config import Settings
from ..errors import CodexNotFound
from ..session.session import Session, start_session

log = logging.getLogger(__name__)

MIN_START_S = 10.0
"""The least a start-up may take whatever the call's timeout_s: a first start in a new CODEX_HOME takes ~4 s."""


def start_screens(home: Path, options: LaunchOptions) -> tuple[dict[str, str], list[str]]:
    """The model migrations Codex's catalog offers (answered "keep the configured model" by a ``-c`` override,
    so the prompt never shows: notice_override), and what to tell the client about the one that concerns a
    session with these options.

    The catalog is the config's `model_catalog_json` file, else Codex's cache of the provider's /models
    (`$CODEX_HOME/models_cache.json`); either missing or unreadable means no migration is known, and should Codex
    show the prompt anyway, start-up fails at once saying so (read_screen)."""
    for what, name in (("model", options.model), ("profile", options.profile)):
        if name:
            check_name(what, name)  # before a profile name becomes a file name (a NUL byte would raise)
    config = mcpentries.effective_config(home, cwd=options.cwd, profile=options.profile, config=options.config)
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


class Launcher:
    """Starts Codex sessions with the server's settings and environment."""

    def __init__(self, settings: Settings, env: Mapping[str, str] | None = None, *, depth: int = 0) -> None:
        self.settings = settings
        self.depth = depth
        self.env = codex_env(env)
        # A codex-mcp started inside a session of ours finds this on its parent Codex (nesting.py).
        self.env[nesting.DEPTH_ENV] = str(depth + 1)
        self.codex_home = codex_home(self.env)
        self.codex_version: str | None = None
        self.starting = 0
        """Sessions being started now (they count toward the cap before they are live)."""
        self._turned_off: set[str] = set()

    async def check_codex(self) -> None:
        """Find the Codex we will run and its version, and say in the log where it stands in the supported window.
        A missing Codex is logged, not fatal: every tool call then says how to install it."""
        try:
            binary = find_codex(self.settings.codex_bin).path
        except CodexNotFound as exc:
            log.warning("%s", exc)
            return
        self.codex_version = await codex_version(binary, self.env)
        support = version_support(self.codex_version)
        if support == "supported":
            log.info("using Codex %s at %s", self.codex_version, binary)
            return
        log.warning(
            "Codex %s at %s is %s: codex-mcp supports %s to %s (`npm install -g @openai/codex@%s`); it may still work",
            self.codex_version,
            binary,
            support.replace("_", " "),
            SUPPORTED_VERSIONS[0],
            SUPPORTED_VERSIONS[-1],
            RECOMMENDED_VERSION,
        )

    def own_entries(self, options: LaunchOptions) -> list[mcpentries.Entry]:
        """The entries of Codex's config for this session that would start codex-mcp again inside it; none when
        nesting one level deeper is allowed on purpose (Settings.max_nesting)."""
        if self.depth + 1 <= self.settings.max_nesting:
            return []
        config = mcpentries.effective_config(
            self.codex_home, cwd=options.cwd, profile=options.profile, config=options.config
        )
        found = mcpentries.self_entries(config, self.env)
        new = sorted({e.name for e in found} - self._turned_off)
        if new:
            log.info("Codex's config registers codex-mcp (%s): turned off in the sessions we start", ", ".join(new))
            self._turned_off.update(new)
        return found

    def screens(self, options: LaunchOptions) -> tuple[dict[str, str], list[str]]:
        """The model migrations Codex offers and what to tell the client (start_screens)."""
        return start_screens(self.codex_home, options)

    def new_argv(
        self, binary: CodexBinary, options: LaunchOptions, upgrades: Mapping[str, str] | None = None
    ) -> list[str]:
        """argv for a new session with these settings."""
        return new_session_argv(binary.path, options, self.own_entries(options), upgrades)

    def resume_argv(
        self,
        binary: CodexBinary,
        thread_id: str,
        options: LaunchOptions,
        upgrades: Mapping[str, str] | None = None,
    ) -> list[str]:
        """argv that resumes a thread with the conversation's settings re-applied."""
        return resume_argv(binary.path, thread_id, options, self.own_entries(options), upgrades)

    async def launch(self, argv: list[str], cwd: str, binary: CodexBinary, timeout: float | None = None) -> Session:
        """Start Codex with argv in cwd and wait for its composer (start_session), within the start-up bound."""
        self.starting += 1
        try:
            return await start_session(
                argv,
                cwd,
                env={**self.env, **binary.env},
                codex_home=self.codex_home,
                rows=self.settings.rows,
                cols=self.settings.cols,
                # Start-up has its own bound (without a conversationId there is nothing to return early), held to
                # the call's own timeout; never below MIN_START_S, the time a first start in a new CODEX_HOME can
                # take. A screen that is neither the composer nor a known dialog fails sooner (session.start_session).
                timeout=min(self.settings.start_timeout_s, max(timeout or 0.0, MIN_START_S)),
                grace_s=self.settings.end_grace_s,
            )
        finally:
            self.starting -= 1
