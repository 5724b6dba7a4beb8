#!/usr/bin/env bash
# Set up a development install from scratch (idempotent):
#   .venv/                    the package (editable) with its test tools
#   .codex-cli/               the primary Codex CLI from npm (codex/versions.py RECOMMENDED_VERSION), used by the tests and
#                             the README's run command
#   .codex-cli-<version>/     every other version in SUPPORTED_VERSIONS (scripts/test.sh tests them too)
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

# The supported window lives in one place, src/codex_mcp/codex/versions.py (it imports nothing: read before the
# install, so the npm installs run beside pip's).
window=$(PYTHONPATH=src "$PYTHON" -c \
  'from codex_mcp.codex.versions import RECOMMENDED_VERSION as r, SUPPORTED_VERSIONS as s; print(r, " ".join(s))')
read -r RECOMMENDED SUPPORTED <<< "$window"

npm_pinned() {  # package, version, npm prefix: install it there unless that version is there already
  local package=$1 version=$2 prefix=$3 installed=""
  if [ -f "$prefix/node_modules/$package/package.json" ]; then
    installed=$(node -p "require('./$prefix/node_modules/$package/package.json').version" 2>/dev/null || true)
  fi
  if [ "$installed" != "$version" ]; then
    echo "setup: installing $package@$version into $prefix" >&2
    npm install --silent --no-audit --no-fund --prefix "$prefix" "$package@$version" >&2
  fi
}

# The npm installs run side by side (npm's cache is safe to share), beside pip's: most of each is waiting on the
# registry and unpacking.
jobs_started=()
if [ -n "${CODEX_MCP_CODEX_VERSION:-}" ]; then
  npm_pinned @openai/codex "$CODEX_MCP_CODEX_VERSION" .codex-cli & jobs_started+=($!)
else
  npm_pinned @openai/codex "$RECOMMENDED" .codex-cli & jobs_started+=($!)
  for version in $SUPPORTED; do
    if [ "$version" != "$RECOMMENDED" ]; then
      npm_pinned @openai/codex "$version" ".codex-cli-$version" & jobs_started+=($!)
    fi
  done
fi
# The MCP Inspector (its CLI mode drives the server in tests/test_inspector.py).
npm_pinned @modelcontextprotocol/inspector "$INSPECTOR_VERSION" .mcp-inspector & jobs_started+=($!)
# Claude Code, pinned: the plugin tests validate the plugin with it and load it into `claude -p` (fake API, no account).
npm_pinned @anthropic-ai/claude-code "$CLAUDE_CODE_VERSION" .claude-cli & jobs_started+=($!)

if [ ! -x "$VENV_BIN/python" ] && [ ! -x "$VENV_BIN/python.exe" ]; then
  echo "setup: creating .venv" >&2
  "$PYTHON" -m venv .venv
  if [ -d .venv/Scripts ] && [ ! -d .venv/bin ]; then VENV_BIN=".venv/Scripts"; fi
fi
echo "setup: installing codex-mcp and its test tools into .venv" >&2
"$VENV_BIN/python" -m pip install --quiet --upgrade pip
"$VENV_BIN/python" -m pip install --quiet -e ".[test,bench]"

for job in "${jobs_started[@]}"; do
  wait "$job" || { echo "setup: an npm install failed (see above)" >&2; exit 1; }
done
if [ -n "${CODEX_MCP_CODEX_VERSION:-}" ]; then
  .codex-cli/node_modules/.bin/codex --version >&2
else
  .codex-cli/node_modules/.bin/codex --version >&2
  for version in $SUPPORTED; do
    if [ "$version" != "$RECOMMENDED" ]; then ".codex-cli-$version/node_modules/.bin/codex" --version >&2; fi
  done
fi
DISABLE_AUTOUPDATER=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 .claude-cli/node_modules/.bin/claude --version >&2
echo "setup: done. Run the server with: $VENV_BIN/codex-mcp --codex-bin .codex-cli/node_modules/.bin/codex" >&2
