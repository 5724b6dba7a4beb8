"""Server settings: where Codex is, where our state lives, sizes, timeouts and limits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, Field

DEFAULT_TIMEOUT_S = 50.0
"""Default bound on one tool call. Chosen to return before the 60 s request timeout that many MCP clients apply
(Codex 0.169-0.171's own client waits 300 s unless an entry's tool_timeout_sec says otherwise); a longer turn keeps
running and codex_status collects it."""

MAX_TIMEOUT_S = 3600.0


class Settings(BaseModel):
    """Everything the server can be configured with (command line, then environment, then defaults)."""

    codex_bin: str = Field(default="codex", description="Codex executable: a path or a name on PATH")
    state_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_state_dir("codex-mcp")))
    default_timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, le=MAX_TIMEOUT_S)
    start_timeout_s: float = Field(default=45.0, gt=0, description="How long Codex may take to show its composer")
    end_grace_s: float = Field(default=2.0, ge=0, description="How long Codex gets to exit by itself on end")
    max_sessions: int = Field(
        default=8,
        ge=1,
        description="Live Codex sessions at most (~200 MB each); the least recently used idle "
        "one is reclaimed (and stays resumable) to make room",
    )
    idle_timeout_s: float = Field(
        default=1800.0, gt=0, description="A session idle this long is ended; its conversation stays resumable"
    )
    replay_budget_chars: int = Field(default=24_000, ge=1000, description="How much history a replay carries")
    reply_budget_chars: int = Field(
        default=20_000,
        ge=1000,
        description="Longest reply returned in one result (it appears twice: structured and as text); longer "
        "ones are cut with a marker and read on with codex_status(offset). Claude Code cuts tool output at ~25k "
        "tokens",
    )
    progress_interval_s: float = Field(default=5.0, gt=0, description="Seconds between progress notifications")
    prune_after_days: float | None = Field(
        default=None,
        gt=0,
        description="At start, remove the records of conversations with no activity for this many days (never a "
        "live one; Codex's own rollouts stay). Default: keep everything",
    )
    max_nesting: int = Field(
        default=0,
        ge=0,
        le=8,
        description="How deep in Codex sessions that codex-mcp started a codex-mcp server may still start Codex (0: "
        "one started inside such a session refuses, and the sessions we start have codex-mcp's own entries in "
        "Codex's config turned off)",
    )
    spare_keep_s: float = Field(
        default=300.0,
        ge=0,
        description="After a conversation starts, keep one idle Codex with the same folder and settings ready for the "
        "next codex_start (~0.5 s faster) for this long, counted in max_sessions and given up for any conversation "
        "that needs the place; 0 turns the warm spare off",
    )
    thread_title: Literal["prompt", "model"] = Field(
        default="prompt",
        description="How a new Codex thread gets its name (shown in Codex's own resume picker): 'prompt' names it "
        "after the first prompt's first words, with no model request; 'model' lets Codex ask the model for a title, "
        "one hidden request per new conversation",
    )
    prewarm: bool = Field(
        default=True,
        description="At server start, start the warm spare for the server's own folder with default settings, so "
        "that the first codex_start there finds Codex ready too (nothing is started when spare_keep_s is 0)",
    )
    rows: int = Field(default=50, ge=10)
    cols: int = Field(default=160, ge=80)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Build settings from CODEX_MCP_* variables; explicit (non-None) overrides win."""
        names = {
            "CODEX_MCP_CODEX_BIN": "codex_bin",
            "CODEX_MCP_STATE_DIR": "state_dir",
            "CODEX_MCP_MAX_SESSIONS": "max_sessions",
            "CODEX_MCP_TIMEOUT_S": "default_timeout_s",
            "CODEX_MCP_IDLE_TIMEOUT_S": "idle_timeout_s",
            "CODEX_MCP_PROGRESS_INTERVAL_S": "progress_interval_s",
            "CODEX_MCP_REPLAY_BUDGET_CHARS": "replay_budget_chars",
            "CODEX_MCP_REPLY_BUDGET_CHARS": "reply_budget_chars",
            "CODEX_MCP_PRUNE_AFTER_DAYS": "prune_after_days",
            "CODEX_MCP_MAX_NESTING": "max_nesting",
            "CODEX_MCP_SPARE_KEEP_S": "spare_keep_s",
            "CODEX_MCP_PREWARM": "prewarm",
            "CODEX_MCP_THREAD_TITLE": "thread_title",
        }
        # Strings go to pydantic as they are, so a bad value is a validation error naming the setting.
        values: dict[str, object] = {field: os.environ[var] for var, field in names.items() if os.environ.get(var)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)
