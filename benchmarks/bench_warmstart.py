"""How the warm start meets the sampler under a time budget: variants of autometa on held-out
corpus tasks, several fit seeds each (the split and the meta_db fold fixed as in bench_budget.py).

* ``autometa``: the product (10 recommended configurations enqueued, then TPE's random start-up
  of 10 trials, then TPE);
* ``autometa-warm-counted``: the warm start counted as TPE's start-up (sessions 1-10: after the
  10 recommended configurations TPE models at once);
* ``autometa-k3``: as ``autometa-warm-counted`` with 3 recommended configurations instead of 10;
* ``autometa-cold``: no meta-learning (10 random trials, then TPE).

The two trivial tasks of bench_budget's eight (every method scores 1.0 ROC-AUC or 0.0 log-loss)
are left out. One row per (task, variant, seed) is appended to ``results/NAME.csv`` as it
finishes, so a run resumes; ``--part i --parts n`` runs every n-th job (processes side by side).

Usage::

    python benchmarks/bench_warmstart.py --meta-db /tmp/corpus.sqlite --budget 60 --seeds 1 2
    python benchmarks/bench_warmstart.py --report
"""

from __future__ import annotations

from _setup import HERE, RESULTS

import argparse
import csv
import itertools
import os
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd

VARIANTS = ["autometa", "autometa-warm-counted", "autometa-k3", "autometa-cold"]
TRIVIAL = {"Stat2Data.Whickham2.Outcome", "geepack.spruce.chamber"}
FIELDS = ["task", "metric", "variant", "seed", "score", "seconds", "trials", "load1"]


def run(meta_db: str, budget: float, seeds: list[int], variants: list[str], out: Path, part: int, parts: int) -> None:
    import bench_budget as bb
    from bench_cold import class_index
    from bench_meta import _subtask, live_tasks

    import autometa.search as search
    from autometa.evaluate import predict_scores
    from autometa.flow import FitOptions, fit_task
    from autometa.meta.corpus import load_specs, load_task
    from autometa.meta.db import MetaDB
    from autometa.meta.evaluation import grouped_folds
    from autometa.meta.experience import Experience
    from autometa.metrics import get_metric

    exp = Experience.from_db(MetaDB(meta_db))
    folds = grouped_folds(exp.tasks, 5, seed=bb.SEED)
    specs = {s.name: s for s in load_specs(HERE.parent / "meta_db" / "corpus_tasks.json")}
    work = Path(tempfile.gettempdir()) / "bench-budget"
    work.mkdir(exist_ok=True)
    tasks = [(d, f) for d, f in live_tasks(exp, 8) if exp.tasks.loc[d, "name"] not in TRIVIAL]
    done = {(r["task"], r["variant"], r["seed"]) for r in csv.DictReader(out.open())} if out.exists() else set()
    make_sampler = search.make_sampler
    for i, ((digest, fold), seed, variant) in enumerate(itertools.product(tasks, seeds, variants)):
        name = exp.tasks.loc[digest, "name"]
        if i % parts != part or (name, variant, str(seed)) in done:
            continue
        db_path = bb.fold_db(meta_db, set(folds[fold]), work, fold)
        task = load_task(specs[name], max_rows=bb.MAX_ROWS)
        metric = get_metric(None, task.kind)
        X_tr, X_te, y_tr, y_te = bb.split(task)
        y_true = class_index(task.classes, y_te) if task.is_classification else y_te
        meta = variant != "autometa-cold"
        options = FitOptions(n_trials=None, time_budget=budget, n_jobs=1, record=False, seed=seed, use_meta=meta,
                             meta_top_k=3 if variant == "autometa-k3" else None)
        counted = variant in ("autometa-warm-counted", "autometa-k3")
        search.make_sampler = (lambda s: make_sampler(replace(s, warm_trials=0))) if counted else make_sampler
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                result = fit_task(_subtask(task, X_tr, y_tr), options, db=MetaDB(db_path) if meta else None)
                seconds = time.perf_counter() - start
        finally:
            search.make_sampler = make_sampler
        score = metric(y_true, predict_scores(result.model, X_te, task))
        new = not out.exists()
        with out.open("a", newline="") as f:
            writer = csv.DictWriter(f, FIELDS)
            if new:
                writer.writeheader()
            writer.writerow({"task": name, "metric": metric.name, "variant": variant, "seed": seed,
                             "score": f"{score:.6g}", "seconds": f"{seconds:.1f}", "trials": result.n_trials,
                             "load1": f"{os.getloadavg()[0]:.2f}"})
        print(f"{name} {variant} seed {seed}: {metric.name}={score:.4f}, {result.n_trials} trials", flush=True)


def paired(df: pd.DataFrame, column: str, order: list[str], reference: str) -> tuple[pd.DataFrame, list[str]]:
    """Methods (``column``) compared per task and seed on test scores: the table of signed scores
    (higher is better) and a summary in markdown, each method against ``reference``."""
    df = df.assign(signed=df["score"].where(df["metric"] == "roc_auc", -df["score"]))
    piv = df.pivot_table(index=["task", "seed"], columns=column, values="signed")
    piv = piv[[v for v in order if v in piv.columns]]
    span = (piv.max(axis=1) - piv.min(axis=1)).replace(0, 1)
    normed = piv.sub(piv.min(axis=1), axis=0).div(span, axis=0)
    ranks = piv.rank(axis=1, ascending=False)
    lines = [f"| {column} | mean normalized | average rank | against {reference}: better / worse |",
             "|---|---:|---:|---|"]
    for v in piv.columns:
        both = piv[[reference, v]].dropna() if reference in piv.columns else piv[[v]]
        versus = "-" if v == reference else f"{int((both[v] > both[reference] + 1e-12).sum())} / " \
                                            f"{int((both[v] < both[reference] - 1e-12).sum())} of {len(both)}"
        lines.append(f"| {v} | {normed[v].mean():.3f} | {ranks[v].mean():.2f} | {versus} |")
    return piv, lines


def means(df: pd.DataFrame, column: str, order: list[str]) -> list[str]:
    """Each task's test score averaged over the seeds, per method, in markdown."""
    table = df.pivot_table(index="task", columns=column, values="score")[order]
    lines = ["Mean test score over the seeds (ROC-AUC: higher is better; RMSE and log-loss: lower):", "",
             "| task | " + " | ".join(order) + " |", "|---|" + "---:|" * len(order)]
    return lines + [f"| {t} | " + " | ".join(f"{v:.4g}" for v in row) + " |" for t, row in table.iterrows()]


def report(out: Path) -> None:
    df = pd.read_csv(out)
    piv, lines = paired(df, "variant", VARIANTS, "autometa")
    text = "\n".join([*lines, "", *means(df, "variant", list(piv.columns))])
    out.with_suffix(".md").write_text(text + "\n")
    print(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--meta-db", default="meta_db/build.sqlite")
    ap.add_argument("--budget", type=float, default=60.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    ap.add_argument("--part", type=int, default=0)
    ap.add_argument("--parts", type=int, default=1)
    ap.add_argument("--name", default="warmstart_60")
    ap.add_argument("--report", action="store_true")
    a = ap.parse_args()
    out = RESULTS / f"{a.name}.csv"
    if not a.report:
        run(a.meta_db, a.budget, a.seeds, a.variants, out, a.part, a.parts)
    report(out)


if __name__ == "__main__":
    main()
