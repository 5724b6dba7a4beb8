"""What outlives the process: one owner-only JSON record per conversation (store) and the SQLite index of them
that listing and start-up read (index). Must not know sessions or MCP."""
