"""`codex-mcp prune`: remove the records of conversations nobody has touched for a while.

Only codex-mcp's own records go (the transcript, settings and thread list under the state dir). Codex's
rollouts under ``$CODEX_HOME/sessions`` are Codex's: they stay, so `codex resume <id>` keeps working on a
pruned conversation's thread, and codex_reply on its id adopts it again from the rollout.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ..config import Settings
from ..storage.store import Store


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def prune(settings: Settings, older_than_days: float, *, dry_run: bool = False) -> int:
    """Remove (or, dry_run, list) conversations with no activity for older_than_days; exit code 0, or 2 on a
    bad argument."""
    if not older_than_days > 0:
        print("codex-mcp prune: --older-than must be a positive number of days")
        return 2
    if not settings.state_dir.is_dir():
        print(f"Nothing to prune: {settings.state_dir} does not exist.")
        return 0
    store = Store(settings.state_dir)
    store.sync()  # records written since the index last saw them (another server, an older codex-mcp)
    report = store.prune(older_than_days * 86400, dry_run=dry_run)
    verb = "Would remove" if dry_run else "Removed"
    for s in report.removed:
        print(f"{verb} {s.id}  last active {_when(s.last_activity)}  turns={s.turns}  cwd={s.options.cwd}")
        if s.first_prompt:
            print(f"    {s.first_prompt}")
    print(
        f"{verb} {len(report.removed)} conversation(s) with no activity for {older_than_days:g} days "
        f"({report.freed_bytes / 1024:.0f} KB) from {settings.state_dir}."
    )
    if report.skipped_live:
        print(f"Kept {len(report.skipped_live)} that a live Codex session runs now: {', '.join(report.skipped_live)}")
    if report.skipped_recent:
        print(f"Kept {len(report.skipped_recent)} that were active meanwhile: {', '.join(report.skipped_recent)}")
    print("Codex's own rollouts ($CODEX_HOME/sessions) were not touched.")
    return 0
