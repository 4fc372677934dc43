"""The recommender: from a task's meta-features to a ranked, diverse list of configurations.

Three strategies behind one interface, trained on an ``Experience``:

* ``static``: one portfolio for all tasks of a problem type, chosen greedily so
  that the best of its first k entries is good on average over the past tasks
  (Auto-sklearn 2.0, TabRepo's zero-shot portfolios);
* ``knn``: the best configurations of the nearest past tasks in meta-feature
  space, taken in turn from each neighbour (Auto-sklearn 1.0);
* ``surrogate``: LightGBM models that predict a configuration's percentile on a
  task from the task's meta-features and the configuration's parameters; the
  spread of a small bag of such models is the uncertainty. The top-k is
  diversified across learner families.

Transfer can hurt. A task whose nearest past task is farther away than almost
every past task is from its own nearest neighbour (``NOVELTY_QUANTILE``) is
*novel*: the recommendation says so, falls back to the static portfolio and
suggests fewer configurations, leaving more of the budget to the cold search.
With no experience at all it suggests the learners' defaults. When the same
data was fitted before (its meta-features equal a past task's), that fit's
best configurations come first: user fits improve later recommendations.

Predicted scores are percentiles among the configurations tried on a task
(1 = the best of them, 0.5 = a median one).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from autometa.errors import OptionError, message
from autometa.meta.experience import Candidate, Experience, problem_of
from autometa.metafeatures import NAMES
from autometa.spaces import Config, SearchSpace

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "Neighbour",
    "Recommendation",
    "Recommender",
    "Suggestion",
    "diversify",
    "recommender_for",
]

STRATEGIES = ("static", "knn", "surrogate")
DEFAULT_STRATEGY = "static"
NOVELTY_QUANTILE = 0.95
MIN_TASKS = 5  # fewer past tasks of the problem type than this: no transfer, learner defaults
N_NEIGHBOURS = 8
TWIN_DISTANCE = 1e-6  # meta-features are seeded: the same data gives the same vector
# the order of the learners' defaults when nothing is known (the families that most often win)
DEFAULT_ORDER = ("lightgbm", "hist_gradient_boosting", "random_forest", "extra_trees", "linear", "knn")


@dataclass(frozen=True)
class Suggestion:
    """One recommended configuration, with its predicted percentile and why."""

    config: Config
    key: str
    predicted: float
    uncertainty: float
    reason: str


@dataclass(frozen=True)
class Neighbour:
    """A past task near the new one in meta-feature space."""

    name: str
    group_key: str
    distance: float


@dataclass(frozen=True)
class Recommendation:
    """What the recommender says about a task."""

    strategy: str
    suggestions: tuple[Suggestion, ...]
    neighbours: tuple[Neighbour, ...] = ()
    novelty: float = 0.0
    novel: bool = False
    n_tasks: int = 0
    note: str = ""

    def configs(self) -> list[Config]:
        return [s.config for s in self.suggestions]

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy, "novel": self.novel, "novelty": round(self.novelty, 3),
            "past_tasks": self.n_tasks, "note": self.note,
            "suggestions": [{"rank": i + 1, "learner": s.config.learner, "params": s.config.params,
                             "candidate": s.key, "predicted_percentile": round(s.predicted, 4),
                             "uncertainty": round(s.uncertainty, 4), "reason": s.reason}
                            for i, s in enumerate(self.suggestions)],
            "nearest_tasks": [{"name": n.name, "group": n.group_key, "distance": round(n.distance, 3)}
                              for n in self.neighbours],
        }


@dataclass(frozen=True)
class _Ranked:
    key: str
    predicted: float
    uncertainty: float
    reason: str


def diversify(ranked: Sequence[_Ranked], candidates: Mapping[str, Candidate], k: int) -> list[_Ranked]:
    """``ranked`` reordered so that its first ``k`` hold at most ``ceil(k / 3)`` per learner
    family while other families remain; the rest follow in their order."""
    cap = max(1, math.ceil(k / 3))
    chosen: list[_Ranked] = []
    counts: dict[str, int] = {}
    rest: list[_Ranked] = []
    for r in ranked:
        learner = candidates[r.key].learner
        if len(chosen) < k and counts.get(learner, 0) < cap:
            chosen.append(r)
            counts[learner] = counts.get(learner, 0) + 1
        else:
            rest.append(r)
    return chosen + rest


class _Scaler:
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


def _relevance(Z: np.ndarray, M: pd.DataFrame, problems: np.ndarray) -> np.ndarray:
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


def _distances(Z: np.ndarray, z: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return np.sqrt(((Z - z) ** 2) @ weights)


# ---------------------------------------------------------------------------- strategies


class _Static:
    name = "static"

    def __init__(self, exp: Experience, length: int = 40) -> None:
        self.order: dict[str, list[_Ranked]] = {}
        for problem, tasks in exp.tasks.groupby("problem"):
            M = exp.only_tasks(tasks.index).matrix("pct")
            self.order[str(problem)] = self._greedy(M, length)

    @staticmethod
    def _greedy(M: pd.DataFrame, length: int) -> list[_Ranked]:
        values = M.fillna(0.0).to_numpy()
        keys = list(M.columns)
        means, stds = values.mean(axis=0), values.std(axis=0)
        current = np.zeros(values.shape[0])
        out: list[_Ranked] = []
        left = list(range(len(keys)))
        while left and len(out) < length:
            gains = [np.maximum(current, values[:, j]).mean() + 1e-6 * means[j] for j in left]
            j = left.pop(int(np.argmax(gains)))
            current = np.maximum(current, values[:, j])
            out.append(_Ranked(keys[j], float(means[j]), float(stds[j]),
                               f"portfolio #{len(out) + 1}: with those before it, {current.mean():.2f} "
                               f"on average over {len(current)} past tasks"))
        for j in sorted(left, key=lambda j: -means[j]):
            out.append(_Ranked(keys[j], float(means[j]), float(stds[j]), "average percentile on past tasks"))
        return out

    def rank(self, query: _Query) -> list[_Ranked]:
        return list(self.order.get(query.problem, []))


class _Nearest:
    name = "knn"

    def __init__(self, exp: Experience, n_neighbours: int = N_NEIGHBOURS) -> None:
        self.exp, self.k = exp, n_neighbours
        self.M = exp.matrix("pct")

    def rank(self, query: _Query) -> list[_Ranked]:
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
            out.append(_Ranked(str(self.M.columns[j]), float(mean[j]), float(std[j]),
                               f"{rows[i, j]:.2f} on past task {names[i]} (distance {near[i][1]:.2f})"))
        return out


class _Surrogate:
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

    def rank(self, query: _Query) -> list[_Ranked]:
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
        ranked = [_Ranked(keys[i], float(mean[i]), float(std[i]), "predicted from meta-features and parameters")
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


# ---------------------------------------------------------------------------- the interface


@dataclass
class _Query:
    metafeatures: np.ndarray
    kind: str
    problem: str
    allowed: set[str]
    neighbours: list[tuple[str, float]] = field(default_factory=list)


class Recommender:
    """Trained on an ``Experience``; recommends configurations for a task's meta-features.

    Example:
        >>> rec = Recommender("static").fit(Experience.from_db(db))   # doctest: +SKIP
        >>> rec.recommend(compute_metafeatures(task), task.kind, top_k=5).configs()  # doctest: +SKIP
    """

    def __init__(self, strategy: str = "auto", *, spaces: Mapping[str, SearchSpace] | None = None,
                 seed: int = 0) -> None:
        strategy = DEFAULT_STRATEGY if strategy == "auto" else strategy
        if strategy not in STRATEGIES:
            raise OptionError(message(f"unknown recommender strategy '{strategy}'",
                                      f"use one of: auto, {', '.join(STRATEGIES)}"))
        if spaces is None:
            from autometa.spaces import load_spaces

            spaces = load_spaces()
        self.strategy, self.spaces, self.seed = strategy, spaces, seed
        self.experience: Experience | None = None

    @property
    def training_groups(self) -> frozenset[str]:
        """The source groups the recommender has seen (a held-out task's group must not be here)."""
        return self.experience.groups if self.experience is not None else frozenset()

    def fit(self, experience: Experience) -> Recommender:
        known = {k: c for k, c in experience.candidates.items() if c.learner in self.spaces}
        exp = Experience(experience.tasks, experience.scores[experience.scores["key"].isin(known.keys())], known)
        self.experience = exp
        X = exp.metafeatures()
        self._scale = _Scaler(X) if len(X) else None
        self._Z = self._scale(X) if self._scale is not None else np.zeros((0, len(NAMES)))
        matrix = self._pct = exp.matrix("pct").reindex(exp.tasks.index)
        self._weights = (_relevance(self._Z, matrix, exp.tasks["problem"].to_numpy())
                         if len(X) else np.full(len(NAMES), 1.0 / len(NAMES)))
        self._threshold = self._novelty_threshold(exp)
        self._static = _Static(exp)
        self._impl: _Static | _Nearest | _Surrogate = self._static
        if self.strategy == "knn":
            self._impl = _Nearest(exp)
        elif self.strategy == "surrogate":
            self._impl = _Surrogate(exp, self.spaces, self.seed)
        return self

    def _novelty_threshold(self, exp: Experience) -> float:
        """The ``NOVELTY_QUANTILE`` of past tasks' distances to their nearest task of another group."""
        nearest = []
        groups = exp.tasks["group_key"].to_numpy()
        problems = exp.tasks["problem"].to_numpy()
        for i in range(len(self._Z)):
            mask = (groups != groups[i]) & (problems == problems[i])
            if mask.any():
                nearest.append(_distances(self._Z[mask], self._Z[i], self._weights).min())
        return float(np.quantile(nearest, NOVELTY_QUANTILE)) if len(nearest) >= MIN_TASKS else math.inf

    def recommend(self, metafeatures: Any, kind: str, top_k: int = 10, *,
                  learners: Iterable[str] | None = None, fallback: bool = True) -> Recommendation:
        """The ``top_k`` configurations to try first on a task.

        Args:
            metafeatures: A ``MetaFeatures`` or a mapping of meta-feature names to values.
            kind: The task kind.
            top_k: How many configurations (fewer when the task is novel).
            learners: Learner families allowed (default: every family that supports ``kind``).
            fallback: Fall back to the static portfolio when the task is novel.
        """
        if self.experience is None:
            raise RuntimeError("Recommender.recommend before fit")
        exp = self.experience
        allowed_learners = {n for n, s in self.spaces.items() if kind in s.kinds}
        if learners is not None:
            allowed_learners &= set(learners)
        values = metafeatures.as_dict() if hasattr(metafeatures, "as_dict") else dict(metafeatures)
        x = np.array([float(values.get(n, np.nan)) for n in NAMES])
        problem = problem_of(kind)
        same = exp.tasks["problem"].to_numpy() == problem
        allowed = {k for k, c in exp.candidates.items() if c.learner in allowed_learners}
        query = _Query(x, kind, problem, allowed)
        if same.sum() < MIN_TASKS or self._scale is None:
            return self._defaults(kind, top_k, allowed_learners, int(same.sum()))
        z = self._scale(x)[0]
        dist = _distances(self._Z[same], z, self._weights)
        order = np.argsort(dist, kind="stable")
        digests = exp.tasks.index.to_numpy()[same]
        query.neighbours = [(str(digests[i]), float(dist[i])) for i in order]
        novelty = float(dist[order[0]] / self._threshold) if self._threshold > 0 else 0.0
        novel = novelty > 1.0
        neighbours = tuple(Neighbour(str(exp.tasks.loc[d, "name"]), str(exp.tasks.loc[d, "group_key"]), dd)
                           for d, dd in query.neighbours[:5])
        impl: Any = self._static if (novel and fallback) else self._impl
        k = max(1, top_k // 2) if (novel and fallback) else top_k
        ranked = [r for r in impl.rank(query) if r.key in allowed]
        if impl is not self._static:
            ranked = diversify(ranked, exp.candidates, k)
        ranked = self._twin_first(query, ranked, k)
        suggestions = tuple(
            Suggestion(exp.candidates[r.key].config(self.spaces[exp.candidates[r.key].learner], kind),
                       r.key, r.predicted, r.uncertainty, r.reason)
            for r in ranked)
        note = (f"unlike every past task (nearest at {novelty:.1f}x the usual distance): "
                f"a robust portfolio, then the cold search" if novel and fallback else "")
        if query.neighbours[0][1] <= TWIN_DISTANCE:
            note = "the same data was fitted before: its best configurations first"
        return Recommendation(impl.name, _unique(suggestions)[:k], neighbours, novelty, novel,
                              int(same.sum()), note)

    def _twin_first(self, query: _Query, ranked: list[_Ranked], k: int) -> list[_Ranked]:
        """When the same data was fitted before (a past task at distance ~0: a user's earlier
        fit), its best configurations fill the first half of the list."""
        twins = [d for d, dist in query.neighbours if dist <= TWIN_DISTANCE]
        if not twins:
            return ranked
        assert self.experience is not None
        row = pd.Series(self._pct.loc[twins[0]]).dropna().sort_values(ascending=False)
        name = str(self.experience.tasks.loc[twins[0], "name"])
        first = [_Ranked(str(key), float(v), 0.0, f"{v:.2f} on an earlier fit of the same data ({name})")
                 for key, v in row.items() if key in query.allowed][: max(1, math.ceil(k / 2))]
        keys = {r.key for r in first}
        return first + [r for r in ranked if r.key not in keys]

    def _defaults(self, kind: str, top_k: int, allowed: set[str], n_tasks: int) -> Recommendation:
        order = [n for n in DEFAULT_ORDER if n in allowed] + sorted(allowed - set(DEFAULT_ORDER))
        suggestions = tuple(Suggestion(self.spaces[n].default_config(kind), f"{n}/default", 0.5, 0.5,
                                       "learner default (no past tasks of this type)")
                            for n in order[:top_k])
        return Recommendation("defaults", suggestions, (), math.inf, True, n_tasks,
                              f"only {n_tasks} past task(s) of this type: learner defaults, then the cold search")


def _unique(suggestions: tuple[Suggestion, ...]) -> tuple[Suggestion, ...]:
    seen: set[Config] = set()
    out = []
    for s in suggestions:
        if s.config not in seen:
            seen.add(s.config)
            out.append(s)
    return tuple(out)


_CACHE: dict[tuple[str, str, int], Recommender] = {}


def recommender_for(db: Any, strategy: str = "auto", *, seed: int = 0) -> Recommender:
    """A recommender trained on ``db``, retrained only when the database has changed since
    (cached in this process by ``MetaDB.fingerprint``)."""
    key = (db.fingerprint(), strategy, seed)
    if key not in _CACHE:
        _CACHE.clear()  # one database version at a time
        _CACHE[key] = Recommender(strategy, seed=seed).fit(Experience.from_db(db))
    return _CACHE[key]
