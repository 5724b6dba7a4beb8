"""codex-mcp: an MCP server that holds live, multi-turn conversations with the OpenAI Codex CLI."""

__version__ = "0.1.0"
