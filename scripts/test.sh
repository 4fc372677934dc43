#!/usr/bin/env bash
# Set up (idempotent), lint, and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export MLFLOW_DISABLE_TELEMETRY=true
bash scripts/setup.sh
.venv/bin/ruff check autometa tests benchmarks cli.py
.venv/bin/python -m pytest -q "$@"
