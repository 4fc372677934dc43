"""Best model per second: autometa against AutoGluon and FLAML at equal wall-clock budgets.

Held-out corpus tasks (grouped by source data frame as in ``bench_meta.py``: for
each task, autometa's meta_db is a copy of the corpus without every task of the
task's fold of source groups), loaded at up to 20,000 rows, split 75/25
(stratified for classification, seed 0), scored on the test rows with the
default metric (ROC-AUC, log-loss, RMSE). Each method gets the same budget in
seconds and one thread, one after another on the same machine:

* ``autometa``: ``fit_task`` with ``time_budget`` and no trial limit, the
  product's defaults (recommendation, warm start, bagged ensemble);
* ``autometa-cold``: the same without meta-learning (``use_meta=False``);
* ``autogluon-best``: AutoGluon 1.6.3, ``presets="best_quality"``, ``time_limit``;
* ``autogluon-default``: AutoGluon's default preset (``medium_quality``);
* ``flaml``: FLAML 2.7.0, ``time_budget``;
* ``autometa-by-score`` (an ablation, not in the default run): ``autometa`` with the
  recommendation ordered by predicted score alone, as without a budget (no score per second,
  no affordability filter);
* ``autometa-no-cb-xgb`` (an ablation): ``autometa`` without the CatBoost and XGBoost families;
* ``autometa-no-repeats`` (an ablation): ``autometa`` without the repeated cross-validation of
  the leading trials after the search (``repeats=0``; the default since session 10, so now the
  same fit as ``autometa``, kept for reading the earlier result files);
* ``autometa-repeats`` (an ablation): ``autometa`` with up to 4 rounds of them (``repeats=4``,
  the default of sessions 8-9);
* ``autometa-cv8``, ``autometa-cv10`` (ablations): ``autometa`` with 8 or 10 cross-validation
  folds instead of the default 5 (``cv=8``, ``cv=10``);
* ``autometa-es`` (an ablation): ``autometa`` with early stopping of the boosting models on each
  fold's validation rows (``early_stop=True``); ``autometa-no-es``, the same fit as ``autometa``
  (early stopping is off by default), is kept for reading session 14's result files, in which
  ``autometa`` stopped early.
* ``autometa-no-l2`` (an ablation): ``autometa`` without the second stack level after the
  search (``level2=False``, ``autometa.stacking``); ``autometa-l2``, the same fit as
  ``autometa`` since the second level is on by default, is kept for reading session 15's result
  files, in which ``autometa`` had none.
* ``autometa-l2-top3`` (an ablation): ``autometa`` whose second level runs the best trials of
  the 3 best families alone (``stacking.LEVEL2_MORE = False``, the default of session 15), not
  the next families' in the time left.
* ``autometa-flat-cost`` (an ablation): ``autometa`` whose cost model predicts a table larger
  than every past task as if it were the largest (``CostModel`` without its size elasticities,
  as before session 16).
* ``autometa-checked`` (an ablation): ``autometa`` whose second-level candidates are judged on a
  held-out fold first (``stacking.LEVEL2_CHECK = True``, ``autometa.stack_check``);
  ``autometa-unchecked``, the same fit as ``autometa`` since the verdict is off by default, is kept
  for reading session 17's result files, in which ``autometa`` judged them.
* ``autometa-reshuffle`` (an ablation): each trial cross-validated on its own shuffle of the rows
  (``evaluate.RESHUFFLE = True``), without a second level; compare it with ``autometa-no-l2``.
  ``autometa-reshuffle-l2``: the same with the second level, which cross-validates its inputs
  again on one partition.

The peers run in their own environment (``--peer-python``, see
benchmarks/README.md) through ``peer_runner.py``; their seconds are measured
inside that process around ``fit`` (imports excluded), autometa's around
``fit_task`` (the model in memory, nothing written: like the peers' in-memory
predictors; writing a saved model is measured apart in the README).

Results: ``benchmarks/results/budget.csv`` (appended as runs finish, so a run
resumes) and ``budget.md``.

Usage::

    python benchmarks/bench_budget.py --meta-db /tmp/corpus.sqlite --tasks 8 --budgets 10 60 \\
        --peer-python /work/agvenv/.venv/bin/python
    python benchmarks/bench_budget.py --report
    python benchmarks/bench_budget.py ... --part 0 --parts 2 &   # two processes, every other task each
    python benchmarks/bench_budget.py --meta-db /tmp/corpus.sqlite --cli --tasks 8 --budgets 10 60 \\
        --methods autometa-cli autometa-cli:old autogluon-best --code old=/tmp/old-worktree \\
        --peer-python /work/peers-venv/bin/python   # the wall time at the shell, and its score
    python benchmarks/bench_budget.py --meta-db /tmp/corpus.sqlite --cli --unseen --budgets 60 \\
        --methods autometa-cli autogluon-best --peer-python /work/peers-venv/bin/python \\
        --name unseen60   # tables outside the corpus (unseen_tables.py), the whole meta_db
    python benchmarks/bench_budget.py ... --cli --large ...   # unseen_tables.LARGE: real, 30,000-1,400,000 rows
"""

from __future__ import annotations

from _setup import HERE, RESULTS

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CSV = RESULTS / "budget.csv"
FIELDS = ["task", "group", "kind", "rows", "fold", "metric", "budget", "method", "score", "seconds",
          "overrun", "trials", "error", "finished", "load1", "repeats"]
METHODS = ["autometa", "autometa-cold", "autogluon-best", "autogluon-default", "flaml", "autometa-by-score",
           "autometa-no-cb-xgb", "autometa-no-repeats", "autometa-repeats", "autometa-cv8", "autometa-cv10",
           "autometa-no-es", "autometa-es", "autometa-l2", "autometa-no-l2", "autometa-l2-top3",
           "autometa-flat-cost", "autometa-unchecked", "autometa-checked", "autometa-reshuffle",
           "autometa-reshuffle-l2"]
NEW_FAMILIES = ("catboost", "xgboost")
REPEATS = {"autometa-no-repeats": 0, "autometa-repeats": 4}  # the ablations' rounds; others: the default
FOLDS = {"autometa-cv8": 8, "autometa-cv10": 10}  # the ablations' cross-validation folds; others: "auto"
MAX_ROWS = 20_000
SEED = 0
SOLVED = 1e-3  # a task every method solves to within this of a perfect score is reported apart


def fold_db(source: str, groups: set[str], folder: Path, fold: int) -> str:
    """A copy of the meta_db without the tasks (and their runs and curves) of these source groups
    (cached per state of the source file; built under a temporary name and renamed, so that
    benchmark processes running side by side never read a half-built copy)."""
    stat = Path(source).stat()
    path = folder / f"fold{fold}-{Path(source).stem}-{stat.st_size}-{int(stat.st_mtime)}.sqlite"
    if not path.exists():
        building = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
        shutil.copy(source, building)
        con = sqlite3.connect(building)
        marks = ",".join("?" * len(groups))
        ids = f"SELECT id FROM tasks WHERE group_key IN ({marks})"
        con.execute(f"DELETE FROM curricula WHERE run_id IN (SELECT id FROM runs WHERE task_id IN ({ids}))",
                    tuple(groups))
        con.execute(f"DELETE FROM runs WHERE task_id IN ({ids})", tuple(groups))
        if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'curves'").fetchone():
            con.execute(f"DELETE FROM curves WHERE task_id IN ({ids})", tuple(groups))
        con.execute(f"DELETE FROM tasks WHERE group_key IN ({marks})", tuple(groups))
        con.commit()
        con.close()
        os.replace(building, path)
    left = {r[0] for r in sqlite3.connect(path).execute("SELECT DISTINCT group_key FROM tasks")}
    assert not (left & groups), "a held-out group is still in the fold's meta_db"
    return str(path)


def split(task: Any, seed: int = SEED) -> tuple[Any, Any, Any, Any]:
    """The task's 75/25 train/test split (stratified for classes) with this seed."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(task.n_rows)
    tr, te = train_test_split(idx, test_size=0.25, random_state=seed,
                              stratify=task.y if task.is_classification else None)
    return task.X.iloc[tr], task.X.iloc[te], task.y[tr], task.y[te]


def run_autometa(method: str, budget: float, task: Any, X_tr: Any, X_te: Any, y_tr: Any,
                 db_path: str, trials: int | None = None) -> tuple[np.ndarray, float, int, str]:
    """The test predictions, seconds, trials and repeated rounds (whole + partial) of one fit."""
    from bench_meta import _subtask

    from autometa import evaluate, stacking
    from autometa.evaluate import predict_scores
    from autometa.flow import FitOptions, fit_task
    from autometa.meta.cost import CostModel
    from autometa.meta.db import MetaDB
    from autometa.meta.recommend import Recommender
    from autometa.repeats import REPEAT_ROUNDS
    from autometa.spaces import iter_learner_names, load_spaces

    sub = _subtask(task, X_tr, y_tr)
    meta = method != "autometa-cold"
    learners = None
    if method == "autometa-no-cb-xgb":
        learners = tuple(n for n in iter_learner_names(load_spaces(), task.kind) if n not in NEW_FAMILIES)
    options = FitOptions(n_trials=trials, time_budget=None if trials else budget, n_jobs=1, record=False, seed=SEED,
                         use_meta=meta, learners=learners, repeats=REPEATS.get(method, REPEAT_ROUNDS),
                         cv=FOLDS.get(method, "auto"), early_stop=method == "autometa-es",
                         level2=method not in ("autometa-no-l2", "autometa-reshuffle"))
    recommend, more, growth = Recommender.recommend, stacking.LEVEL2_MORE, CostModel._growth
    check, reshuffle = stacking.LEVEL2_CHECK, evaluate.RESHUFFLE
    stacking.LEVEL2_MORE = method != "autometa-l2-top3"
    stacking.LEVEL2_CHECK = method == "autometa-checked"
    evaluate.RESHUFFLE = method.startswith("autometa-reshuffle")  # the ablations: a partition per trial
    if method == "autometa-flat-cost":  # the ablation: no growth beyond the past tasks' sizes
        CostModel._growth = lambda self, learners, mf: np.zeros(len(learners))  # type: ignore[method-assign]
    if method == "autometa-by-score":  # the ablation: the recommendation as without a budget
        Recommender.recommend = lambda self, *a, time_budget=None, **k: recommend(self, *a, **k)  # type: ignore
    try:
        start = time.perf_counter()
        result = fit_task(sub, options, db=MetaDB(db_path) if meta else None)
        seconds = time.perf_counter() - start
    finally:
        Recommender.recommend = recommend  # type: ignore[method-assign]
        stacking.LEVEL2_MORE = more
        stacking.LEVEL2_CHECK = check
        evaluate.RESHUFFLE = reshuffle
        CostModel._growth = growth  # type: ignore[method-assign]
    pred = predict_scores(result.model, X_te, task)
    return pred, seconds, result.n_trials, f"{result.repeats}+{result.repeats_partial}"


def run_peer(method: str, budget: float, task: Any, X_tr: Any, X_te: Any, y_tr: Any, metric: str,
             python: str) -> tuple[np.ndarray, float, int]:
    with tempfile.TemporaryDirectory(prefix="peer-") as folder:
        train = X_tr.copy()
        train["__target__"] = y_tr
        test = X_te.copy()
        test["__target__"] = 0
        for frame in (train, test):
            for col in frame.columns:
                if frame[col].dtype == object:
                    frame[col] = frame[col].astype("string").astype(object)
        train.to_parquet(Path(folder) / "train.parquet")
        test.to_parquet(Path(folder) / "test.parquet")
        classes = [str(c) for c in task.classes] if task.is_classification else []
        cmd = [python, str(HERE / "peer_runner.py"), "--method", method, "--budget", str(budget), "--kind",
               task.kind, "--metric", metric, "--classes", json.dumps(classes), "--folder", folder]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        # in its own folder: FLAML's CatBoost writes a catboost_<time> folder where it runs
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=budget * 4 + 300, env=env, cwd=folder)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed")
        pred = np.load(Path(folder) / "pred.npy", allow_pickle=False)
        timing = json.loads((Path(folder) / "timing.json").read_text())
        if task.is_classification and str(task.classes[0]) != classes[0]:
            raise RuntimeError("class order")
        return pred, float(timing["fit_seconds"]), 0


def read_rows(csv: Path = CSV) -> list[dict[str, str]]:
    from bench_cold import read_rows as read

    return read(csv)


def within_rows(n_rows: int, min_rows: int, max_rows: int | None) -> bool:
    """Whether a table of ``n_rows`` rows is kept by ``--min-rows`` and ``--max-rows``."""
    return n_rows >= min_rows and (max_rows is None or n_rows <= max_rows)


def held_out(meta_db: str, n_tasks: int, budgets: list[float], methods: list[str], csv: Path, fields: list[str],
             call: Any, work_name: str = "bench-budget", part: tuple[int, int] = (0, 1),
             split_seed: int = SEED, min_rows: int = 0, max_rows: int | None = None) -> None:
    """For each held-out task x budget x method without a row in ``csv`` yet: ``call(method, budget,
    task, X_tr, X_te, y_tr, metric, db_path)`` returns the test predictions and facts for the row;
    the row (the task, the test score, the facts) is appended at once, so a run resumes. Tasks
    of fewer than ``min_rows`` rows, or more than ``max_rows``, are left out."""
    from bench_cold import read_rows as read
    from bench_meta import live_tasks

    from autometa.meta.corpus import load_specs, load_task
    from autometa.meta.db import MetaDB
    from autometa.meta.evaluation import grouped_folds
    from autometa.meta.experience import Experience

    exp = Experience.from_db(MetaDB(meta_db))
    folds = grouped_folds(exp.tasks, 5, seed=SEED)
    specs = {s.name: s for s in load_specs(HERE.parent / "meta_db" / "corpus_tasks.json")}
    done = {(r["task"], float(r["budget"]), r["method"]) for r in read(csv)}
    chosen = live_tasks(exp, n_tasks)
    work = Path(tempfile.gettempdir()) / work_name
    work.mkdir(exist_ok=True)
    print(f"{len(chosen)} held-out tasks x budgets {budgets} x {len(methods)} methods", flush=True)
    for i, (digest, fold) in enumerate(chosen, start=1):
        if (i - 1) % part[1] != part[0]:  # another process's task
            continue
        info = exp.tasks.loc[digest]
        todo = [(b, m) for b in budgets for m in methods if (info["name"], b, m) not in done]
        if not todo:
            continue
        task = load_task(specs[info["name"]], max_rows=MAX_ROWS)
        if not within_rows(task.n_rows, min_rows, max_rows):
            continue
        db_path = fold_db(meta_db, set(folds[fold]), work, fold)
        run_task(f"[{i}/{len(chosen)}]", info["name"], info["group_key"], fold, task, db_path, todo, csv, fields,
                 call, split_seed)


def run_task(label: str, name: str, group: str, fold: int, task: Any, db_path: str, todo: list[tuple[float, str]],
             csv: Path, fields: list[str], call: Any, split_seed: int = SEED) -> None:
    """Each (budget, method) of ``todo`` on one task: ``call``'s test predictions scored on the
    task's test rows, and the row appended to ``csv`` at once (a failure is a row too)."""
    from bench_cold import append_row, class_index

    from autometa.metrics import get_metric

    metric = get_metric(None, task.kind)
    X_tr, X_te, y_tr, y_te = split(task, split_seed)
    y_true = class_index(task.classes, y_te) if task.is_classification else y_te
    for budget, method in todo:
        print(f"{label} {name} ({task.kind}, {task.n_rows} rows) {budget:g}s {method} ...", end=" ", flush=True)
        score, facts, error = float("nan"), {}, ""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pred, facts = call(method, budget, task, X_tr, X_te, y_tr, metric, db_path)
            score = metric(y_true, pred)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
            traceback.print_exc()
        row = {"task": name, "group": group, "kind": task.kind, "rows": task.n_rows, "fold": fold,
               "metric": metric.name, "budget": budget, "method": method, "score": f"{score:.6g}", "error": error,
               "finished": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "load1": f"{os.getloadavg()[0]:.2f}",
               **facts}
        append_row({k: row.get(k, "") for k in fields}, csv, fields)
        print(f"{metric.name}={score:.4f} " + ", ".join(f"{k}={v}" for k, v in facts.items() if k != "curve")
              + (f" FAILED {error}" if error else ""), flush=True)


def unseen(meta_db: str, budgets: list[float], methods: list[str], csv: Path, fields: list[str], call: Any,
           part: tuple[int, int] = (0, 1), split_seed: int = SEED, min_rows: int = 0,
           max_rows: int | None = None, which: str = "unseen") -> None:
    """``held_out`` on the tables of ``unseen_tables`` (outside the corpus: larger, wider, more
    classes, messier; ``which="large"``: its ``LARGE`` real tables), with the whole meta_db
    ``meta_db``; tables of fewer than ``min_rows`` rows, or more than ``max_rows``, are left out."""
    from bench_cold import read_rows as read
    from unseen_tables import LARGE, TABLES, make_tables

    from autometa.data import make_task, read_table

    done = {(r["task"], float(r["budget"]), r["method"]) for r in read(csv)}
    tables = make_tables(Path.home() / ".cache" / "autometa-bench" / which, LARGE if which == "large" else TABLES)
    print(f"{len(tables)} {which} tables x budgets {budgets} x {len(methods)} methods", flush=True)
    for i, (name, path, target) in enumerate(tables, start=1):
        todo = [(b, m) for b in budgets for m in methods if (name, b, m) not in done]
        if (i - 1) % part[1] != part[0] or not todo:
            continue
        task = make_task(read_table(path), target, name=name)
        if not within_rows(task.n_rows, min_rows, max_rows):
            continue
        run_task(f"[{i}/{len(tables)}]", name, which, -1, task, meta_db, todo, csv, fields, call, split_seed)


def run(meta_db: str, n_tasks: int, budgets: list[float], methods: list[str], python: str,
        csv: Path = CSV, part: tuple[int, int] = (0, 1), split_seed: int = SEED, min_rows: int = 0,
        trials: int | None = None, max_rows: int | None = None) -> None:
    """With ``trials``, autometa's fits run that many trials without a time budget (the command
    line's default fit), recorded under budget 0; the peers need a budget and are not run."""
    if trials:
        budgets, methods = [0.0], [m for m in methods if m.startswith("autometa")]
    def call(method: str, budget: float, task: Any, X_tr: Any, X_te: Any, y_tr: Any, metric: Any,
             db_path: str) -> tuple[np.ndarray, dict[str, Any]]:
        repeats = ""
        if method.startswith("autometa"):
            pred, seconds, done, repeats = run_autometa(method, budget, task, X_tr, X_te, y_tr, db_path, trials)
        else:
            pred, seconds, done = run_peer(method, budget, task, X_tr, X_te, y_tr, metric.name, python)
        return pred, {"seconds": f"{seconds:.2f}", "overrun": f"{seconds - budget:.2f}", "trials": done,
                      "repeats": repeats}

    held_out(meta_db, n_tasks, budgets, methods, csv, FIELDS, call, part=part, split_seed=split_seed,
             min_rows=min_rows, max_rows=max_rows)


CLI_CSV = RESULTS / "budget_cli.csv"
CLI_FIELDS = [*FIELDS, "phases"]  # autometa-cli's seconds by phase (``FitResult.phases``)


def cli_env(label: str, code: dict[str, str]) -> dict[str, str]:
    """The environment of ``autometa-cli:LABEL``'s processes: the package in ``code[LABEL]``, and a
    stored-recommender folder per compared code, so that several codes' entries do not push each
    other out of one folder (``autometa.meta.stored``). No label: this checkout, as installed."""
    env = dict(os.environ)
    if label:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        env.update(PYTHONPATH=code[label], AUTOMETA_CACHE_DIR=str(base / "autometa-bench" / label))
    return env


WARM = """
import sys
from autometa.meta.db import MetaDB
from autometa.meta.recommend import recommender_for
recommender_for(MetaDB(sys.argv[1]))
"""


def warm_cli(label: str, db_path: str, code: dict[str, str], warmed: set[tuple[str, str]]) -> None:
    """Train and store ``autometa-cli:LABEL``'s recommender on ``db_path`` once, before its first
    timed fit, as a user's earlier fit on that meta_db would have (``autometa.meta.stored``). The
    process runs outside the repository, whose folder would otherwise come first on its path and
    train this checkout's code instead of ``code[LABEL]``."""
    if (label, db_path) in warmed:
        return
    with tempfile.TemporaryDirectory(prefix="bench-warm-") as folder:
        subprocess.run([sys.executable, "-c", WARM, str(Path(db_path).resolve())], cwd=folder,
                       env=cli_env(label, code), check=True, capture_output=True, timeout=600)
    warmed.add((label, db_path))


def run_cli(method: str, budget: float, task: Any, X_tr: Any, X_te: Any, y_tr: Any, db_path: str,
            code: dict[str, str]) -> tuple[np.ndarray, float, int, str]:
    """``autometa fit --time-budget B`` as a user runs it, in a new process (the model saved,
    MLflow tracking to a local SQLite store, the meta_db not written): the test predictions of
    the saved model, the command's wall time, its trials and its seconds by phase. ``autometa-cli:LABEL`` runs the
    package in the folder ``code[LABEL]`` (another commit's worktree), ``autometa-cli`` this one;
    ``autometa-cli-cold[:LABEL]`` the same with ``--no-meta`` (a cold search)."""
    from autometa.evaluate import predict_scores
    from autometa.tracking import load_model

    env = cli_env(method.partition(":")[2], code)
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as folder:
        work = Path(folder)
        frame = X_tr.copy()
        frame["target"] = y_tr
        frame.to_csv(work / "train.csv", index=False)
        cmd = [sys.executable, "-m", "autometa.cli", "fit", "train.csv", "--target", "target", "--task", task.kind,
               "--time-budget", str(budget), "--n-jobs", "1", "--meta-db", db_path, "--no-record",
               "--output", "out", "--json", "--quiet", "--tracking-uri", f"sqlite:///{work / 'mlflow.db'}",
               *(["--no-meta"] if method.startswith("autometa-cli-cold") else [])]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work, env=env, timeout=budget * 4 + 300)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed")
        doc = json.loads(proc.stdout)
        model = load_model(work / "out" / "model")
        phases = " ".join(f"{k}={v:g}" for k, v in (doc.get("phases") or {}).items())
        board = pd.read_csv(work / "out" / "leaderboard.csv")  # the trials the time cut short: seconds lost
        cut = board["seconds"][board["error"].fillna("").astype(str).str.startswith("timeout")].sum()
        # the trials whose rounds the time left cut (to fit, at a larger rate)
        fitted = int(board["cut_from"].notna().sum()) if "cut_from" in board else 0
        # how the best trial came about, and the trials that grew a leading booster's rounds
        done = board[board["state"] == "complete"]
        best = f"{done['learner'].iloc[0]}/{done['source'].iloc[0]}" if len(done) else "none"
        grown = int((done["source"] == "grown").sum())
        # the final model's members, and the candidates ensemble selection chose them from (the
        # pool's saved out-of-fold predictions)
        members, pool = len(doc.get("ensemble") or {}), len(list((work / "out" / "oof").glob("*.npy")))
        return (predict_scores(model, X_te, task), wall, int(doc.get("n_trials", 0)),
                f"{phases} cut={cut:.2f} fitted={fitted} best={best} grown={grown} members={members} pool={pool}")


def cli(meta_db: str, n_tasks: int, budgets: list[float], methods: list[str], python: str, code: dict[str, str],
        csv: Path = CLI_CSV, part: tuple[int, int] = (0, 1), max_rows: int | None = None,
        tables: str | None = None, min_rows: int = 0) -> None:
    """The wall time a user waits at the shell, with the score it buys: ``autometa fit`` in a new
    process against the peers' whole process (imports, fit and test predictions; ``peer_runner``),
    on the held-out tasks' training rows, scored on their test rows. Each code's recommender is
    trained on each fold's meta_db before its first fit there (``warm_cli``)."""
    warmed: set[tuple[str, str]] = set()

    def call(method: str, budget: float, task: Any, X_tr: Any, X_te: Any, y_tr: Any, metric: Any,
             db_path: str) -> tuple[np.ndarray, dict[str, Any]]:
        phases = ""
        if method.startswith("autometa-cli"):
            warm_cli(method.partition(":")[2], db_path, code, warmed)
            pred, wall, done, phases = run_cli(method, budget, task, X_tr, X_te, y_tr, db_path, code)
        else:
            start = time.perf_counter()
            pred, _, done = run_peer(method, budget, task, X_tr, X_te, y_tr, metric.name, python)
            wall = time.perf_counter() - start
        return pred, {"seconds": f"{wall:.2f}", "overrun": f"{wall - budget:.2f}", "trials": done, "phases": phases}

    if tables:  # the unseen (or large) tables, with the whole meta_db
        unseen(meta_db, budgets, methods, csv, CLI_FIELDS, call, part, min_rows=min_rows, max_rows=max_rows,
               which=tables)
        return
    held_out(meta_db, n_tasks, budgets, methods, csv, CLI_FIELDS, call, work_name="bench-budget", part=part,
             min_rows=min_rows, max_rows=max_rows)


def solved_by_all(scores: pd.Series, metric: str) -> bool:
    """Whether every method's score on a task is within ``SOLVED`` of the metric's perfect score
    (1 for ROC-AUC and accuracy-like scores, 0 for log-loss): there the normalized score ranks
    differences of no practical size."""
    perfect = {"roc_auc": 1.0, "accuracy": 1.0, "balanced_accuracy": 1.0, "f1_macro": 1.0, "log_loss": 0.0}
    if metric not in perfect or scores.isna().any():
        return False
    return bool((scores - perfect[metric]).abs().max() <= SOLVED)


def report(csv: Path = CSV, pooled: tuple[Path, ...] = ()) -> None:
    """The tables of one results file, or of several pooled (``pooled``: each file's tasks count
    as tasks of their own, e.g. the same tasks on another train/test split); written beside
    ``csv``."""
    from bench_meta import compare, higher_is_better, table, task_summary

    frames = []
    for i, path in enumerate((csv, *pooled)):
        frame = pd.DataFrame(read_rows(path))
        if pooled and not frame.empty:
            frame["task"] += f" #{i}"
        frames.append(frame)
    df = pd.concat(frames, ignore_index=True)
    if df.empty:
        print("no results yet")
        return
    for col in ("score", "seconds", "overrun", "budget"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df = df.drop_duplicates(["task", "budget", "method"], keep="last")
    order = METHODS[:5] + METHODS[6:]  # the peers' place; the command line's methods first
    methods = sorted(set(df["method"]), key=lambda m: (order.index(m) if m in order else -1, m))
    lines = []
    for budget in sorted(df["budget"].unique()):
        part = df[df["budget"] == budget]
        piv = part.pivot(index="task", columns="method", values="score").reindex(columns=methods)
        failed = piv.isna().sum()
        metric_of = part.drop_duplicates("task").set_index("task")["metric"]
        signed = higher_is_better(piv, metric_of)
        signed = signed.where(signed.notna(), signed.min(axis=1), axis=0)  # a failed method counts as the worst
        normed, ranks, wins = compare(signed)
        secs = part.pivot(index="task", columns="method", values="seconds").reindex(columns=methods)
        over = part.pivot(index="task", columns="method", values="overrun").reindex(columns=methods)
        rows = {m: {"tasks": len(piv), "failed": int(failed[m]), "mean normalized score": normed[m].mean(),
                    "average rank": ranks[m].mean(), "wins": int(wins[m]), "mean seconds": secs[m].mean(),
                    "max overrun s": over[m].max()} for m in methods}
        block = pd.DataFrame(rows).T
        for c in ("tasks", "failed", "wins"):
            block[c] = block[c].astype(int)
        block.index.name = f"{budget:g} s"
        lines += [f"#### {budget:g} seconds, one thread", "", table(block), ""]
        solved = [t for t in piv.index if solved_by_all(piv.loc[t], metric_of[t])]
        if solved and len(solved) < len(piv):
            keep = [t for t in signed.index if t not in solved]
            normed_k, ranks_k, wins_k = compare(signed.loc[keep])
            sub = pd.DataFrame({m: {"tasks": len(keep), "mean normalized score": normed_k[m].mean(),
                                    "average rank": ranks_k[m].mean(), "wins": int(wins_k[m])} for m in methods}).T
            sub["tasks"], sub["wins"] = sub["tasks"].astype(int), sub["wins"].astype(int)
            sub.index.name = f"{budget:g} s, {len(keep)} tasks"
            lines += [f"Without the {len(solved)} tasks every method solves to within {SOLVED} of a perfect score "
                      f"({', '.join(solved)}):", "", table(sub), ""]
        if "autometa-by-score" in set(part["method"]):
            both = part.pivot(index="task", columns="method", values="score")[["autometa", "autometa-by-score"]]
            both = higher_is_better(both.dropna(), metric_of)
            diff = both["autometa"] - both["autometa-by-score"]
            lines += [f"Ablation at {budget:g} s: the recommendation by score per second against by score alone: "
                      f"better on {int((diff > 0).sum())}, worse on {int((diff < 0).sum())}, equal on "
                      f"{int((diff == 0).sum())} of {len(diff)} tasks.", ""]
    lines.append(task_summary(df))
    text = "\n".join(lines)
    RESULTS.mkdir(exist_ok=True)
    (csv.with_name(f"{csv.stem}_pooled.md") if pooled else csv.with_suffix(".md")).write_text(text + "\n")
    print(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--meta-db", default="meta_db/build.sqlite")
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--budgets", type=float, nargs="+", default=[10.0, 60.0])
    ap.add_argument("--methods", nargs="+", default=None, help=f"default: {' '.join(METHODS[:5])}; "
                    f"choices: {' '.join(METHODS)}; with --cli also autometa-cli[:LABEL] and "
                    "autometa-cli-cold[:LABEL] (--no-meta)")
    ap.add_argument("--peer-python", default=os.environ.get("AG_PYTHON", "python"))
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--cli", action="store_true",
                    help="run the command line in a new process per fit (model written), against the peers' "
                         "whole process, with their wall times (methods: autometa-cli[:LABEL] and the peers)")
    ap.add_argument("--unseen", action="store_true",
                    help="with --cli: the tables of unseen_tables.py (outside the corpus) instead of the held-out "
                         "corpus tasks, with the whole --meta-db")
    ap.add_argument("--large", action="store_true",
                    help="with --cli: unseen_tables.py's LARGE real tables (30,000-1,400,000 rows, source frames "
                         "not in the corpus), with the whole --meta-db")
    ap.add_argument("--code", nargs="*", default=[], metavar="LABEL=PATH",
                    help="with --cli: autometa-cli:LABEL runs the package in PATH (another commit's worktree)")
    ap.add_argument("--name", default=CSV.stem, help="results file names: results/NAME.csv and NAME.md")
    ap.add_argument("--split-seed", type=int, default=SEED, help="the seed of each task's train/test split")
    ap.add_argument("--pool", nargs="+", default=[], metavar="NAME",
                    help="with --report: pool these results files with NAME's (written to NAME_pooled.md)")
    ap.add_argument("--part", type=int, default=0, help="run every PARTS-th task from this one")
    ap.add_argument("--parts", type=int, default=1)
    ap.add_argument("--min-rows", type=int, default=0, help="leave out the tasks with fewer rows")
    ap.add_argument("--max-rows", type=int, default=None, help="leave out the tasks with more rows")
    ap.add_argument("--trials", type=int, default=None,
                    help="autometa's fits run this many trials without a budget (peers are left out)")
    a = ap.parse_args()
    csv = RESULTS / f"{a.name}.csv"
    if a.cli:
        csv = RESULTS / f"{a.name}.csv" if a.name != CSV.stem else CLI_CSV
        methods = a.methods or ["autometa-cli", "autogluon-best"]
        if not a.report:
            cli(a.meta_db, a.tasks, a.budgets, methods, a.peer_python, dict(c.split("=", 1) for c in a.code), csv,
                (a.part, a.parts), a.max_rows, "large" if a.large else "unseen" if a.unseen else None, a.min_rows)
        report(csv)
        return
    methods = a.methods or METHODS[:5]
    if unknown := sorted(set(methods) - set(METHODS)):
        ap.error(f"unknown methods {unknown}; choose from {METHODS}")
    if not a.report:
        run(a.meta_db, a.tasks, a.budgets, methods, a.peer_python, csv, (a.part, a.parts), a.split_seed,
            a.min_rows, a.trials, a.max_rows)
    report(csv, tuple(RESULTS / f"{n}.csv" for n in a.pool))


if __name__ == "__main__":
    main()
