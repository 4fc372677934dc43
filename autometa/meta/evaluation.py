"""Meta-level evaluation: grouped cross-validation of recommenders over the corpus, without leakage.

Tasks are split into folds by source group (every task cut from the same R
data frame lands in the same fold). For each fold a recommender is trained on
the other folds' tasks only, and ``check_unseen`` refuses to go on if any
held-out group is visible to it. Each held-out task's recommendation is then
scored against the task's row of the dense matrix: the best ``norm`` among the
first k suggestions (1 = the task's best portfolio configuration, the oracle;
0 = its median configuration).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from autometa.errors import AutoMetaError
from autometa.meta.experience import Experience
from autometa.meta.recommend import STRATEGIES, Recommender
from autometa.metafeatures import NAMES

__all__ = ["LeakageError", "check_unseen", "grouped_folds", "simulate"]

KS = (1, 3, 10, 30)


class LeakageError(AutoMetaError, RuntimeError):
    """A held-out task's source group is visible to the recommender evaluated on it."""


def grouped_folds(tasks: pd.DataFrame, n_folds: int = 5, *, seed: int = 0) -> list[frozenset[str]]:
    """Source groups split into ``n_folds`` folds of about equal task counts (largest groups first)."""
    sizes = tasks.groupby("group_key").size()
    rng = np.random.default_rng(seed)
    groups = list(sizes.index)
    rng.shuffle(groups)
    groups.sort(key=lambda g: -sizes[g])
    folds: list[set[str]] = [set() for _ in range(n_folds)]
    load = [0] * n_folds
    for g in groups:
        i = int(np.argmin(load))
        folds[i].add(str(g))
        load[i] += int(sizes[g])
    return [frozenset(f) for f in folds if f]


def check_unseen(recommender: Recommender, held_out: Iterable[str]) -> None:
    """Raise ``LeakageError`` if the recommender was trained on any held-out group."""
    leaked = recommender.training_groups & set(held_out)
    if leaked:
        raise LeakageError(f"held-out group(s) visible to the recommender: {sorted(leaked)[:3]}")


def simulate(exp: Experience, *, strategies: Sequence[str] = STRATEGIES, ks: Sequence[int] = KS,
             n_folds: int = 5, seed: int = 0, n_random: int = 200, learners: Sequence[str] | None = None,
             progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Score every strategy (with and without the novelty fall-back) and the baselines on
    held-out tasks.

    ``learners`` restricts the recommendations, the random baseline and the default baseline
    (``LEARNER-default``: the first family's default; else LightGBM's) to those families, as
    ``autometa fit --learners`` does: with ``("mlp",)`` it measures the MLP architectures the
    recommender picks against the MLP's default one.

    Returns:
        One row per (task, method, k): ``task``, ``name``, ``group``, ``kind``, ``fold``,
        ``method``, ``k``, ``norm``, ``regret`` (1 - norm), ``first`` (the method's first
        configuration) and ``novelty`` (the held-out task's distance to the past tasks,
        relative to the usual).
    """
    folds = grouped_folds(exp.tasks, n_folds, seed=seed)
    norm = exp.matrix("norm")
    if learners is not None:
        norm = norm[[k for k in norm.columns if exp.candidates[k].learner in set(learners)]]
    default = sorted(learners)[0] if learners else "lightgbm"
    rows: list[dict[str, Any]] = []
    rng = np.random.default_rng(seed)
    top = max(ks)
    for f, held in enumerate(folds):
        train = exp.without_groups(held)
        fitted = {s: Recommender(s, seed=seed).fit(train) for s in strategies}
        for rec in fitted.values():
            check_unseen(rec, held)
        test = exp.tasks[exp.tasks["group_key"].isin(held)]
        for digest, task in test.iterrows():
            row = pd.Series(norm.loc[str(digest)]).dropna()
            base = {"task": digest, "name": task["name"], "group": task["group_key"], "kind": task["kind"],
                    "fold": f}
            mf = {n: float(task[n]) for n in NAMES}
            novelty = 0.0
            for s, rec in fitted.items():
                for fallback in (True, False):
                    r = rec.recommend(mf, task["kind"], top, fallback=fallback, learners=learners)
                    novelty = r.novelty
                    keys = [x.key for x in r.suggestions]
                    method = s if fallback else f"{s}-no-fallback"
                    rows += _curve(base, method, keys, row, ks, rng)
            for k in ks:  # random search over the portfolio: the expected best of k random candidates
                draws = [row.sample(min(k, len(row)), random_state=int(rng.integers(1 << 31))).max()
                         for _ in range(n_random)]
                rows.append({**base, "method": "random", "k": k, "norm": float(np.mean(draws))})
            rows += _curve(base, f"{default}-default", [f"{default}/000"], row, ks, None)
            for r_ in rows[-len(ks) * (2 * len(strategies) + 2):]:
                r_["novelty"] = novelty
        if progress is not None:
            progress(f + 1, len(folds))
    out = pd.DataFrame(rows)
    out["regret"] = 1.0 - out["norm"]
    return out


def _curve(base: dict[str, Any], method: str, keys: list[str], row: pd.Series, ks: Sequence[int],
           rng: np.random.Generator | None, n_random: int = 200) -> list[dict[str, Any]]:
    """Best ``norm`` among the first k keys (keys missing on the task are skipped).

    When fewer than k keys were suggested (a novel task), the rest of the k trials
    stand for the cold search: the expected best of that many random candidates
    (``rng``; None: the list is all there is, as for a fixed default).
    """
    values = [float(row[k]) for k in keys if k in row.index]
    out = []
    for k in ks:
        first = max(values[:k], default=-1.0)
        extra = k - min(k, len(keys))
        if extra and rng is not None:
            draws = rng.choice(row.to_numpy(), size=(n_random, min(extra, len(row))))
            first = float(np.mean(np.maximum(first, draws.max(axis=1))))
        out.append({**base, "method": method, "k": k, "norm": first, "first": keys[0] if keys else ""})
    return out
