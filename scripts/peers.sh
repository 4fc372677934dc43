#!/usr/bin/env bash
# The public peers of bench_budget.py in their own environment (AutoGluon is a peer, not a
# dependency): AutoGluon 1.6.3 with LightGBM, CatBoost and XGBoost, and FLAML 2.7.0; torch is
# held to the machine's CPU build by constraints.txt. Prints the environment's Python.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${PEERS_VENV:-../peers-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
fi
# FLAML 2.7.0 holds XGBoost below 3 (2.1.4), whose scikit-learn wrapper fails on scikit-learn 1.9.1,
# what pip picks otherwise ("_estimator_type undefined"): AutoGluon skips its XGBoost models with a
# warning. 1.6.1 suits all three.
"$venv/bin/python" -m pip install -q -c constraints.txt "autogluon.tabular[lightgbm,catboost,xgboost]==1.6.3" \
  "flaml[automl]==2.7.0" "scikit-learn==1.6.1" >&2
echo "$(cd "$venv" && pwd)/bin/python"
