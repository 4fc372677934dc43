"""LightGBM as a learner: native categorical splits, staged fitting by continued boosting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sklearn.base import BaseEstimator, TransformerMixin

from autometa.learners.base import Learner, StageCallback, check_deadline, patience
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
    early_stops = True

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
                   on_stage: StageCallback, deadline: float | None, *, valid: tuple[Any, Any] | None = None) -> None:
        import warnings

        import lightgbm as lgb

        frame, booster = model.named_steps["frame"], model.named_steps["lgbm"]
        data = frame.fit_transform(Xt)

        def stop_at_deadline(env: Any) -> None:
            check_deadline(deadline)

        full = stages[-1]
        callbacks: list[Any] = [stop_at_deadline]
        extra: dict[str, Any] = {}
        if valid is not None:  # its own loss on the validation rows (log-loss, L2); the best round predicts
            extra["eval_set"] = [(frame.transform(valid[0]), valid[1])]
            callbacks.append(lgb.early_stopping(patience(len(data)), first_metric_only=True, verbose=False))
        done = 0
        try:
            for value in stages:
                if done < value:
                    booster.set_params(n_estimators=value - done)
                    init = booster.booster_ if done else None
                    with warnings.catch_warnings():
                        # LightGBM 4.7 renamed eval_set to eval_X/eval_y, but its classifier
                        # encodes the labels of eval_set only; 4.3 knows no other
                        warnings.filterwarnings("ignore", message=".*'eval_set' is deprecated")
                        booster.fit(data, y, init_model=init, callbacks=callbacks, **extra)
                    grown = booster.booster_.current_iteration()
                    done = value if grown >= value else full  # stopped early: no more rounds
                on_stage(value)
        finally:
            booster.set_params(n_estimators=full)

    def reached(self, pipe: Any) -> int | None:
        return _best(pipe.named_steps["model"].named_steps["lgbm"])


def _best(booster: Any) -> int | None:
    """The round an early-stopped booster predicts with; None without early stopping."""
    best = getattr(booster, "best_iteration_", 0) if hasattr(booster, "booster_") else 0
    return int(best) if best else None
