#!/usr/bin/env bash
# Everything CI checks: set up from scratch if needed, then lint, type-check and run the whole test suite
# (unit tests and the real-Codex integration tests; the latter never skip) on the primary Codex in .codex-cli/,
# then the real-Codex tests again on every other supported Codex (.codex-cli-<version>/, see scripts/setup.sh),
# leaving out what does not depend on the Codex version: the unit tests (the golden fixtures of every version are
# unit tests), the tests marked version_independent (codex-mcp's own machinery: fuzzed input, state files, the
# control socket, cancellation, the Inspector, fds and memory), and the long load run. That keeps a CI run on
# 2 cores within ~20 minutes (docs/compatibility.md has the numbers).
#
# With arguments, pytest runs once with them, on the primary Codex. With CODEX_MCP_CODEX_VERSION set (one CI job
# per Codex version), .codex-cli/ holds that version and there is no second pass.
# The last line printed is a pytest summary line: the failing pass's, if one failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV_BIN=".venv/bin"
if [ -d .venv/Scripts ] && [ ! -d .venv/bin ]; then VENV_BIN=".venv/Scripts"; fi  # a Windows venv
echo "test: ruff" >&2
"$VENV_BIN/ruff" check src tests bench scripts
"$VENV_BIN/ruff" format --check src tests bench scripts
echo "test: mypy --strict" >&2
"$VENV_BIN/mypy"
if [ $# -gt 0 ] || [ -n "${CODEX_MCP_CODEX_VERSION:-}" ]; then
  echo "test: pytest" >&2
  exec "$VENV_BIN/python" -m pytest "$@"
fi

native_codex() {  # the native binary in an npm prefix: it saves a Node process per session
  local found
  for found in "$1"/node_modules/@openai/codex-*/vendor/*/bin/codex "$1"/node_modules/@openai/codex-*/vendor/*/bin/codex.exe; do
    if [ -f "$found" ]; then echo "$PWD/$found"; return; fi
  done
  echo "$PWD/$1/node_modules/.bin/codex"
}

window=$("$VENV_BIN/python" -c \
  'from codex_mcp.codex.versions import RECOMMENDED_VERSION as r, SUPPORTED_VERSIONS as s; print(r, " ".join(s))')
read -r RECOMMENDED SUPPORTED <<< "$window"
SECOND_PASS="codex and not load and not version_independent"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=""
echo "test: pytest, Codex $RECOMMENDED" >&2
"$VENV_BIN/python" -m pytest | tee "$log" || failed="$log"
for version in $SUPPORTED; do
  if [ "$version" = "$RECOMMENDED" ]; then continue; fi
  echo "test: pytest -m '$SECOND_PASS', Codex $version" >&2
  CODEX_MCP_TEST_CODEX_BIN="$(native_codex ".codex-cli-$version")" \
    "$VENV_BIN/python" -m pytest -m "$SECOND_PASS" || failed="${failed:-second pass}"
done
if [ -n "$failed" ]; then
  # A later pass that passed must not have the last word: repeat the failing first pass's summary line.
  if [ "$failed" = "$log" ]; then tail -n 1 "$log"; fi
  exit 1
fi
