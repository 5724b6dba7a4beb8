"""Starting Codex for a conversation: which Codex (its binary and version), the plan a launch follows (the argv a
conversation's settings make, codex-mcp's own MCP entries turned off, Codex's one-off start-up screens answered,
the environment every session gets), and the one place that starts it, within the start-up bound. New
conversations, revival, reviews, spares and `doctor` each choose a plan here; none assembles argv itself. The
manager decides when; this knows how."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from ..codex import mcpentries, nesting
from ..codex.argv import check_name, disable_entries, model_upgrades, new_session_argv, resume_argv
from ..codex.binary import CodexBinary, codex_env, codex_version, find_codex
from ..codex.review import ReviewTarget, focus_instructions, review_argv
from ..codex.rollout import codex_home
from ..codex.settings import LaunchOptions
from ..codex.versions import RECOMMENDED_VERSION, SUPPORTED_VERSIONS, version_support
from ..config import Settings
from ..errors import CodexNotFound
from ..session.session import Session, start_session
from .deadline import Deadline
from .spares import SpareKey

log = logging.getLogger(__name__)

MakeRoom = Callable[[], Awaitable[None]]
"""What runs before a conversation's session starts: the manager keeps the live-session cap."""


@dataclass(frozen=True)
class LaunchPlan:
    """Everything one Codex start needs, decided before anything runs (the config read once)."""

    binary: CodexBinary
    argv: tuple[str, ...]
    cwd: str
    env: Mapping[str, str]
    notices: tuple[str, ...] = ()
    """What to tell the client about this start (a model migration Codex offers: start_upgrades)."""

    @property
    def spare_key(self) -> SpareKey:
        """The warm spare this plan may take, or would leave behind (the argv says every setting)."""
        return SpareKey(self.argv, self.cwd)


def check_names(options: LaunchOptions) -> None:
    """The model and profile names are usable (before a profile name becomes a file name: a NUL byte would raise)."""
    for what, name in (("model", options.model), ("profile", options.profile)):
        if name:
            check_name(what, name)


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


class Launcher:
    """Plans and starts Codex sessions with the server's settings and environment."""

    def __init__(
        self,
        settings: Settings,
        env: Mapping[str, str] | None = None,
        *,
        depth: int = 0,
        make_room: MakeRoom | None = None,
    ) -> None:
        self.settings = settings
        self.depth = depth
        self.env = codex_env(env)
        # A codex-mcp started inside a session of ours finds this on its parent Codex (nesting.py).
        self.env[nesting.DEPTH_ENV] = str(depth + 1)
        self.codex_home = codex_home(self.env)
        self.codex_version: str | None = None
        self.starting = 0
        """Sessions being started now (they count toward the cap before they are live)."""
        self._make_room = make_room
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
        """The entries of Codex's config for a session with these options that would start codex-mcp again
        inside it (what a plan turns off)."""
        return self._own_entries(self._config(options))

    def _own_entries(self, config: Mapping[str, object]) -> list[mcpentries.Entry]:
        """own_entries in a config read already; none when nesting one level deeper is allowed on purpose
        (Settings.max_nesting)."""
        if self.depth + 1 <= self.settings.max_nesting:
            return []
        found = mcpentries.self_entries(config, self.env)
        new = sorted({e.name for e in found} - self._turned_off)
        if new:
            log.info("Codex's config registers codex-mcp (%s): turned off in the sessions we start", ", ".join(new))
            self._turned_off.update(new)
        return found

    def _config(self, options: LaunchOptions) -> mcpentries.Table:
        """The config a session with these options ends up with: read once per plan."""
        check_names(options)
        return mcpentries.effective_config(
            self.codex_home, cwd=options.cwd, profile=options.profile, config=options.config
        )

    def _plan(self, binary: CodexBinary, argv: list[str], cwd: str, notices: list[str] | None = None) -> LaunchPlan:
        return LaunchPlan(binary, tuple(argv), cwd, {**self.env, **binary.env}, tuple(notices or ()))

    def plan_new(self, options: LaunchOptions) -> LaunchPlan:
        """A new session with these settings (a new conversation, a replay, a spare)."""
        binary = find_codex(self.settings.codex_bin)
        config = self._config(options)
        upgrades, notices = start_upgrades(self.codex_home, options, config)
        argv = new_session_argv(binary.path, options, self._own_entries(config), upgrades)
        return self._plan(binary, argv, options.cwd, notices)

    def plan_resume(self, thread_id: str, options: LaunchOptions) -> LaunchPlan:
        """A session that resumes a thread with the conversation's settings re-applied."""
        binary = find_codex(self.settings.codex_bin)
        config = self._config(options)
        upgrades, notices = start_upgrades(self.codex_home, options, config)
        argv = resume_argv(binary.path, thread_id, options, self._own_entries(config), upgrades)
        return self._plan(binary, argv, options.cwd, notices)

    def plan_review(self, target: ReviewTarget, options: LaunchOptions, focus: str | None) -> LaunchPlan:
        """`codex review` of the target (review.py says why not the TUI's /review); focus: what to look at."""
        binary = find_codex(self.settings.codex_bin)
        config = self._config(options)
        developer = None
        if focus:
            # A -c developer_instructions replaces the config's own: keep the user's in front of the focus.
            existing = config.get("developer_instructions")
            developer = focus_instructions(focus, existing if isinstance(existing, str) else None)
        argv = review_argv(
            binary.path,
            target,
            model=options.model,
            effort=options.effort,
            developer_instructions=developer,
            extra=disable_entries(self._own_entries(config), {}),
        )
        return self._plan(binary, argv, options.cwd)

    async def launch(self, plan: LaunchPlan, deadline: Deadline) -> Session:
        """Start a conversation's session: room under the cap first (the manager's hook), then launch_spare."""
        if self._make_room is not None:
            await self._make_room()
        return await self.launch_spare(plan, deadline)

    async def launch_spare(self, plan: LaunchPlan, deadline: Deadline | None = None) -> Session:
        """Start Codex as planned and wait for its composer (start_session), within the start-up bound of the
        call (Deadline.startup_s); a spare, started for no call, gets the least bound. A screen that is neither the
        composer nor a known dialog fails sooner (session.start_session)."""
        self.starting += 1
        try:
            return await start_session(
                list(plan.argv),
                plan.cwd,
                env=dict(plan.env),
                codex_home=self.codex_home,
                rows=self.settings.rows,
                cols=self.settings.cols,
                timeout=(deadline or Deadline.after(0)).startup_s(self.settings.start_timeout_s),
                grace_s=self.settings.end_grace_s,
            )
        finally:
            self.starting -= 1
