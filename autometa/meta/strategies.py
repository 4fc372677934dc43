"""The recommender's strategies and the geometry of meta-feature space.

* ``Static``: one portfolio per problem type, chosen greedily so that the best of
  its first k entries is as good as possible on average over the past tasks
  (Auto-sklearn 2.0, TabRepo's zero-shot portfolios);
* ``Nearest``: candidates by their kernel-weighted percentile on the nearest past
  tasks (Auto-sklearn 1.0);
* ``Surrogate``: a small bag of LightGBM models predicting a configuration's
  percentile on a task from the task's meta-features and the configuration's
  parameters; the bag's spread is the uncertainty;
* ``Blend``: the first few of one strategy, then another's list (``knn+static``:
  the nearest tasks' best configuration, then the static portfolio).

Each ranks candidates for a ``Query`` (a task's meta-features, kind and nearest
past tasks). Distances between tasks weigh each standardized meta-feature by its
``relevance``: how well differences in it predict that two past tasks rank
configurations differently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from autometa.meta.experience import Candidate, Experience
from autometa.metafeatures import NAMES
from autometa.spaces import SearchSpace

__all__ = ["Blend", "Nearest", "Query", "Ranked", "Scaler", "Static", "Surrogate", "distances", "diversify",
           "relevance"]

N_NEIGHBOURS = 8


@dataclass
class Query:
    metafeatures: np.ndarray
    kind: str
    problem: str
    allowed: set[str]
    neighbours: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Ranked:
    key: str
    predicted: float
    uncertainty: float
    reason: str


def diversify(ranked: Sequence[Ranked], candidates: Mapping[str, Candidate], k: int) -> list[Ranked]:
    """``ranked`` reordered so that its first ``k`` hold at most ``ceil(k / 3)`` per learner
    family while other families remain; the rest follow in their order."""
    cap = max(1, math.ceil(k / 3))
    chosen: list[Ranked] = []
    counts: dict[str, int] = {}
    rest: list[Ranked] = []
    for r in ranked:
        learner = candidates[r.key].learner
        if len(chosen) < k and counts.get(learner, 0) < cap:
            chosen.append(r)
            counts[learner] = counts.get(learner, 0) + 1
        else:
            rest.append(r)
    return chosen + rest


class Scaler:
    """Standardization of meta-features (median, standard deviation), clipped at 5."""

    def __init__(self, X: np.ndarray) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a meta-feature missing on every task
            center, std = np.nanmedian(X, axis=0), np.nanstd(X, axis=0)
        self.center = np.nan_to_num(center)
        self.scale = np.where(std > 1e-9, std, 1.0)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        Z = (np.atleast_2d(X) - self.center) / self.scale
        return np.clip(np.nan_to_num(Z, nan=0.0, posinf=5.0, neginf=-5.0), -5.0, 5.0)


def relevance(Z: np.ndarray, M: pd.DataFrame, problems: np.ndarray) -> np.ndarray:
    """A weight per meta-feature: how well differences in it predict that two past tasks
    rank configurations differently (Spearman correlation over task pairs of one problem
    type, floored at 0). Meta-features that say nothing about performance then barely
    count in the distance between tasks."""
    from scipy.stats import rankdata

    perf = M.fillna(0.5).to_numpy()
    first, second = [], []
    for problem in np.unique(problems):
        idx = np.flatnonzero(problems == problem)
        a, b = np.triu_indices(len(idx), k=1)
        first.append(idx[a])
        second.append(idx[b])
    a, b = np.concatenate(first), np.concatenate(second)
    if len(a) < 10:
        return np.ones(Z.shape[1])
    centred = perf - perf.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1) + 1e-12
    dissimilar = 1.0 - np.sum(centred[a] * centred[b], axis=1) / (norms[a] * norms[b])
    target = rankdata(dissimilar)
    target = (target - target.mean()) / (target.std() + 1e-12)
    weights = np.zeros(Z.shape[1])
    for j in range(Z.shape[1]):
        diff = rankdata(np.abs(Z[a, j] - Z[b, j]))
        sd = diff.std()
        if sd > 0:
            weights[j] = max(0.0, float(np.mean((diff - diff.mean()) / sd * target)))
    return weights / weights.sum() if weights.sum() > 0 else np.full(Z.shape[1], 1.0 / Z.shape[1])


def distances(Z: np.ndarray, z: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return np.sqrt(((Z - z) ** 2) @ weights)


# ---------------------------------------------------------------------------- strategies


class Static:
    name = "static"

    def __init__(self, exp: Experience, matrix: pd.DataFrame, length: int = 40) -> None:
        """``matrix``: ``exp.matrix("pct")``, tasks x candidates."""
        self.order: dict[str, list[Ranked]] = {}
        for problem, tasks in exp.tasks.groupby("problem"):
            M = matrix.loc[matrix.index.intersection(tasks.index)].dropna(how="all").dropna(axis=1, how="all")
            self.order[str(problem)] = self._greedy(M, length)

    @staticmethod
    def _greedy(M: pd.DataFrame, length: int) -> list[Ranked]:
        values = M.fillna(0.0).to_numpy()
        keys = list(M.columns)
        means, stds = values.mean(axis=0), values.std(axis=0)
        current = np.zeros(values.shape[0])
        out: list[Ranked] = []
        left = list(range(len(keys)))
        while left and len(out) < length:
            gains = [np.maximum(current, values[:, j]).mean() + 1e-6 * means[j] for j in left]
            j = left.pop(int(np.argmax(gains)))
            current = np.maximum(current, values[:, j])
            out.append(Ranked(keys[j], float(means[j]), float(stds[j]),
                               f"portfolio #{len(out) + 1}: with those before it, {current.mean():.2f} "
                               f"on average over {len(current)} past tasks"))
        for j in sorted(left, key=lambda j: -means[j]):
            out.append(Ranked(keys[j], float(means[j]), float(stds[j]), "average percentile on past tasks"))
        return out

    def rank(self, query: Query) -> list[Ranked]:
        return list(self.order.get(query.problem, []))


class Nearest:
    name = "knn"

    def __init__(self, exp: Experience, matrix: pd.DataFrame, n_neighbours: int = N_NEIGHBOURS) -> None:
        """``matrix``: ``exp.matrix("pct")``, tasks x candidates."""
        self.exp, self.k, self.M = exp, n_neighbours, matrix

    def rank(self, query: Query) -> list[Ranked]:
        """Candidates by their kernel-weighted mean percentile on the nearest past tasks."""
        near = query.neighbours[: self.k]
        if not near:
            return []
        rows = self.M.loc[[d for d, _ in near]].to_numpy()
        dist = np.array([d for _, d in near])
        h = max(float(np.median(dist)), 1e-6)
        w = np.exp(-((dist / h) ** 2))[:, None] * ~np.isnan(rows)
        total = np.maximum(w.sum(axis=0), 1e-12)
        filled = np.nan_to_num(rows)
        mean = (filled * w).sum(axis=0) / total
        std = np.sqrt((((filled - mean) ** 2) * w).sum(axis=0) / total)
        names = [str(self.exp.tasks.loc[d, "name"]) for d, _ in near]
        top = np.nanargmax(np.where(np.isnan(rows), -1.0, rows), axis=0)
        out = []
        for j in np.argsort(-mean, kind="stable"):
            i = int(top[j])
            out.append(Ranked(str(self.M.columns[j]), float(mean[j]), float(std[j]),
                               f"{rows[i, j]:.2f} on past task {names[i]} (distance {near[i][1]:.2f})"))
        return out


class Blend:
    """The first ``n_first`` allowed candidates of ``first``, then ``then``'s ranking without them.

    kNN is the best single first guess on the corpus, and the static portfolio the best
    set of three or more (benchmarks/README.md, section 5b): the blend takes both.
    """

    def __init__(self, first: Nearest, then: Static, n_first: int = 1) -> None:
        self.first, self.then, self.n_first = first, then, n_first
        self.name = f"{first.name}+{then.name}"

    def rank(self, query: Query) -> list[Ranked]:
        head = [r for r in self.first.rank(query) if r.key in query.allowed][: self.n_first]
        keys = {r.key for r in head}
        return head + [r for r in self.then.rank(query) if r.key not in keys]


class Surrogate:
    name = "surrogate"
    N_MODELS = 3

    def __init__(self, exp: Experience, spaces: Mapping[str, SearchSpace], seed: int = 0) -> None:
        self.spaces = spaces
        self.columns = _param_columns(spaces)
        self.learners = sorted(spaces)
        self.candidates = exp.candidates
        self.cand_X = {k: self._config_vector(c) for k, c in exp.candidates.items()}
        self.models: list[Any] = []
        if exp.scores.empty:
            return
        import lightgbm as lgb

        mf = exp.tasks[list(NAMES)].to_numpy(dtype=float)
        row_of = {d: i for i, d in enumerate(exp.tasks.index)}
        scores = exp.scores[exp.scores["key"].isin(self.cand_X.keys())]
        X = np.hstack([mf[[row_of[t] for t in scores["task"]]],
                       np.vstack([self.cand_X[k] for k in scores["key"]])])
        y = scores["pct"].to_numpy(dtype=float)
        groups = exp.tasks["group_key"].to_numpy()[[row_of[t] for t in scores["task"]]]
        unique = np.unique(groups)
        rng = np.random.default_rng(seed)
        for i in range(self.N_MODELS):
            keep = np.isin(groups, rng.choice(unique, size=max(1, int(0.8 * len(unique))), replace=False))
            model = lgb.LGBMRegressor(n_estimators=200, learning_rate=0.05, num_leaves=31, min_child_samples=20,
                                      subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=seed + i,
                                      n_jobs=1, verbose=-1)
            model.fit(X[keep], y[keep], categorical_feature=[len(NAMES)])
            self.models.append(model)

    def _config_vector(self, cand: Candidate) -> np.ndarray:
        v = np.full(1 + len(self.columns), np.nan)
        v[0] = self.learners.index(cand.learner) if cand.learner in self.learners else np.nan
        space = self.spaces.get(cand.learner)
        if space is None:
            return v
        for i, (learner, p) in enumerate(self.columns, start=1):
            if learner == cand.learner and p.name in cand.params:
                v[i] = _encode(p, cand.params[p.name])
        return v

    def rank(self, query: Query) -> list[Ranked]:
        if not self.models:
            return []
        keys = [k for k in self.cand_X if k in query.allowed]
        if not keys:
            return []
        X = np.hstack([np.repeat(query.metafeatures[None, :], len(keys), axis=0),
                       np.vstack([self.cand_X[k] for k in keys])])
        preds = np.vstack([m.predict(X) for m in self.models])
        mean, std = preds.mean(axis=0), preds.std(axis=0)
        order = np.argsort(-mean, kind="stable")
        ranked = [Ranked(keys[i], float(mean[i]), float(std[i]), "predicted from meta-features and parameters")
                  for i in order]
        return ranked


def _param_columns(spaces: Mapping[str, SearchSpace]) -> list[tuple[str, Any]]:
    return [(name, p) for name in sorted(spaces) for p in spaces[name].params]


def _encode(p: Any, value: Any) -> float:
    if p.type == "categorical":
        return float(p.choices.index(value)) if value in p.choices else np.nan
    if value is None or isinstance(value, bool):
        return np.nan
    x = float(value)
    return math.log10(x) if p.log and x > 0 else x
