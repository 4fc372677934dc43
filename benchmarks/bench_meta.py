"""Meta-learning benchmark: does what autometa learnt from past runs help on a task it has not seen?

Grouped cross-validation over the corpus tasks of a meta_db (5 folds by source
data frame: a held-out task and every task cut from the same R data frame are
invisible to the recommender, which ``autometa.meta.evaluation.check_unseen``
enforces). Two parts:

``--part offline``: every strategy (and its novelty fall-back) against random
  search over the portfolio, LightGBM defaults and the oracle, on the dense
  matrix: the best ``norm`` among a strategy's first k configurations (1 = the
  task's best portfolio configuration, 0 = its median; regret = 1 - norm), for
  k = 1, 3, 10, 30, on every task. Also the fall-back's effect on the 10% of
  tasks most unlike the rest.

``--part live``: real fits on held-out tasks (the build's rows, at most 2,000;
  a 75/25 split, stratified for classification, seed 0), scored on the test
  rows with the default metric, for k = 1, 3, 10, 30 trials, side by side in
  one process with 1 thread per model:

  * ``autometa``: the default strategy's top configurations (as ``autometa
    fit`` picks them: up to 10, fewer on a novel task) enqueued, then TPE,
    ensemble selection on (the product's defaults);
  * ``cold``: the same search with no recommendation (``use_meta=False``);
  * ``random``: random search, ensemble on;
  * ``lightgbm``: LightGBM defaults (constant in k);
  * ``flaml-zeroshot``: ``flaml.default.LGBMClassifier/LGBMRegressor``, FLAML's
    meta-learned, data-dependent defaults (constant in k);
  * ``flaml``: ``flaml.AutoML(max_iter=k, time_budget=-1)``, each trial capped at 60 s
    (``train_time_limit``);
  * ``autometa-static``, ``autometa-knn``, ``autometa-surrogate``: ``autometa`` with the
    strategies other than the default (knn+static).

  ``--seed`` changes the train/test split and the fits' seeds (the tasks, folds and
  recommenders stay), for a second sample of the same comparison.

  Regret (live) is measured against the oracle's test score: the matrix's best
  configuration for the task refitted on the training rows, divided by the
  task's best-minus-median spread in the matrix.

Results: ``benchmarks/results/meta_offline.{csv,md}``, ``meta_live.{csv,md}``;
the live CSV is appended as runs finish, so an interrupted run resumes.

Usage::

    python benchmarks/bench_meta.py --meta-db meta_db/build.sqlite --part offline
    python benchmarks/bench_meta.py --meta-db meta_db/build.sqlite --part live --tasks 20
    python benchmarks/bench_meta.py --part live --report
"""

from __future__ import annotations

from _setup import HERE, RESULTS, isolate_meta_db

import argparse
import os
import time
import traceback
import warnings
from datetime import UTC, datetime
from typing import Any

isolate_meta_db("bench-meta-")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

KS = (1, 3, 10, 30)
SEED = 0
LIVE_FIELDS = ["task", "group", "kind", "fold", "metric", "method", "k", "score", "oracle", "spread",
               "seconds", "trials", "novel", "error", "finished", "load1"]
LIVE_METHODS = ["autometa", "cold", "random", "lightgbm", "flaml-zeroshot", "flaml",
                # the strategies other than the default (``autometa`` is knn+static), live
                "autometa-static", "autometa-knn", "autometa-surrogate",
                # ablations of the meta-knowledge during the search: after the first 10
                # recommendations, the next 20 one after each TPE trial, or the first 30 up front
                "autometa-interleave", "autometa-top30"]
STRATEGY_OF = {"autometa-static": "static", "autometa-knn": "knn", "autometa-surrogate": "surrogate"}
LIVE_NAME = "meta_live"  # the results' file stem (``--name``)
RUN_SEED = SEED  # the split's and the fits' seed (``--seed``); tasks, folds and recommenders keep SEED
FLAML_TRIAL_LIMIT = 60.0  # seconds: FLAML's ``train_time_limit`` per trial (one 30-trial fit once took 5,476 s)


def table(df: pd.DataFrame, fmt: str = "{:.3f}") -> str:
    cols = list(df.columns)
    out = ["| " + " | ".join([str(df.index.name or "")] + [str(c) for c in cols]) + " |",
           "|---|" + "---:|" * len(cols)]
    for idx in df.index:
        cells = []
        for c in cols:
            v = df.loc[idx, c]
            whole = pd.api.types.is_integer_dtype(df[c])
            cells.append(str(int(v)) if whole else (fmt.format(v) if isinstance(v, float | np.floating) else str(v)))
        out.append("| " + " | ".join([str(idx), *cells]) + " |")
    return "\n".join(out)


def higher_is_better(piv: pd.DataFrame, metric_of: pd.Series) -> pd.DataFrame:
    """Scores (tasks x methods) turned so that higher is better, by each task's metric."""
    from autometa.metrics import METRICS

    sign = np.array([1.0 if METRICS[metric_of[t]].greater_is_better else -1.0 for t in piv.index])
    return piv.mul(sign, axis=0)


def task_summary(df: pd.DataFrame) -> str:
    """One line: the tasks of a results frame (``task``, ``kind``, ``rows``, ``load1``) by kind,
    their rows and the machine's mean load."""
    kinds = df.drop_duplicates("task")["kind"].value_counts()
    return (f"Tasks: {df['task'].nunique()} ({', '.join(f'{k}: {v}' for k, v in kinds.items())}); "
            f"rows {int(pd.to_numeric(df['rows']).min())}-{int(pd.to_numeric(df['rows']).max())}; "
            f"mean load {pd.to_numeric(df['load1']).mean():.2f}.")


def compare(signed: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Per task, methods compared on higher-is-better scores: the normalized score (1 = the best
    method on the task, 0 = the worst; 1 for all when they tie), the rank (1 = best; ties share
    the average) and, per method, the tasks it ranks first on."""
    lo, hi = signed.min(axis=1), signed.max(axis=1)
    normed = signed.sub(lo, axis=0).div((hi - lo).replace(0, np.nan), axis=0).fillna(1.0)
    ranks = signed.rank(axis=1, ascending=False, method="average")
    return normed, ranks, ranks.eq(ranks.min(axis=1), axis=0).sum()


# --------------------------------------------------------------------------- offline


def offline(meta_db: str) -> None:
    from autometa.meta.db import MetaDB
    from autometa.meta.evaluation import simulate
    from autometa.meta.experience import Experience

    exp = Experience.from_db(MetaDB(meta_db))
    start = time.perf_counter()
    df = simulate(exp, ks=KS, progress=lambda f, n: print(f"fold {f}/{n}", flush=True))
    seconds = time.perf_counter() - start
    RESULTS.mkdir(exist_ok=True)
    df.to_csv(RESULTS / "meta_offline.csv", index=False)
    methods = [m for m in df["method"].unique()]
    lines = [f"Tasks: {df['task'].nunique()} in {df['group'].nunique()} source groups "
             f"({', '.join(f'{k}: {v}' for k, v in exp.tasks['kind'].value_counts().items())}); "
             f"5 grouped folds; simulated in {seconds:.0f} s.", ""]
    mean = df.pivot_table(index="method", columns="k", values="norm", aggfunc="mean").reindex(methods)
    lines += ["#### Mean normalized score (1 = oracle, 0 = the task's median configuration)", "",
              table(mean.rename(columns=lambda k: f"k={k}")), ""]
    regret = df.pivot_table(index="method", columns="k", values="regret", aggfunc="mean").reindex(methods)
    lines += ["#### Mean regret to the oracle (1 - normalized score)", "",
              table(regret.rename(columns=lambda k: f"k={k}")), ""]
    main = [m for m in methods if not m.endswith("-no-fallback")]
    ranks = []
    for k in KS:
        piv = df[(df["k"] == k) & df["method"].isin(main)].pivot(index="task", columns="method", values="norm")
        r = piv.rank(axis=1, ascending=False, method="average")
        ranks.append(pd.DataFrame({f"rank k={k}": r.mean(), f"wins k={k}": (r == r.min(axis=1).values[:, None])
                                   .sum().astype(int)}))
    lines += ["#### Average rank and wins among the strategies and baselines", "",
              table(pd.concat(ranks, axis=1).reindex(main), "{:.2f}"), ""]
    novelty = df.drop_duplicates("task").set_index("task")["novelty"]
    cut = novelty.quantile(0.9)
    far = novelty[novelty >= cut].index
    sub = df[df["task"].isin(far)]
    fb = sub.pivot_table(index="method", columns="k", values="norm", aggfunc="mean").reindex(methods)
    lines += [f"#### The {len(far)} tasks most unlike the rest (novelty >= {cut:.2f}; above 1 counts as novel): "
              f"with and without the fall-back", "", table(fb.rename(columns=lambda k: f"k={k}")), "",
              f"Novel tasks (novelty > 1): {int((novelty > 1).sum())} of {len(novelty)}.", ""]
    text = "\n".join(lines)
    (RESULTS / "meta_offline.md").write_text(text + "\n")
    print(text)


def architecture(meta_db: str) -> None:
    """The MLP architectures each strategy recommends (``learners=("mlp",)``) against the MLP's
    default, on the held-out tasks of the same grouped folds: the ``norm`` of the first 1 and 3
    MLP configurations (1 = the task's best configuration of any family, 0 = its median)."""
    from autometa.meta.db import MetaDB
    from autometa.meta.evaluation import simulate
    from autometa.meta.experience import Experience

    exp = Experience.from_db(MetaDB(meta_db))
    slots = sorted(k for k, c in exp.candidates.items() if c.learner == "mlp")
    if len(slots) < 2:
        raise SystemExit(f"{meta_db} has {len(slots)} MLP configuration(s): nothing to choose from")
    start = time.perf_counter()
    df = simulate(exp, ks=(1, 3), learners=("mlp",), progress=lambda f, n: print(f"fold {f}/{n}", flush=True))
    seconds = time.perf_counter() - start
    df = df[~df["method"].str.endswith("-no-fallback")]
    RESULTS.mkdir(exist_ok=True)
    df.to_csv(RESULTS / "meta_architecture.csv", index=False)
    norm = exp.matrix("norm")[slots].reindex(df["task"].unique())
    mean = df.pivot_table(index="method", columns="k", values="norm", aggfunc="mean")
    mean.loc["best MLP slot (oracle)"] = norm.max(axis=1).mean()
    mean = mean.rename(columns=lambda k: f"first {k}")
    first = df[(df["k"] == 1) & (df["method"] != "random")].groupby("method")["first"]
    mean["first is the default"] = first.apply(lambda s: float((s == "mlp/000").mean()))
    default = _architecture(exp, "mlp/000")
    other = {k: _architecture(exp, k) != default for k in slots}
    mean["first is another architecture"] = first.apply(lambda s: float(s.map(lambda k: other.get(k, False)).mean()))
    best = norm.idxmax(axis=1)
    lines = [f"Tasks: {df['task'].nunique()}; MLP slots: {len(slots)} ({len({_architecture(exp, k) for k in slots})} "
             f"architectures); 5 grouped folds; simulated in {seconds:.0f} s.", "", table(mean), "",
             f"The best MLP slot is the default architecture on {int((~best.map(other)).sum())} tasks and "
             f"another on {int(best.map(other).sum())}."]
    text = "\n".join(lines)
    (RESULTS / "meta_architecture.md").write_text(text + "\n")
    print(text)


def _architecture(exp: Any, key: str) -> tuple[int, int]:
    params = exp.candidates[key].params
    return int(params["depth"]), int(params["width"])


# --------------------------------------------------------------------------- timing


def timing(meta_db: str, rows: int = 100_000, cols: int = 100) -> None:
    """Seconds to train each strategy on the meta_db (once per database version), and to
    recommend for a new 100,000 x 100 table (meta-features plus ranking)."""
    from autometa.data import make_task
    from autometa.meta.db import MetaDB
    from autometa.meta.experience import Experience
    from autometa.meta.recommend import STRATEGIES, Recommender
    from autometa.metafeatures import compute_metafeatures

    rng = np.random.default_rng(SEED)
    X = pd.DataFrame(rng.normal(size=(rows, cols)), columns=[f"x{i}" for i in range(cols)])
    X["target"] = np.where(X["x0"] + X["x1"] * X["x2"] + rng.normal(size=rows) > 0, "yes", "no")
    task = make_task(X, "target", name="timing")
    db = MetaDB(meta_db)
    out = []
    for strategy in STRATEGIES:
        t0 = time.perf_counter()
        exp = Experience.from_db(db)
        t1 = time.perf_counter()
        rec = Recommender(strategy).fit(exp)
        t2 = time.perf_counter()
        mf = compute_metafeatures(task)
        t3 = time.perf_counter()
        rec.recommend(mf, task.kind, 10)
        t4 = time.perf_counter()
        out.append({"strategy": strategy, "read meta_db s": t1 - t0, "train s": t2 - t1,
                    "meta-features s": t3 - t2, "rank s": t4 - t3, "recommendation s (meta-features + rank)": t4 - t2})
    df = pd.DataFrame(out).set_index("strategy")
    text = (f"meta_db: {len(exp)} tasks, {len(exp.scores)} (task, configuration) scores; new table: "
            f"{rows:,} x {cols}, binary.\n\n" + table(df))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "meta_timing.md").write_text(text + "\n")
    print(text)


# --------------------------------------------------------------------------- live


def live_tasks(exp: Any, n: int) -> list[tuple[str, int]]:
    """Up to ``n`` held-out tasks, one per source group, spread over the folds: (digest, fold)."""
    from autometa.meta.evaluation import grouped_folds

    folds = grouped_folds(exp.tasks, 5, seed=SEED)
    rng = np.random.default_rng(SEED)
    per_fold = []
    for f, groups in enumerate(folds):
        tasks = exp.tasks[exp.tasks["group_key"].isin(groups)].drop_duplicates("group_key")
        order = list(tasks.index)
        rng.shuffle(order)
        per_fold.append([(d, f) for d in order])
    out = []
    while len(out) < n and any(per_fold):
        for items in per_fold:
            if items and len(out) < n:
                out.append(items.pop(0))
    return out


def read_live() -> list[dict[str, str]]:
    from bench_cold import read_rows

    return read_rows(RESULTS / f"{LIVE_NAME}.csv")


def append_live(row: dict[str, Any]) -> None:
    from bench_cold import append_row

    append_row(row, RESULTS / f"{LIVE_NAME}.csv", LIVE_FIELDS)


def live(meta_db: str, n_tasks: int, methods: list[str], part: tuple[int, int] = (0, 1)) -> None:
    from bench_cold import align, class_index, lgbm_frame, split

    from autometa.meta.corpus import load_specs, load_task
    from autometa.meta.db import MetaDB
    from autometa.meta.evaluation import check_unseen, grouped_folds
    from autometa.meta.experience import Experience
    from autometa.meta.recommend import Recommender
    from autometa.metafeatures import compute_metafeatures
    from autometa.metrics import get_metric

    exp = Experience.from_db(MetaDB(meta_db))
    folds = grouped_folds(exp.tasks, 5, seed=SEED)
    specs = {s.name: s for s in load_specs(HERE.parent / "meta_db" / "corpus_tasks.json")}
    done = {(r["task"], r["method"], int(r["k"])) for r in read_live()}
    chosen = live_tasks(exp, n_tasks)
    recommenders: dict[int, Any] = {}
    norm = exp.matrix("norm")
    raw = exp.scores.pivot_table(index="task", columns="key", values="score", aggfunc="mean")
    print(f"{len(chosen)} held-out tasks x {len(methods)} methods x k in {KS}", flush=True)
    for i, (digest, fold) in enumerate(chosen, start=1):
        if (i - 1) % part[1] != part[0]:
            continue
        info = exp.tasks.loc[digest]
        todo = [(m, k) for m in methods for k in KS if (info["name"], m, k) not in done]
        if not todo:
            continue
        for strategy in {STRATEGY_OF.get(m, "auto") for m, _ in todo}:
            if (fold, strategy) not in recommenders:
                rec = Recommender(strategy, seed=SEED).fit(exp.without_groups(folds[fold]))
                check_unseen(rec, folds[fold])
                recommenders[fold, strategy] = rec
        task = load_task(specs[info["name"]])
        metric = get_metric(None, task.kind)
        X_tr, X_te, y_tr, y_te = split(task, RUN_SEED)
        y_true = class_index(task.classes, y_te) if task.kind != "regression" else y_te
        mf = compute_metafeatures(task)
        row = norm.loc[digest].dropna()
        best_key = str(row.idxmax())
        scores = raw.loc[digest].dropna()
        spread = float(scores.max() - scores.median())  # higher-is-better units in the matrix
        oracle = _oracle(exp, best_key, task, X_tr, X_te, y_tr, metric, y_true)
        for method, k in todo:
            print(f"[{i}/{len(chosen)}] {info['name']} ({task.kind}) {method} k={k} ...", end=" ", flush=True)
            start = time.perf_counter()
            score, trials, novel, error = float("nan"), 0, "", ""
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    rec = recommenders[fold, STRATEGY_OF.get(method, "auto")]
                    pred, trials, novel = _run(method, k, task, X_tr, X_te, y_tr, rec, mf, align, lgbm_frame)
                score = metric(y_true, pred)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
                traceback.print_exc()
            seconds = time.perf_counter() - start
            append_live({"task": info["name"], "group": info["group_key"], "kind": task.kind, "fold": fold,
                         "metric": metric.name, "method": method, "k": k, "score": f"{score:.6g}",
                         "oracle": f"{oracle:.6g}", "spread": f"{spread:.6g}", "seconds": f"{seconds:.2f}",
                         "trials": trials, "novel": novel, "error": error,
                         "finished": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "load1": f"{os.getloadavg()[0]:.2f}"})
            print(f"{metric.name}={score:.4f} in {seconds:.1f}s" + (f" FAILED {error}" if error else ""), flush=True)


def _predict(model: Any, kind: str, X_te: Any, classes: Any, align: Any) -> np.ndarray:
    if kind == "regression":
        return np.asarray(model.predict(X_te), dtype="float64")
    return align(model.predict_proba(X_te), model.classes_, classes)


def _subtask(task: Any, X: Any, y: Any) -> Any:
    from autometa.data import make_task

    df = X.copy()
    df["__target__"] = y
    return make_task(df, "__target__", kind=task.kind, name=task.name)


def _oracle(exp: Any, key: str, task: Any, X_tr: Any, X_te: Any, y_tr: Any, metric: Any, y_true: Any) -> float:
    """Test score of the matrix's best configuration for the task, refitted on the training rows."""
    from bench_cold import align

    from autometa.learners import get_learner
    from autometa.spaces import load_spaces

    spaces = load_spaces()
    cand = exp.candidates[key]
    config = cand.config(spaces[cand.learner], task.kind)
    sub = _subtask(task, X_tr, y_tr)
    learner = get_learner(config.learner, spaces[config.learner])
    pipe = learner.pipeline(config, sub.columns, sub.kind, seed=RUN_SEED, n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = learner.fit(pipe, sub.X, sub.y, staged=False)
    if task.kind == "regression":
        return float(metric(y_true, np.asarray(model.predict(X_te), dtype="float64")))
    proba = model.predict_proba(X_te)
    return float(metric(y_true, align(proba, getattr(model, "classes_", sub.classes), task.classes)))


def _run(method: str, k: int, task: Any, X_tr: Any, X_te: Any, y_tr: Any, recommender: Any, mf: Any,
         align: Any, lgbm_frame: Any) -> tuple[np.ndarray, int, str]:
    classes = task.classes
    if method.startswith("autometa") or method in ("cold", "random"):
        from autometa.flow import FitOptions, fit_task

        options = FitOptions(n_trials=k, seed=RUN_SEED, n_jobs=1, use_meta=False, record=False,
                             sampler="random" if method == "random" else "tpe")
        warm, more, novel = [], [], ""
        if method.startswith("autometa"):
            rec = recommender.recommend(mf, task.kind, k if method == "autometa-top30" else min(k, 10))
            warm, novel = rec.configs(), str(rec.novel)
        if method == "autometa-interleave":
            more = [c for c in recommender.recommend(mf, task.kind, 30).configs() if c not in warm]
        sub = _subtask(task, X_tr, y_tr)
        result = fit_task(sub, options, warm_start=warm, interleave=more)
        model = result.model
        if task.kind == "regression":
            return np.asarray(model.predict(X_te), dtype="float64"), result.n_trials, novel
        return align(model.predict_proba(X_te), list(sub.classes), classes), result.n_trials, novel
    if method == "lightgbm":
        import lightgbm as lgb

        tr, te = lgbm_frame(task, X_tr, X_te)
        cls = lgb.LGBMRegressor if task.kind == "regression" else lgb.LGBMClassifier
        model = cls(verbose=-1, n_jobs=1, random_state=RUN_SEED).fit(tr, y_tr)
        return _predict(model, task.kind, te, classes, align), 1, ""
    if method == "flaml-zeroshot":
        import flaml.default as fd

        tr, te = lgbm_frame(task, X_tr, X_te)
        cls = fd.LGBMRegressor if task.kind == "regression" else fd.LGBMClassifier
        return _predict(cls(n_jobs=1, random_state=RUN_SEED, verbose=-1).fit(tr, y_tr), task.kind, te, classes,
                        align), 1, ""
    if method == "flaml":
        from bench_cold import FLAML_METRIC
        from flaml import AutoML

        tr, te = lgbm_frame(task, X_tr, X_te)
        automl = AutoML()
        automl.fit(tr, y_tr, task="regression" if task.kind == "regression" else "classification",
                   metric=FLAML_METRIC[task.kind], max_iter=k, time_budget=-1, train_time_limit=FLAML_TRIAL_LIMIT,
                   n_jobs=1, seed=RUN_SEED, verbose=0)
        return _predict(automl, task.kind, te, classes, align), k, ""
    raise ValueError(method)


def live_report() -> None:
    from autometa.metrics import METRICS

    df = pd.DataFrame(read_live())
    if df.empty:
        print("no live results yet")
        return
    for col in ("score", "oracle", "spread", "seconds", "k"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df = df.drop_duplicates(["task", "method", "k"], keep="last")
    methods = [m for m in LIVE_METHODS if m in set(df["method"])]
    lines = []
    summary = []
    for k in KS:
        part = df[df["k"] == k]
        ran = [m for m in methods if m in set(part["method"])]  # the methods run at this count
        piv = part.pivot(index="task", columns="method", values="score").reindex(columns=ran)
        piv = piv.dropna()
        seconds = part.pivot(index="task", columns="method", values="seconds")
        meta = part.drop_duplicates("task").set_index("task")
        signed = higher_is_better(piv, meta["metric"])
        normed, ranks, wins = compare(signed)
        sign = np.array([1.0 if METRICS[meta.loc[t, "metric"]].greater_is_better else -1.0 for t in piv.index])
        oracle = meta.loc[piv.index, "oracle"].to_numpy() * sign
        spread = meta.loc[piv.index, "spread"].replace(0, np.nan).to_numpy()
        regret = (-(signed.sub(oracle, axis=0))).div(spread, axis=0)
        for m in ran:
            summary.append({"k": k, "method": m, "tasks": len(piv), "mean normalized score": normed[m].mean(),
                            "average rank": ranks[m].mean(), "wins": int(wins[m]),
                            "mean regret to oracle": regret[m].mean(),
                            "median regret to oracle": regret[m].median(),
                            "mean seconds": seconds.loc[piv.index, m].mean()})
    s = pd.DataFrame(summary)
    for k in KS:
        block = s[s["k"] == k].set_index("method").drop(columns=["k"])
        block.index.name = f"k={k}"
        lines += [f"#### {k} trial{'s' if k > 1 else ''}", "", table(block), ""]
    novel = df[(df["method"] == "autometa") & (df["novel"].astype(str) == "True")]["task"].nunique()
    lines.append(f"Tasks: {df['task'].nunique()}; novel for the recommender: {novel}.")
    text = "\n".join(lines)
    (RESULTS / f"{LIVE_NAME}.md").write_text(text + "\n")
    print(text)


def main() -> None:
    global KS, LIVE_NAME, RUN_SEED
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--meta-db", default="meta_db/build.sqlite")
    ap.add_argument("--part", choices=["offline", "live", "timing", "architecture"], default="offline")
    ap.add_argument("--tasks", type=int, default=20, help="live: held-out tasks")
    ap.add_argument("--methods", default=",".join(LIVE_METHODS))
    ap.add_argument("--report", action="store_true", help="live: only the report from the CSV")
    ap.add_argument("--ks", default="1,3,10,30", help="trial counts")
    ap.add_argument("--name", default=LIVE_NAME, help="live: the results' file stem under results/")
    ap.add_argument("--part-of", default="0/1", help="live: run the tasks i, i+n, ... of 'i/n' (parallel runs)")
    ap.add_argument("--seed", type=int, default=SEED,
                    help="live: the train/test split's and the fits' seed (the tasks and folds stay)")
    args = ap.parse_args()
    KS = tuple(int(k) for k in args.ks.split(","))
    LIVE_NAME = args.name
    RUN_SEED = args.seed
    if args.part == "offline":
        offline(args.meta_db)
        return
    if args.part == "timing":
        timing(args.meta_db)
        return
    if args.part == "architecture":
        architecture(args.meta_db)
        return
    if not args.report:
        i, n = (int(v) for v in args.part_of.split("/"))
        live(args.meta_db, args.tasks, args.methods.split(","), (i, n))
    live_report()


if __name__ == "__main__":
    main()
