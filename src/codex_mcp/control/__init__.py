"""The control channel: a local, owner-only socket per server that `codex-mcp ls` and `attach` talk to (server),
its wire format (protocol) and the attach client (attach). Must not know MCP."""
