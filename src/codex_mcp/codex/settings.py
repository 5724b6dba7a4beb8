"""A conversation's settings: what a client may choose for the Codex that runs it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Sandbox = Literal["read-only", "workspace-write", "danger-full-access"]
ApprovalPolicy = Literal["on-request", "never"]
Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]
"""Codex's reasoning effort (`model_reasoning_effort`); which ones a model accepts is the model's business."""
JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


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
