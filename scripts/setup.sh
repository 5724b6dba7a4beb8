#!/usr/bin/env bash
# Set up a development install from scratch (idempotent):
#   .venv/                    the package (editable) with its test tools
#   .codex-cli/               the primary Codex CLI from npm (codex.RECOMMENDED_VERSION), used by the tests and
#                             the README's run command
#   .codex-cli-<version>/     every other version in codex.SUPPORTED_VERSIONS (scripts/test.sh tests them too)
# CODEX_MCP_CODEX_VERSION=X installs Codex X into .codex-cli/ instead, and no other (one CI job per version).
set -euo pipefail
cd "$(dirname "$0")/.."

INSPECTOR_VERSION="2.12.0"
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

# The supported window lives in one place, src/codex_mcp/codex.py.
window=$("$VENV_BIN/python" -c \
  'from codex_mcp.codex import RECOMMENDED_VERSION as r, SUPPORTED_VERSIONS as s; print(r, " ".join(s))')
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
echo "setup: done. Run the server with: $VENV_BIN/codex-mcp --codex-bin .codex-cli/node_modules/.bin/codex" >&2
