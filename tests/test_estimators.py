"""The estimators keep scikit-learn's contract, proven by its own checks."""

from __future__ import annotations

import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from autometa import AutoMetaClassifier, AutoMetaRegressor
from autometa.errors import OptionError, OptionTypeError
from tests.conftest import mixed_frame

pytestmark = pytest.mark.filterwarnings("ignore::autometa.data.AutoMetaWarning")
TINY = {"n_trials": 2, "learners": ["lightgbm", "linear"], "n_jobs": 1}


@parametrize_with_checks([AutoMetaClassifier(**TINY), AutoMetaRegressor(**TINY)])
def test_sklearn_contract(estimator, check) -> None:
    check(estimator)


def test_in_a_pipeline_with_cross_val_score_and_clone() -> None:
    df = mixed_frame(n=150)
    X, y = df.drop(columns="target"), df["target"]
    pipe = make_pipeline(FunctionTransformer(lambda d: d.copy()), AutoMetaClassifier(**TINY))
    scores = cross_val_score(pipe, X, y, cv=3, scoring="roc_auc")
    assert len(scores) == 3 and min(scores) > 0.6
    est = clone(AutoMetaClassifier(**TINY)).fit(X, y)
    assert est.best_config_.learner in TINY["learners"]
    assert est.leaderboard_.shape[0] == 2 and est.study_ is not None
    assert list(est.classes_) == ["neg", "pos"]
    assert est.predict_proba(X).shape == (150, 2)


def test_regressor_on_mixed_columns() -> None:
    df = mixed_frame(kind="regression")
    est = AutoMetaRegressor(**TINY).fit(df.drop(columns="target"), df["target"])
    assert est.score(df.drop(columns="target"), df["target"]) > 0.5


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"time_budget": -3}, OptionError, "must be a number of seconds > 0. Got -3"),
        ({"time_budget": "soon"}, OptionTypeError, "time_budget"),
        ({"n_trials": 2.5}, OptionTypeError, "n_trials"),
        ({"learners": "lightgbm"}, OptionTypeError, "learners=\\['lightgbm'\\]"),
        ({"metric": "rmse"}, OptionError, "does not apply"),
        ({"cv": 1}, OptionError, "cv must be"),
    ],
)
def test_bad_parameters_raise_at_fit(params: dict, error: type, match: str) -> None:
    df = mixed_frame(n=60)
    with pytest.raises(error, match=match):
        AutoMetaClassifier(**{**TINY, **params}).fit(df.drop(columns="target"), df["target"])
