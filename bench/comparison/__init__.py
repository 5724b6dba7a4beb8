"""The parts of bench/compare.py, the side-by-side benchmark (run that script; nothing here is a command):

stats     medians and spreads of samples
probes    a process's CPU, memory and children from /proc; a thread's turn times from its rollout
lab       the folders, environments and fake model processes every method runs against
methods   the ways of talking to Codex being compared: mcp, tui, app-server, exec
results   the plan (how much to measure) and everything measured
measure   the sections of the run, each measuring into the results
goals     the goals table: each goal, what was measured against it, and why
markdown  docs/benchmarks.md, one function per section
chart     docs/benchmarks.png, one function per panel
"""

from __future__ import annotations
