#!/usr/bin/env bash
# Everything CI checks: set up from scratch if needed, then lint, type-check and run the whole test suite
# (unit tests and the real-Codex integration tests; the latter never skip).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "test: ruff" >&2
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
echo "test: mypy --strict" >&2
.venv/bin/mypy
echo "test: pytest" >&2
exec .venv/bin/python -m pytest "$@"
