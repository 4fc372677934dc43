"""Bag against refit, and repeated cross-validation of the leaders: the final model made
from the same search in several ways, and what each costs.

For each task of ``tasks.py`` (a 75/25 split, seed 0), one search of ``--trials`` trials
(cold, one thread, 5-fold CV) is run once per variant with the same seed, so the trials are the
same; only what follows the search differs:

* ``ensemble+bag`` (the default): ensemble selection, each member its trial's fold models;
* ``ensemble+refit``: ensemble selection, each member refitted on all training rows;
* ``best+bag`` and ``best+refit``: the best trial alone, bagged or refitted;
* ``stack+bag``: the optional linear stacker over the 10 best trials (``--stack``), bagged;
* ``ensemble+bag-repeats`` and ``best+bag-repeats``: the first and third after the repeated
  cross-validation of the leaders (``autometa.repeats``: up to 4 rounds within a quarter of the
  search's time, ``repeats=4``);
* ``ensemble+bag-no-repeats`` and ``best+bag-no-repeats``: the first and third with
  ``repeats=0``. Until session 10 the default was 4 rounds, and ``results/repeats*`` compare
  these with the plain variants; they are the plain variants now.

A 20-trial search is too short for a round of repeats to fit its quarter, so at the default
``--trials 20`` the variants with and without repeats are the same model; ``--trials 100``
measures them.

Reported: test score (ROC-AUC, log-loss or RMSE), the fit's seconds (search plus final
model), and the seconds to predict the test rows.

Usage::

    python benchmarks/bench_bagging.py --trials 20
    python benchmarks/bench_bagging.py --trials 100 --name repeats \
        --variants ensemble+bag-repeats ensemble+bag best+bag-repeats best+bag
    python benchmarks/bench_bagging.py --report [--name repeats]
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

FIELDS = ["task", "kind", "rows", "metric", "variant", "score", "fit_seconds", "predict_seconds", "members",
          "repeats", "trials", "error", "finished", "load1"]
VARIANTS: dict[str, dict[str, object]] = {
    "ensemble+bag": {}, "ensemble+refit": {"final": "refit"},
    "best+bag": {"ensemble": False}, "best+refit": {"ensemble": False, "final": "refit"},
    "stack+bag": {"stack": True},
    "ensemble+bag-no-repeats": {"repeats": 0}, "best+bag-no-repeats": {"ensemble": False, "repeats": 0},
    "ensemble+bag-repeats": {"repeats": 4}, "best+bag-repeats": {"ensemble": False, "repeats": 4},
}
DEFAULT_VARIANTS = ["ensemble+bag", "ensemble+refit", "best+bag", "best+refit", "stack+bag"]


def run(trials: int, names: list[str], variants: list[str], name: str) -> None:
    from bench_cold import append_row, class_index, read_rows, split
    from bench_meta import _subtask
    from tasks import load_task

    from autometa.evaluate import predict_scores
    from autometa.flow import FitOptions, fit_task
    from autometa.metrics import get_metric

    csv = RESULTS / f"{name}.csv"
    done = {(r["task"], r["variant"]) for r in read_rows(csv) if not r["error"]}
    for i, name in enumerate(names, start=1):
        lt = load_task(name)
        task = lt.task
        metric = get_metric(None, task.kind)
        X_tr, X_te, y_tr, y_te = split(lt)
        y_true = class_index(task.classes, y_te) if task.is_classification else y_te
        sub = _subtask(task, X_tr, y_tr)
        for variant in variants:
            if (name, variant) in done:
                continue
            print(f"[{i}/{len(names)}] {name} {variant} ...", end=" ", flush=True)
            score, fit_s, pred_s, members, rounds, error = float("nan"), float("nan"), float("nan"), 0, 0, ""
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    start = time.perf_counter()
                    result = fit_task(sub, FitOptions(n_trials=trials, n_jobs=1, use_meta=False, record=False,
                                                      cv=5, **VARIANTS[variant]))  # type: ignore[arg-type]
                    fit_s = time.perf_counter() - start
                    start = time.perf_counter()
                    pred = predict_scores(result.model, X_te, task)
                    pred_s = time.perf_counter() - start
                score = metric(y_true, pred)
                members, rounds = len(result.ensemble_weights) or 1, result.repeats
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
                traceback.print_exc()
            append_row({"task": name, "kind": task.kind, "rows": task.n_rows, "metric": metric.name,
                        "variant": variant, "score": f"{score:.6g}", "fit_seconds": f"{fit_s:.2f}",
                        "predict_seconds": f"{pred_s:.3f}", "members": members, "repeats": rounds,
                        "trials": trials, "error": error,
                        "finished": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "load1": f"{os.getloadavg()[0]:.2f}"}, csv, FIELDS)
            print(f"{metric.name}={score:.4f} fit {fit_s:.1f}s predict {pred_s:.2f}s repeats {rounds}", flush=True)


def report(name: str) -> None:
    from bench_cold import read_rows
    from bench_meta import compare, higher_is_better, table

    df = pd.DataFrame(read_rows(RESULTS / f"{name}.csv"))
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
        for a, b, label in ((f"{what}+bag", f"{what}+refit", "bag/refit"),
                            (f"{what}+bag-repeats", f"{what}+bag", "repeats/no repeats"),
                            (f"{what}+bag", f"{what}+bag-no-repeats", "repeats/no repeats")):  # files before session 10
            if a in signed and b in signed:
                diff = signed[a] - signed[b]
                first, second = label.split("/")
                pairs.append(f"{what}: {first} better on {int((diff > 0).sum())}, {second} better on "
                             f"{int((diff < 0).sum())}, equal on {int((diff == 0).sum())} of {len(diff)} tasks")
    per_task = piv.copy()
    per_task.index.name = "task"
    text = "\n".join(["#### Summary", "", table(block), "", *[f"- {p}" for p in pairs], "",
                      "#### Test score per task", "", table(per_task, "{:.4f}"), ""])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(text + "\n")
    print(text)


def main() -> None:
    from tasks import task_names

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--tasks", nargs="*", default=None, help="task names (default: all of tasks.py)")
    ap.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, choices=list(VARIANTS))
    ap.add_argument("--name", default="bagging", help="results file names: results/NAME.csv and NAME.md")
    ap.add_argument("--report", action="store_true")
    a = ap.parse_args()
    if not a.report:
        run(a.trials, a.tasks or task_names(), a.variants, a.name)
    report(a.name)


if __name__ == "__main__":
    main()
