"""Post-hoc ensembling on the same trials: which final model, made from one search's trials,
scores best on held-out rows.

A budgeted search's final score mixes two sources of spread: which trials the search reached
(it depends on the machine's speed) and how the final model is made from them. This script
holds the first fixed: each fit (held-out corpus task, split and meta_db fold as in
``bench_budget.py``, the product's defaults under ``--budget`` seconds, one thread) keeps every
completed trial's out-of-fold predictions and bag of fold models, and each way of making the
final model is then scored on the test rows from those same trials:

* ``best``: the best trial's bag;
* ``es25``: ensemble selection (50 rounds) over the 25 best trials: the product's default
  (checked against the fit's own model, ``product``);
* ``es25-r25``: the same with 25 rounds;
* ``es-families``: ensemble selection over the 25 best plus the 2 best of each learner family;
* ``es-all``: ensemble selection over every completed trial;
* ``avg5``: the plain average of the 5 best trials' bags;
* ``stack10``: the product's ``stack`` option (a linear stacker on the 10 best);
* ``stack25``: the same stacker on the 25 best;
* ``stack-es``: the same stacker on the trials that ``es25`` chose (the product's default for
  regression since session 12, and its ``stack=True``);
* ``choice``, ``choice25``, ``choice3``, ``choice-es``: whichever of ``es25`` and the named
  stackers scores better when cross-validated on the out-of-fold predictions
  (``selection_cv_score`` against the stacker's own, on the same folds);
* ``stack-guard``: ``stack-es`` unless its cross-validated score is worse than the best trial's;
* ``stack-kind``: ``es25`` for more than two classes, else ``stack-guard``;
* ``by-kind``: ``stack-es`` for regression, ``es25`` for classes (the product's default since
  session 12; ``product`` is the fit's own model, made before that change);
* ``es-cap``: ensemble selection over the 25 best trials with at most ``FAMILY_CAP`` of one
  learner family (a search that converged on one region leaves selection a pool of near
  copies); ``cap-kind``: the same, then the regression stacker over its members where the
  product stacks (``by-kind`` with the capped pool);
* ``pool-es`` (classes only): a logarithmic opinion pool over the trials that ``es25`` chose: the
  softmax of a non-negative weighted sum of their log-probabilities plus a bias per class, fitted
  by log-loss on the out-of-fold predictions (one weight per member, so far fewer parameters than
  the logistic stacker's); ``pool25``: the same over the 25 best;

One ``.npz`` per (task, seed) is kept under ``--work`` (resumable), and a row per (task, seed,
strategy) goes to ``results/NAME.csv``.

Usage::

    python benchmarks/bench_posthoc.py --meta-db /tmp/corpus.sqlite --budget 60 --seeds 0 1 --tasks 16
    python benchmarks/bench_posthoc.py --report
"""

from __future__ import annotations

from _setup import HERE, RESULTS

import argparse
import copy
import csv
import itertools
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

STRATEGIES = ["product", "best", "es25", "es25-r25", "es-families", "es-all", "avg5", "stack10", "stack25", "stack-es",
              "choice", "choice25", "choice3", "choice-es", "stack-guard", "stack-kind",
              "by-kind", "pool-es", "pool25", "es-cap", "cap-kind"]
FAMILY_CAP = 8
FIELDS = ["task", "metric", "seed", "strategy", "score", "cv_score", "members", "trials", "load1"]
KEEP = 1000  # trials kept in the capture pool (every completed one, in practice)


def capture(meta_db: str, budget: float, name: str, seed: int, work: Path) -> Path:
    """Fit one task at one seed, keeping every completed trial; write the arrays the strategies need."""
    import bench_budget as bb
    from bench_cold import class_index
    from bench_meta import _subtask

    import autometa.flow as flow
    from autometa.ensemble import FoldBag
    from autometa.evaluate import encode_target, predict_scores
    from autometa.flow import FitOptions, fit_task
    from autometa.learners import get_learner
    from autometa.meta.corpus import load_specs, load_task
    from autometa.meta.db import MetaDB
    from autometa.meta.evaluation import grouped_folds
    from autometa.meta.experience import Experience

    path = work / f"{name}-{budget:g}-{seed}.npz"
    if path.exists():
        return path
    exp = Experience.from_db(MetaDB(meta_db))
    folds = grouped_folds(exp.tasks, 5, seed=bb.SEED)
    digest = exp.tasks.index[exp.tasks["name"] == name][0]
    fold = next(i for i, groups in enumerate(folds) if exp.tasks.loc[digest, "group_key"] in groups)
    db_path = bb.fold_db(meta_db, set(folds[fold]), Path(tempfile.gettempdir()) / "bench-budget", fold)
    specs = {s.name: s for s in load_specs(HERE.parent / "meta_db" / "corpus_tasks.json")}
    task = load_task(specs[name], max_rows=bb.MAX_ROWS)
    X_tr, X_te, y_tr, y_te = bb.split(task)
    sub = _subtask(task, X_tr, y_tr)
    seen: dict[str, Any] = {}
    original = flow._final_model

    def final_model(task_: Any, best: Any, pool: Any, metric: Any, options: Any, spaces: Any) -> Any:
        numbers = sorted(pool.items, key=lambda n: -pool._key(pool.items[n][0]))
        tests = []
        for n in numbers:  # each trial's bag, thinned as the product thins it, on the test rows
            learner = get_learner(pool.items[n][1].learner, spaces[pool.items[n][1].learner])
            folds_ = [copy.deepcopy(f) for f in pool.models[n]]
            for f in folds_:
                learner.thin(f, 1 / len(folds_))
            tests.append(predict_scores(FoldBag(folds_, list(task_.classes)), X_te, task))
        seen.update(numbers=numbers, oof=[pool.items[n][2] for n in numbers], test=tests,
                    scores=[pool.items[n][0] for n in numbers],
                    learners=[pool.items[n][1].learner for n in numbers], y=encode_target(task_))
        top = flow._OofPool(metric)  # the product's pool: the 25 best
        for n in numbers[:flow.ENSEMBLE_POOL]:
            top.items[n], top.models[n] = pool.items[n], pool.models[n]
        return original(task_, best, top, metric, options, spaces)

    pool_class = flow._OofPool
    flow._final_model = final_model
    flow._OofPool = lambda metric, folder=None: pool_class(metric, KEEP, folder)  # type: ignore[assignment]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            options = FitOptions(n_trials=None, time_budget=budget, n_jobs=1, record=False, seed=seed)
            result = fit_task(sub, options, db=MetaDB(db_path))
    finally:
        flow._final_model, flow._OofPool = original, pool_class
    y_true = class_index(task.classes, y_te) if task.is_classification else np.asarray(y_te, dtype="float64")
    np.savez(path, oof=np.stack(seen["oof"]), test=np.stack(seen["test"]), scores=np.array(seen["scores"]),
             learners=np.array(seen["learners"]), numbers=np.array(seen["numbers"]), y=seen["y"], y_test=y_true,
             product=predict_scores(result.model, X_te, task), trials=result.n_trials, kind=task.kind,
             load1=os.getloadavg()[0])
    return path


def strategies(data: Any, metric: Any) -> dict[str, tuple[np.ndarray, float, int]]:
    """Each strategy's test predictions, out-of-fold score and member count."""
    from autometa.ensemble import SELECTION_ROUNDS, apply_stacker, ensemble_selection, fit_stacker, selection_cv_score

    oof, test, y, learners = data["oof"], data["test"], data["y"], data["learners"]
    n = len(oof)

    def es(idx: list[int], rounds: int = SELECTION_ROUNDS) -> tuple[np.ndarray, float, int, list[int]]:
        """Selection's test predictions, score and member count, and the members it chose."""
        if len(idx) < 2:
            return test[idx[0]], metric(y, oof[idx[0]]), 1, idx
        w, s = ensemble_selection([oof[i] for i in idx], y, metric, max_rounds=rounds)
        w = np.asarray(w)
        chosen = [i for i, weight in zip(idx, w, strict=True) if weight > 0]
        return np.tensordot(w, test[idx], axes=1), s, len(chosen), chosen

    top = list(range(min(25, n)))
    families = list(top)
    for fam in dict.fromkeys(learners):
        families += [i for i in range(n) if learners[i] == fam][:2]
    families = list(dict.fromkeys(families))
    *es25, chosen = es(top)
    out = {"best": (test[0], float(data["scores"][0]), 1), "es25": tuple(es25), "es25-r25": es(top, 25)[:3],
           "es-families": es(families)[:3], "es-all": es(list(range(n)))[:3],
           "avg5": (test[:5].mean(axis=0), metric(y, oof[:5].mean(axis=0)), min(5, n))}
    n_classes = oof.shape[2] if oof.ndim == 3 else 0
    for label, lead in (("stack10", list(range(min(10, n)))), ("stack25", top), ("stack-es", chosen)):
        if len(lead) < 2:
            continue
        combiner, s = fit_stacker([oof[i] for i in lead], y, metric)
        out[label] = (apply_stacker(combiner, [test[i] for i in lead], n_classes), s, len(lead))
    if "stack10" in out:
        held = {"es25": selection_cv_score([oof[i] for i in top], y, metric)}
        for label in ("stack10", "stack25", "stack-es"):
            if label in out:
                held[label] = out[label][1]
        for label, among in (("choice", ("es25", "stack10")), ("choice25", ("es25", "stack25")),
                             ("choice3", ("es25", "stack10", "stack25")), ("choice-es", ("es25", "stack-es"))):
            among = tuple(a for a in among if a in held)
            pick = among[0]
            for other in among[1:]:
                if metric.better(held[other], held[pick]):
                    pick = other
            out[label] = out[pick]
        if "stack-es" in out:  # the stacker unless it cross-validates worse than its best member alone
            guard = metric.better(out["stack-es"][1], float(data["scores"][0]))
            out["stack-guard"] = out["stack-es"] if guard else out["es25"]
            out["by-kind"] = out["es25"] if oof.ndim == 3 else out["stack-es"]  # the product since session 12
            if oof.ndim == 3 and oof.shape[2] > 2:
                out["stack-kind"] = out["es25"]
            else:
                out["stack-kind"] = out["stack-guard"]
    capped: list[int] = []
    for i in range(n):
        if len(capped) < 25 and sum(learners[j] == learners[i] for j in capped) < FAMILY_CAP:
            capped.append(i)
    *es_cap, chosen_cap = es(capped)
    out["es-cap"] = tuple(es_cap)
    out["cap-kind"] = out["es-cap"]
    if oof.ndim != 3 and len(chosen_cap) >= 2:
        combiner, s = fit_stacker([oof[i] for i in chosen_cap], y, metric)
        out["cap-kind"] = (apply_stacker(combiner, [test[i] for i in chosen_cap], 0), s, len(chosen_cap))
    if oof.ndim == 3:
        for label, lead in (("pool-es", chosen), ("pool25", top)):
            if len(lead) >= 2:
                pool = fit_pool(oof[lead], y)
                out[label] = (apply_pool(pool, test[lead]), metric(y, apply_pool(pool, oof[lead])), len(lead))
    return out


def fit_pool(predictions: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A logarithmic opinion pool's member weights (>= 0) and class biases, fitted by log-loss on
    members' probabilities ``predictions`` (members, n, K) for class indices ``y``."""
    from scipy.optimize import minimize
    from scipy.special import log_softmax, softmax

    logs = np.log(np.clip(predictions, 1e-6, 1.0))
    m, n, k = logs.shape
    onehot = np.eye(k)[y]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = np.tensordot(theta[:m], logs, axes=1) + theta[m:]
        g = (softmax(z, axis=1) - onehot) / n
        return float(-(onehot * log_softmax(z, axis=1)).sum() / n), np.concatenate(
            [np.einsum("mnk,nk->m", logs, g), g.sum(axis=0)])

    x0 = np.concatenate([np.full(m, 1.0 / m), np.zeros(k)])
    found = minimize(loss, x0, jac=True, method="L-BFGS-B", bounds=[(0, None)] * m + [(None, None)] * k)
    return found.x[:m], found.x[m:]


def apply_pool(pool: tuple[np.ndarray, np.ndarray], predictions: np.ndarray) -> np.ndarray:
    from scipy.special import softmax

    weights, bias = pool
    return softmax(np.tensordot(weights, np.log(np.clip(predictions, 1e-6, 1.0)), axes=1) + bias, axis=1)


def score(path: Path, name: str, seed: int, out: Path) -> None:
    from autometa.metrics import get_metric

    data = dict(np.load(path, allow_pickle=False))
    metric = get_metric(None, str(data["kind"]))
    rows = [("product", data["product"], float("nan"), -1)]
    rows += [(k, *v) for k, v in strategies(data, metric).items()]
    new = not out.exists()
    with out.open("a", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        if new:
            writer.writeheader()
        for strategy, pred, cv, members in rows:
            writer.writerow({"task": name, "metric": metric.name, "seed": seed, "strategy": strategy,
                             "score": f"{metric(data['y_test'], pred):.6g}", "cv_score": f"{cv:.6g}",
                             "members": members, "trials": int(data["trials"]),
                             "load1": f"{float(data['load1']):.2f}"})


def run(meta_db: str, budget: float, seeds: list[int], n_tasks: int, out: Path, work: Path, part: int,
        parts: int) -> None:
    from bench_meta import live_tasks
    from bench_warmstart import TRIVIAL

    from autometa.meta.db import MetaDB
    from autometa.meta.experience import Experience

    exp = Experience.from_db(MetaDB(meta_db))
    names = [exp.tasks.loc[d, "name"] for d, _ in live_tasks(exp, n_tasks)]
    names = [n for n in names if n not in TRIVIAL]
    done = {(r["task"], r["seed"]) for r in csv.DictReader(out.open())} if out.exists() else set()
    work.mkdir(parents=True, exist_ok=True)
    for i, (seed, name) in enumerate(itertools.product(seeds, names)):
        if i % parts != part or (name, str(seed)) in done:
            continue
        start = time.perf_counter()
        path = capture(meta_db, budget, name, seed, work)
        score(path, name, seed, out)
        print(f"{name} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)


def rescore(budget: float, work: Path, out: Path) -> None:
    """Score every kept fit again, replacing ``out``."""
    out.unlink(missing_ok=True)
    for path in sorted(work.glob(f"*-{budget:g}-*.npz")):
        name, _, seed = path.stem.rpartition(f"-{budget:g}-")
        score(path, name, int(seed), out)


def report(out: Path) -> None:
    from bench_warmstart import means, paired

    df = pd.read_csv(out)
    piv, lines = paired(df, "strategy", STRATEGIES, "es25")
    lines.insert(0, f"{len(piv)} task-seed pairs over {piv.index.get_level_values(0).nunique()} tasks.\n")
    kinds = df.drop_duplicates(["task", "seed"]).set_index(["task", "seed"])["metric"].reindex(piv.index)
    lines += ["", "Against es25 by metric (better / worse / pairs):", "",
              "| strategy | " + " | ".join(sorted(set(kinds))) + " |", "|---|" + "---|" * kinds.nunique()]
    for s in piv.columns:
        cells = []
        for m in sorted(set(kinds)):
            part = piv[kinds == m]
            cells.append(f"{int((part[s] > part['es25'] + 1e-12).sum())} / "
                         f"{int((part[s] < part['es25'] - 1e-12).sum())} / {len(part)}")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    text = "\n".join([*lines, "", *means(df, "strategy", list(piv.columns))])
    out.with_suffix(".md").write_text(text + "\n")
    print(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--meta-db", default="meta_db/build.sqlite")
    ap.add_argument("--budget", type=float, default=60.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--tasks", type=int, default=16, help="held-out tasks (the trivial two left out)")
    ap.add_argument("--part", type=int, default=0)
    ap.add_argument("--parts", type=int, default=1)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench-posthoc")
    ap.add_argument("--name", default="posthoc_60")
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--rescore", action="store_true", help="score the kept fits again (new strategies)")
    a = ap.parse_args()
    out = RESULTS / f"{a.name}.csv"
    if a.rescore:
        rescore(a.budget, a.work, out)
    elif not a.report:
        run(a.meta_db, a.budget, a.seeds, a.tasks, out, a.work, a.part, a.parts)
    report(out)


if __name__ == "__main__":
    main()
