"""fit_task end to end on a real MLflow store: runs, artifacts, saved model, leaderboard."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from autometa.data import make_task
from autometa.flow import FitFailed, FitOptions, fit_task
from autometa.metrics import get_metric
from autometa.spaces import Config
from autometa.tracking import MlflowTracker, load_model
from tests.conftest import mixed_frame

pytestmark = [pytest.mark.filterwarnings("ignore::autometa.data.AutoMetaWarning"), pytest.mark.slow]


def test_fit_records_parent_and_child_runs_and_saves_the_model(tmp_path: Path, mlflow_uri: str) -> None:
    task = make_task(mixed_frame(n=200), "target", name="mixed")
    warm = [Config("linear", {"C": 1.0, "class_weight": None})]
    options = FitOptions(n_trials=5, learners=("lightgbm", "linear", "knn"), output_dir=tmp_path / "out",
                         n_jobs=1)
    result = fit_task(task, options, tracker=MlflowTracker(mlflow_uri), warm_start=warm)

    assert result.records[0].config == warm[0] and result.records[0].source == "warm_start"
    assert result.n_trials == 5 and result.metric == "roc_auc"
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert board["roc_auc"].iloc[0] == pytest.approx(result.best_score)
    assert (tmp_path / "out" / "optimization_history.png").stat().st_size > 1000

    client = mlflow.MlflowClient(mlflow_uri)
    exp = client.get_experiment_by_name("mixed")
    runs = client.search_runs([exp.experiment_id])
    parent = client.get_run(result.run_id)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.run_id]
    assert len(children) == 5
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["best_roc_auc"] == pytest.approx(result.best_score)
    assert parent.data.params["metric"] == "roc_auc"
    child = next(c for c in children if c.data.tags["autometa.trial"] == "0")
    assert child.data.tags["autometa.source"] == "warm_start"
    assert child.data.params["learner"] == "linear"
    assert "roc_auc_fold0" in child.data.metrics
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"leaderboard.csv", "plots"} <= artifacts

    model = load_model(result.model_dir)
    pred = model.predict(task.X)
    assert set(pred) <= {"pos", "neg"}
    # the pyfunc flavour predicts from raw columns too
    pyfunc = mlflow.pyfunc.load_model(str(result.model_dir))
    assert len(pyfunc.predict(task.X.head(7))) == 7


def test_a_saved_model_pins_its_requirements_without_mlflow_s_mismatch_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import version

    import mlflow.utils.environment as environment
    from sklearn.linear_model import Ridge

    from autometa.tracking import save_model

    calls: list[list[str]] = []

    def spy(requirements: list[str]) -> None:
        calls.append(requirements)

    monkeypatch.setattr(environment, "warn_dependency_requirement_mismatches", spy)
    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3})
    save_model(Ridge().fit(X, X["a"] * 2), tmp_path / "model", X.head(5))
    assert calls == [] and environment.warn_dependency_requirement_mismatches is spy  # skipped, then restored
    pinned = (tmp_path / "model" / "requirements.txt").read_text().split()
    assert all(f"{p}=={version(p)}" in pinned for p in ("scikit-learn", "numpy", "pandas", "skops"))
    assert np.allclose(load_model(tmp_path / "model").predict(X), X["a"] * 2, atol=0.1)


def test_a_saved_model_is_not_read_back_by_mlflow_and_still_loads(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor

    from autometa.skops_io import import_skops
    from autometa.tracking import save_model

    sio = import_skops()
    load, calls = sio.load, []

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return load(*args, **kwargs)

    monkeypatch.setattr(sio, "load", spy)
    X = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 3})
    model = HistGradientBoostingRegressor(max_iter=20).fit(X, X["a"] * 2)
    save_model(model, tmp_path / "model", X.head(5))
    assert calls == [] and sio.load is spy  # MLflow's load-back skipped, the function restored
    back = load_model(tmp_path / "model")  # autometa's own load is not skipped
    assert len(calls) == 1 and np.allclose(back.predict(X), model.predict(X))


def test_a_saved_model_is_serialized_once_for_its_types_and_its_file(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.ensemble import RandomForestRegressor

    from autometa.ensemble import FoldBag, WeightedEnsemble
    from autometa.skops_io import import_skops
    from autometa.tracking import save_model

    sio = import_skops()
    dumps, dump, written = sio.dumps, sio.dump, []  # what skops serialized: the objects

    def spy_dumps(obj: object, *args: object, **kwargs: object) -> bytes:
        written.append(obj)
        return dumps(obj, *args, **kwargs)

    def spy_dump(obj: object, *args: object, **kwargs: object) -> object:
        written.append(obj)
        return dump(obj, *args, **kwargs)

    monkeypatch.setattr(sio, "dumps", spy_dumps)
    monkeypatch.setattr(sio, "dump", spy_dump)
    X = pd.DataFrame({"a": np.arange(60.0), "b": np.arange(60.0) % 7})
    bag = FoldBag([RandomForestRegressor(n_estimators=5, random_state=i).fit(X, X["a"]) for i in range(3)])
    model = WeightedEnsemble([bag], [1.0])
    save_model(model, tmp_path / "model", X.head(5))
    assert len(written) == 1 and written[0] is model  # listed its types; the file holds those bytes
    assert sio.dump is spy_dump  # (restored after the save)
    assert np.allclose(load_model(tmp_path / "model").predict(X), model.predict(X))
    second = WeightedEnsemble([bag], [1.0])  # its bytes are let go once written: no leak, no reuse
    save_model(second, tmp_path / "again", X.head(5))
    assert [w is second for w in written[1:]] == [True]


def test_a_saved_classifier_signature_names_its_labels_without_predicting(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.models import Model, infer_signature
    from sklearn.linear_model import LogisticRegression, Ridge

    from autometa.ensemble import FoldBag, WeightedEnsemble
    from autometa.tracking import save_model

    X = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 3})
    labels = np.where(X["a"] > 20, "high", "low")
    classes = ["high", "low"]
    bag = FoldBag([LogisticRegression().fit(X, labels) for _ in range(2)], classes)

    def unpredictable(self: object, X: object) -> np.ndarray:  # the signature must not need a prediction
        raise AssertionError("predicted")

    with monkeypatch.context() as patched:
        patched.setattr(WeightedEnsemble, "predict", unpredictable)
        save_model(WeightedEnsemble([bag], [1.0], classes), tmp_path / "clf", X.head(5))
    outputs = Model.load(tmp_path / "clf" / "MLmodel").signature.outputs.to_dict()
    predicted = WeightedEnsemble([bag], [1.0], classes).predict(X.head(5))
    assert outputs == infer_signature(X, predicted).outputs.to_dict()
    assert outputs[0]["tensor-spec"]["dtype"] == "str"
    save_model(Ridge().fit(X, X["a"]), tmp_path / "reg", X.head(5))  # a regressor predicts its example
    assert Model.load(tmp_path / "reg" / "MLmodel").signature.outputs.to_dict()[0]["tensor-spec"]["dtype"] == "float64"
    stacked = WeightedEnsemble([FoldBag([Ridge(alpha=a).fit(X, X["a"]) for a in (1.0, 9.0)])], [1.0])
    with monkeypatch.context() as patched:  # an ensemble of regressors: not predicted either
        patched.setattr(WeightedEnsemble, "predict", unpredictable)
        save_model(stacked, tmp_path / "ens", X.head(5))
    outputs = Model.load(tmp_path / "ens" / "MLmodel").signature.outputs.to_dict()
    assert outputs == infer_signature(X, stacked.predict(X.head(5))).outputs.to_dict()  # as predicted


def test_regression_fit_without_tracking() -> None:
    task = make_task(mixed_frame(kind="regression"), "target")
    result = fit_task(task, FitOptions(n_trials=4, learners=("lightgbm", "linear"), n_jobs=1))
    assert result.metric == "rmse" and not result.greater_is_better
    assert result.run_id is None
    scores = result.leaderboard["rmse"].dropna().tolist()
    assert scores == sorted(scores)


def test_ensemble_selection_builds_a_weighted_ensemble() -> None:
    task = make_task(mixed_frame(n=200, kind="multiclass"), "target")
    result = fit_task(task, FitOptions(n_trials=6, learners=("lightgbm", "linear", "knn"), ensemble=True,
                                       pruning=False, n_jobs=1))
    assert result.ensemble_weights and abs(sum(result.ensemble_weights.values()) - 1) < 1e-9
    assert result.ensemble_score is not None and result.ensemble_score <= result.best_score + 1e-9
    proba = result.model.predict_proba(task.X)
    assert proba.shape == (task.n_rows, 3) and np.allclose(proba.sum(axis=1), 1)


def test_final_bag_reuses_the_fold_models_and_refit_trains_on_all_rows(tmp_path: Path) -> None:
    from autometa.ensemble import FoldBag
    from autometa.evaluate import align_proba
    from autometa.tracking import load_model

    task = make_task(mixed_frame(n=200, kind="multiclass"), "target")
    # the first level only: a refit has no second one (it keeps no fold models), so the selections compare
    common = {"n_trials": 4, "learners": ("lightgbm", "linear"), "pruning": False, "n_jobs": 1, "cv": 3,
              "level2": False}
    bag = fit_task(task, FitOptions(**common, output_dir=tmp_path / "bag"))
    members = bag.model.members
    assert all(isinstance(m, FoldBag) and len(m.members) == 3 for m in members)
    first = members[0]
    expected = np.mean([align_proba(m, task.X, task.classes) for m in first.members], axis=0)
    assert np.allclose(first.predict_proba(task.X), expected)
    # the fold models differ from one another: each was trained on other rows
    assert not np.allclose(align_proba(first.members[0], task.X, task.classes),
                           align_proba(first.members[1], task.X, task.classes))
    saved = load_model(bag.model_dir)
    assert np.allclose(saved.predict_proba(task.X.head(20)), bag.model.predict_proba(task.X.head(20)))

    refit = fit_task(task, FitOptions(**common, final="refit"))
    assert refit.ensemble_weights == bag.ensemble_weights  # the same search and selection
    assert not any(isinstance(m, FoldBag) for m in refit.model.members)
    # with early stopping, a refitted booster grows the rounds its trial's fold models stopped at
    # (it has no rows to stop on)
    stopped = fit_task(task, FitOptions(**common, final="refit", early_stop=True))
    records = {r.number: r for r in stopped.records}
    grown = {n: (m.named_steps["model"].named_steps["lgbm"].n_estimators, records[n])
             for n, m in zip(stopped.ensemble_weights, stopped.model.members, strict=True)
             if records[n].config.learner == "lightgbm"}
    assert grown and all(g == min(r.fidelity, r.config.params["n_estimators"]) for g, r in grown.values())
    assert any(g < r.config.params["n_estimators"] for g, r in grown.values())
    single = fit_task(task, FitOptions(**common, ensemble=False))
    assert isinstance(single.model, FoldBag)


def test_holdout_validation_ensembles_its_trials_and_refits_them_where_the_time_allows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a holdout split (``cv="auto"`` above 100,000 rows) selection weighs the trials on the
    holdout's rows; each member is refitted on all rows where the budget leaves the time, else
    its trial's model of 80% of the rows serves (a slow trial's refit would overrun)."""
    import time

    import autometa.flow as flow
    from autometa.ensemble import FoldBag, StackedEnsemble, WeightedEnsemble
    from autometa.evaluate import encode_target, plan_cv

    task = make_task(mixed_frame(n=300, kind="multiclass"), "target")
    common = {"n_trials": 5, "learners": ("lightgbm", "linear", "knn"), "pruning": False, "n_jobs": 1,
              "cv": "holdout"}
    refit = fit_task(task, FitOptions(**common, time_budget=120))
    assert isinstance(refit.model, WeightedEnsemble) and len(refit.ensemble_weights) > 1
    assert not any(isinstance(m, FoldBag) for m in refit.model.members)
    assert refit.summary()["cv"] == "80/20 holdout"
    monkeypatch.setattr(flow, "_refit_until", lambda deadline, writes: time.monotonic() - 1.0)  # no time left
    kept = fit_task(task, FitOptions(**common, time_budget=120, output_dir=tmp_path / "out"))
    assert isinstance(kept.model, WeightedEnsemble) and len(kept.ensemble_weights) > 1
    assert all(isinstance(m, FoldBag) and len(m.members) == 1 for m in kept.model.members)
    # selection chose and scored on the holdout's 60 rows: its score is the 80% models' ensemble's there
    val = plan_cv(task, "holdout").splits[0][1]
    log_loss = get_metric("log_loss", "multiclass")
    on_holdout = log_loss(encode_target(task)[val], kept.model.predict_proba(task.X.iloc[val]))
    assert kept.ensemble_score == pytest.approx(on_holdout)
    assert log_loss(encode_target(task), kept.model.predict_proba(task.X)) < on_holdout  # 80% seen in training
    proba = load_model(kept.model_dir).predict_proba(task.X.head(9))
    assert np.allclose(proba, kept.model.predict_proba(task.X.head(9)))
    monkeypatch.undo()
    regression = make_task(mixed_frame(n=600, kind="regression"), "target")
    stacked = fit_task(regression, FitOptions(**{**common, "n_trials": 6}))  # no budget: the stacker's members refitted
    assert isinstance(stacked.model, StackedEnsemble) and np.isfinite(stacked.model.predict(regression.X)).all()
    assert not any(isinstance(m, FoldBag) for m in stacked.model.members)


def test_stack_combines_selections_members_with_a_linear_stacker(tmp_path: Path) -> None:
    from autometa.ensemble import StackedEnsemble, WeightedEnsemble
    from autometa.tracking import load_model

    task = make_task(mixed_frame(n=200, kind="multiclass"), "target")
    common = {"n_trials": 5, "learners": ("lightgbm", "linear", "knn"), "pruning": False, "n_jobs": 1}
    selected = fit_task(task, FitOptions(**common))  # the default for classes: selection's weights
    assert isinstance(selected.model, WeightedEnsemble) and len(selected.ensemble_weights) > 1
    result = fit_task(task, FitOptions(**common, stack=True, output_dir=tmp_path / "out"))
    assert isinstance(result.model, StackedEnsemble) and len(result.model.members) == len(result.ensemble_weights)
    assert set(result.ensemble_weights) == set(selected.ensemble_weights)  # the same members, restacked
    assert abs(sum(result.ensemble_weights.values()) - 1) < 1e-9 and result.ensemble_score is not None
    proba = result.model.predict_proba(task.X)
    assert proba.shape == (task.n_rows, 3) and np.allclose(proba.sum(axis=1), 1)
    assert np.allclose(load_model(result.model_dir).predict_proba(task.X.head(9)), proba[:9])


def test_regression_stacks_selections_members_by_default() -> None:
    from autometa.ensemble import StackedEnsemble, WeightedEnsemble

    task = make_task(mixed_frame(n=300, kind="regression"), "target")
    common = {"n_trials": 6, "learners": ("lightgbm", "linear", "knn"), "pruning": False, "n_jobs": 1}
    stacked = fit_task(task, FitOptions(**common))
    selected = fit_task(task, FitOptions(**common, stack=False))
    assert isinstance(selected.model, WeightedEnsemble) and len(selected.ensemble_weights) > 1
    assert isinstance(stacked.model, StackedEnsemble) and stacked.summary()["stacked"]
    assert not selected.summary()["stacked"]
    assert set(stacked.ensemble_weights) <= set(selected.ensemble_weights)  # selection's members, ...
    assert (stacked.model.combiner.coef_ > 0).all()  # ... those with a positive weight
    assert len(stacked.model.members) == len(stacked.ensemble_weights)
    assert not np.allclose(stacked.model.predict(task.X), selected.model.predict(task.X))
    from autometa.errors import OptionError

    with pytest.raises(OptionError, match="stack must be True, False or None"):
        FitOptions(stack="yes")  # type: ignore[arg-type]


def test_final_must_be_bag_or_refit() -> None:
    from autometa.errors import OptionError

    with pytest.raises(OptionError, match="final must be one of bag, refit"):
        FitOptions(final="stack")


def test_no_completed_trial_is_a_clear_error() -> None:
    task = make_task(mixed_frame(n=200), "target")
    with pytest.raises(FitFailed, match="no trial completed"):
        fit_task(task, FitOptions(n_trials=2, learners=("lightgbm",), trial_timeout=1e-6, n_jobs=1))


def test_unknown_learner_and_metric() -> None:
    from autometa.errors import OptionError

    task = make_task(mixed_frame(), "target")
    with pytest.raises(OptionError, match="unknown or unavailable learner"):
        fit_task(task, FitOptions(learners=("nosuchlearner",)))
    with pytest.raises(OptionError, match="does not apply to a binary task"):
        fit_task(task, FitOptions(metric="rmse"))


def test_two_fits_in_one_second_into_one_folder_keep_their_own_studies(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Each fit gets its own study, even in the same journal within the same second (a classification
    study must never be continued by a regression fit)."""
    from datetime import datetime

    from autometa.data import make_task
    from autometa.flow import FitOptions, fit_task
    from tests.conftest import mixed_frame

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: object = None) -> Frozen:  # type: ignore[override]
            return cls(2026, 1, 1)

    monkeypatch.setattr("autometa.flow.datetime", Frozen)

    journal = str(tmp_path / "study.journal")
    for kind in ("binary", "regression", "binary"):
        task = make_task(mixed_frame(kind=kind), "target", name="same")
        options = FitOptions(n_trials=2, learners=("linear",), ensemble=False, n_jobs=1, storage=journal,
                             use_meta=False, record=False)
        result = fit_task(task, options)
        assert result.n_trials == 2 and result.best_config.learner == "linear"


def test_a_resumed_fit_records_each_trial_once(tmp_path: Path) -> None:
    from autometa.data import make_task
    from autometa.flow import FitOptions, fit_task
    from autometa.meta.db import MetaDB
    from tests.conftest import mixed_frame

    db = MetaDB(tmp_path / "m.sqlite")
    task = make_task(mixed_frame(), "target", name="again")
    common = {"learners": ("linear",), "ensemble": False, "n_jobs": 1, "use_meta": False,
              "storage": str(tmp_path / "s.journal"), "study_name": "one", "output_dir": tmp_path / "out"}
    fit_task(task, FitOptions(n_trials=2, **common), db=db)  # type: ignore[arg-type]
    result = fit_task(task, FitOptions(n_trials=4, **common), db=db)  # type: ignore[arg-type]
    assert result.n_trials == 4
    assert db.stats()["runs_by_origin"] == {"user": 4}


class _Trial:
    """What the trial evaluator reads of a trial: its number, no deadline, no pruning."""

    def __init__(self, number: int) -> None:
        self.number, self.deadline = number, None

    def report(self, step: int, value: float) -> None:
        pass


@pytest.mark.parametrize("reshuffle", [False, True])
def test_reshuffle_gives_each_trial_its_own_partition_and_the_second_level_one(
        monkeypatch: pytest.MonkeyPatch, reshuffle: bool) -> None:
    from autometa import evaluate, flow, stacking

    monkeypatch.setattr(evaluate, "RESHUFFLE", reshuffle)
    task = make_task(mixed_frame(n=120, kind="regression"), "target")
    options = FitOptions(n_trials=2, learners=("linear",), n_jobs=1)
    metric, spaces, plan = flow.prepare(task, options, None)
    pool = flow._OofPool(metric)
    evaluate_trial = flow.trial_evaluator(task, options, metric, spaces, plan, pool)
    config = Config("linear", {"alpha": 1e-2})
    (_, first), (_, second) = evaluate_trial(config, _Trial(0)), evaluate_trial(config, _Trial(1))
    # the same deterministic configuration scores the same folds the same, other folds otherwise
    assert (first["fold_scores"] != second["fold_scores"]) is reshuffle
    assert all(np.isfinite(pool.items[n][2]).all() for n in (0, 1))  # every row predicted out of fold
    # the second level reads every input's out-of-fold predictions on the search's first partition
    columns = stacking._columns(task, pool, [0, 1], spaces, metric, options, plan, None)
    assert columns is not None and np.allclose(columns[0], columns[1])
    assert np.allclose(pool.items[0][2], pool.items[1][2]) is not reshuffle
