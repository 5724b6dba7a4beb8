"""docs/benchmarks.png from the results of a run: render_chart lays out six panels, one function each."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .lab import log
from .results import DEPTHS, METHODS, Results
from .stats import Stats

if TYPE_CHECKING:
    from matplotlib.axes import Axes

COLORS = {
    "mcp": "#1f77b4",
    "mcp-first": "#1f77b4",
    "mcp-later": "#aec7e8",
    "mcp-cold": "#6baed6",
    "tui": "#2ca02c",
    "app-server": "#9467bd",
    "exec": "#d62728",
}


def latency_panel(ax: Axes, res: Results) -> None:
    """Per-turn latency of every method at every history depth."""
    width = 0.2
    for k, m in enumerate(METHODS):
        st = [Stats.of(res.latency.get(m, {}).get(d, [])) for d in DEPTHS]
        xs = [i + (k - 1.5) * width for i in range(len(DEPTHS))]
        ax.bar(
            xs,
            [s.median for s in st],
            width,
            yerr=[[s.median - s.p25 for s in st], [s.p75 - s.median for s in st]],
            label=m,
            color=COLORS[m],
            capsize=2,
        )
    ax.set_xticks(range(len(DEPTHS)), [f"{d}" for d in DEPTHS])
    ax.set_xlabel("turns of history")
    ax.set_ylabel("ms per turn")
    ax.set_title("Per-turn latency")
    ax.legend(loc="upper left", fontsize=8)


def outside_panel(ax: Axes, res: Results) -> None:
    """Time outside Codex's own task: before it starts and after it ends, stacked."""
    for k, m in enumerate(("mcp", "tui", "app-server")):
        before = [Stats.of(ph[0] for ph in res.phases[m][d]).median for d in DEPTHS]
        after = [Stats.of(ph[2] for ph in res.phases[m][d]).median for d in DEPTHS]
        xs = [i + (k - 1) * 0.27 for i in range(len(DEPTHS))]
        ax.bar(xs, before, 0.27, label=f"{m}: before the task", color=COLORS[m])
        ax.bar(xs, after, 0.27, bottom=before, label=f"{m}: after it", color=COLORS[m], alpha=0.45)
    ax.set_xticks(range(len(DEPTHS)), [f"{d}" for d in DEPTHS])
    ax.set_xlabel("turns of history")
    ax.set_ylabel("ms (medians)")
    ax.set_title("Time outside Codex's own task")
    ax.set_ylim(top=ax.get_ylim()[1] * 1.6)
    ax.legend(fontsize=7, ncol=3, loc="upper center")


def start_panel(ax: Axes, res: Results) -> None:
    """A new conversation to its first reply, every path."""
    kinds = [
        ("mcp-first", "first\ncodex_start"),
        ("mcp-later", "later\ncodex_start"),
        ("mcp-cold", "codex_start\nno spare"),
        ("tui", "raw\nTUI"),
        ("exec", "codex\nexec"),
        ("app-server", "cold\napp-server"),
    ]
    st = [Stats.of(res.start_ms.get(k, [])) for k, _ in kinds]
    ax.bar(
        range(len(kinds)),
        [s.median for s in st],
        yerr=[[s.median - s.p25 for s in st], [s.p75 - s.median for s in st]],
        color=[COLORS.get(k, "#17becf") for k, _ in kinds],
        capsize=3,
    )
    ax.set_xticks(range(len(kinds)), [label for _, label in kinds], fontsize=8)
    ax.set_ylabel("ms")
    ax.set_title("New conversation → first reply")


def scale_panel(ax: Axes, res: Results) -> None:
    """Latency with idle sessions live, and the interleaved running/frozen pair."""
    labels: list[str] = []
    seen: set[int] = set()
    st = []
    for count, samples in res.scale_latency:
        labels.append(f"{count}{' again' if count in seen else ''}")
        seen.add(count)
        st.append(Stats.of(samples))
    bar_colors = [COLORS["mcp"]] * len(st)
    running, frozen = res.idle_ab
    if running:
        most = max(c for c, _ in res.scale_latency)
        labels += [f"{most}\nrunning*", f"{most}\nfrozen*"]
        st += [Stats.of(running), Stats.of(frozen)]
        bar_colors += ["#ff7f0e", "#c7c7c7"]
    ax.bar(
        range(len(st)),
        [s.median for s in st],
        yerr=[[s.median - s.p25 for s in st], [s.p75 - s.median for s in st]],
        color=bar_colors,
        capsize=3,
    )
    ax.set_xticks(range(len(st)), labels, fontsize=8)
    ax.set_xlabel("idle conversations live (* interleaved pair: others running / frozen)")
    ax.set_ylabel("ms per codex_reply")
    ax.set_title("Latency with idle sessions")


def throughput_panel(ax: Axes, res: Results) -> None:
    """Turns per second with N conversations replying at once."""
    for m in ("mcp", "app-server", "exec"):
        ns = sorted(res.throughput.get(m, {}))
        ax.plot(ns, [Stats.of(res.throughput[m][n]).median for n in ns], marker="o", label=m, color=COLORS[m])
    ax.set_xticks(sorted({n for m in res.throughput.values() for n in m}))
    ax.set_xlabel("conversations replying at once")
    ax.set_ylabel("turns / s")
    ax.set_title(f"Throughput ({os.cpu_count()} cores)")
    ax.legend()


def memory_panel(ax: Axes, res: Results) -> None:
    """One Codex TUI's memory by turns; our server's by live sessions (top axis)."""
    turns = sorted(res.tui_by_turns)
    ax.plot(turns, [res.tui_by_turns[t][0] / 1024 for t in turns], marker="o", label="one Codex TUI, RSS")
    ax.plot(turns, [res.tui_by_turns[t][1] / 1024 for t in turns], marker="o", label="one Codex TUI, PSS")
    ax.set_xlabel("turns")
    ax.set_ylabel("MB")
    ax.set_title("Memory")
    live = sorted(res.server_by_live)
    ax2 = ax.twiny()
    ax2.plot(live, [res.server_by_live[n][0] / 1024 for n in live], marker="s", color="black", label="our server, RSS")
    ax2.set_xlabel("live sessions (our server)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="center right")
    ax.set_ylim(bottom=0)


def render_chart(res: Results, path: Path) -> bool:
    """docs/benchmarks.png; False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed (pip install -e '.[bench]'): no chart")
        return False
    fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
    fig.suptitle("codex-mcp vs other ways to drive Codex (instant fake model; medians, bars p25–p75)")
    panels = (latency_panel, outside_panel, start_panel, scale_panel, throughput_panel, memory_panel)
    for panel, ax in zip(panels, axes.flat, strict=True):  # row by row, as the panels are listed
        panel(ax, res)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
