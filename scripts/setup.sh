#!/usr/bin/env bash
# Create .venv and install autometa with its dev tools. torch is pinned by
# constraints.txt to the machine's CPU build (any other release pulls CUDA wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
.venv/bin/python -m pip install -q -c constraints.txt -e ".[dev,postgres]" 2>&1 | grep -v "is ignored" || true
.venv/bin/python -c "import autometa, torch, optuna, mlflow, lightgbm, sklearn; print('autometa installed; torch', torch.__version__)"
