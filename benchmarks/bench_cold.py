"""Cold-start benchmark: autometa against LightGBM defaults and FLAML on the tasks of ``tasks.py``.

For each task: one fixed 75/25 train/test split (stratified for classification,
seed 0); every method is fitted on the same training rows and columns (the
cleaned ``Task.X``/``Task.y`` from ``autometa.data.make_task``) in this one
process, with 2 threads, and scored on the test rows with autometa's default
metric for the task kind (ROC-AUC for binary, log-loss for multiclass, RMSE
for regression).

Methods:

* ``autometa-10``, ``autometa-30``: ``AutoMetaClassifier``/``AutoMetaRegressor``
  cold search, ``n_trials`` 10 / 30, ``random_state=0``, ``n_jobs=2``, no tracking.
* ``autometa-30-ens``: the same with 30 trials and ``ensemble=True``.
* ``lightgbm``: ``LGBMClassifier``/``LGBMRegressor`` defaults (``verbose=-1``,
  ``n_jobs=2``, ``random_state=0``); categorical columns as pandas ``category``,
  numeric columns through ``pd.to_numeric``.
* ``flaml-10``, ``flaml-30``: ``flaml.AutoML().fit(..., metric=<same metric>,
  max_iter=N, time_budget=-1 (no time limit), n_jobs=2, seed=0, verbose=0)`` on
  the same frame as LightGBM (object columns as pandas ``category``).

Wall time is fit + predict. Rows are appended to
``benchmarks/results/cold_baseline.csv`` as they finish; rows already there are
skipped, so an interrupted run resumes.

Usage::

    python benchmarks/bench_cold.py                      # everything, then the report
    python benchmarks/bench_cold.py --tasks fgl/type --methods lightgbm,flaml-10
    python benchmarks/bench_cold.py --report             # only the report from the CSV
"""

from __future__ import annotations

import argparse
import csv
import os
import time
import traceback
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "2")

from _setup import HERE, RESULTS, isolate_meta_db

isolate_meta_db("bench-cold-")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from tasks import TASKS, load_task  # noqa: E402

CSV_PATH = RESULTS / "cold_baseline.csv"
MD_PATH = RESULTS / "cold_baseline.md"
FIELDS = ["task", "kind", "metric", "method", "score", "seconds", "trials", "n_train", "n_test",
          "error", "finished", "load1"]
METHODS = ["autometa-10", "autometa-30", "autometa-30-ens", "lightgbm", "flaml-10", "flaml-30"]
N_JOBS = 2
SEED = 0
FLAML_METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}


# --------------------------------------------------------------------------- data


def split(lt: Any, seed: int = SEED) -> tuple[Any, Any, Any, Any]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(lt.y))
    strat = lt.y if lt.kind != "regression" else None
    tr, te = train_test_split(idx, test_size=0.25, random_state=seed, stratify=strat)
    X = lt.X.reset_index(drop=True)
    return X.iloc[tr].reset_index(drop=True), X.iloc[te].reset_index(drop=True), lt.y[tr], lt.y[te]


def lgbm_frame(task: Any, X_train: pd.DataFrame, X_test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Numeric columns through ``pd.to_numeric``; everything else as ``category`` (train's levels)."""
    tr, te = pd.DataFrame(index=X_train.index), pd.DataFrame(index=X_test.index)
    for col in task.columns:
        a, b = X_train[col.name], X_test[col.name]
        if col.kind == "numeric":
            tr[col.name] = pd.to_numeric(a, errors="coerce").astype("float64")
            te[col.name] = pd.to_numeric(b, errors="coerce").astype("float64")
        elif col.kind == "datetime":
            tr[col.name] = pd.to_datetime(a, errors="coerce").astype("int64").astype("float64")
            te[col.name] = pd.to_datetime(b, errors="coerce").astype("int64").astype("float64")
        else:  # categorical, boolean
            sa, sb = a.astype("string").str.strip(), b.astype("string").str.strip()
            levels = sorted(sa.dropna().unique())
            tr[col.name] = pd.Categorical(sa, categories=levels)
            te[col.name] = pd.Categorical(sb, categories=levels)
    return tr, te


def class_index(classes: Any, y: Any) -> np.ndarray:
    return np.searchsorted(np.asarray(classes, dtype=np.asarray(y).dtype), y)


def align(proba: Any, model_classes: Any, classes: Any) -> np.ndarray:
    proba = np.asarray(proba, dtype="float64")
    out = np.zeros((len(proba), len(classes)))
    pos = {(c.item() if hasattr(c, "item") else c): i for i, c in enumerate(classes)}
    for j, c in enumerate(model_classes):
        out[:, pos[c.item() if hasattr(c, "item") else c]] = proba[:, j]
    return out


# --------------------------------------------------------------------------- methods


def run_autometa(kind: str, X_tr: Any, y_tr: Any, X_te: Any, classes: Any, n_trials: int,
                 ensemble: bool) -> tuple[np.ndarray, int]:
    from autometa import AutoMetaClassifier, AutoMetaRegressor

    cls = AutoMetaRegressor if kind == "regression" else AutoMetaClassifier
    est = cls(n_trials=n_trials, random_state=SEED, n_jobs=N_JOBS, ensemble=ensemble, tracking_uri=None)
    if "record" in est.get_params():  # newer versions record fits in a meta-database: a cold search doesn't
        est.set_params(record=False)
    est.fit(X_tr, y_tr)
    if kind == "regression":
        pred = np.asarray(est.predict(X_te), dtype="float64")
    else:
        pred = align(est.predict_proba(X_te), est.classes_, classes)
    return pred, len(est.result_.records)


def run_lightgbm(task: Any, kind: str, X_tr: Any, y_tr: Any, X_te: Any, classes: Any) -> tuple[np.ndarray, int]:
    import lightgbm as lgb

    tr, te = lgbm_frame(task, X_tr, X_te)
    if kind == "regression":
        model = lgb.LGBMRegressor(verbose=-1, n_jobs=N_JOBS, random_state=SEED).fit(tr, y_tr)
        return np.asarray(model.predict(te), dtype="float64"), 1
    model = lgb.LGBMClassifier(verbose=-1, n_jobs=N_JOBS, random_state=SEED).fit(tr, y_tr)
    return align(model.predict_proba(te), model.classes_, classes), 1


def run_flaml(task: Any, kind: str, X_tr: Any, y_tr: Any, X_te: Any, classes: Any,
              max_iter: int) -> tuple[np.ndarray, int]:
    from flaml import AutoML  # needs flaml[automl] (xgboost installed)

    tr, te = lgbm_frame(task, X_tr, X_te)
    automl = AutoML()
    automl.fit(tr, y_tr, task="regression" if kind == "regression" else "classification",
               metric=FLAML_METRIC[kind], max_iter=max_iter, time_budget=-1, n_jobs=N_JOBS, seed=SEED,
               verbose=0)
    per_learner = getattr(automl, "_iter_per_learner", None)  # iterations run (config_history keeps
    trials = sum(per_learner.values()) if per_learner else len(automl.config_history)  # only improvements)
    if kind == "regression":
        return np.asarray(automl.predict(te), dtype="float64"), trials
    return align(automl.predict_proba(te), automl.classes_, classes), trials


def run_method(method: str, lt: Any, data: tuple[Any, Any, Any, Any]) -> tuple[np.ndarray, int]:
    X_tr, X_te, y_tr, _ = data
    classes = lt.task.classes
    if method.startswith("autometa-"):
        n = int(method.split("-")[1])
        return run_autometa(lt.kind, X_tr, y_tr, X_te, classes, n, method.endswith("-ens"))
    if method == "lightgbm":
        return run_lightgbm(lt.task, lt.kind, X_tr, y_tr, X_te, classes)
    if method.startswith("flaml-"):
        return run_flaml(lt.task, lt.kind, X_tr, y_tr, X_te, classes, int(method.split("-")[1]))
    raise ValueError(f"unknown method {method!r}")


# --------------------------------------------------------------------------- results file


def read_rows(path: Path = CSV_PATH) -> list[dict[str, str]]:
    """The rows of a results CSV (none if it does not exist yet)."""
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def append_row(row: dict[str, Any], path: Path = CSV_PATH, fields: list[str] = FIELDS) -> None:
    """Append one row to a results CSV at once (header first if new), so an interrupted run resumes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with path.open("a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        if new:
            w.writeheader()
        w.writerow(row)
        fh.flush()
        os.fsync(fh.fileno())


def warm_imports() -> None:
    """Import the heavy libraries once up front, so no method's wall time pays for them."""
    import flaml.automl.automl  # noqa: F401
    import lightgbm  # noqa: F401
    import optuna  # noqa: F401
    import sklearn.ensemble  # noqa: F401

    import autometa.flow  # noqa: F401


def run(task_names: list[str], methods: list[str], retry_failed: bool) -> None:
    from autometa.metrics import get_metric

    rows = read_rows()
    done = {(r["task"], r["method"]) for r in rows if retry_failed is False or not r["error"]}
    todo = [(t, m) for t in task_names for m in methods if (t, m) not in done]
    print(f"{len(todo)} (task, method) runs to do, {len(task_names) * len(methods) - len(todo)} already "
          f"in {CSV_PATH.relative_to(HERE.parent)}", flush=True)
    if not todo:
        return
    warm_imports()
    total_start = time.perf_counter()
    k = 0
    for name in task_names:
        pending = [m for m in methods if (name, m) not in done]
        if not pending:
            continue
        lt = load_task(name)
        data = split(lt)
        metric = get_metric(None, lt.kind)
        _, _, _, y_te = data
        y_true = class_index(lt.task.classes, y_te) if lt.kind != "regression" else y_te
        for method in pending:
            k += 1
            print(f"[{k}/{len(todo)}] {name} ({lt.kind}, {len(data[0])} train / {len(data[1])} test) "
                  f"{method} ...", end=" ", flush=True)
            start = time.perf_counter()
            score, trials, error = float("nan"), 0, ""
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    pred, trials = run_method(method, lt, data)
                seconds = time.perf_counter() - start
                score = metric(y_true, pred)
            except Exception as exc:  # recorded, the run goes on
                seconds = time.perf_counter() - start
                error = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
                traceback.print_exc()
            append_row({"task": name, "kind": lt.kind, "metric": metric.name, "method": method,
                        "score": f"{score:.6g}", "seconds": f"{seconds:.2f}", "trials": trials,
                        "n_train": len(data[0]), "n_test": len(data[1]), "error": error,
                        "finished": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "load1": f"{os.getloadavg()[0]:.2f}"})
            print(f"{metric.name}={score:.4f} in {seconds:.1f}s ({trials} trials)"
                  + (f" FAILED {error}" if error else ""), flush=True)
    print(f"done in {time.perf_counter() - total_start:.0f}s", flush=True)


# --------------------------------------------------------------------------- report


def summarize(rows: list[dict[str, str]], task_order: list[str], methods: list[str]) -> tuple[str, pd.DataFrame]:
    from autometa.metrics import METRICS

    df = pd.DataFrame(rows)
    df = df[df["method"].isin(methods) & df["task"].isin(task_order)].copy()
    df["score"] = pd.to_numeric(df["score"], errors="coerce")
    df["seconds"] = pd.to_numeric(df["seconds"], errors="coerce")
    df["trials"] = pd.to_numeric(df["trials"], errors="coerce")
    df = df.drop_duplicates(["task", "method"], keep="last")
    present = [m for m in methods if m in set(df["method"])]
    tasks = [t for t in task_order if t in set(df["task"])]
    score = df.pivot(index="task", columns="method", values="score").reindex(index=tasks, columns=present)
    secs = df.pivot(index="task", columns="method", values="seconds").reindex(index=tasks, columns=present)
    trials = df.pivot(index="task", columns="method", values="trials").reindex(index=tasks, columns=present)
    meta = df.drop_duplicates("task").set_index("task")

    lines = ["### Test scores per task", "",
             "Metric per kind: binary ROC-AUC (higher is better), multiclass log-loss and regression "
             "RMSE (lower is better). **Bold**: best on the task.", ""]
    lines.append("| task | kind | metric | " + " | ".join(present) + " |")
    lines.append("|---|---|---|" + "---:|" * len(present))
    complete = []
    norm_rows, rank_rows = [], []
    for t in tasks:
        m = METRICS[meta.loc[t, "metric"]]
        s = score.loc[t]
        valid = s.dropna()
        best = (valid.max() if m.greater_is_better else valid.min()) if len(valid) else np.nan
        cells = []
        for meth in present:
            v = s[meth]
            cell = "fail" if pd.isna(v) else f"{v:.4f}"
            if not pd.isna(v) and v == best:
                cell = f"**{cell}**"
            cells.append(cell)
        lines.append(f"| {t} | {meta.loc[t, 'kind']} | {m.name} | " + " | ".join(cells) + " |")
        if len(valid) == len(present):
            complete.append(t)
            signed = s if m.greater_is_better else -s
            lo, hi = signed.min(), signed.max()
            norm_rows.append((signed - lo) / (hi - lo) if hi > lo else signed * 0 + 1.0)
            rank_rows.append(signed.rank(ascending=False, method="average"))
    lines.append("")
    lines.append("### Wall time per task (seconds, fit + predict, 2 threads)")
    lines.append("")
    lines.append("| task | " + " | ".join(present) + " |")
    lines.append("|---|" + "---:|" * len(present))
    for t in tasks:
        lines.append(f"| {t} | " + " | ".join("" if pd.isna(secs.loc[t, m]) else f"{secs.loc[t, m]:.1f}"
                                             for m in present) + " |")
    lines.append("")
    summary = pd.DataFrame(index=present)
    if complete:
        norm = pd.DataFrame(norm_rows, index=complete)
        rank = pd.DataFrame(rank_rows, index=complete)
        wins = pd.DataFrame([(r == 1.0) | (r == r.min()) for r in rank_rows], index=complete)
        summary["mean normalized score"] = norm.mean()
        summary["average rank"] = rank.mean()
        summary["wins"] = wins.sum().astype(int)
    summary["mean wall s"] = secs.loc[complete].mean() if complete else secs.mean()
    summary["median wall s"] = secs.loc[complete].median() if complete else secs.median()
    summary["mean trials"] = trials.loc[complete].mean() if complete else trials.mean()
    lines.append(f"### Per method, over the {len(complete)} tasks every method finished")
    lines.append("")
    lines.append("Normalized score: per task (s - worst) / (best - worst) over the methods, direction-aware "
                 "(1 = best, 0 = worst). Rank 1 = best (ties share the average rank). Wins: tasks where "
                 "the method has the best score (ties count for each).")
    lines.append("")
    lines.append("| method | mean normalized score | average rank | wins | mean wall s | median wall s "
                 "| mean trials |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for meth, r in summary.iterrows():
        lines.append(f"| {meth} | {r.get('mean normalized score', np.nan):.3f} | "
                     f"{r.get('average rank', np.nan):.2f} | {int(r.get('wins', 0))} | "
                     f"{r['mean wall s']:.1f} | {r['median wall s']:.1f} | {r['mean trials']:.1f} |")
    failed = df[df["error"].fillna("") != ""]
    if len(failed):
        lines.append("")
        lines.append("### Failures")
        lines.append("")
        for _, r in failed.iterrows():
            lines.append(f"- {r['task']} / {r['method']}: `{r['error']}`")
    return "\n".join(lines) + "\n", summary


def report(task_names: list[str], methods: list[str]) -> None:
    rows = read_rows()
    if not rows:
        print("no results yet")
        return
    text, _ = summarize(rows, task_names, methods)
    header = (f"# Cold-start benchmark results\n\nGenerated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from "
              f"`{CSV_PATH.relative_to(HERE.parent)}` by `python benchmarks/bench_cold.py --report`.\n\n")
    MD_PATH.write_text(header + text)
    print(text)
    print(f"wrote {MD_PATH.relative_to(HERE.parent)}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", help="comma-separated task names (item/target or item); default all")
    p.add_argument("--methods", help=f"comma-separated methods; default {','.join(METHODS)}")
    p.add_argument("--report", action="store_true", help="only print and write the report")
    p.add_argument("--retry-failed", action="store_true", help="run again (task, method) rows that failed")
    p.add_argument("--name", default="cold_baseline", help="results file stem under results/ (default cold_baseline)")
    a = p.parse_args(argv)
    global CSV_PATH, MD_PATH
    CSV_PATH, MD_PATH = RESULTS / f"{a.name}.csv", RESULTS / f"{a.name}.md"
    all_names = [t.name for t in TASKS]
    names = all_names
    if a.tasks:
        wanted = [s.strip() for s in a.tasks.split(",") if s.strip()]
        names = []
        for w in wanted:
            match = [t.name for t in TASKS if w in (t.name, t.item)]
            if not match:
                p.error(f"unknown task {w!r}; known: {', '.join(all_names)}")
            names += match
    methods = METHODS
    if a.methods:
        methods = [s.strip() for s in a.methods.split(",") if s.strip()]
        bad = [m for m in methods if m not in METHODS]
        if bad:
            p.error(f"unknown method(s) {bad}; known: {', '.join(METHODS)}")
    if not a.report:
        run(names, methods, a.retry_failed)
    report(names if a.tasks else all_names, methods if a.methods else METHODS)


if __name__ == "__main__":
    main()
