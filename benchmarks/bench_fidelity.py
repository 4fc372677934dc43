"""Fidelity schedules: the recommended schedule per learner family against none, the default
(median) and Optuna's default Hyperband, at a fixed wall-clock budget.

Held-out corpus tasks as in ``bench_budget.py`` (for each task, the meta_db is a copy of the
corpus, curves included, without every task of the task's fold of source groups), at up to
20,000 rows, split 75/25 (stratified for classification, seed 0). Each method is ``fit_task``
with the product's defaults (recommendation and warm start, bagged ensemble), ``time_budget``,
no trial limit and one thread; only ``fidelity`` differs:

* ``none``: no rung before the full fidelity (fold-level pruning stays, as in every method);
* ``median``: rungs at 1/9 and 1/3, the better half goes on (the default);
* ``hyperband``: ``optuna.pruners.HyperbandPruner()`` with its defaults on the steps trials report;
* ``auto``: per family, the schedule whose replays on the nearest past tasks' learning curves
  found the best configuration in a fixed time (``autometa.meta.fidelity``).

Reported: the test score at the budget (normalized per task over the methods: 1 = the best, 0 =
the worst), the rank, the trials run and pruned, and the seconds each method took to reach the
*same* cross-validation score: the lowest of the methods' final best scores on the task (from the
trials' completion times).

Results: ``benchmarks/results/fidelity.csv`` (appended as runs finish, so a run resumes) and
``fidelity.md``.

Usage::

    python benchmarks/bench_fidelity.py --meta-db /path/to/build.sqlite --tasks 10 --budgets 30
    python benchmarks/bench_fidelity.py --report
"""

from __future__ import annotations

from _setup import RESULTS

import argparse
import json
import time
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

CSV = RESULTS / "fidelity.csv"
FIELDS = ["task", "group", "kind", "rows", "fold", "metric", "budget", "method", "fidelity", "score", "seconds",
          "trials", "pruned", "curve", "error", "finished", "load1"]
METHODS = ["none", "median", "hyperband", "auto"]
SEED = 0


def run_one(method: str, budget: float, task: Any, X_tr: Any, X_te: Any, y_tr: Any,
            db_path: str) -> tuple[np.ndarray, dict[str, Any]]:
    from bench_meta import _subtask

    from autometa.evaluate import predict_scores
    from autometa.flow import FitOptions, fit_task
    from autometa.meta.db import MetaDB

    sub = _subtask(task, X_tr, y_tr)
    options = FitOptions(n_trials=None, time_budget=budget, n_jobs=1, record=False, seed=SEED, fidelity=method)
    began = datetime.now()  # naive local time, as Optuna's trial datetimes
    start = time.perf_counter()
    result = fit_task(sub, options, db=MetaDB(db_path))
    seconds = time.perf_counter() - start
    sign = 1.0 if result.greater_is_better else -1.0
    curve, best = [], -np.inf
    done = [t for t in result.study.trials if t.state.name == "COMPLETE" and t.datetime_complete is not None]
    for t in sorted(done, key=lambda t: t.datetime_complete):
        if sign * t.value > best:
            best = sign * t.value
            curve.append([round((t.datetime_complete - began).total_seconds(), 2), best])
    return predict_scores(result.model, X_te, task), {
        "seconds": seconds, "trials": result.n_trials, "fidelity": result.fidelity,
        "pruned": sum(r.state == "pruned" for r in result.records), "curve": json.dumps(curve)}


def run(meta_db: str, n_tasks: int, budgets: list[float], methods: list[str]) -> None:
    from bench_budget import held_out

    def call(method: str, budget: float, task: Any, X_tr: Any, X_te: Any, y_tr: Any, metric: Any,
             db_path: str) -> tuple[np.ndarray, dict[str, Any]]:
        pred, facts = run_one(method, budget, task, X_tr, X_te, y_tr, db_path)
        return pred, {**facts, "seconds": f"{facts['seconds']:.2f}"}

    held_out(meta_db, n_tasks, budgets, methods, CSV, FIELDS, call, work_name="bench-fidelity")


def time_to(curve: list[list[float]], target: float) -> float:
    """Seconds until the best cross-validation score so far reached ``target`` (inf: never)."""
    for seconds, best in curve:
        if best >= target - 1e-12:
            return float(seconds)
    return float("inf")


def report() -> None:
    from bench_cold import read_rows
    from bench_meta import compare, higher_is_better, table, task_summary

    df = pd.DataFrame(read_rows(CSV))
    if df.empty:
        raise SystemExit(f"no results in {CSV}")
    df = df[df["error"] == ""]
    for col in ("score", "budget", "trials", "pruned", "seconds"):
        df[col] = pd.to_numeric(df[col])
    parts = [f"# Fidelity schedules at a fixed budget\n\n{task_summary(df)}"]
    for budget, part in df.groupby("budget"):
        piv = part.pivot_table(index="task", columns="method", values="score").dropna()
        methods = [m for m in METHODS if m in piv.columns]
        piv = piv[methods]
        metric_of = part.drop_duplicates("task").set_index("task")["metric"]
        normed, ranks, firsts = compare(higher_is_better(piv, metric_of))
        curves = {(r.task, r.method): json.loads(r.curve) for r in part.itertuples()}
        reach = {}
        for t in piv.index:
            finals = [curves[(t, m)][-1][1] for m in methods if curves.get((t, m))]
            if len(finals) == len(methods):
                target = min(finals)
                reach[t] = {m: time_to(curves[(t, m)], target) for m in methods}
        reach_df = pd.DataFrame(reach).T
        summary = pd.DataFrame({
            "normalized": normed.mean(), "rank": ranks.mean(), "first": firsts,
            "trials": part.groupby("method")["trials"].mean(), "pruned": part.groupby("method")["pruned"].mean(),
            "s_to_same_cv": reach_df.median() if len(reach_df) else np.nan}).loc[methods]
        summary.index.name = "method"
        parts += [f"## {budget:g} s budget, {len(piv)} tasks", table(summary),
                  "normalized: test score, 1 = the best method on the task, 0 = the worst; s_to_same_cv: median "
                  "seconds to reach the lowest of the methods' final cross-validation scores.",
                  table(piv.round(4), fmt="{:.4f}")]
        auto = part[part["method"] == "auto"][["task", "fidelity"]]
        parts.append("What `auto` chose:\n\n" + "\n".join(f"- {r.task}: `{r.fidelity}`" for r in auto.itertuples()))
    text = "\n\n".join(parts) + "\n"
    (RESULTS / "fidelity.md").write_text(text)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meta-db", help="A meta_db with the corpus runs and learning curves.")
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--budgets", type=float, nargs="+", default=[30.0])
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--report", action="store_true", help="Only write the report from the CSV.")
    args = parser.parse_args()
    if not args.report:
        if not args.meta_db:
            parser.error("--meta-db is required to run")
        run(args.meta_db, args.tasks, args.budgets, args.methods)
    report()


if __name__ == "__main__":
    main()
