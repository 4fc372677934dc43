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

from autometa.learners.base import Learner, StageCallback, check_deadline, patience
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
        if "eval_set" in fit_params:  # validation labels the same codes (each is a training label)
            fit_params["eval_set"] = [(Xv, np.searchsorted(self.classes_, np.asarray(yv)))
                                      for Xv, yv in fit_params["eval_set"]]
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
    early_stops = True

    @property
    def model_fidelity_param(self) -> str:
        return f"{self.step}__n_estimators"

    def fit_stages(self, model: Any, Xt: Any, y: Any, stages: Sequence[int],
                   on_stage: StageCallback, deadline: float | None, *, valid: tuple[Any, Any] | None = None) -> None:
        frame = model.steps[0][1]
        data = frame.fit_transform(Xt)
        booster = model.named_steps[self.step]
        full = stages[-1]
        stop = None if valid is None else (frame.transform(valid[0]), valid[1], patience(len(data)))
        done = 0
        try:
            for value in stages:
                if done < value:
                    booster, grown = self._boost(booster, data, y, value - done, first=not done, deadline=deadline,
                                                 categorical=frame.categorical, stop=stop)
                    model.steps[-1] = (self.step, booster)
                    done = value if grown >= value - done else full  # stopped early: no more rounds
                check_deadline(deadline)
                on_stage(value)
        finally:
            self._set_rounds(booster, full)

    def _boost(self, booster: Any, data: Any, y: Any, rounds: int, *, first: bool, deadline: float | None,
               categorical: tuple[int, ...], stop: tuple[Any, Any, int] | None) -> tuple[Any, int]:
        """``rounds`` more rounds on ``booster`` (unfitted when ``first``): the grown model and the
        rounds it grew. ``categorical`` are the frame's categorical column positions; ``stop``, the
        encoded validation rows and the patience for early stopping (the grown model then predicts
        with its best round)."""
        raise NotImplementedError

    def _set_rounds(self, booster: Any, rounds: int) -> None:
        booster.set_params(n_estimators=rounds)

    def reached(self, pipe: Any) -> int | None:
        return self._best(pipe.named_steps["model"].named_steps[self.step])

    def _best(self, booster: Any) -> int | None:
        """The rounds an early-stopped model predicts with; None without early stopping."""
        raise NotImplementedError


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

    def _boost(self, booster: Any, data: Any, y: Any, rounds: int, *, first: bool, deadline: float | None,
               categorical: tuple[int, ...], stop: tuple[Any, Any, int] | None) -> tuple[Any, int]:
        self._set_rounds(booster, rounds)
        trees = _inner(booster)
        before = 0 if first else trees.get_booster().num_boosted_rounds()
        extra: dict[str, Any] = {}
        if stop is not None:
            trees.set_params(early_stopping_rounds=stop[2])
            extra["eval_set"] = [(stop[0], stop[1])]
        if deadline is not None:  # the stage check after this call raises once it has passed
            trees.set_params(callbacks=[_xgboost_stop_at(deadline)])
        try:
            booster = booster.fit(data, y, xgb_model=None if first else trees.get_booster(), verbose=False, **extra)
        finally:
            _inner(booster).set_params(callbacks=None)  # not saved with the model
        return booster, _inner(booster).get_booster().num_boosted_rounds() - before

    def _best(self, booster: Any) -> int | None:
        trees = _inner(booster)
        if trees.get_params().get("early_stopping_rounds") is None or not hasattr(trees, "_Booster"):
            return None
        return int(trees.best_iteration) + 1

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

    def _boost(self, booster: Any, data: Any, y: Any, rounds: int, *, first: bool, deadline: float | None,
               categorical: tuple[int, ...], stop: tuple[Any, Any, int] | None) -> tuple[Any, int]:
        from sklearn.base import clone

        # a fitted CatBoost model refuses new parameters: grow a fresh one from the fitted trees
        grown = clone(booster).set_params(n_estimators=rounds)
        callbacks = [_StopAt(deadline)] if deadline is not None else None
        extra: dict[str, Any] = {}
        if stop is not None:  # not use_best_model: a stage that did not stop continues from its last round
            extra = {"eval_set": (stop[0], stop[1]), "early_stopping_rounds": stop[2], "use_best_model": False}
        before = 0 if first else booster.tree_count_
        grown.fit(data, y, cat_features=list(categorical) or None, callbacks=callbacks,
                  init_model=None if first else booster, **extra)
        if stop is None:
            return grown, rounds
        curves = grown.get_evals_result().get("validation", {})
        ran = len(next(iter(curves.values()))) if curves else rounds
        if ran < rounds:  # stopped: keep the trees up to the best round (counted from this call's first)
            grown.shrink(before + grown.get_best_iteration() + 1)
        return grown, ran

    def _best(self, booster: Any) -> int | None:
        if not booster.is_fitted() or booster.get_best_iteration() is None:
            return None
        return int(booster.tree_count_)

    def _set_rounds(self, booster: Any, rounds: int) -> None:
        # the fitted model keeps the total, so that a clone (a refit) grows as many rounds;
        # CatBoost's set_params refuses fitted models, and this is the dict it writes to
        booster._init_params["n_estimators"] = rounds


def _xgboost_stop_at(deadline: float) -> Any:
    """An XGBoost callback that stops boosting once ``deadline`` (``time.monotonic()``) has passed."""
    import time

    import xgboost as xgb

    class StopAt(xgb.callback.TrainingCallback):  # type: ignore[misc]
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            return time.monotonic() > deadline

    return StopAt()


class _StopAt:
    """CatBoost callback: stop boosting once the deadline has passed (the stage check then raises)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def after_iteration(self, info: Any) -> bool:
        import time

        return time.monotonic() <= self.deadline
