from codex_mcp.cli import main

main()
