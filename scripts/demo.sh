#!/usr/bin/env bash
# Set up (idempotent) and fit a model on the bundled example (Titanic passengers).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/autometa fit examples/titanic.csv --target survived --trials 30 --output autometa_models/titanic "$@"
