"""The recommender: from a task's meta-features to a ranked, diverse list of configurations.

Four strategies behind one interface (``autometa.meta.strategies``), trained on
an ``Experience``: ``static`` (a greedy portfolio per problem type),
``knn`` (what did best on the nearest past tasks), ``surrogate`` (LightGBM
models of a configuration's percentile given the task; the top-k is diversified
across learner families) and ``knn+static`` (kNN's first choice, then the static
portfolio). ``DEFAULT_STRATEGY`` is the one that measured best (benchmarks/README.md,
section 5b).

Transfer can hurt. A task whose nearest past task is farther away than almost
every past task is from its own nearest neighbour (``NOVELTY_QUANTILE``) is
*novel*: the recommendation says so, falls back to the static portfolio (the
``knn+static`` blend keeps its one transferred guess) and suggests fewer
configurations, leaving more of the budget to the cold search.
With no experience at all it suggests the learners' defaults. When the same
data was fitted before (its meta-features equal a past task's), that fit's
best configurations come first: user fits improve later recommendations.

Predicted scores are percentiles among the configurations tried on a task
(1 = the best of them, 0.5 = a median one).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from autometa.errors import OptionError, message
from autometa.meta.cost import CostModel
from autometa.meta.curricula import CurriculumAdvice, advise_curriculum, variant_gains
from autometa.meta.experience import Experience, problem_of
from autometa.meta.fidelity import FidelityAdvice, advise_fidelity
from autometa.meta.strategies import (
    Blend,
    Nearest,
    Query,
    Ranked,
    Scaler,
    Static,
    Surrogate,
    distances,
    diversify,
    relevance,
)
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
    "per_second",
    "recommender_for",
]

STRATEGIES = ("static", "knn", "surrogate", "knn+static")
DEFAULT_STRATEGY = "knn+static"
NOVELTY_QUANTILE = 0.95
STALE_SHARE = 0.1  # a recommender stored on disk serves until the database grows by this share
MIN_TASKS = 5  # fewer past tasks of the problem type than this: no transfer, learner defaults
TWIN_DISTANCE = 1e-6  # meta-features are seeded: the same data gives the same vector
# the order of the learners' defaults when nothing is known (the families that most often win)
DEFAULT_ORDER = ("lightgbm", "hist_gradient_boosting", "random_forest", "extra_trees", "linear", "knn")


@dataclass(frozen=True)
class Suggestion:
    """One recommended configuration, with its predicted percentile, its predicted
    cross-validation seconds (None: unknown) and why."""

    config: Config
    key: str
    predicted: float
    uncertainty: float
    reason: str
    seconds: float | None = None


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
    curriculum: CurriculumAdvice | None = None  # how to train a network, when the MLP is allowed

    def configs(self) -> list[Config]:
        return [s.config for s in self.suggestions]

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy, "novel": self.novel, "novelty": round(self.novelty, 3),
            "past_tasks": self.n_tasks, "note": self.note,
            "suggestions": [{"rank": i + 1, "learner": s.config.learner, "params": s.config.params,
                             "candidate": s.key, "predicted_percentile": round(s.predicted, 4),
                             "uncertainty": round(s.uncertainty, 4),
                             "predicted_seconds": None if s.seconds is None else round(s.seconds, 3),
                             "reason": s.reason}
                            for i, s in enumerate(self.suggestions)],
            "nearest_tasks": [{"name": n.name, "group": n.group_key, "distance": round(n.distance, 3)}
                              for n in self.neighbours],
            "curriculum": None if self.curriculum is None else self.curriculum.to_dict(),
        }


# ---------------------------------------------------------------------------- the interface


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
        self.cost = CostModel(seed)

    @property
    def training_groups(self) -> frozenset[str]:
        """The source groups the recommender has seen (a held-out task's group must not be here)."""
        return self.experience.groups if self.experience is not None else frozenset()

    def fit(self, experience: Experience) -> Recommender:
        known = {k: c for k, c in experience.candidates.items() if c.learner in self.spaces}
        exp = Experience(experience.tasks, experience.scores[experience.scores["key"].isin(known.keys())], known)
        self.experience = exp
        self.cost = CostModel(self.seed).fit(exp)
        X = exp.metafeatures()
        self._scale = Scaler(X) if len(X) else None
        self._Z = self._scale(X) if self._scale is not None else np.zeros((0, len(NAMES)))
        matrix = self._pct = exp.matrix("pct").reindex(exp.tasks.index)
        self._weights = (relevance(self._Z, matrix, exp.tasks["problem"].to_numpy())
                         if len(X) else np.full(len(NAMES), 1.0 / len(NAMES)))
        self._threshold = self._novelty_threshold(exp)
        self._gains: pd.DataFrame | None = None  # the curricula's gains, computed when first asked
        self._replays: dict[tuple[str, str], dict[str, float]] = {}  # fidelity replays, per (task, learner)
        self._static = Static(exp, matrix)
        self._impl: Static | Nearest | Surrogate | Blend = self._static
        if self.strategy == "knn":
            self._impl = Nearest(exp, matrix)
        elif self.strategy == "knn+static":
            self._impl = Blend(Nearest(exp, matrix), self._static)
        elif self.strategy == "surrogate":
            self._impl = Surrogate(exp, self.spaces, self.seed)
        return self

    def _novelty_threshold(self, exp: Experience) -> float:
        """The ``NOVELTY_QUANTILE`` of past tasks' distances to their nearest task of another group."""
        nearest = []
        groups = exp.tasks["group_key"].to_numpy()
        problems = exp.tasks["problem"].to_numpy()
        for i in range(len(self._Z)):
            mask = (groups != groups[i]) & (problems == problems[i])
            if mask.any():
                nearest.append(distances(self._Z[mask], self._Z[i], self._weights).min())
        return float(np.quantile(nearest, NOVELTY_QUANTILE)) if len(nearest) >= MIN_TASKS else math.inf

    def recommend(self, metafeatures: Any, kind: str, top_k: int = 10, *,
                  learners: Iterable[str] | None = None, fallback: bool = True,
                  time_budget: float | None = None) -> Recommendation:
        """The ``top_k`` configurations to try first on a task.

        Args:
            metafeatures: A ``MetaFeatures`` or a mapping of meta-feature names to values.
            kind: The task kind.
            top_k: How many configurations (fewer when the task is novel).
            learners: Learner families allowed (default: every family that supports ``kind``).
            fallback: Fall back to the static portfolio when the task is novel.
            time_budget: Seconds the fit has: candidates predicted to take more than half of it
                are left out, and the top-k is ordered by predicted score per second
                (``per_second``).
        """
        if self.experience is None:
            raise RuntimeError("Recommender.recommend before fit")
        exp = self.experience
        allowed_learners = {n for n, s in self.spaces.items() if kind in s.kinds}
        if learners is not None:
            allowed_learners &= set(learners)
        values = _values(metafeatures)
        x = np.array([float(values.get(n, np.nan)) for n in NAMES])
        problem = problem_of(kind)
        same = exp.tasks["problem"].to_numpy() == problem
        allowed = {k for k, c in exp.candidates.items() if c.learner in allowed_learners}
        query = Query(x, kind, problem, allowed)
        if same.sum() < MIN_TASKS or self._scale is None:
            return self._defaults(kind, top_k, allowed_learners, int(same.sum()))
        query.neighbours = self.neighbours(values, kind)
        novelty = float(query.neighbours[0][1] / self._threshold) if self._threshold > 0 else 0.0
        novel = novelty > 1.0
        neighbours = tuple(Neighbour(str(exp.tasks.loc[d, "name"]), str(exp.tasks.loc[d, "group_key"]), dd)
                           for d, dd in query.neighbours[:5])
        # a novel task: strategies that only transfer (kNN, the surrogate) give way to the static
        # portfolio; the blend keeps its ranking, whose tail is that portfolio (its one transferred
        # guess measured better than the portfolio's first on the novel corpus tasks, section 5b).
        # Either way the list is halved, leaving more trials to the cold search.
        lean = novel and fallback
        impl: Any = self._static if (lean and not isinstance(self._impl, Blend)) else self._impl
        k = max(1, top_k // 2) if lean else top_k
        ranked = [r for r in impl.rank(query) if r.key in allowed]
        if not isinstance(impl, Static | Blend):  # a greedy portfolio is diverse by construction
            ranked = diversify(ranked, exp.candidates, k)
        ranked = self._twin_first(query, ranked, k)
        suggestions = tuple(
            Suggestion(exp.candidates[r.key].config(self.spaces[exp.candidates[r.key].learner], kind),
                       r.key, r.predicted, r.uncertainty, r.reason)
            for r in ranked)
        head = "the nearest tasks' best guess, then " if isinstance(impl, Blend) else ""
        note = (f"unlike every past task (nearest at {novelty:.1f}x the usual distance): "
                f"{head}a robust portfolio, fewer configurations, then the cold search" if lean else "")
        if query.neighbours[0][1] <= TWIN_DISTANCE:
            note = "the same data was fitted before: its best configurations first"
        suggestions = self._timed(_unique(suggestions), values, k, time_budget)
        curriculum = self.advise_curriculum(values, kind) if "mlp" in allowed_learners else None
        return Recommendation(impl.name, suggestions, neighbours, novelty, novel, int(same.sum()), note, curriculum)

    def neighbours(self, metafeatures: Any, kind: str) -> list[tuple[str, float]]:
        """Past tasks of the same problem type as (digest, distance), nearest first."""
        if self.experience is None:
            raise RuntimeError("Recommender.neighbours before fit")
        if self._scale is None:
            return []
        values = _values(metafeatures)
        z = self._scale(np.array([float(values.get(n, np.nan)) for n in NAMES]))[0]
        same = self.experience.tasks["problem"].to_numpy() == problem_of(kind)
        dist = distances(self._Z[same], z, self._weights)
        digests = self.experience.tasks.index.to_numpy()[same]
        return [(str(digests[i]), float(dist[i])) for i in np.argsort(dist, kind="stable")]

    def advise_curriculum(self, metafeatures: Any, kind: str) -> CurriculumAdvice | None:
        """How to train a network on the task (``autometa.meta.curricula``); None: no past task
        ran the curricula."""
        if self.experience is None:
            raise RuntimeError("Recommender.advise_curriculum before fit")
        if self._gains is None:
            self._gains = variant_gains(self.experience)
        return advise_curriculum(self._gains, [d for d, _ in self.neighbours(metafeatures, kind)])

    def advise_fidelity(self, metafeatures: Any, kind: str, learners: Iterable[str],
                        curves: Mapping[tuple[str, str], Any]) -> dict[str, FidelityAdvice]:
        """Each learner's fidelity schedule from the learning curves (``fidelity.task_curves``) of
        the nearest past tasks (``autometa.meta.fidelity``); learners without curves are left out."""
        if self.experience is None:
            raise RuntimeError("Recommender.advise_fidelity before fit")
        return advise_fidelity(curves, [d for d, _ in self.neighbours(metafeatures, kind)], learners,
                               cache=self._replays)

    def _timed(self, suggestions: tuple[Suggestion, ...], metafeatures: Mapping[str, float], k: int,
               time_budget: float | None) -> tuple[Suggestion, ...]:
        """The first ``k`` suggestions with their predicted seconds: cross-validation's, plus the
        import of the learner's library where this process has not paid it yet (torch's, for a
        network: about 2 s, which past runs' costs leave out), counted once, on the family's first
        suggestion in the order returned. Under a time budget: the first ``k`` that fit in half of
        it, ordered by ``per_second``, greedily (a family's import, once paid, no longer counts)."""
        from autometa.learners import get_learner

        budgeted = time_budget is not None and self.cost.fitted
        candidates = suggestions if budgeted else suggestions[:k]  # the filter below may need them all
        seconds = self.cost.predict([s.config for s in candidates], metafeatures)
        startup = {n: get_learner(n, self.spaces[n]).startup_seconds() for n in {s.config.learner for s in candidates}}
        fits = [dataclasses.replace(s, seconds=None if math.isnan(t) else float(t))
                for s, t in zip(candidates, seconds, strict=True)]
        if time_budget is None or not budgeted:
            return _with_imports(fits, startup)
        affordable = [s for s in fits
                      if s.seconds is not None and s.seconds + startup[s.config.learner] <= time_budget / 2]
        affordable = affordable[:k] or fits[:1]
        ranked: list[Suggestion] = []
        paid: set[str] = set()
        while affordable:  # the best gain per second, counting the imports not yet paid
            pick = max(affordable, key=lambda s: per_second(
                s.predicted, _plus(s.seconds, 0.0 if s.config.learner in paid else startup[s.config.learner]),
                time_budget))
            affordable.remove(pick)
            ranked.append(pick)
            paid.add(pick.config.learner)
        return tuple(dataclasses.replace(s, reason=f"{s.reason}; ~{s.seconds:.2g} s of a {time_budget:g} s budget")
                     for s in _with_imports(ranked, startup))

    def _twin_first(self, query: Query, ranked: list[Ranked], k: int) -> list[Ranked]:
        """When the same data was fitted before (a past task at distance ~0: a user's earlier
        fit), its best configurations fill the first half of the list."""
        twins = [d for d, dist in query.neighbours if dist <= TWIN_DISTANCE]
        if not twins:
            return ranked
        assert self.experience is not None
        row = pd.Series(self._pct.loc[twins[0]]).dropna().sort_values(ascending=False)
        name = str(self.experience.tasks.loc[twins[0], "name"])
        first = [Ranked(str(key), float(v), 0.0, f"{v:.2f} on an earlier fit of the same data ({name})")
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


def _values(metafeatures: Any) -> dict[str, float]:
    return metafeatures.as_dict() if hasattr(metafeatures, "as_dict") else dict(metafeatures)


def per_second(predicted: float, seconds: float | None, time_budget: float) -> float:
    """A candidate's predicted gain over a median configuration per second of its fit.

    Seconds below a twentieth of the budget count as a twentieth: among configurations that
    all fit the budget many times over, the better-scored comes first; only where cost
    matters against the budget does a cheaper one move ahead.

    Example:
        >>> per_second(0.9, 0.1, 60.0) > per_second(0.8, 0.1, 60.0)
        True
        >>> per_second(0.8, 1.0, 10.0) > per_second(0.9, 5.0, 10.0)
        True
    """
    floor = time_budget / 20
    return (predicted - 0.5) / max(seconds if seconds is not None else floor, floor)


def _plus(seconds: float | None, extra: float) -> float | None:
    return None if seconds is None else seconds + extra


def _with_imports(suggestions: Sequence[Suggestion], startup: Mapping[str, float]) -> tuple[Suggestion, ...]:
    """The suggestions, in this order, with each library's import added to the seconds of its
    family's first suggestion: the fits after it find the library imported."""
    out, paid = [], set()
    for s in suggestions:
        extra = 0.0 if s.config.learner in paid else startup[s.config.learner]
        paid.add(s.config.learner)
        out.append(dataclasses.replace(s, seconds=_plus(s.seconds, extra)))
    return tuple(out)


def _unique(suggestions: tuple[Suggestion, ...]) -> tuple[Suggestion, ...]:
    seen: set[Config] = set()
    out = []
    for s in suggestions:
        if s.config not in seen:
            seen.add(s.config)
            out.append(s)
    return tuple(out)


_CACHE: dict[tuple[str, str, int], Recommender] = {}


def recommender_for(db: Any, strategy: str = "auto", *, seed: int = 0,
                    digest: str | None = None) -> Recommender:
    """A recommender trained on ``db``, or on ``db`` before it grew by at most ``STALE_SHARE`` of its
    tasks and runs; kept in this process (by ``MetaDB.fingerprint``) and on disk
    (``autometa.meta.stored``), so that a new process does not retrain it.

    Every recorded fit adds runs, so an exact match would retrain (about 1 s, inside the next fit's
    time budget) after each one; the few fits recorded since are left out until the database has
    grown by ``STALE_SHARE``. The one exception is the data about to be fitted (``digest``): when
    it is among them, the recommender is retrained, and an earlier fit of the same data comes
    first.
    """
    from autometa.meta import stored

    key = (db.fingerprint(), strategy, seed)
    if key in _CACHE:
        return _CACHE[key]
    _CACHE.clear()  # one database version at a time
    state, disk_key = db.state(), repr((db.url, strategy, seed))
    found = None if db.in_memory else stored.load("recommender", disk_key)
    if found is not None and _still_serves(found, state, db, digest):
        recommender = found[1]
    else:
        recommender = Recommender(strategy, seed=seed).fit(Experience.from_db(db))
        if not db.in_memory:
            stored.save("recommender", disk_key, (state, recommender))
    _CACHE[key] = recommender
    return recommender


def _still_serves(found: Any, now: tuple[int | None, ...], db: Any, digest: str | None) -> bool:
    """Whether a stored (database state, recommender) serves a database in state ``now``
    (``MetaDB.state``): the database grew from that state by at most ``STALE_SHARE`` of its tasks
    and of its runs, and not by an earlier fit of the data ``digest``."""
    if not (isinstance(found, tuple) and len(found) == 2 and isinstance(found[1], Recommender)
            and isinstance(found[0], tuple) and len(found[0]) == len(now)):
        return False
    then, recommender = found
    if then == now:
        return True
    if any((b or 0) < (a or 0) for a, b in zip(then, now, strict=True)):
        return False  # not grown from it: another database at the same place
    (tasks_then, _, runs_then, _, _), (tasks_now, _, runs_now, _, _) = then, now
    if tasks_now - tasks_then > STALE_SHARE * tasks_then or runs_now - runs_then > STALE_SHARE * runs_then:
        return False
    seen = recommender.experience.tasks.index if recommender.experience is not None else ()
    return digest is None or digest in seen or digest not in db.task_digests()
