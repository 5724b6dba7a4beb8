"""How much to measure (Plan) and everything measured (Results, VariantResult), keyed by method and history depth.
A run pickles (Results, meta, Plan) so that --render-only can render the report again without measuring."""

from __future__ import annotations

from dataclasses import dataclass, field

from .lab import RequestCounts

DEPTHS = (1, 20, 50)
"""Turns of history a conversation holds when its per-turn latency is measured."""
METHODS = ("mcp", "tui", "app-server", "exec")

FIRST_CALL_AFTER_S = 2.0
"""How long after a client connects its first codex_start comes, in the start section: a person types a request and
the client's model decides to delegate it, which takes longer than this; the warm spare prewarmed at server start
is ready by then. The cold row has no warm spare at all."""


@dataclass
class Plan:
    """How much to measure."""

    rounds: int
    start_rounds: int
    scale_turns: int
    idle_counts: tuple[int, ...]
    concurrency: tuple[int, ...]
    throughput_turns: int
    throughput_reps: int
    variant_rounds: int
    variant_starts: int
    wait_s: float


@dataclass
class VariantResult:
    """One TUI setting, measured with the tui method."""

    name: str
    config: list[str]
    effect: str
    ready_ms: list[float] = field(default_factory=list)
    first_ms: list[float] = field(default_factory=list)
    turn_ms: list[float] = field(default_factory=list)
    cpu_per_turn: list[float] = field(default_factory=list)
    bytes_per_turn: list[float] = field(default_factory=list)
    wait_bytes_per_s: list[float] = field(default_factory=list)
    wait_cpu_per_s: list[float] = field(default_factory=list)
    requests: RequestCounts | None = None
    turns: int = 0
    threads: int = 0


@dataclass
class Results:
    """Everything measured; rendered into docs/benchmarks.md and the chart."""

    latency: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    codex_ms: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    phases: dict[str, dict[int, list[tuple[float, float, float]]]] = field(default_factory=dict)
    """Per turn: (before Codex's task starts, the task, after it completes), ms, from rollout timestamps."""
    exec_reply_ms: dict[int, list[float]] = field(default_factory=dict)
    cpu_per_turn: dict[str, dict[int, float]] = field(default_factory=dict)
    server_cpu_per_turn: dict[int, float] = field(default_factory=dict)
    mcp_call_ms: list[float] = field(default_factory=list)
    start_ms: dict[str, list[float]] = field(default_factory=dict)
    tui_ready_ms: list[float] = field(default_factory=list)
    server_alone_kb: tuple[int, int] = (0, 0)
    server_by_live: dict[int, tuple[int, int]] = field(default_factory=dict)
    server_after_end_kb: tuple[int, int] = (0, 0)
    codex_by_live: dict[int, tuple[int, int]] = field(default_factory=dict)
    tui_by_turns: dict[int, tuple[int, int]] = field(default_factory=dict)
    app_server_kb: dict[int, tuple[int, int]] = field(default_factory=dict)
    exec_maxrss_kb: list[int] = field(default_factory=list)
    scale_latency: list[tuple[int, list[float]]] = field(default_factory=list)
    idle_cpu_pct: dict[int, tuple[float, float]] = field(default_factory=dict)
    idle_ab: tuple[list[float], list[float]] = ([], [])
    throughput: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    variants: list[VariantResult] = field(default_factory=list)
    hidden: dict[str, tuple[RequestCounts, int, int]] = field(default_factory=dict)
    section_s: dict[str, float] = field(default_factory=dict)
    server_costs: dict[str, float] = field(default_factory=dict)
    exec_rollout_kb: dict[int, float] = field(default_factory=dict)
    leftovers: list[str] = field(default_factory=list)
    spare_kb: list[tuple[int, int]] = field(default_factory=list)
    """(RSS, PSS) of the warm spare, kB, once ready."""
    spare_idle_pct: list[float] = field(default_factory=list)
    """The warm spare's CPU while it waits, % of one core."""
