#!/usr/bin/env bash
# Set up a development install from scratch (idempotent):
#   .venv/                    the package (editable) with its test tools
#   .codex-cli/               the primary Codex CLI from npm (codex.RECOMMENDED_VERSION), used by the tests and
#                             the README's run command
#   .codex-cli-<version>/     every other version in codex.SUPPORTED_VERSIONS (scripts/test.sh tests them too)
#   .mcp-inspector/           the MCP Inspector (tests/test_inspector.py)
#   .claude-cli/              Claude Code, which loads the plugin in plugins/codex-mcp (tests/issues/test_13_plugin.py)
# CODEX_MCP_CODEX_VERSION=X installs Codex X into .codex-cli/ instead, and no other (one CI job per version).
set -euo pipefail
cd "$(dirname "$0")/.."

INSPECTOR_VERSION="2.12.0"
CLAUDE_CODE_VERSION="2.1.332"
PYTHON="${PYTHON:-python3}"
VENV_BIN=".venv/bin"
if [ -d .venv/Scripts ] && [ ! -d .venv/bin ]; then VENV_BIN=".venv/Scripts"; fi  # a Windows venv

if [ ! -x "$VENV_BIN/python" ] && [ ! -x "$VENV_BIN/python.exe" ]; then
  echo "setup: creating .venv" >&2
  "$PYTHON" -m venv .venv
  if [ -d .venv/Scripts ] && [ ! -d .venv/bin ]; then VENV_BIN=".venv/Scripts"; fi
fi
echo "setup: installing codex-mcp and its test tools into .venv" >&2
"$VENV_BIN/python" -m pip install --quiet --upgrade pip
"$VENV_BIN/python" -m pip install --quiet -e ".[test,bench]"

# The supported window lives in one place, src/codex_mcp/codex/versions.py.
window=$("$VENV_BIN/python" -c \
  'from codex_mcp.codex.versions import RECOMMENDED_VERSION as r, SUPPORTED_VERSIONS as s; print(r, " ".join(s))')
read -r RECOMMENDED SUPPORTED <<< "$window"

install_codex() {  # version, npm prefix
  local version=$1 prefix=$2 installed=""
  if [ -f "$prefix/node_modules/@openai/codex/package.json" ]; then
    installed=$(node -p "require('./$prefix/node_modules/@openai/codex/package.json').version" 2>/dev/null || true)
  fi
  if [ "$installed" != "$version" ]; then
    echo "setup: installing @openai/codex@$version into $prefix" >&2
    npm install --silent --no-audit --no-fund --prefix "$prefix" "@openai/codex@$version" >&2
  fi
  "$prefix/node_modules/.bin/codex" --version >&2
}

if [ -n "${CODEX_MCP_CODEX_VERSION:-}" ]; then
  install_codex "$CODEX_MCP_CODEX_VERSION" .codex-cli
else
  install_codex "$RECOMMENDED" .codex-cli
  for version in $SUPPORTED; do
    if [ "$version" != "$RECOMMENDED" ]; then install_codex "$version" ".codex-cli-$version"; fi
  done
fi

# The MCP Inspector (its CLI mode drives the server in tests/test_inspector.py).
installed=""
if [ -f .mcp-inspector/node_modules/@modelcontextprotocol/inspector/package.json ]; then
  installed=$(node -p "require('./.mcp-inspector/node_modules/@modelcontextprotocol/inspector/package.json').version" 2>/dev/null || true)
fi
if [ "$installed" != "$INSPECTOR_VERSION" ]; then
  echo "setup: installing @modelcontextprotocol/inspector@$INSPECTOR_VERSION into .mcp-inspector" >&2
  npm install --silent --no-audit --no-fund --prefix .mcp-inspector "@modelcontextprotocol/inspector@$INSPECTOR_VERSION" >&2
fi
# Claude Code, pinned: the plugin tests validate the plugin with it and load it into `claude -p` (fake API, no account).
installed=""
if [ -f .claude-cli/node_modules/@anthropic-ai/claude-code/package.json ]; then
  installed=$(node -p "require('./.claude-cli/node_modules/@anthropic-ai/claude-code/package.json').version" 2>/dev/null || true)
fi
if [ "$installed" != "$CLAUDE_CODE_VERSION" ]; then
  echo "setup: installing @anthropic-ai/claude-code@$CLAUDE_CODE_VERSION into .claude-cli" >&2
  npm install --silent --no-audit --no-fund --prefix .claude-cli "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" >&2
fi
DISABLE_AUTOUPDATER=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 .claude-cli/node_modules/.bin/claude --version >&2
echo "setup: done. Run the server with: $VENV_BIN/codex-mcp --codex-bin .codex-cli/node_modules/.bin/codex" >&2
