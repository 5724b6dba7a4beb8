"""The `codex-mcp` command: serve (the default), doctor, demo, prune, ls and attach (main), with the loopback
OpenAI Responses API that demo, doctor --e2e and the tests run Codex against (fakemodel)."""
