"""What the meta-database holds: build figures and a first look at the data.

    python benchmarks/meta_db_report.py [--meta-db meta_db/build.sqlite]

Prints (and writes to benchmarks/results/meta_db_report.md):
- build: tasks (by kind), configurations, runs, fill ratio, CPU-hours (sum of evaluation
  times), runs by status and failures/timeouts by learner;
- how often each learner family holds the best configuration of a task;
- per task, the spread between the best and the median configuration (normalized by the
  task's range of scores), summarized over tasks.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from autometa.meta.db import MetaDB

RESULTS = Path(__file__).resolve().parent / "results"


def markdown(frame: pd.DataFrame | pd.Series) -> str:
    """A small markdown table (no extra dependency)."""
    df = frame.to_frame() if isinstance(frame, pd.Series) else frame
    head = "| " + " | ".join([str(df.index.name or ""), *map(str, df.columns)]) + " |"
    rule = "| " + " | ".join(["---"] * (len(df.columns) + 1)) + " |"
    body = ["| " + " | ".join([str(i), *map(str, row)]) + " |" for i, row in zip(df.index, df.to_numpy(), strict=True)]
    return "\n".join([head, rule, *body])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meta-db", default="meta_db/build.sqlite")
    args = parser.parse_args()
    db = MetaDB(args.meta_db)
    stats = db.stats()
    runs = db.runs_frame()
    runs = runs[runs["origin"] == "corpus"]
    lines = ["## Build", "", "| figure | value |", "| --- | --- |"]
    lines += [f"| tasks | {stats['tasks']} ({', '.join(f'{k}: {v}' for k, v in stats['tasks_by_kind'].items())}) |",
              f"| configurations | {stats['configurations']} ({runs['slot'].nunique()} portfolio slots) |",
              f"| runs | {stats['runs']} |", f"| fill ratio (ok cells / tasks x slots) | {stats['fill_ratio']:.3f} |",
              f"| CPU-hours (sum of evaluation times) | {runs['fit_seconds'].sum() / 3600:.2f} |",
              f"| runs by status | {json.dumps(stats['runs_by_status'])} |"]
    bad = runs[runs["status"] != "ok"].groupby(["learner", "status"]).size().unstack(fill_value=0)
    lines += ["", "Failures and timeouts by learner:", "", markdown(bad) if not bad.empty else "(none)"]

    ok = runs[runs["status"] == "ok"].copy()
    sign = np.where(ok["direction"] == "maximize", 1.0, -1.0)
    ok["gain"] = ok["score"] * sign  # higher is better for every metric
    best = ok.loc[ok.groupby("task_id")["gain"].idxmax()]
    share = best["learner"].value_counts(normalize=True).rename("share of tasks where best")
    lines += ["", "## Which family holds each task's best configuration", "", markdown(share.round(3))]
    spread = []
    for _, g in ok.groupby("task_id"):
        lo, hi = g["gain"].min(), g["gain"].max()
        if hi > lo:
            spread.append((hi - g["gain"].median()) / (hi - lo))
    s = pd.Series(spread)
    lines += ["", "## Best against median configuration, per task",
              "", "(best - median) / (best - worst) of the task's portfolio scores:", "",
              f"mean {s.mean():.3f}, median {s.median():.3f}, 90th percentile {s.quantile(0.9):.3f} "
              f"over {len(s)} tasks"]
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "meta_db_report.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
