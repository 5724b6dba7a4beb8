"""Starting Codex for a conversation: which Codex (its binary and version), the plan a launch follows (the argv a
conversation's settings make, codex-mcp's own MCP entries turned off, Codex's one-off start-up screens answered,
the environment every session gets), and the one place that starts it, within the start-up bound. New
conversations, revival, reviews, spares and `doctor` each choose a plan here; none assembles argv itself. The
manager decides when; this knows how."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from ..codex import mcpentries, nesting
from ..codex.appserver import AppServer, app_server
from ..codex.binary import CodexBinary, codex_env, codex_version, find_codex
from ..codex.launchargs import LaunchArgs, app_server_args, review_args, session_args
from ..codex.review import ReviewTarget
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
    """What to tell the client about this start (a model migration Codex offers: launchargs.start_upgrades)."""
    resumes: str | None = None
    """The thread this start resumes (the session follows its rollout from where it ends before the start)."""

    @property
    def spare_key(self) -> SpareKey:
        """The warm spare this plan may take, or would leave behind (the argv says every setting)."""
        return SpareKey(self.argv, self.cwd)


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
        # ... and where to note the entry that started it, when nothing in its command line said it was ours.
        self.env[nesting.LEARNED_ENV] = str(settings.state_dir / "nesting-learned.json")
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
        return self._plan_new(options)[1].own

    def _keep_own(self) -> bool:
        """True when nesting one level deeper is allowed on purpose (Settings.max_nesting): codex-mcp's own
        entries stay on in the sessions we start."""
        return self.depth + 1 <= self.settings.max_nesting

    def _plan(self, binary: CodexBinary, args: LaunchArgs, cwd: str, resumes: str | None = None) -> LaunchPlan:
        new = sorted({e.name for e in args.own} - self._turned_off)
        if new:
            log.info("Codex's config registers codex-mcp (%s): turned off in the sessions we start", ", ".join(new))
            self._turned_off.update(new)
        return LaunchPlan(binary, tuple(args.argv), cwd, {**self.env, **binary.env}, tuple(args.notices), resumes)

    def _plan_new(self, options: LaunchOptions) -> tuple[CodexBinary, LaunchArgs]:
        binary = find_codex(self.settings.codex_bin)
        args = session_args(binary.path, self.codex_home, options, self.env, keep_own=self._keep_own())
        return binary, args

    def plan_new(self, options: LaunchOptions) -> LaunchPlan:
        """A new session with these settings (a new conversation, a replay, a spare)."""
        binary, args = self._plan_new(options)
        return self._plan(binary, args, options.cwd)

    def plan_resume(self, thread_id: str, options: LaunchOptions) -> LaunchPlan:
        """A session that resumes a thread with the conversation's settings re-applied."""
        binary = find_codex(self.settings.codex_bin)
        args = session_args(
            binary.path, self.codex_home, options, self.env, thread_id=thread_id, keep_own=self._keep_own()
        )
        return self._plan(binary, args, options.cwd, resumes=thread_id)

    def plan_review(self, target: ReviewTarget, options: LaunchOptions, focus: str | None) -> LaunchPlan:
        """`codex review` of the target (review.py says why not the TUI's /review); focus: what to look at."""
        binary = find_codex(self.settings.codex_bin)
        args = review_args(binary.path, self.codex_home, target, options, self.env, focus, keep_own=self._keep_own())
        return self._plan(binary, args, options.cwd)

    def plan_app_server(self, options: LaunchOptions) -> LaunchPlan:
        """Codex's app-server, for forking or reverting a thread of a conversation with these settings."""
        binary = find_codex(self.settings.codex_bin)
        args = app_server_args(binary.path, self.codex_home, options, self.env, keep_own=self._keep_own())
        return self._plan(binary, args, options.cwd)

    def app_server(self, plan: LaunchPlan, deadline: Deadline) -> AbstractAsyncContextManager[AppServer]:
        """Run the planned app-server for one operation, within the start-up bound of the call."""
        return app_server(
            plan.argv, env=plan.env, cwd=plan.cwd, timeout=deadline.startup_s(self.settings.start_timeout_s)
        )

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
                resumes=plan.resumes,
            )
        finally:
            self.starting -= 1
