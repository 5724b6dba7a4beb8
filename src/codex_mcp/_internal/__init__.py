"""Helpers with no domain of their own: background tasks that have an owner (tasks), and being told when a file
grows (filewatch). Must not know Codex, sessions or MCP."""
