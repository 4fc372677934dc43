"""XGBoost and CatBoost as learners: gradient-boosted trees grown in stages by continued boosting.

Both take the ordinal encoding. XGBoost splits categorical columns natively from
pandas ``category`` columns (``enable_categorical``, as LightGBM does); CatBoost
gets them as integer codes (missing and unseen levels as their own code, -1)
and applies its ordered target statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

from autometa.learners.base import Learner, StageCallback, check_deadline
from autometa.learners.lightgbm import CategoricalFrame
from autometa.preprocess import Layout

__all__ = ["CatBoost", "IntegerCodes", "LabelCoded", "XGBoost"]


class IntegerCodes(TransformerMixin, BaseEstimator):
    """A DataFrame whose categorical columns are integer codes (missing: -1), as CatBoost wants."""

    def __init__(self, categorical: tuple[int, ...] = ()) -> None:
        self.categorical = categorical

    def fit(self, X: Any, y: Any = None) -> IntegerCodes:
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: Any) -> Any:
        import numpy as np
        import pandas as pd

        df = pd.DataFrame(np.asarray(X, dtype="float64"), columns=[f"f{i}" for i in range(X.shape[1])])
        for i in self.categorical:
            df[f"f{i}"] = df[f"f{i}"].fillna(-1).astype("int64")
        return df


class LabelCoded(ClassifierMixin, BaseEstimator):
    """A classifier fitted on the codes 0..K-1 of the labels it sees (XGBoost accepts no others);
    it predicts the labels themselves.

    ``fit`` fits ``estimator`` itself rather than a clone, so that a staged fit keeps growing it.
    """

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any, **fit_params: Any) -> LabelCoded:
        import numpy as np

        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        self.estimator_ = self.estimator.fit(X, codes, **fit_params)
        return self

    def predict_proba(self, X: Any) -> Any:
        import numpy as np

        proba = np.asarray(self.estimator_.predict_proba(X), dtype="float64")  # float32 rows miss 1 by ~1e-7
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> Any:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class _Boosting(Learner):
    """A boosting library behind a frame step; subclasses say how to continue a fitted model."""

    step: str

    @property
    def model_fidelity_param(self) -> str:
        return f"{self.step}__n_estimators"

    def fit_stages(self, model: Any, Xt: Any, y: Any, stages: Sequence[int],
                   on_stage: StageCallback, deadline: float | None) -> None:
        frame = model.steps[0][1]
        data = frame.fit_transform(Xt)
        booster = model.named_steps[self.step]
        full = stages[-1]
        done = 0
        try:
            for value in stages:
                booster = self._boost(booster, data, y, value - done, first=not done, deadline=deadline,
                                      categorical=frame.categorical)
                model.steps[-1] = (self.step, booster)
                done = value
                check_deadline(deadline)
                on_stage(value)
        finally:
            self._set_rounds(booster, full)

    def _boost(self, booster: Any, data: Any, y: Any, rounds: int, *, first: bool,
               deadline: float | None, categorical: tuple[int, ...]) -> Any:
        """``rounds`` more rounds on ``booster`` (unfitted when ``first``); the grown model.
        ``categorical`` are the frame's categorical column positions."""
        raise NotImplementedError

    def _set_rounds(self, booster: Any, rounds: int) -> None:
        booster.set_params(n_estimators=rounds)


class XGBoost(_Boosting):
    name = "xgboost"
    step = "xgb"

    def make_model(self, params: dict[str, Any], kind: str, layout: Layout, *,
                   seed: int, n_jobs: int) -> Any:
        import xgboost as xgb
        from sklearn.pipeline import Pipeline

        cls = xgb.XGBRegressor if kind == "regression" else xgb.XGBClassifier
        booster = cls(random_state=seed, n_jobs=n_jobs, tree_method="hist", enable_categorical=True,
                      max_cat_to_onehot=1, verbosity=0, **params)
        if kind != "regression":
            booster = LabelCoded(booster)
        frame = CategoricalFrame(tuple(layout.categorical_indices))
        return Pipeline([("frame", frame), (self.step, booster)])

    def _boost(self, booster: Any, data: Any, y: Any, rounds: int, *, first: bool,
               deadline: float | None, categorical: tuple[int, ...]) -> Any:
        self._set_rounds(booster, rounds)
        trees = _inner(booster)
        return booster.fit(data, y, xgb_model=None if first else trees.get_booster(), verbose=False)

    def _set_rounds(self, booster: Any, rounds: int) -> None:
        _inner(booster).set_params(n_estimators=rounds)

    def _full_fidelity(self, model: Any) -> int | None:
        return int(_inner(model.named_steps[self.step]).get_params()["n_estimators"])


def _inner(booster: Any) -> Any:
    return booster.estimator if isinstance(booster, LabelCoded) else booster


class CatBoost(_Boosting):
    name = "catboost"
    step = "cat"

    def make_model(self, params: dict[str, Any], kind: str, layout: Layout, *,
                   seed: int, n_jobs: int) -> Any:
        import catboost
        from sklearn.pipeline import Pipeline

        cls = catboost.CatBoostRegressor if kind == "regression" else catboost.CatBoostClassifier
        # categorical columns are given at fit time: CatBoost's constructor copies a list, which
        # scikit-learn's clone refuses
        booster = cls(random_seed=seed, thread_count=n_jobs, verbose=False, allow_writing_files=False, **params)
        frame = IntegerCodes(tuple(layout.categorical_indices))
        return Pipeline([("frame", frame), (self.step, booster)])

    def _boost(self, booster: Any, data: Any, y: Any, rounds: int, *, first: bool,
               deadline: float | None, categorical: tuple[int, ...]) -> Any:
        from sklearn.base import clone

        # a fitted CatBoost model refuses new parameters: grow a fresh one from the fitted trees
        grown = clone(booster).set_params(n_estimators=rounds)
        callbacks = [_StopAt(deadline)] if deadline is not None else None
        return grown.fit(data, y, cat_features=list(categorical) or None, callbacks=callbacks,
                         init_model=None if first else booster)

    def _set_rounds(self, booster: Any, rounds: int) -> None:
        # the fitted model keeps the total, so that a clone (a refit) grows as many rounds;
        # CatBoost's set_params refuses fitted models, and this is the dict it writes to
        booster._init_params["n_estimators"] = rounds


class _StopAt:
    """CatBoost callback: stop boosting once the deadline has passed (the stage check then raises)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def after_iteration(self, info: Any) -> bool:
        import time

        return time.monotonic() <= self.deadline
