"""Ensemble selection's seconds with autometa's metrics against scikit-learn's functions.

Ensemble selection (``autometa.ensemble.ensemble_selection``) scores every candidate blend in
each of its 50 rounds: 1,250 metric calls over a pool of 25 trials. autometa's ROC-AUC (a rank
statistic) and log-loss (the true class's probability) skip scikit-learn's input validation for
valid input; this measures what that saves, on synthetic out-of-fold predictions of a pool of 25
at 2,000 and 15,000 rows, and checks that both choose the same weights. Best of 3 runs, one thread.

Results: ``benchmarks/results/ensemble_speed.csv`` and ``ensemble_speed.md``.

Usage::

    python benchmarks/bench_ensemble.py
"""

from __future__ import annotations

from _setup import RESULTS

import argparse
import csv
import os
import time
from dataclasses import replace

import numpy as np


def _pool(kind: str, n: int, k: int, size: int, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Targets and ``size`` candidates' predictions that are informative to different degrees."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n)
    preds = []
    for _ in range(size):
        logits = rng.normal(size=(n, k)) + rng.uniform(0.5, 2.0) * np.eye(k)[y]
        proba = np.exp(logits)
        preds.append(proba / proba.sum(axis=1, keepdims=True))
    return y, preds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[2000, 15000])
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()

    from autometa.ensemble import ensemble_selection
    from autometa.metrics import METRICS, sklearn_log_loss, sklearn_roc_auc

    reference = {"roc_auc": sklearn_roc_auc, "log_loss": sklearn_log_loss}
    cases = [("binary", "roc_auc", 2), ("multiclass", "roc_auc", 4), ("binary", "log_loss", 2),
             ("multiclass", "log_loss", 4)]
    rows = []
    for n in a.rows:
        for kind, name, k in cases:
            y, preds = _pool(kind, n, k, 25, seed=n + k)
            ours = METRICS[name]
            theirs = replace(ours, _fn=reference[name])
            seconds, weights = {}, {}
            for label, metric in (("autometa", ours), ("scikit-learn", theirs)):
                best = float("inf")
                for _ in range(a.repeats):
                    start = time.perf_counter()
                    weights[label], _ = ensemble_selection(preds, y, metric)
                    best = min(best, time.perf_counter() - start)
                seconds[label] = best
            same = np.allclose(weights["autometa"], weights["scikit-learn"])
            row = {"rows": n, "kind": kind, "classes": k, "metric": name,
                   "autometa_s": f"{seconds['autometa']:.3f}", "sklearn_s": f"{seconds['scikit-learn']:.3f}",
                   "speed-up": f"{seconds['scikit-learn'] / seconds['autometa']:.1f}", "same_weights": same}
            rows.append(row)
            print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "ensemble_speed.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = [f"Load average at the end: {os.getloadavg()[0]:.2f}", "",
             "| rows | kind | metric | autometa s | scikit-learn s | speed-up | same weights |",
             "|---:|---|---|---:|---:|---:|---|"]
    lines += [f"| {r['rows']} | {r['kind']} ({r['classes']}) | {r['metric']} | {r['autometa_s']} | "
              f"{r['sklearn_s']} | {r['speed-up']} | {r['same_weights']} |" for r in rows]
    (RESULTS / "ensemble_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
