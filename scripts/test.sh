#!/usr/bin/env bash
# Everything CI checks: set up from scratch if needed, then lint, type-check and run the whole test suite
# (unit tests and the real-Codex integration tests; the latter never skip) on the primary Codex in .codex-cli/,
# and the real-Codex tests again on every other supported Codex (.codex-cli-<version>/, see scripts/setup.sh),
# leaving out what does not depend on the Codex version: the unit tests (the golden fixtures of every version are
# unit tests), the tests marked version_independent (codex-mcp's own machinery: fuzzed input, state files, the
# control socket, cancellation, the Inspector, fds and memory), and the load run.
#
# The passes run side by side, each its own pytest process with its own temp folder (they share nothing but the
# CPU): most of a real-Codex test is waiting on Codex and the fake model, so two passes at once take little more
# than the longer one, and a CI run on 2 cores stays within 20 minutes (docs/compatibility.md has the numbers).
# mypy runs beside them too, then again over src as macOS and as Windows see it (neither runs here: issue 22).
# A pass's output is printed as it runs for the first pass, and after it for the others.
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
if [ $# -gt 0 ] || [ -n "${CODEX_MCP_CODEX_VERSION:-}" ]; then
  echo "test: mypy --strict (and src as macOS and Windows see it)" >&2
  "$VENV_BIN/mypy"
  "$VENV_BIN/mypy" --strict --platform darwin --cache-dir .mypy_cache/darwin src
  "$VENV_BIN/mypy" --strict --platform win32 --cache-dir .mypy_cache/win32 src
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
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "test: mypy --strict, and src as macOS and Windows see it (beside the passes)" >&2
{ "$VENV_BIN/mypy" && "$VENV_BIN/mypy" --strict --platform darwin --cache-dir .mypy_cache/darwin src \
    && "$VENV_BIN/mypy" --strict --platform win32 --cache-dir .mypy_cache/win32 src; } > "$work/mypy.log" 2>&1 &
mypy_pid=$!
others=()
for version in $SUPPORTED; do
  if [ "$version" = "$RECOMMENDED" ]; then continue; fi
  echo "test: pytest -m '$SECOND_PASS', Codex $version (beside the first pass)" >&2
  CODEX_MCP_TEST_CODEX_BIN="$(native_codex ".codex-cli-$version")" \
    "$VENV_BIN/python" -m pytest -m "$SECOND_PASS" --basetemp "$work/t$version" > "$work/pass-$version.log" 2>&1 &
  others+=("$version:$!")
done
failed=""
echo "test: pytest, Codex $RECOMMENDED" >&2
"$VENV_BIN/python" -m pytest --basetemp "$work/t$RECOMMENDED" | tee "$work/pass-$RECOMMENDED.log" \
  || failed="$work/pass-$RECOMMENDED.log"
for other in "${others[@]}"; do
  version=${other%%:*}
  echo "test: pytest -m '$SECOND_PASS', Codex $version:" >&2
  if wait "${other##*:}"; then cat "$work/pass-$version.log"; else
    cat "$work/pass-$version.log"
    failed="${failed:-$work/pass-$version.log}"
  fi
done
echo "test: mypy --strict:" >&2
if ! wait "$mypy_pid"; then
  cat "$work/mypy.log"
  echo "mypy failed" >&2
  failed="${failed:-mypy}"
else
  cat "$work/mypy.log" >&2
fi
if [ -n "$failed" ]; then
  # A later pass that passed must not have the last word: repeat the failing pass's summary line.
  if [ -f "$failed" ]; then tail -n 1 "$failed"; fi
  exit 1
fi
