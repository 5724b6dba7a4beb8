"""A conversation's settings: what a client may choose for the Codex that runs it.

One model, used as it is wherever settings go: the launch (argv.py), the record (stored as this dataclass,
storage/store.py), the index row (storage/index.py, all but the config overrides) and the tool results. pydantic's
JsonValue types the config overrides so that the record validates them with the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from pydantic import JsonValue as JsonValue  # the config overrides' type, from here as before

Sandbox = Literal["read-only", "workspace-write", "danger-full-access"]
ApprovalPolicy = Literal["on-request", "never"]
Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]
"""Codex's reasoning effort (`model_reasoning_effort`); which ones a model accepts is the model's business."""


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

    def listed(self) -> LaunchOptions:
        """The settings an index row keeps and a listing shows: all but the config overrides, which can be large
        and only a launch needs (they stay in the record)."""
        return replace(self, config={})
