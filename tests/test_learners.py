"""The Learner contract, checked once for every registered learner."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from autometa.data import make_task
from autometa.errors import TrialTimeout
from autometa.evaluate import plan_cv, predict_scores
from autometa.learners import LEARNER_NAMES, get_learner
from autometa.learners.base import stage_values
from autometa.metrics import get_metric
from tests.conftest import mixed_frame

pytestmark = pytest.mark.filterwarnings("ignore::autometa.data.AutoMetaWarning")


@pytest.mark.parametrize("name", LEARNER_NAMES)
@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_learner_fits_raw_columns_in_stages(name: str, kind: str) -> None:
    task = make_task(mixed_frame(kind=kind), "target")
    learner = get_learner(name)
    config = learner.space.default_config(task.kind)
    pipe = learner.pipeline(config, task.columns, task.kind, seed=0, n_jobs=1)
    seen: list[int] = []
    learner.fit(pipe, task.X, task.y, on_stage=seen.append)
    full = learner.fidelity(config)
    assert seen == (stage_values(full) if full is not None else [0])
    pred = predict_scores(pipe, task.X, task)
    metric = get_metric(None, task.kind)
    from autometa.evaluate import encode_target

    score = metric(encode_target(task), pred)
    assert np.isfinite(score)
    # the fitted pipeline predicts from raw string columns, as read from a CSV
    raw = task.X.astype(str).replace("nan", "")
    assert len(pipe.predict(raw)) == task.n_rows


@pytest.mark.parametrize("name", ["lightgbm", "random_forest", "hist_gradient_boosting", "xgboost", "catboost"])
def test_staged_fit_stops_at_the_deadline(name: str) -> None:
    task = make_task(mixed_frame(n=400), "target")
    learner = get_learner(name)
    config = learner.space.complete(
        type(learner.space.default_config("binary"))(name, {learner.space.fidelity: 300}), task.kind)
    pipe = learner.pipeline(config, task.columns, task.kind)
    with pytest.raises(TrialTimeout):
        learner.fit(pipe, task.X, task.y, deadline=time.monotonic() - 1)


@pytest.mark.parametrize("name", ["lightgbm", "xgboost", "catboost"])
def test_a_booster_stops_growing_once_the_deadline_passes_mid_stage(name: str) -> None:
    from autometa.learners.boosting import _inner

    task = make_task(mixed_frame(n=400), "target")
    learner = get_learner(name)
    rounds = 200_000  # far more than 0.3 s can grow: only a check inside the boosting stops it
    pipe = learner.pipeline(learner.space.default_config(task.kind), task.columns, task.kind)
    model = pipe.named_steps["model"].steps[-1][1]
    _inner(model).set_params(n_estimators=rounds)  # past the space's range
    with pytest.raises(TrialTimeout):
        learner.fit(pipe, task.X, task.y, deadline=time.monotonic() + 0.3, staged=False)
    model = pipe.named_steps["model"].steps[-1][1]
    if name == "xgboost":
        trees = _inner(model)
        assert trees.get_booster().num_boosted_rounds() < rounds
        assert trees.get_params()["callbacks"] is None  # the deadline is not saved with the model
    elif name == "catboost":
        assert 0 < model.tree_count_ < rounds


def test_lightgbm_uses_native_categorical_splits() -> None:
    rng = np.random.default_rng(0)
    n = 600
    city = rng.choice([f"c{i}" for i in range(12)], n)
    y = np.isin(city, ["c1", "c5", "c9"]).astype(int)
    task = make_task(pd.DataFrame({"city": city, "noise": rng.normal(size=n), "y": y}), "y")
    learner = get_learner("lightgbm")
    pipe = learner.pipeline(learner.space.default_config("binary"), task.columns, task.kind)
    learner.fit(pipe, task.X, task.y)
    booster = pipe.named_steps["model"].named_steps["lgbm"].booster_
    types = {n.get("decision_type") for t in booster.dump_model()["tree_info"]
             for n in [t["tree_structure"]]}
    assert "==" in types


@pytest.mark.parametrize("name", ["xgboost", "catboost"])
@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_boosting_grows_in_stages_like_one_fit_and_saves_with_skops(name: str, kind: str) -> None:
    """Continued boosting over the stages gives the model one fit of all rounds gives, a clone of
    the fitted pipeline keeps the full round count (a refit grows as many), and skops round-trips
    the model through autometa's allowlist."""
    import skops.io as sio
    from sklearn.base import clone

    from autometa.trust import loads_trusted

    task = make_task(mixed_frame(n=300, kind=kind), "target")
    learner = get_learner(name)
    config = learner.space.complete(
        type(learner.space.default_config(task.kind))(name, {"n_estimators": 60}), task.kind)
    staged = learner.fit(learner.pipeline(config, task.columns, task.kind), task.X, task.y)
    once = learner.fit(learner.pipeline(config, task.columns, task.kind), task.X, task.y, staged=False)
    a, b = predict_scores(staged, task.X, task), predict_scores(once, task.X, task)
    assert np.allclose(a, b, atol=1e-5)
    assert learner._full_fidelity(clone(staged).named_steps["model"]) == 60
    loaded = loads_trusted(sio.dumps(staged), "test")
    assert np.allclose(predict_scores(loaded, task.X, task), a)


@pytest.mark.parametrize("name", ["lightgbm", "xgboost", "catboost"])
@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_boosting_stops_early_on_validation_rows_and_predicts_with_its_best_round(name: str, kind: str) -> None:
    from autometa.spaces import Config

    frame = mixed_frame(n=500, kind=kind)
    noisy = np.random.default_rng(1).choice(500, 150, replace=False)  # labels to overfit
    frame.loc[noisy, "target"] = frame["target"].to_numpy()[np.random.default_rng(2).permutation(noisy)]
    task = make_task(frame, "target")
    train, val = np.arange(350), np.arange(350, 500)
    learner = get_learner(name)
    config = learner.space.complete(Config(name, {"n_estimators": 400, "learning_rate": 0.3}), task.kind)
    X_tr, y_tr, X_va, y_va = task.X.iloc[train], task.y[train], task.X.iloc[val], task.y[val]
    seen: list[int] = []
    stopped = learner.fit(learner.pipeline(config, task.columns, task.kind), X_tr, y_tr, on_stage=seen.append,
                          valid=(X_va, y_va))
    assert seen == stage_values(400)  # every stage reports, though the rounds stopped early
    best = learner.reached(stopped)
    assert best is not None and best < 400
    if name == "catboost":  # its random strength follows the rounds grown, so a shorter fit differs
        return
    # it predicts as the same configuration grown to its best round and no further
    at_best = Config(name, {**config.params, "n_estimators": best})
    grown = learner.fit(learner.pipeline(at_best, task.columns, task.kind), X_tr, y_tr)
    assert learner.reached(grown) is None
    assert np.allclose(predict_scores(stopped, X_va, task), predict_scores(grown, X_va, task), atol=1e-5)


def test_learners_without_early_stopping_fit_as_without_validation_rows() -> None:
    task = make_task(mixed_frame(n=300), "target")
    forest = get_learner("random_forest")
    conf = forest.space.default_config(task.kind)
    a = forest.fit(forest.pipeline(conf, task.columns, task.kind), task.X, task.y, valid=(task.X, task.y))
    b = forest.fit(forest.pipeline(conf, task.columns, task.kind), task.X, task.y)
    assert np.allclose(predict_scores(a, task.X, task), predict_scores(b, task.X, task))


def test_cross_validation_stops_each_folds_booster_on_its_validation_rows() -> None:
    from autometa.evaluate import cross_validate
    from autometa.spaces import Config

    frame = mixed_frame(n=300, kind="multiclass")
    frame["target"] = frame["target"].astype(str)
    frame.loc[:1, "target"] = "rare"  # two rows: two folds, each validating on one of them
    with pytest.warns(UserWarning, match="2 folds"):
        task = make_task(frame, "target")
        plan = plan_cv(task, 3)
    learner = get_learner("xgboost")
    config = learner.space.complete(Config("xgboost", {"n_estimators": 400, "learning_rate": 0.3}), task.kind)
    metric = get_metric(None, task.kind)
    ev = cross_validate(task, config, learner, metric, plan, early_stop=True)
    assert np.isfinite(ev.score) and ev.reached is not None and ev.reached < 400
    assert [learner.reached(m) for m in ev.models] != [None, None]
    assert cross_validate(task, config, learner, metric, plan).reached is None  # off by default


def test_knn_caps_neighbours_at_fold_size() -> None:
    task = make_task(mixed_frame(n=12), "target")
    learner = get_learner("knn")
    from autometa.spaces import Config

    pipe = learner.pipeline(Config("knn", {"n_neighbors": 100, "weights": "uniform", "p": 2}),
                            task.columns, task.kind)
    learner.fit(pipe, task.X, task.y)
    assert len(pipe.predict(task.X)) == 12


def test_cv_plan_rules() -> None:
    from autometa.errors import DataError, OptionError

    task = make_task(mixed_frame(n=60), "target")
    assert plan_cv(task).n_splits == 5
    assert plan_cv(task, 3).n_splits == 3
    assert plan_cv(task, "holdout").scheme == "holdout"
    with pytest.raises(OptionError):
        plan_cv(task, 1)
    small = make_task(pd.DataFrame({"f": [0.1, 0.5, 0.2, 0.9], "y": [1.0, 2.0, 3.5, 4.5]}), "y")
    with pytest.raises(DataError, match="fewer than the 5 cross-validation folds"):
        plan_cv(small)


def test_a_bag_of_forests_holds_about_as_many_trees_as_one_forest() -> None:
    from autometa.data import make_task
    from autometa.flow import FitOptions, fit_task
    from tests.conftest import mixed_frame

    task = make_task(mixed_frame(n=150), "target")
    result = fit_task(task, FitOptions(n_trials=1, learners=("random_forest",), n_jobs=1, cv=5, ensemble=False))
    folds = result.model.members
    trees = result.best_config.params["n_estimators"]
    total = sum(len(f.named_steps["model"].estimators_) for f in folds)
    assert len(folds) == 5 and abs(total - trees) <= 5  # each fold keeps a fifth, rounded
    assert result.model.predict_proba(task.X).shape == (150, 2)
