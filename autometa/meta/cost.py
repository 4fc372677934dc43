"""Predicted cost: the seconds that cross-validating a configuration takes on a task.

``CostModel`` is a LightGBM regression of log seconds on the task's size
(meta-features ``SIZE_FEATURES``) and the configuration (its learner and
parameters), trained on every run in a meta_db: each run keeps the seconds its
cross-validation took. A fit uses it twice when it has a time budget: to order
the recommended configurations by predicted score per second
(``Recommender.recommend(time_budget=...)``) and to skip a configuration that
cannot finish in the time left (``Calibrated``, which scales the predictions
to this machine by the trials it has seen).

A regression on trees predicts a task larger than every past one as if it were
the largest: flat. The shipped corpus has at most 2,000 rows and a user's table
often has many more, so beyond the past tasks' largest rows and features
(``EXTRAPOLATED``) the prediction grows as a power of the size: each learner's
elasticity of seconds, estimated on the larger half of the past tasks (where a
fit's fixed overhead weighs least) within each configuration, and for the boosting
libraries at least in proportion to the columns (``ELASTICITY_FLOORS``). Inside the
past tasks' range nothing changes.

Example:
    >>> cost = CostModel().fit(Experience.from_db(db))            # doctest: +SKIP
    >>> cost.predict([config], metafeatures.as_dict())             # doctest: +SKIP
    array([0.83])
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from autometa.meta.experience import Experience
    from autometa.spaces import Config

__all__ = ["ELASTICITY_FLOORS", "EXTRAPOLATED", "SIZE_FEATURES", "Calibrated", "CostModel"]

SIZE_FEATURES = ("log_rows", "log_features", "log_classes", "log_max_levels", "share_categorical",
                 "is_regression")
EXTRAPOLATED = ("log_rows", "log_features")  # beyond the past tasks' largest: a power law
# beyond the past tasks' largest, the boosting libraries' seconds grow at least in proportion to
# the columns (each round builds a histogram of every column); the corpus's estimates (0.1-0.8) are
# its fixed costs' as much. Measured at 300 columns (``bench_cost.py --widths``, session 26's runs):
# the families' relative costs once the first trials set the level were off by 0.84 doublings,
# 0.42 with this floor, 1.03 with it on every family (benchmarks/README.md, section 11, session 29)
ELASTICITY_FLOORS = {name: {"log_features": 1.0} for name in
                     ("lightgbm", "xgboost", "catboost", "hist_gradient_boosting")}
MIN_RUNS = 50  # fewer timed runs than this: no model, no prediction (and no learner's own elasticity)
FLOOR_SECONDS = 0.01


def _code(value: Any) -> float:
    """A parameter value as a number: numbers as they are, anything else a stable code."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return float(zlib.crc32(str(value).encode()) % 10_007)


class CostModel:
    """Predicts a configuration's cross-validation seconds on a task from past runs.

    Args:
        seed: LightGBM's seed.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.model: Any = None
        self.learners: list[str] = []
        self.params: list[str] = []
        self.largest: dict[str, float] = {}  # per EXTRAPOLATED feature: the past tasks' largest
        self.elasticity: dict[str, np.ndarray] = {}  # per learner: d log seconds / d each EXTRAPOLATED

    def _frame(self, learners: Sequence[str], params: Sequence[Mapping[str, Any]],
               sizes: np.ndarray) -> pd.DataFrame:
        data: dict[str, Any] = {f: sizes[:, i] for i, f in enumerate(SIZE_FEATURES)}
        data["learner"] = [float(self.learners.index(n)) if n in self.learners else math.nan for n in learners]
        for name in self.params:
            data[f"p.{name}"] = [_code(p[name]) if p.get(name) is not None else math.nan for p in params]
        return pd.DataFrame(data)

    def fit(self, experience: Experience) -> CostModel:
        """Train on the experience's timed runs (a no-op below ``MIN_RUNS`` of them)."""
        scores = experience.scores
        scores = scores[scores["seconds"].notna() & (scores["seconds"] > 0)] if "seconds" in scores else scores[:0]
        if len(scores) < MIN_RUNS:
            return self
        import lightgbm as lgb

        keys = sorted(set(scores["key"]))
        cands = [experience.candidates[k] for k in keys]
        self.learners = sorted({c.learner for c in cands})
        self.params = sorted({name for c in cands for name in c.params})
        # one row per candidate, then one per run (a candidate runs on many tasks)
        per_key = self._frame([c.learner for c in cands], [dict(c.params) for c in cands],
                              np.full((len(cands), len(SIZE_FEATURES)), math.nan))
        rows = per_key.iloc[pd.Index(keys).get_indexer(scores["key"])].reset_index(drop=True)
        sizes = experience.tasks.loc[scores["task"], list(SIZE_FEATURES)].to_numpy(dtype=float)
        X = rows.assign(**{f: sizes[:, i] for i, f in enumerate(SIZE_FEATURES)})
        y = np.log(np.maximum(scores["seconds"].to_numpy(dtype=float), FLOOR_SECONDS))
        self.model = lgb.LGBMRegressor(n_estimators=200, learning_rate=0.05, num_leaves=31, min_child_samples=10,
                                       subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
                                       random_state=self.seed, n_jobs=1, verbose=-1)
        self.model.fit(X, y, categorical_feature=["learner"])
        grown = pd.DataFrame({f: X[f] for f in EXTRAPOLATED}).assign(key=scores["key"].to_numpy(),
                                                                     learner=scores["learner"].to_numpy(), y=y)
        self.largest = {f: float(grown[f].max()) for f in EXTRAPOLATED}
        self.elasticity = _elasticities(grown[grown["log_rows"] >= grown["log_rows"].median()])
        return self

    @property
    def fitted(self) -> bool:
        return self.model is not None

    def predict(self, configs: Sequence[Config], metafeatures: Mapping[str, float]) -> np.ndarray:
        """Predicted seconds of each configuration's cross-validation on a task with these
        meta-features (NaN when the model is not fitted)."""
        if not self.fitted or not configs:
            return np.full(len(configs), math.nan)
        size = np.array([[float(metafeatures.get(f, math.nan)) for f in SIZE_FEATURES]] * len(configs))
        X = self._frame([c.learner for c in configs], [dict(c.params) for c in configs], size)
        return np.exp(self.model.predict(X) + self._growth([c.learner for c in configs], metafeatures))

    def elasticity_of(self, learner: str) -> np.ndarray:
        """The learner's elasticity of seconds in each ``EXTRAPOLATED`` size: its own, else the
        pooled one, else none; at least its ``ELASTICITY_FLOORS``."""
        own = self.elasticity.get(learner, self.elasticity.get("", np.zeros(len(EXTRAPOLATED))))
        floors = ELASTICITY_FLOORS.get(learner, {})
        return np.maximum(own, [floors.get(f, 0.0) for f in EXTRAPOLATED])

    def _growth(self, learners: Sequence[str], metafeatures: Mapping[str, float]) -> np.ndarray:
        """Log seconds that a task beyond the past tasks' largest adds for each learner (0 inside
        their range, or where a size is unknown)."""
        sizes = np.array([float(metafeatures.get(f, math.nan)) for f in self.largest])
        beyond = np.nan_to_num(np.maximum(sizes - np.array(list(self.largest.values())), 0.0))
        return np.array([float(self.elasticity_of(n) @ beyond) for n in learners])


def _elasticities(runs: pd.DataFrame) -> dict[str, np.ndarray]:
    """Least squares of log seconds on the ``EXTRAPOLATED`` sizes within each configuration
    (``key``: its hyperparameters held fixed), per learner with ``MIN_RUNS`` runs or more, and
    pooled over all (under the name ``""``). A size that never varies within a configuration gets none, and
    so does a negative estimate (more rows never take less time)."""
    cols = list(EXTRAPOLATED)

    def fit(part: pd.DataFrame) -> np.ndarray | None:
        if len(part) < MIN_RUNS:
            return None
        centred = part[[*cols, "y"]] - part.groupby("key")[[*cols, "y"]].transform("mean")
        X = centred[cols].to_numpy(dtype=float)
        varies = X.std(axis=0) > 1e-9
        beta = np.zeros(len(cols))
        beta[varies] = np.linalg.lstsq(X[:, varies], centred["y"].to_numpy(dtype=float), rcond=None)[0]
        return np.maximum(beta, 0.0)

    out = {str(name): beta for name, part in runs.groupby("learner") if (beta := fit(part)) is not None}
    pooled = fit(runs)
    if pooled is not None:
        out[""] = pooled
    return out


class Calibrated:
    """A cost model's predictions for one task, scaled to this machine by the ratios of observed
    to predicted seconds over the trials seen so far (1 before the first).

    The scale is the median ratio over all trials, moved toward the learner's own median by the
    number of its trials (a shrinkage with the weight of one trial on the pooled median, in log
    space). The machine's speed is common to every learner, but beyond the past tasks' sizes each
    learner's prediction is off by its own factor: on a 3,000 x 500 table, observed over predicted
    seconds were about 2 for the linear model and 13 for LightGBM.

    Args:
        model: A fitted ``CostModel`` (None: nothing is predicted).
        metafeatures: The task's meta-features.
    """

    def __init__(self, model: CostModel | None, metafeatures: Mapping[str, float]) -> None:
        self.model, self.metafeatures = model, dict(metafeatures)
        self.ratios: dict[str, list[float]] = {}  # per learner, in the order seen
        self._raw: dict[Config, float] = {}  # the model's prediction, once per configuration
        self.seen: dict[Config, float] = {}  # the seconds each completed configuration took

    def _predicted(self, config: Config) -> float | None:
        if self.model is None or not self.model.fitted:
            return None
        if config not in self._raw:
            self._raw[config] = float(self.model.predict([config], self.metafeatures)[0])
        return self._raw[config]

    def scale(self, learner: str) -> float:
        """The factor applied to ``learner``'s predictions."""
        pooled = [r for ratios in self.ratios.values() for r in ratios]
        if not pooled:
            return 1.0
        own = self.ratios.get(learner, [])
        log_scale = (len(own) * math.log(np.median(own)) if own else 0.0) + math.log(np.median(pooled))
        return math.exp(log_scale / (len(own) + 1))

    def predict(self, config: Config, fidelity: str | None = None) -> float | None:
        """Predicted seconds, or None when nothing is known. ``fidelity``: the name of the
        configuration's fidelity parameter; a configuration that differs from one seen only in
        it is predicted from that one's seconds in proportion to the fidelity (a booster's
        rounds: ``search.grown_leader``), which the task's own trial knows better than the
        model does.

        Example:
            >>> from autometa.spaces import Config
            >>> cost = Calibrated(None, {})
            >>> cost.observe(Config("gbm", {"rounds": 100, "lr": 0.1}), 8.0)
            >>> cost.predict(Config("gbm", {"rounds": 200, "lr": 0.1}), "rounds")
            16.0
        """
        if fidelity is not None and (value := config.params.get(fidelity)):
            rest = {k: v for k, v in config.params.items() if k != fidelity}
            for other, seconds in reversed(self.seen.items()):  # the latest seen first
                if other.learner == config.learner and other.params.get(fidelity) and rest == {
                        k: v for k, v in other.params.items() if k != fidelity}:
                    return seconds * float(value) / float(other.params[fidelity])
        raw = self._predicted(config)
        if raw is None:
            return None
        return raw * self.scale(config.learner)

    def observe(self, config: Config, seconds: float, *, at_least: bool = False) -> None:
        """Record a trial's real seconds. With ``at_least``, ``seconds`` is a lower bound (a
        trial cut short, projected from its folds so far): it is recorded only where it exceeds
        what is predicted now, since a bound below the prediction does not contradict it."""
        if not at_least:
            self.seen[config] = seconds
        raw = self._predicted(config)
        if raw is None or raw <= 0 or seconds <= 0:
            return
        if at_least and seconds <= raw * self.scale(config.learner):
            return
        self.ratios.setdefault(config.learner, []).append(seconds / raw)
