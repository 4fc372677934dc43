"""Learner families that pay: do CatBoost and XGBoost improve autometa's final model?

Held-out corpus tasks as in ``bench_budget.py`` (for each task, the meta_db is a
copy of the corpus without every task of the task's fold of source groups;
tables at up to ``--max-rows`` rows (default 5,000), split 75/25, seed 0; one thread). Each task is
fitted with ``--trials N`` (default 30) and the product's defaults (meta-learning,
warm start, bagged ensemble selection), once per variant, with the same seed:

* ``all``: every family (the default search);
* ``no-catboost``, ``no-xgboost``: without one of the two;
* ``no-cb-xgb``: without both (the families before they were added).

Reported: test score (ROC-AUC, log-loss, RMSE) as mean normalized score,
average rank and wins; the fit's seconds; and, for ``all``, the share of trials
and of ensemble weight that went to CatBoost and to XGBoost.

Results: ``benchmarks/results/families.csv`` (appended, so a run resumes) and
``families.md``.

Usage::

    python benchmarks/bench_families.py --meta-db /tmp/corpus.sqlite --tasks 12 --trials 30
    python benchmarks/bench_families.py --report
"""

from __future__ import annotations

from _setup import HERE, RESULTS

import argparse
import os
import tempfile
import time
import traceback
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

CSV = RESULTS / "families.csv"
FIELDS = ["task", "group", "kind", "rows", "fold", "metric", "trials", "variant", "score", "seconds",
          "catboost_trials", "xgboost_trials", "catboost_weight", "xgboost_weight", "members", "error",
          "finished", "load1"]
VARIANTS = {"all": (), "no-catboost": ("catboost",), "no-xgboost": ("xgboost",),
            "no-cb-xgb": ("catboost", "xgboost")}
NEW = ("catboost", "xgboost")


def run(meta_db: str, n_tasks: int, trials: int, variants: list[str], max_rows: int) -> None:
    from bench_budget import SEED, fold_db, split
    from bench_cold import append_row, class_index, read_rows
    from bench_meta import _subtask, live_tasks

    from autometa.evaluate import predict_scores
    from autometa.flow import FitOptions, fit_task
    from autometa.meta.corpus import load_specs, load_task
    from autometa.meta.db import MetaDB
    from autometa.meta.evaluation import grouped_folds
    from autometa.meta.experience import Experience
    from autometa.metrics import get_metric
    from autometa.spaces import iter_learner_names, load_spaces

    exp = Experience.from_db(MetaDB(meta_db))
    folds = grouped_folds(exp.tasks, 5, seed=SEED)
    specs = {s.name: s for s in load_specs(HERE.parent / "meta_db" / "corpus_tasks.json")}
    done = {(r["task"], int(r["trials"]), r["variant"]) for r in read_rows(CSV) if not r["error"]}
    work = Path(tempfile.gettempdir()) / "bench-budget"
    work.mkdir(exist_ok=True)
    chosen = live_tasks(exp, n_tasks)
    print(f"{len(chosen)} held-out tasks x {len(variants)} variants at {trials} trials", flush=True)
    for i, (digest, fold) in enumerate(chosen, start=1):
        info = exp.tasks.loc[digest]
        todo = [v for v in variants if (info["name"], trials, v) not in done]
        if not todo:
            continue
        db_path = fold_db(meta_db, set(folds[fold]), work, fold)
        task = load_task(specs[info["name"]], max_rows=max_rows)
        metric = get_metric(None, task.kind)
        X_tr, X_te, y_tr, y_te = split(task)
        y_true = class_index(task.classes, y_te) if task.is_classification else y_te
        sub = _subtask(task, X_tr, y_tr)
        for variant in todo:
            print(f"[{i}/{len(chosen)}] {info['name']} ({task.kind}, {task.n_rows} rows) {variant} ...", end=" ",
                  flush=True)
            learners = tuple(n for n in iter_learner_names(load_spaces(), task.kind) if n not in VARIANTS[variant])
            score, seconds, members, error = float("nan"), float("nan"), 0, ""
            shares = dict.fromkeys([f"{f}_{w}" for f in NEW for w in ("trials", "weight")], float("nan"))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    start = time.perf_counter()
                    result = fit_task(sub, FitOptions(n_trials=trials, n_jobs=1, record=False, seed=SEED,
                                                      learners=learners), db=MetaDB(db_path))
                    seconds = time.perf_counter() - start
                score = metric(y_true, predict_scores(result.model, X_te, task))
                family = {r.number: r.config.learner for r in result.records}
                weights = result.ensemble_weights or {result.records[0].number: 1.0}
                for f in NEW:
                    shares[f"{f}_trials"] = sum(v == f for v in family.values()) / max(1, len(family))
                    shares[f"{f}_weight"] = sum(w for n, w in weights.items() if family.get(n) == f) / sum(
                        weights.values())
                members = len(weights)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
                traceback.print_exc()
            append_row({"task": info["name"], "group": info["group_key"], "kind": task.kind, "rows": task.n_rows,
                        "fold": fold, "metric": metric.name, "trials": trials, "variant": variant,
                        "score": f"{score:.6g}", "seconds": f"{seconds:.2f}",
                        **{k: f"{v:.3f}" for k, v in shares.items()}, "members": members, "error": error,
                        "finished": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "load1": f"{os.getloadavg()[0]:.2f}"}, CSV, FIELDS)
            print(f"{metric.name}={score:.4f} in {seconds:.1f}s; ensemble weight: catboost "
                  f"{shares['catboost_weight']:.0%}, xgboost {shares['xgboost_weight']:.0%}"
                  + (f" FAILED {error}" if error else ""), flush=True)


def report() -> None:
    from bench_cold import read_rows
    from bench_meta import compare, higher_is_better, table, task_summary

    df = pd.DataFrame(read_rows(CSV))
    if df.empty:
        print("no results yet")
        return
    for col in ("score", "seconds", *[f"{f}_{w}" for f in NEW for w in ("trials", "weight")]):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df = df[df["error"] == ""].drop_duplicates(["task", "trials", "variant"], keep="last")
    lines = []
    for trials in sorted(df["trials"].unique(), key=int):
        part = df[df["trials"] == trials]
        variants = [v for v in VARIANTS if v in set(part["variant"])]
        piv = part.pivot(index="task", columns="variant", values="score").reindex(columns=variants).dropna()
        signed = higher_is_better(piv, part.drop_duplicates("task").set_index("task")["metric"])
        normed, ranks, wins = compare(signed)
        secs = part.pivot(index="task", columns="variant", values="seconds").reindex(columns=variants)
        rows = {v: {"tasks": len(piv), "mean normalized score": normed[v].mean(), "average rank": ranks[v].mean(),
                    "wins": int(wins[v]), "total fit s": secs.loc[piv.index, v].sum()} for v in variants}
        block = pd.DataFrame(rows).T
        for c in ("tasks", "wins"):
            block[c] = block[c].astype(int)
        block.index.name = f"{trials} trials"
        lines += [f"#### {trials} trials, one thread", "", table(block), ""]
        if {"all", "no-cb-xgb"} <= set(variants):
            diff = signed["all"] - signed["no-cb-xgb"]
            share = part[part["variant"] == "all"].set_index("task").loc[piv.index]
            lines += [f"- all families against none of the new: better on {int((diff > 0).sum())}, worse on "
                      f"{int((diff < 0).sum())}, equal on {int((diff == 0).sum())} of {len(diff)} tasks.",
                      *[f"- with all families, {f} took {share[f'{f}_trials'].mean():.0%} of the trials and "
                        f"{share[f'{f}_weight'].mean():.0%} of the ensemble weight (means over tasks)." for f in NEW],
                      ""]
        per_task = piv.copy()
        per_task.index.name = "task"
        lines += ["Test score per task:", "", table(per_task, "{:.4g}"), ""]
    lines.append(task_summary(df))
    text = "\n".join(lines)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "families.md").write_text(text + "\n")
    print(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--meta-db", default="meta_db/build.sqlite")
    ap.add_argument("--tasks", type=int, default=12)
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--max-rows", type=int, default=5000, help="subsample larger tables (seed 0) to this many rows")
    ap.add_argument("--report", action="store_true")
    a = ap.parse_args()
    if not a.report:
        run(a.meta_db, a.tasks, a.trials, a.variants, a.max_rows)
    report()


if __name__ == "__main__":
    main()
