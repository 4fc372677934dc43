"""Bag against refit: is the average of a trial's cross-validation fold models as good as the
same configuration refitted on all rows, and what does each cost?

For each task of ``tasks.py`` (a 75/25 split, seed 0), one search of ``--trials`` trials
(cold, one thread, 5-fold CV) is run four times with the same seed, so the trials are the
same; only the final model differs:

* ``ensemble+bag`` (the default): ensemble selection, each member its trial's fold models;
* ``ensemble+refit``: ensemble selection, each member refitted on all training rows;
* ``best+bag`` and ``best+refit``: the best trial alone, bagged or refitted;
* ``stack+bag``: the optional linear stacker over the 10 best trials (``--stack``), bagged.

Reported: test score (ROC-AUC, log-loss or RMSE), the fit's seconds (search plus final
model), and the seconds to predict the test rows.

Usage::

    python benchmarks/bench_bagging.py --trials 20
    python benchmarks/bench_bagging.py --report
"""

from __future__ import annotations

from _setup import RESULTS

import argparse
import os
import time
import traceback
import warnings
from datetime import UTC, datetime

import pandas as pd

CSV = RESULTS / "bagging.csv"
FIELDS = ["task", "kind", "rows", "metric", "variant", "score", "fit_seconds", "predict_seconds", "members",
          "error", "finished", "load1"]
VARIANTS = {"ensemble+bag": (True, False, "bag"), "ensemble+refit": (True, False, "refit"),
            "best+bag": (False, False, "bag"), "best+refit": (False, False, "refit"), "stack+bag": (True, True, "bag")}


def run(trials: int, names: list[str]) -> None:
    from bench_cold import append_row, class_index, read_rows, split
    from bench_meta import _subtask
    from tasks import load_task

    from autometa.evaluate import predict_scores
    from autometa.flow import FitOptions, fit_task
    from autometa.metrics import get_metric

    done = {(r["task"], r["variant"]) for r in read_rows(CSV) if not r["error"]}
    for i, name in enumerate(names, start=1):
        lt = load_task(name)
        task = lt.task
        metric = get_metric(None, task.kind)
        X_tr, X_te, y_tr, y_te = split(lt)
        y_true = class_index(task.classes, y_te) if task.is_classification else y_te
        sub = _subtask(task, X_tr, y_tr)
        for variant, (ensemble, stack, final) in VARIANTS.items():
            if (name, variant) in done:
                continue
            print(f"[{i}/{len(names)}] {name} {variant} ...", end=" ", flush=True)
            score, fit_s, pred_s, members, error = float("nan"), float("nan"), float("nan"), 0, ""
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    start = time.perf_counter()
                    result = fit_task(sub, FitOptions(n_trials=trials, n_jobs=1, use_meta=False, record=False,
                                                      ensemble=ensemble, stack=stack, final=final, cv=5))
                    fit_s = time.perf_counter() - start
                    start = time.perf_counter()
                    pred = predict_scores(result.model, X_te, task)
                    pred_s = time.perf_counter() - start
                score = metric(y_true, pred)
                members = len(result.ensemble_weights) or 1
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
                traceback.print_exc()
            append_row({"task": name, "kind": task.kind, "rows": task.n_rows, "metric": metric.name,
                        "variant": variant, "score": f"{score:.6g}", "fit_seconds": f"{fit_s:.2f}",
                        "predict_seconds": f"{pred_s:.3f}", "members": members, "error": error,
                        "finished": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "load1": f"{os.getloadavg()[0]:.2f}"}, CSV, FIELDS)
            print(f"{metric.name}={score:.4f} fit {fit_s:.1f}s predict {pred_s:.2f}s", flush=True)


def report() -> None:
    from bench_cold import read_rows
    from bench_meta import compare, higher_is_better, table

    df = pd.DataFrame(read_rows(CSV))
    if df.empty:
        print("no results yet")
        return
    for col in ("score", "fit_seconds", "predict_seconds"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df = df.drop_duplicates(["task", "variant"], keep="last")
    variants = [v for v in VARIANTS if v in set(df["variant"])]
    piv = df.pivot(index="task", columns="variant", values="score").reindex(columns=variants).dropna()
    signed = higher_is_better(piv, df.drop_duplicates("task").set_index("task")["metric"])
    normed, ranks, wins = compare(signed)
    fit_s = df.pivot(index="task", columns="variant", values="fit_seconds").reindex(columns=variants)
    pred_s = df.pivot(index="task", columns="variant", values="predict_seconds").reindex(columns=variants)
    rows = {v: {"tasks": len(piv), "mean normalized score": normed[v].mean(), "average rank": ranks[v].mean(),
                "wins": int(wins[v]),
                "total fit s": fit_s.loc[piv.index, v].sum(), "total predict s": pred_s.loc[piv.index, v].sum()}
            for v in variants}
    block = pd.DataFrame(rows).T
    for c in ("tasks", "wins"):
        block[c] = block[c].astype(int)
    block.index.name = "variant"
    pairs = []
    for what in ("ensemble", "best"):
        bag, refit = f"{what}+bag", f"{what}+refit"
        if bag in signed and refit in signed:
            diff = signed[bag] - signed[refit]
            pairs.append(f"{what}: bag better on {int((diff > 0).sum())}, refit better on {int((diff < 0).sum())}, "
                         f"equal on {int((diff == 0).sum())} of {len(diff)} tasks")
    per_task = piv.copy()
    per_task.index.name = "task"
    text = "\n".join(["#### Summary", "", table(block), "", *[f"- {p}" for p in pairs], "",
                      "#### Test score per task", "", table(per_task, "{:.4f}"), ""])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bagging.md").write_text(text + "\n")
    print(text)


def main() -> None:
    from tasks import task_names

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--tasks", nargs="*", default=None, help="task names (default: all of tasks.py)")
    ap.add_argument("--report", action="store_true")
    a = ap.parse_args()
    if not a.report:
        run(a.trials, a.tasks or task_names())
    report()


if __name__ == "__main__":
    main()
