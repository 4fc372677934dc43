"""Run one public peer (AutoGluon or FLAML) on one task under a time budget, in the peers' own
environment (``bench_budget.py`` calls it with that environment's Python).

Reads ``train.parquet`` and ``test.parquet`` (the target in column ``__target__``) from
``--folder``, fits with one thread, and writes ``pred.npy`` (probabilities in the order of
``--classes``, or values) and ``timing.json`` (seconds inside ``fit``, and ``fit`` plus predict).

Usage::

    $AG_PYTHON benchmarks/peer_runner.py --method autogluon-best --budget 60 --kind binary \\
        --metric roc_auc --classes '["no", "yes"]' --folder /tmp/task
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd

TARGET = "__target__"
AG_METRIC = {"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "root_mean_squared_error"}
AG_PROBLEM = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}


def run(method: str, budget: float, kind: str, metric: str, classes: list, folder: str) -> None:
    train = pd.read_parquet(os.path.join(folder, "train.parquet"))
    test = pd.read_parquet(os.path.join(folder, "test.parquet")).drop(columns=[TARGET])
    start = time.perf_counter()
    if method.startswith("autogluon"):
        from autogluon.tabular import TabularPredictor

        preset = "best_quality" if method == "autogluon-best" else "medium_quality"
        with tempfile.TemporaryDirectory(prefix="ag-") as path:
            predictor = TabularPredictor(label=TARGET, problem_type=AG_PROBLEM[kind], eval_metric=AG_METRIC[metric],
                                         path=path, verbosity=0)
            predictor.fit(train, presets=preset, time_limit=budget, num_cpus=1, num_gpus=0)
            fitted = time.perf_counter() - start
            if kind == "regression":
                pred = predictor.predict(test).to_numpy(dtype="float64")
            else:
                proba = predictor.predict_proba(test)
                pred = _align(proba.to_numpy(), list(proba.columns), classes)
    elif method == "flaml":
        from flaml import AutoML

        X, y = train.drop(columns=[TARGET]), train[TARGET]
        for col in X.columns:  # FLAML wants pandas categories for text columns
            if X[col].dtype == object:
                levels = X[col].astype("category").cat.categories
                X[col] = pd.Categorical(X[col], categories=levels)
                test[col] = pd.Categorical(test[col], categories=levels)
        automl = AutoML()
        automl.fit(X, y, task="regression" if kind == "regression" else "classification",
                   metric={"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "rmse"}[metric],
                   time_budget=budget, n_jobs=1, seed=0, verbose=0)
        fitted = time.perf_counter() - start
        if kind == "regression":
            pred = np.asarray(automl.predict(test), dtype="float64")
        else:
            pred = _align(automl.predict_proba(test), list(automl.classes_), classes)
    else:
        raise SystemExit(f"unknown method {method}")
    total = time.perf_counter() - start
    np.save(os.path.join(folder, "pred.npy"), pred, allow_pickle=False)
    with open(os.path.join(folder, "timing.json"), "w") as f:
        json.dump({"fit_seconds": fitted, "seconds": total}, f)


def _align(proba: np.ndarray, model_classes: list, classes: list) -> np.ndarray:
    out = np.zeros((len(proba), len(classes)))
    pos = {str(c): i for i, c in enumerate(classes)}
    for j, c in enumerate(model_classes):
        out[:, pos[str(c)]] = proba[:, j]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", required=True)
    ap.add_argument("--budget", type=float, required=True)
    ap.add_argument("--kind", required=True)
    ap.add_argument("--metric", required=True)
    ap.add_argument("--classes", default="[]")
    ap.add_argument("--folder", required=True)
    a = ap.parse_args()
    run(a.method, a.budget, a.kind, a.metric, json.loads(a.classes), a.folder)


if __name__ == "__main__":
    main()
