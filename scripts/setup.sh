#!/usr/bin/env bash
# Set up a development install from scratch (idempotent):
#   .venv/       the package (editable) with its test tools
#   .codex-cli/  the pinned Codex CLI from npm, used by the tests and the README's run command
set -euo pipefail
cd "$(dirname "$0")/.."

CODEX_VERSION="0.169.0"
INSPECTOR_VERSION="2.12.0"
PYTHON="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
echo "setup: installing codex-mcp and its test tools into .venv" >&2
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test,bench]"

installed=""
if [ -f .codex-cli/node_modules/@openai/codex/package.json ]; then
  installed=$(node -p "require('./.codex-cli/node_modules/@openai/codex/package.json').version" 2>/dev/null || true)
fi
if [ "$installed" != "$CODEX_VERSION" ]; then
  echo "setup: installing @openai/codex@$CODEX_VERSION into .codex-cli" >&2
  npm install --silent --no-audit --no-fund --prefix .codex-cli "@openai/codex@$CODEX_VERSION" >&2
fi
.codex-cli/node_modules/.bin/codex --version >&2

# The MCP Inspector (its CLI mode drives the server in tests/test_inspector.py).
installed=""
if [ -f .mcp-inspector/node_modules/@modelcontextprotocol/inspector/package.json ]; then
  installed=$(node -p "require('./.mcp-inspector/node_modules/@modelcontextprotocol/inspector/package.json').version" 2>/dev/null || true)
fi
if [ "$installed" != "$INSPECTOR_VERSION" ]; then
  echo "setup: installing @modelcontextprotocol/inspector@$INSPECTOR_VERSION into .mcp-inspector" >&2
  npm install --silent --no-audit --no-fund --prefix .mcp-inspector "@modelcontextprotocol/inspector@$INSPECTOR_VERSION" >&2
fi
echo "setup: done. Run the server with: .venv/bin/codex-mcp --codex-bin .codex-cli/node_modules/.bin/codex" >&2
