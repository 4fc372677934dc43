#!/usr/bin/env bash
# Set up (idempotent), lint, and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export MLFLOW_DISABLE_TELEMETRY=true
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/lint-imports
.venv/bin/mypy autometa
.venv/bin/python -m pytest -q "$@"
