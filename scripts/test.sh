#!/usr/bin/env bash
# Set up (idempotent), lint, and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export MLFLOW_DISABLE_TELEMETRY=true
bash scripts/setup.sh
# the PostgreSQL tests use a real local server; without one they skip and say why
if url=$(bash scripts/postgres.sh); then export AUTOMETA_PG_URL="$url"; else echo "PostgreSQL tests will skip"; fi
# the browser test drives Debian's Chromium; without it, it skips and says why
bash scripts/chromium.sh || echo "the browser test will skip"
.venv/bin/ruff check .
.venv/bin/lint-imports
.venv/bin/mypy autometa
.venv/bin/python -m pytest -q "$@"
