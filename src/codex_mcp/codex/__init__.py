"""Everything codex-mcp knows about the Codex CLI, one module per concern, none of it running a session:
which releases we support (versions), what to execute (binary), a conversation's settings (settings), the argv
and ``-c`` overrides they become (argv), a start's argv from the config read once (launchargs), the keys we type
(keys), what the TUI's screen says (tui), its rollout files (rollout), thread writer locks (writers), its MCP
server entries and our nesting guard (mcpentries, nesting), `codex review` (review), image attachments (images)
and the replay preamble (replay).

Facts verified against every Codex in versions.SUPPORTED_VERSIONS (docs/compatibility.md;
tests/test_codex_contract.py and the golden fixtures in tests/fixtures/codex/ notice when Codex changes). Must not
know sessions, storage or MCP."""
