"""Learner families. ``get_learner(name)`` returns the learner for a search space.

To add a family: write ``search_spaces/<name>.yaml`` and one ``Learner``
subclass, and list it in ``_CLASSES``.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from autometa.errors import OptionError, message

if TYPE_CHECKING:
    from autometa.learners.base import Learner
    from autometa.spaces import SearchSpace

__all__ = ["LEARNER_NAMES", "get_learner", "learner_classes"]

LEARNER_NAMES = ("catboost", "extra_trees", "hist_gradient_boosting", "knn", "lightgbm", "linear", "mlp",
                 "random_forest", "xgboost")


def learner_classes() -> dict[str, type[Learner]]:
    from autometa.learners.boosting import CatBoost, XGBoost
    from autometa.learners.lightgbm import LightGBM
    from autometa.learners.mlp import MLP
    from autometa.learners.sklearn_models import (
        ExtraTrees,
        HistGradientBoosting,
        KNearestNeighbors,
        Linear,
        RandomForest,
    )

    classes: list[type[Learner]] = [LightGBM, RandomForest, ExtraTrees, HistGradientBoosting,
                                    Linear, KNearestNeighbors, MLP, XGBoost, CatBoost]
    return {c.name: c for c in classes}


@cache
def _spaces() -> dict[str, SearchSpace]:
    from autometa.spaces import load_spaces

    return load_spaces()


def get_learner(name: str, space: SearchSpace | None = None) -> Learner:
    """The learner called ``name``, built on its search space.

    Raises:
        OptionError: No learner has that name.
    """
    classes = learner_classes()
    if name not in classes:
        raise OptionError(message(f"unknown learner '{name}'", f"use one of: {', '.join(sorted(classes))}"))
    return classes[name](space if space is not None else _spaces()[name])
