"""How a neural learner is taught: the order its rows come in, and how its learning rate moves.

- Data ordering (a curriculum): ``none``; ``easy_to_hard``, rows ranked by the out-of-fold loss of
  a fast teacher (a small LightGBM, 3 folds); ``anti``, the same ranking hardest first;
  ``self_paced``, rows ranked by the network's own current loss, again at every epoch. With an
  ordering, epoch ``e`` trains on the first ``pace(e)`` share of the ranked rows, growing linearly
  from ``start`` to all rows at half the epochs (a linear pacing function), shuffled within.
- Learning-rate schedules, as a factor of the configured rate per epoch: ``constant``; ``cosine``
  (to zero at the last epoch); ``onecycle`` (up from a tenth to the full rate over the first 30%,
  then cosine down); ``warmup`` (linear from a tenth over the first 10%, then constant).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["CURRICULA", "LR_SCHEDULES", "lr_factor", "pace", "teacher_difficulty"]

CURRICULA = ("none", "easy_to_hard", "anti", "self_paced")
LR_SCHEDULES = ("constant", "cosine", "onecycle", "warmup")


def lr_factor(schedule: str, epoch: int, epochs: int) -> float:
    """The learning rate's factor at ``epoch`` (0-based) of ``epochs``.

    Example:
        >>> [round(lr_factor("cosine", e, 4), 2) for e in range(4)]
        [1.0, 0.85, 0.5, 0.15]
    """
    t = epoch / max(epochs, 1)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * t))
    if schedule == "onecycle":
        if t < 0.3:
            return 0.1 + 0.9 * t / 0.3
        return 0.5 * (1 + math.cos(math.pi * (t - 0.3) / 0.7))
    if schedule == "warmup":
        return min(1.0, 0.1 + 0.9 * t / 0.1)
    return 1.0


def pace(epoch: int, epochs: int, start: float) -> float:
    """The share of the ranked rows epoch ``epoch`` trains on: ``start``, growing linearly to 1 at
    half the epochs."""
    half = max(epochs / 2, 1.0)
    return float(min(1.0, start + (1.0 - start) * epoch / half))


def teacher_difficulty(X: np.ndarray, y: np.ndarray, classification: bool, seed: int) -> np.ndarray:
    """Each row's out-of-fold loss under a small LightGBM (3 folds): higher is harder."""
    import warnings

    from lightgbm import LGBMClassifier, LGBMRegressor
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

    kwargs: dict[str, Any] = {"n_estimators": 50, "num_leaves": 15, "random_state": seed, "verbose": -1,
                              "n_jobs": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if classification:
            counts = np.bincount(y)
            if len(y) < 6 or counts[counts > 0].min() < 3:
                return np.zeros(len(y))
            folds: Any = StratifiedKFold(3, shuffle=True, random_state=seed)
            proba = cross_val_predict(LGBMClassifier(**kwargs), X, y, cv=folds, method="predict_proba")
            return -np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, 1.0))
        if len(y) < 6:
            return np.zeros(len(y))
        pred = cross_val_predict(LGBMRegressor(**kwargs), X, y, cv=KFold(3, shuffle=True, random_state=seed))
        return (pred - y) ** 2
