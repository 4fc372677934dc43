"""LightGBM as a learner: native categorical splits, staged fitting by continued boosting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sklearn.base import BaseEstimator, TransformerMixin

from autometa.learners.base import Learner, StageCallback, check_deadline
from autometa.preprocess import Layout

__all__ = ["CategoricalFrame", "LightGBM"]


class CategoricalFrame(TransformerMixin, BaseEstimator):
    """Wrap encoded features as a DataFrame whose categorical columns have pandas category dtype.

    LightGBM then splits those columns natively; unlike passing
    ``categorical_feature`` to ``fit``, this survives ``clone`` and a plain
    ``Pipeline.fit``.
    """

    def __init__(self, categorical: tuple[int, ...] = (), n_levels: int = 255) -> None:
        self.categorical = categorical
        self.n_levels = n_levels

    def fit(self, X: Any, y: Any = None) -> CategoricalFrame:
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: Any) -> Any:
        import numpy as np
        import pandas as pd

        df = pd.DataFrame(np.asarray(X, dtype="float64"), columns=[f"f{i}" for i in range(X.shape[1])])
        levels = pd.Index(np.arange(self.n_levels))  # integer levels: XGBoost refuses floating-point ones
        for i in self.categorical:
            values = df[f"f{i}"].to_numpy()
            known = np.isfinite(values) & (values >= 0) & (values < self.n_levels)
            codes = np.where(known, np.nan_to_num(values), -1).astype("int64")
            df[f"f{i}"] = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(levels))
        return df


class LightGBM(Learner):
    name = "lightgbm"

    def make_model(self, params: dict[str, Any], kind: str, layout: Layout, *,
                   seed: int, n_jobs: int) -> Any:
        import lightgbm as lgb
        from sklearn.pipeline import Pipeline

        params = dict(params)
        if params.get("subsample", 1.0) < 1.0:
            params["subsample_freq"] = 1
        cls = lgb.LGBMRegressor if kind == "regression" else lgb.LGBMClassifier
        booster = cls(random_state=seed, n_jobs=n_jobs, verbose=-1, **params)
        frame = CategoricalFrame(tuple(layout.categorical_indices))
        return Pipeline([("frame", frame), ("lgbm", booster)])

    @property
    def model_fidelity_param(self) -> str:
        return "lgbm__n_estimators"

    def fit_stages(self, model: Any, Xt: Any, y: Any, stages: Sequence[int],
                   on_stage: StageCallback, deadline: float | None) -> None:
        frame, booster = model.named_steps["frame"], model.named_steps["lgbm"]
        data = frame.fit_transform(Xt)

        def stop_at_deadline(env: Any) -> None:
            check_deadline(deadline)

        done = 0
        full = stages[-1]
        try:
            for value in stages:
                booster.set_params(n_estimators=value - done)
                init = booster.booster_ if done else None
                booster.fit(data, y, init_model=init, callbacks=[stop_at_deadline])
                done = value
                on_stage(value)
        finally:
            booster.set_params(n_estimators=full)
