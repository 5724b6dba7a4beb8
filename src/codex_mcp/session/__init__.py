"""One live Codex process and what it shows: the Session (its turn queue and worker), the screen it is rendered
on (screen, vt, repaints), start-up (startup), approval dialogs (approvals), attached terminals (viewers) and how
each turn ends, read from the rollout (turn_tracker). Must not know conversations, storage or MCP."""
