"""Time budgets: the cost model learnt from meta_db run times, the recommendation by score per
second, skipping what cannot finish, and cross-validations that stop when their folds cannot."""

from __future__ import annotations

import json
import math
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from autometa.data import make_task
from autometa.errors import TrialTimeout
from autometa.evaluate import _check_pace, plan_cv
from autometa.flow import FINISH_SECONDS, FitOptions, fit_task
from autometa.learners import get_learner
from autometa.meta.cost import SIZE_FEATURES, Calibrated, CostModel
from autometa.meta.db import MetaDB, RunRow, TaskRow
from autometa.meta.experience import Experience
from autometa.meta.history import record_fit, task_row
from autometa.meta.portfolio import CORPUS_LEARNERS, build_portfolio
from autometa.meta.recommend import Recommender, per_second
from autometa.metafeatures import NAMES
from autometa.metrics import get_metric
from autometa.search import SearchSettings, Skipped, run_search
from autometa.spaces import Config, load_spaces
from tests.conftest import mixed_frame

# seconds per 1,000 rows of one cross-validation: forests are slow, linear models fast
PACE = {"random_forest": 2.0, "extra_trees": 1.5, "lightgbm": 0.5, "hist_gradient_boosting": 0.6,
        "knn": 0.2, "linear": 0.05, "xgboost": 0.8, "catboost": 4.0, "mlp": 3.0}


def timed_world(db: MetaDB, n_tasks: int = 16, seed: int = 0) -> None:
    """Tasks of 300 to 20,000 rows where a run's seconds follow its learner and the task's size;
    scores: LightGBM best, linear worst."""
    rng = np.random.default_rng(seed)
    spaces = load_spaces()
    slots = build_portfolio({k: v for k, v in spaces.items() if k in CORPUS_LEARNERS}, 3)
    for t in range(n_tasks):
        rows_ = int(np.exp(rng.uniform(np.log(300), np.log(20_000))))
        mf = {n: float(rng.normal(scale=0.1)) for n in NAMES}
        mf.update(log_rows=math.log10(rows_), log_features=1.0, is_binary=1.0, is_regression=0.0)
        task = TaskRow(digest=f"t{t}", name=f"task{t}", source="test", group_key=f"group{t}", kind="binary",
                       n_rows=rows_, n_features=10, target="y", metafeatures=mf, metafeatures_version=1,
                       origin="corpus")
        runs = []
        for slot in slots:
            quality = {"lightgbm": 0.9, "linear": 0.6}.get(slot.learner, 0.75) + float(rng.normal(scale=0.01))
            seconds = PACE[slot.learner] * rows_ / 1000 * float(np.exp(rng.normal(scale=0.1)))
            runs.append(RunRow(task_digest=task.digest, learner=slot.learner, space_version=slot.space_version,
                               params=slot.config(spaces[slot.learner], "binary").params, metric="roc_auc",
                               direction="maximize", score=quality, fold_scores=(), fit_seconds=seconds,
                               status="ok", origin="corpus", cv="5-fold CV", slot=slot.name))
        db.add_runs(runs, task=task)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> MetaDB:
    db = MetaDB(tmp_path_factory.mktemp("timed") / "meta.sqlite")
    timed_world(db)
    return db


def query(rows: int) -> dict[str, float]:
    mf = dict.fromkeys(NAMES, 0.0)
    mf.update(log_rows=math.log10(rows), log_features=1.0, is_binary=1.0)
    return mf


def test_cost_model_learns_seconds_from_size_and_learner(world: MetaDB) -> None:
    spaces = load_spaces()
    cost = CostModel().fit(Experience.from_db(world))
    forest, linear = spaces["random_forest"].default_config("binary"), spaces["linear"].default_config("binary")
    small, large = cost.predict([forest, linear], query(1_000)), cost.predict([forest, linear], query(10_000))
    assert small[0] > 5 * small[1] and large[0] > 5 * large[1]  # forests cost more than linear models
    assert large[0] > 3 * small[0]  # ten times the rows take several times longer
    assert 0.5 < small[0] / (PACE["random_forest"] * 1.0) < 2.0  # and the scale is right


def test_cost_grows_beyond_the_largest_past_task(world: MetaDB) -> None:
    spaces = load_spaces()
    cost = CostModel().fit(Experience.from_db(world))
    configs = [spaces[n].default_config("binary") for n in ("random_forest", "linear")]
    largest = round(math.pow(10, cost.largest["log_rows"]))  # this world's sizes are log10 rows
    at_largest, beyond = cost.predict(configs, query(largest)), cost.predict(configs, query(10 * largest))
    assert np.all(beyond > 5 * at_largest) and np.all(beyond < 20 * at_largest)  # seconds ∝ rows here
    assert np.allclose(cost.predict(configs, query(largest // 2)), np.exp(cost.model.predict(
        cost._frame([c.learner for c in configs], [dict(c.params) for c in configs],
                    np.array([[query(largest // 2)[f] for f in SIZE_FEATURES]] * 2)))))  # inside: the trees alone


def test_boosting_s_cost_grows_at_least_with_the_columns_beyond_the_widest_past_task(world: MetaDB) -> None:
    """Every past task of this world has the same width, so no family learns a growth in columns;
    beyond it the boosting libraries' seconds still grow in proportion (``ELASTICITY_FLOORS``),
    the other families' as their own estimates say (here: not at all)."""
    spaces = load_spaces()
    cost = CostModel().fit(Experience.from_db(world))
    configs = [spaces[n].default_config("binary") for n in ("lightgbm", "xgboost", "random_forest", "linear")]
    widest = query(1000)
    wider = {**widest, "log_features": widest["log_features"] + math.log(10)}  # ten times the columns
    assert cost.largest["log_features"] == widest["log_features"]
    growth = cost.predict(configs, wider) / cost.predict(configs, widest)
    assert growth == pytest.approx([10.0, 10.0, 1.0, 1.0], rel=1e-6)


def test_a_cost_model_without_timed_runs_predicts_nothing(tmp_path: Path) -> None:
    cost = CostModel().fit(Experience.from_db(MetaDB(tmp_path / "empty.sqlite")))
    assert not cost.fitted
    assert np.isnan(cost.predict([load_spaces()["linear"].default_config("binary")], query(1000))).all()
    assert Calibrated(cost, query(1000)).predict(load_spaces()["linear"].default_config("binary")) is None


def test_calibration_scales_predictions_to_this_machine(world: MetaDB) -> None:
    config = load_spaces()["lightgbm"].default_config("binary")
    cost = Calibrated(CostModel().fit(Experience.from_db(world)), query(2_000))
    raw = cost.predict(config)
    assert raw is not None
    cost.observe(config, 3 * raw)  # this machine is three times slower
    assert cost.predict(config) == pytest.approx(3 * raw)


def test_calibration_follows_each_learner_s_own_trials_shrunk_to_the_pooled_ratio(world: MetaDB) -> None:
    spaces = load_spaces()
    linear, forest, boosted = (spaces[n].default_config("binary") for n in ("linear", "random_forest", "lightgbm"))
    cost = Calibrated(CostModel().fit(Experience.from_db(world)), query(2_000))
    raw = {c.learner: cost.predict(c) for c in (linear, forest, boosted)}
    for _ in range(3):
        cost.observe(linear, 2 * raw["linear"])  # the machine: twice as slow as past runs
    cost.observe(boosted, 32 * raw["lightgbm"])  # and this table: far slower for one learner
    pooled = float(np.median([2, 2, 2, 32]))
    assert cost.predict(forest) == pytest.approx(pooled * raw["random_forest"])  # no trial of its own
    assert cost.predict(linear) == pytest.approx(2 * raw["linear"])  # its own three agree with the pool
    assert cost.predict(boosted) == pytest.approx(math.sqrt(32 * pooled) * raw["lightgbm"])  # one trial: half way
    cost.observe(boosted, 32 * raw["lightgbm"])
    assert cost.predict(boosted) == pytest.approx((32 ** 2 * float(np.median([2, 2, 2, 32, 32]))) ** (1 / 3)
                                                  * raw["lightgbm"])


def test_more_rounds_of_a_configuration_seen_are_predicted_from_its_seconds(world: MetaDB) -> None:
    space = load_spaces()["lightgbm"]
    config = space.default_config("binary")
    grown = space.grown(config, 2.0)
    assert grown is not None and grown.params["n_estimators"] == 2 * config.params["n_estimators"]
    cost = Calibrated(CostModel().fit(Experience.from_db(world)), query(2_000))
    cost.observe(grown, 100.0, at_least=True)  # a cut trial's bound is not its seconds
    modelled = cost.predict(grown, space.fidelity)
    assert modelled is not None and modelled != pytest.approx(14.0)
    cost.observe(config, 7.0)
    assert cost.predict(grown, space.fidelity) == pytest.approx(14.0)  # twice the rounds, twice the seconds
    assert cost.predict(grown) != pytest.approx(14.0)  # no fidelity named: the model's
    other = Config("lightgbm", {**grown.params, "num_leaves": 7})
    assert cost.predict(other, space.fidelity) != pytest.approx(14.0)  # not the same but for its rounds


def test_a_lower_bound_on_seconds_counts_only_above_the_prediction(world: MetaDB) -> None:
    config = load_spaces()["lightgbm"].default_config("binary")
    cost = Calibrated(CostModel().fit(Experience.from_db(world)), query(2_000))
    raw = cost.predict(config)
    assert raw is not None
    cost.observe(config, 0.5 * raw, at_least=True)  # cut early: it says no more than "at least half"
    assert cost.predict(config) == pytest.approx(raw)
    cost.observe(config, 4 * raw, at_least=True)  # cut, and already four times the prediction
    assert cost.predict(config) == pytest.approx(4 * raw)


def test_a_cut_cross_validation_says_at_least_what_the_whole_would_take(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pace check projects the whole from the folds done; a cut inside a fold counts that
    fold as done. Either way the trial's evaluator passes the bound on to the cost model."""
    import optuna

    from autometa.evaluate import cross_validate, plan_cv
    from autometa.flow import _OofPool, trial_evaluator
    from autometa.search import TrialContext

    one_second_ago = time.perf_counter() - 1.0
    with pytest.raises(TrialTimeout) as paced:
        _check_pace(one_second_ago, 1, 5, time.monotonic() + 2)
    assert paced.value.projected == pytest.approx(5.0, rel=0.05)

    from autometa.learners.base import check_deadline

    spaces = load_spaces()
    learner = get_learner("linear", spaces["linear"])
    real_fit = type(learner).fit
    task = make_task(mixed_frame(n=80, kind="regression"), "target")
    metric = get_metric(None, task.kind)
    config = spaces["linear"].default_config("regression")

    def stuck(self, pipe, *args, deadline=None, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.2)
        check_deadline(deadline)

    def slow_fit(self, pipe, *args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.3)
        return real_fit(self, pipe, *args, **kwargs)

    with monkeypatch.context() as m, pytest.raises(TrialTimeout) as cut:  # the deadline passes inside fold 1
        m.setattr(type(learner), "fit", stuck)
        cross_validate(task, config, learner, metric, plan_cv(task, 4, seed=0), seed=0, n_jobs=1,
                       deadline=time.monotonic() + 0.1)
    assert cut.value.projected is not None and cut.value.projected >= 4 * 0.2

    monkeypatch.setattr(type(learner), "fit", slow_fit)

    observed: list[tuple[float, bool]] = []

    class Recorder:
        def predict(self, config, fidelity=None):  # type: ignore[no-untyped-def]
            return 0.01

        def observe(self, config, seconds, *, at_least=False):  # type: ignore[no-untyped-def]
            observed.append((seconds, at_least))

    evaluate = trial_evaluator(task, FitOptions(cv=4, n_jobs=1), metric, spaces, plan_cv(task, 4, seed=0),
                               _OofPool(metric), cost=Recorder())  # type: ignore[arg-type]
    with pytest.raises(TrialTimeout, match="3 more folds"):  # 0.3 s per fold; 0.5 s for four
        evaluate(config, TrialContext(optuna.create_study().ask(), time.monotonic() + 0.5, prune=False))
    assert len(observed) == 1 and observed[0][1] and observed[0][0] >= 4 * 0.3


def test_a_configuration_predicted_past_the_time_left_is_skipped_before_the_write_is_weighed() -> None:
    """Weighing the final model's write runs ensemble selection over the pool (a second or more on
    a large table); a configuration that cannot fit even with no write to leave time for is
    skipped without it."""
    import optuna

    from autometa.evaluate import plan_cv
    from autometa.flow import _OofPool, trial_evaluator
    from autometa.search import TrialContext

    class Unweighable(_OofPool):
        def write_seconds(self, y=None):  # type: ignore[no-untyped-def]
            raise AssertionError("the write was weighed")

    class Minute:
        def predict(self, config, fidelity=None):  # type: ignore[no-untyped-def]
            return 60.0

    spaces = load_spaces()
    task = make_task(mixed_frame(n=80, kind="regression"), "target")
    metric = get_metric(None, task.kind)
    evaluate = trial_evaluator(task, FitOptions(cv=3, n_jobs=1), metric, spaces, plan_cv(task, 3, seed=0),
                               Unweighable(metric), cost=Minute(), weigh=True)  # type: ignore[arg-type]
    with pytest.raises(Skipped, match=r"predicted 60\.0 s"):
        evaluate(spaces["linear"].default_config("regression"),
                 TrialContext(optuna.create_study().ask(), time.monotonic() + 5, prune=False))


def test_a_configuration_predicted_past_the_time_left_runs_with_its_fidelity_cut_to_fit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``CUT_TO_FIT`` (off by default), a boosting configuration predicted at 10 s with 4 s
    left runs at a fifth of its rounds (half the time left) and five times its rate; the trial's
    record, the pool (the final model's members) and the cost model all see the configuration
    that ran."""
    from autometa import flow
    from autometa.evaluate import plan_cv
    from autometa.flow import SHRINK_SHARE, _OofPool, leaderboard, trial_evaluator
    from autometa.search import RAN_ATTR

    observed: list[Config] = []

    class TenSeconds:
        def predict(self, config, fidelity=None):  # type: ignore[no-untyped-def]
            return 10.0 * config.params["n_estimators"] / 400

        def observe(self, config, seconds, *, at_least=False):  # type: ignore[no-untyped-def]
            observed.append(config)

    spaces = {"lightgbm": load_spaces()["lightgbm"]}
    task = make_task(mixed_frame(n=120, kind="regression"), "target")
    metric = get_metric(None, task.kind)
    pool = _OofPool(metric)
    evaluate = trial_evaluator(task, FitOptions(cv=3, n_jobs=1), metric, spaces, plan_cv(task, 3, seed=0),
                               pool, cost=TenSeconds())  # type: ignore[arg-type]
    slow = spaces["lightgbm"].complete(Config("lightgbm", {"n_estimators": 400, "learning_rate": 0.02}), "regression")
    outcome = run_search(spaces, "regression", "minimize", evaluate,
                         SearchSettings(n_trials=1, time_budget=4.0), warm_start=[slow])
    assert outcome.records[0].state == "pruned" and not observed  # by default: skipped
    monkeypatch.setattr(flow, "CUT_TO_FIT", True)
    outcome = run_search(spaces, "regression", "minimize", evaluate,
                         SearchSettings(n_trials=1, time_budget=4.0), warm_start=[slow])
    (record,) = outcome.records
    assert record.state == "complete", record.error
    rounds = record.config.params["n_estimators"]
    assert int(400 * SHRINK_SHARE * 3.0 / 10.0) <= rounds <= int(400 * SHRINK_SHARE * 4.0 / 10.0)  # 3-4 s left
    assert record.config.params["learning_rate"] == pytest.approx(0.02 * 400 / rounds)
    assert {k: v for k, v in record.config.params.items() if k not in ("n_estimators", "learning_rate")} == \
        {k: v for k, v in slow.params.items() if k not in ("n_estimators", "learning_rate")}
    assert outcome.study.trials[0].user_attrs[RAN_ATTR] == {"n_estimators": rounds,
                                                           "learning_rate": record.config.params["learning_rate"]}
    assert outcome.study.trials[0].params["lightgbm.n_estimators"] == 400  # the sampled one, for the sampler
    assert record.sampled == slow  # (what MLflow's "recommended" tag is matched on)
    board = leaderboard(outcome, metric)
    assert json.loads(board["cut_from"][0]) == {"learning_rate": 0.02, "n_estimators": 400}
    assert pool.items[record.number][1] == record.config == observed[0]
    # with too little time for even the space's fewest rounds, it is skipped as before
    outcome = run_search(spaces, "regression", "minimize", evaluate,
                         SearchSettings(n_trials=1, time_budget=0.2), warm_start=[slow])
    assert outcome.records[0].state == "pruned" and (outcome.records[0].error or "").startswith("skipped")


def test_score_per_second_favours_cheap_configurations_only_where_time_matters() -> None:
    assert per_second(0.95, 5.0, 10.0) < per_second(0.85, 0.5, 10.0)  # 10 s: the cheap one first
    assert per_second(0.95, 5.0, 300.0) > per_second(0.85, 0.5, 300.0)  # 300 s: both are cheap


def test_recommendation_under_a_budget_is_affordable_and_says_so(world: MetaDB) -> None:
    rec = Recommender("static").fit(Experience.from_db(world))
    free = rec.recommend(query(10_000), "binary", 5)
    tight = rec.recommend(query(10_000), "binary", 5, time_budget=30.0)
    assert all(s.seconds is not None for s in free.suggestions)
    assert all(s.seconds is not None and s.seconds <= 15.0 for s in tight.suggestions)
    assert "of a 30 s budget" in tight.suggestions[0].reason
    assert [s.key for s in free.suggestions] != [s.key for s in tight.suggestions]
    assert tight.to_dict()["suggestions"][0]["predicted_seconds"] > 0


def test_a_library_s_import_counts_in_its_recommendations_seconds(world: MetaDB,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from autometa.learners.lightgbm import LightGBM

    rec = Recommender("static").fit(Experience.from_db(world))
    before = {s.key: s.seconds for s in rec.recommend(query(1_000), "binary", 10).suggestions}
    assert any(s.config.learner == "lightgbm" for s in rec.recommend(query(1_000), "binary", 10,
                                                                      time_budget=60.0).suggestions)
    monkeypatch.setattr(LightGBM, "startup_seconds", lambda self: 40.0)  # a library not imported yet
    after = rec.recommend(query(1_000), "binary", 10)
    first = next(s.key for s in after.suggestions if s.config.learner == "lightgbm")
    assert sum(s.config.learner == "lightgbm" for s in after.suggestions) > 1
    for s in after.suggestions:  # the import is paid once: by the family's first fit
        extra = 40.0 if s.key == first else 0.0
        assert s.seconds == pytest.approx((before[s.key] or 0.0) + extra)
    # the first fit of the family would take most of a 60 s budget: it is not recommended there
    tight = rec.recommend(query(1_000), "binary", 10, time_budget=60.0)
    assert all(s.config.learner != "lightgbm" for s in tight.suggestions)


def test_under_a_budget_a_family_s_later_configurations_rank_without_its_import(
        world: MetaDB, monkeypatch: pytest.MonkeyPatch) -> None:
    from autometa.learners.lightgbm import LightGBM
    from autometa.meta.recommend import Suggestion, per_second

    rec = Recommender("static").fit(Experience.from_db(world))
    free = {s.key: s.seconds for s in rec.recommend(query(1_000), "binary", 10).suggestions}
    monkeypatch.setattr(LightGBM, "startup_seconds", lambda self: 3.0)
    ranked = rec.recommend(query(1_000), "binary", 10, time_budget=60.0).suggestions
    lgbm = [s for s in ranked if s.config.learner == "lightgbm"]
    assert len(lgbm) > 1
    assert lgbm[0].seconds == pytest.approx((free[lgbm[0].key] or 0.0) + 3.0)
    assert all(s.seconds == pytest.approx(free[s.key] or 0.0) for s in lgbm[1:])
    # each pick is the best gain per second among those left, with the imports then unpaid
    for i, pick in enumerate(ranked):
        paid = {s.config.learner for s in ranked[:i]}

        def value(s: Suggestion, paid: set[str] = paid) -> float:
            extra = 3.0 if s.config.learner == "lightgbm" and "lightgbm" not in paid else 0.0
            return per_second(s.predicted, (free[s.key] or 0.0) + extra, 60.0)

        assert value(pick) >= max(value(s) for s in ranked[i:]) - 1e-12


def test_search_stops_after_repeated_skips_and_the_meta_db_leaves_them_out(tmp_path: Path) -> None:
    spaces = {"linear": load_spaces()["linear"]}

    def evaluate(config, ctx):  # type: ignore[no-untyped-def]
        raise Skipped("predicted 100 s; 1 s are left")

    outcome = run_search(spaces, "binary", "maximize", evaluate, SearchSettings(n_trials=20))
    assert len(outcome.records) == 3
    assert all(r.state == "pruned" and r.error and r.error.startswith("skipped") for r in outcome.records)
    task = make_task(mixed_frame(n=60), "target")
    db = MetaDB(tmp_path / "m.sqlite")
    stored = task_row(task, source="user:x", group_key="user:x", origin="user")
    assert record_fit(db, stored, outcome.records, get_metric(None, "binary"), "5-fold CV", 0, {"linear": 1}) == 0


def test_skipped_recommendations_do_not_stop_the_search_the_sampler_s_own_skips_do() -> None:
    spaces = {"linear": load_spaces()["linear"]}
    warm = [Config("linear", {"C": c, "class_weight": None}) for c in (0.1, 1.0, 10.0, 100.0)]

    def evaluate(config, ctx):  # type: ignore[no-untyped-def]
        raise Skipped("predicted 100 s; 1 s are left")

    outcome = run_search(spaces, "binary", "maximize", evaluate, SearchSettings(n_trials=30),
                         warm_start=warm, warm_labels={c: "meta" for c in warm})
    assert [r.source for r in outcome.records] == ["meta"] * 4 + ["sampler"] * 3


def _slow_predictions(monkeypatch: pytest.MonkeyPatch, per_row: float) -> list[int]:
    """Make every prediction of a cross-validation take ``per_row`` seconds a row; the row counts
    predicted are returned, call by call."""
    import autometa.evaluate as ev

    calls: list[int] = []
    real = ev.predict_scores

    def slow(model, X, task):  # type: ignore[no-untyped-def]
        calls.append(len(X))
        time.sleep(per_row * len(X))
        return real(model, X, task)

    monkeypatch.setattr(ev, "predict_scores", slow)
    return calls


def test_a_fold_whose_predictions_cannot_finish_stops_after_predicting_a_probe(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A model can predict far slower than it fits (k-nearest neighbours on many rows), and one
    predict call cannot be cut: under a deadline the fold predicts ``PROBE_ROWS`` rows first and
    stops where the rest, at that pace, would end past it, projecting the whole."""
    import autometa.evaluate as ev

    monkeypatch.setattr(ev, "PROBE_ROWS", 50)
    calls = _slow_predictions(monkeypatch, 0.01)  # 0.5 s the probe, 2 s each fold's other 200 rows
    spaces = load_spaces()
    task = make_task(mixed_frame(n=1000, kind="regression"), "target")
    learner = get_learner("linear", spaces["linear"])
    config = spaces["linear"].default_config("regression")
    with pytest.raises(TrialTimeout, match="predicting the fold's validation rows") as cut:
        ev.cross_validate(task, config, learner, get_metric(None, task.kind), ev.plan_cv(task, 4, seed=0),
                          seed=0, n_jobs=1, deadline=time.monotonic() + 1.0)
    assert calls == [50]
    assert cut.value.projected is not None and cut.value.projected >= 4 * 2.5


def test_predictions_made_in_two_parts_are_the_fold_s_and_a_reporter_s_are_not_made_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With time to spare the probe and the rest make the same out-of-fold predictions as one call;
    the first fold's predictions at the full fidelity, made for the pruner, are that fold's."""
    import autometa.evaluate as ev

    spaces = load_spaces()
    task = make_task(mixed_frame(n=400, kind="binary"), "target")
    metric = get_metric(None, task.kind)
    plan = ev.plan_cv(task, 4, seed=0)
    learner = get_learner("linear", spaces["linear"])
    config = spaces["linear"].default_config("binary")
    whole = ev.cross_validate(task, config, learner, metric, plan, seed=0, n_jobs=1)
    monkeypatch.setattr(ev, "PROBE_ROWS", 20)
    calls = _slow_predictions(monkeypatch, 0.0)

    class Steps:
        def __init__(self) -> None:
            self.steps: list[int] = []

        def report(self, step: int, value: float) -> None:
            self.steps.append(step)

    steps = Steps()
    parts = ev.cross_validate(task, config, learner, metric, plan, seed=0, n_jobs=1,
                              deadline=time.monotonic() + 600, reporter=steps)
    np.testing.assert_allclose(parts.oof, whole.oof)
    assert parts.fold_scores == pytest.approx(whole.fold_scores)
    assert steps.steps == [2, 3, 4, 5]  # the first fold's at the full fidelity, then each fold's mean
    assert calls == [20, 80] * 4  # each fold's 100 rows predicted once: a probe, then the rest


def test_cross_validation_stops_when_its_remaining_folds_cannot_finish() -> None:
    one_second_ago = time.perf_counter() - 1.0
    _check_pace(one_second_ago, 1, 5, time.monotonic() + 60)  # 4 more seconds fit in 60
    _check_pace(one_second_ago, 5, 5, time.monotonic())  # done: nothing left to check
    with pytest.raises(TrialTimeout, match="4 more folds would take about 4"):
        _check_pace(one_second_ago, 1, 5, time.monotonic() + 2)


@pytest.mark.slow
def test_a_budgeted_fit_orders_its_recommendation_by_time(world: MetaDB) -> None:
    task = make_task(mixed_frame(n=200), "target")
    result = fit_task(task, FitOptions(n_trials=None, time_budget=20, n_jobs=1, record=False,
                                       learners=("lightgbm", "linear", "knn")), db=world)
    assert result.recommendation is not None
    assert all(s.seconds is not None for s in result.recommendation.suggestions)
    assert "budget" in result.recommendation.suggestions[0].reason
    assert result.n_trials >= 1 and result.model is not None
    # the recommendations are planned for the search's seconds: the final model's reserve is not theirs
    planned = float(re.search(r"of a ([0-9.]+) s budget", result.recommendation.suggestions[0].reason).group(1))
    assert planned <= 20 - FINISH_SECONDS


def test_cli_recommend_shows_seconds_and_takes_a_budget(world: MetaDB, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from tests.conftest import EXAMPLE
    from tests.test_cli import run_cli

    args = ["recommend", str(EXAMPLE), "--target", "survived", "--top-k", "4", "--meta-db", str(world.url)]
    code, out, _ = run_cli([*args, "--time-budget", "20", "--json"], capsys, monkeypatch)
    doc = json.loads(out)
    assert code == 0 and all(s["predicted_seconds"] > 0 for s in doc["suggestions"])
    assert "of a 20 s budget" in doc["suggestions"][0]["reason"]
    code, out, _ = run_cli(args, capsys, monkeypatch)
    assert code == 0 and "seconds" in out
    code, _, err = run_cli([*args, "--time-budget", "0"], capsys, monkeypatch)
    assert code == 2 and "--time-budget must be a positive number" in err


def test_a_budgeted_fit_that_writes_leaves_time_to_write_its_model(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Each trial's bag is weighed; once writing the model would fill the time left, trials are
    skipped and the search ends (here: writing is made to cost a million times its dump)."""
    import autometa.flow as flow

    monkeypatch.setattr(flow, "WRITE_FACTOR", 1e6)
    task = make_task(mixed_frame(n=200), "target")
    from autometa.data import AutoMetaWarning

    with warnings.catch_warnings(record=True) as caught:  # (MLflow's own pandas deprecation among them)
        warnings.simplefilter("always")
        result = fit_task(task, FitOptions(n_trials=None, time_budget=60, n_jobs=1, record=False,
                                           learners=("random_forest",), output_dir=tmp_path / "out"))
    assert any(issubclass(w.category, AutoMetaWarning) for w in caught)  # one trial: no ensemble
    assert result.records[0].state == "complete" and result.seconds < 30
    skipped = [r for r in result.records if (r.error or "").startswith("skipped: writing the model")]
    assert len(skipped) == len(result.records) - 1 >= 3
    # the size if the search stopped now: every weighed bag (a free upper bound), or exactly the
    # bags that ensemble selection picks: here the two accurate trials, not the useless one
    pool = flow._OofPool(get_metric("rmse", "regression"))
    y = np.linspace(0.0, 1.0, 50)
    noise = np.random.default_rng(0).normal(scale=0.05, size=50)
    for number, (oof, dump) in enumerate([(y + noise, 5.0), (y - noise, 3.0), (np.full(50, 7.0), 1.0)]):
        pool.add(number, float(np.sqrt(np.mean((oof - y) ** 2))), result.best_config, oof, dump_seconds=dump)
    assert pool.write_seconds() == 9.0 * flow.WRITE_FACTOR
    assert pool.write_seconds(y) == 8.0 * flow.WRITE_FACTOR


def test_the_weigher_times_skops_once_per_family_and_scales_pickles() -> None:
    import pickle

    import autometa.flow as flow

    task = make_task(mixed_frame(n=200), "target")
    weigher = flow._Weigher()
    for name, folds_written in (("hist_gradient_boosting", 3), ("random_forest", 1)):
        learner = get_learner(name)
        folds = [learner.fit(learner.pipeline(learner.space.default_config("binary"), task.columns, task.kind),
                             task.X, task.y) for _ in range(3)]
        bag = weigher.dump_seconds(learner, folds)
        one = len(pickle.dumps(folds[0], protocol=pickle.HIGHEST_PROTOCOL)) / 1e6 * weigher.pace[name]
        assert bag > 0 and bag == pytest.approx(folds_written * one)  # a bag of forests: one forest
    assert set(weigher.pace) == {"hist_gradient_boosting", "random_forest"}


def test_the_final_models_reserve_is_its_predicted_time_capped_by_the_share() -> None:
    """A budget keeps 5% for the final model at most; where combining the trials is predicted
    to take less, three times that prediction (a small table's selection takes milliseconds)."""
    import autometa.flow as flow
    from autometa.ensemble import combine_seconds

    options = FitOptions(n_trials=None, time_budget=300, record=False)
    assert options.finish_reserve(False) == flow.FINISH_SECONDS + 15.0
    assert options.finish_reserve(False, 0.1) == pytest.approx(flow.FINISH_SECONDS + 0.3)
    assert options.finish_reserve(False, 100.0) == flow.FINISH_SECONDS + 15.0
    assert options.finish_reserve(True, 0.1) == pytest.approx(flow.FINISH_SECONDS + 0.3 + flow.WRITE_SECONDS)

    regression = make_task(mixed_frame(n=200, kind="regression"), "target")
    rmse = get_metric("rmse", "regression")
    folds, holdout = plan_cv(regression, 5), plan_cv(regression, "holdout")
    assert 0 < flow._combine_seconds(regression, rmse, options, folds) < 5.0  # selection and the stacker
    assert flow._combine_seconds(regression, rmse, FitOptions(n_trials=5, final="refit", record=False), folds) is None
    assert 0 < flow._combine_seconds(regression, rmse, options, holdout) < 5.0  # on the holdout's rows
    assert flow._combine_seconds(regression, rmse, FitOptions(n_trials=5, ensemble=False, record=False), folds) == 0.0
    binary = make_task(mixed_frame(n=200), "target")
    auc = get_metric("roc_auc", "binary")
    assert 0 < flow._combine_seconds(binary, auc, options, folds) < 5.0
    assert flow._combine_seconds(binary, auc, FitOptions(n_trials=5, stack=True, record=False), folds) is None
    y = np.arange(300) % 3
    log_loss = get_metric("log_loss", "multiclass")
    assert combine_seconds(y, log_loss, 3, members=25) > 0
    with pytest.raises(ValueError, match="not predicted"):  # the logistic stacker's time is not predicted
        combine_seconds(y, log_loss, 3, members=25, stack=True)


def test_a_time_budget_alone_lifts_the_default_trial_limit() -> None:
    """Without trials or a time budget a fit runs 30 trials; a time budget alone sets no trial
    limit (the CLI's --trials and the estimators' n_trials="auto"), an explicit count stays."""
    from autometa import AutoMetaClassifier
    from autometa.flow import DEFAULT_TRIALS, default_trials

    assert default_trials("auto", None) == DEFAULT_TRIALS
    assert default_trials("auto", 60.0) is None
    assert default_trials(7, 60.0) == 7 and default_trials(None, 60.0) is None
    assert AutoMetaClassifier()._options().n_trials == DEFAULT_TRIALS
    assert AutoMetaClassifier(time_budget=60)._options().n_trials is None
    assert AutoMetaClassifier(n_trials=5, time_budget=60)._options().n_trials == 5


def test_a_budget_too_short_for_a_real_search_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the set-up and the final model's reserve leave the search less than its minimum share
    (a fifth of the budget), the search gets that share and a warning says how much the fit
    will overrun; the result says where the seconds went."""
    import autometa.flow as flow
    from autometa.data import AutoMetaWarning

    monkeypatch.setattr(flow, "FINISH_SECONDS", 10.0)  # a reserve larger than the whole budget
    task = make_task(mixed_frame(n=200), "target")
    options = FitOptions(n_trials=None, time_budget=5, n_jobs=1, record=False, learners=("linear",))
    with pytest.warns(AutoMetaWarning, match=r"budget of 5 s is short: 0 s went to setting up and 10 s are kept"
                                             r".*search gets 1 s and the fit overruns"):
        result = fit_task(task, options)
    assert result.n_trials >= 1
    assert list(result.phases) == ["setup", "search", "after", "final", "write"]
    assert result.phases["search"] < 3.0 and result.summary()["phases"]["search"] > 0


def test_a_bag_the_time_left_cannot_write_leaves_the_pool(tmp_path: Path) -> None:
    """The heaviest weighed trials are forgotten until the final model's write fits the time left
    (the last one stays, with the fold models that fit), and their saved predictions go too, so
    that a reload cannot bring them back as members to refit and write."""
    import autometa.flow as flow
    from autometa.records import TrialRecord
    from autometa.spaces import Config

    pool = flow._OofPool(get_metric("rmse", "regression"), folder=tmp_path / "oof")
    y = np.linspace(0.0, 1.0, 50)
    config = Config("linear", {})
    for number, dump in enumerate([5.0, 3.0, 1.0]):
        pool.add(number, 0.1 * (number + 1), config, y + 0.01 * number, models=("f1", "f2", "f3", "f4"),
                 dump_seconds=dump)
    assert pool.trim_to_write(5.0 * flow.WRITE_FACTOR) == [0]  # 9 s of dumps: the 5 s bag goes first
    assert pool.trim_to_write(0.5 * flow.WRITE_FACTOR) == [1] and list(pool.items) == [2]
    # the last trial stays, its bag cut to the fold models that fit: 2 of 4, then 1 at least
    assert pool.models[2] == ("f1", "f2") and pool.shrunk == {2: 2}
    assert pool.write_seconds() == pytest.approx(0.5 * flow.WRITE_FACTOR)
    pool.trim_to_write(0.0)
    assert pool.models[2] == ("f1",) and list(pool.items) == [2]
    assert pool.unwritable == [0, 1] and not (tmp_path / "oof" / "0.npy").exists()
    records = [TrialRecord(number=n, state="complete", value=0.1 * (n + 1), config=config) for n in range(3)]
    pool.reload(records)
    assert list(pool.items) == [2]


def test_a_full_pool_keeps_each_learner_family_s_best_trial() -> None:
    """A long search fills the pool with one family's neighbours: a full pool forgets the worst
    trial that is not its family's best, so ensemble selection can still mix families."""
    import autometa.flow as flow
    from autometa.spaces import Config

    pool = flow._OofPool(get_metric("rmse", "regression"), size=3)
    y = np.zeros(10)
    pool.add(0, 0.9, Config("linear", {}), y)
    for number, score in enumerate([0.5, 0.4, 0.3, 0.2], start=1):
        pool.add(number, score, Config("lightgbm", {"n": number}), y)
    assert sorted(pool.items) == [0, 3, 4]  # the linear trial, worst of all, stays: its family's best
    pool.add(5, 0.95, Config("knn", {}), y)  # a third family's first trial, worse than all
    assert sorted(pool.items) == [0, 4, 5]  # LightGBM keeps its best; every family is a candidate
    pool.add(6, 0.1, Config("knn", {}), y)
    assert sorted(pool.items) == [0, 4, 6]  # the knn trial it beats goes


def test_the_trim_forgets_the_heaviest_member_of_the_final_model_not_a_heavier_trial_left_out() -> None:
    """Only the bags that ensemble selection picks are written: a heavy trial it leaves out costs
    nothing and stays, while the heaviest member goes and the selection picks again."""
    import autometa.flow as flow
    from autometa.spaces import Config

    pool = flow._OofPool(get_metric("rmse", "regression"))
    y = np.linspace(0.0, 1.0, 50)
    config = Config("linear", {})
    pool.add(0, 0.0, config, y.copy(), models=("f",), dump_seconds=2.0)  # exact: selection's only pick
    pool.add(1, 0.5, config, y + 0.5, models=("f",), dump_seconds=9.0)  # far off and heavy: left out
    pool.add(2, 0.1, config, y + 0.1, models=("f",), dump_seconds=1.0)
    assert pool.written(y) == {0}
    assert pool.trim_to_write(1.5 * flow.WRITE_FACTOR, y) == [0]  # not trial 1, which nothing writes
    assert sorted(pool.items) == [1, 2] and pool.written(y) == {2}


def test_a_trial_at_the_end_of_the_search_is_skipped_and_leaves_the_pool_whole() -> None:
    """When the search's time left is shorter than the final model's write, but the fit's is
    not, the trial is skipped: the pool keeps its members (it had been emptied, heaviest first,
    by the last trials of long searches)."""
    import optuna

    from autometa.evaluate import plan_cv
    from autometa.flow import WRITE_FACTOR, _OofPool, trial_evaluator
    from autometa.search import TrialContext

    spaces = load_spaces()
    task = make_task(mixed_frame(n=80, kind="regression"), "target")
    metric = get_metric(None, task.kind)
    pool = _OofPool(metric)
    config = spaces["linear"].default_config("regression")
    y = np.asarray(task.y, dtype=float)
    for number, shift in enumerate([0.0, 0.3, 0.6]):
        pool.add(number, shift, config, y + shift, models=("f",), dump_seconds=0.5 / WRITE_FACTOR)
    now = time.monotonic()
    evaluate = trial_evaluator(task, FitOptions(cv=3, n_jobs=1, time_budget=60), metric, spaces,
                               plan_cv(task, 3, seed=0), pool, weigh=True, fit_deadline=now + 5.0)
    with pytest.raises(Skipped, match="writing the model needs"):
        evaluate(config, TrialContext(optuna.create_study().ask(), now + 0.2, prune=False))
    assert sorted(pool.items) == [0, 1, 2] and not pool.unwritable
    # a bag that even the fit's whole time left could not write still leaves the pool
    pool.dump_seconds[0] = 10.0 / WRITE_FACTOR
    with pytest.raises(Skipped):
        evaluate(config, TrialContext(optuna.create_study().ask(), now + 0.2, prune=False))
    assert pool.unwritable == [0]


def test_the_weigher_times_a_much_larger_fold_again() -> None:
    """skops' pace grows with the model: a fold over ``REWEIGH_GROWTH`` times the largest of its
    family that was timed is dumped again and sets the pace; a similar one is only pickled."""
    import autometa.flow as flow
    from autometa.spaces import Config

    task = make_task(mixed_frame(n=300), "target")
    learner = get_learner("hist_gradient_boosting")
    weigher = flow._Weigher()

    def fold(rounds: int) -> object:
        config = Config("hist_gradient_boosting", {**learner.space.default_config("binary").params,
                                                   "max_iter": rounds, "max_leaf_nodes": 31})
        return learner.fit(learner.pipeline(config, task.columns, task.kind), task.X, task.y)

    weigher.dump_seconds(learner, [fold(5)])
    small = weigher.largest["hist_gradient_boosting"]
    weigher.dump_seconds(learner, [fold(6)])
    assert weigher.largest["hist_gradient_boosting"] == small  # not much larger: scaled, not timed
    weigher.dump_seconds(learner, [fold(200)])
    assert weigher.largest["hist_gradient_boosting"] > flow.REWEIGH_GROWTH * small


def test_a_network_s_first_trial_is_predicted_with_torch_s_import(monkeypatch: pytest.MonkeyPatch) -> None:
    import optuna

    from autometa.evaluate import plan_cv
    from autometa.flow import _OofPool, trial_evaluator
    from autometa.learners import mlp
    from autometa.search import TrialContext

    class HalfSecond:  # a cost model that predicts every configuration at 0.5 s
        def predict(self, config, fidelity=None):  # type: ignore[no-untyped-def]
            return 0.5

        def observe(self, config, seconds):  # type: ignore[no-untyped-def]
            raise AssertionError("a skipped trial is not observed")

    spaces = load_spaces()
    task = make_task(mixed_frame(n=80, kind="regression"), "target")
    metric = get_metric(None, task.kind)
    evaluate = trial_evaluator(task, FitOptions(cv=3, n_jobs=1), metric, spaces, plan_cv(task, 3, seed=0),
                               _OofPool(metric), cost=HalfSecond())  # type: ignore[arg-type]
    trial = optuna.create_study().ask()
    config = spaces["mlp"].default_config("regression")
    learner = get_learner("mlp", spaces["mlp"])
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # as in a process that has not imported it
    assert learner.startup_seconds() == mlp.TORCH_IMPORT_SECONDS
    with pytest.raises(Skipped, match=r"predicted 2\.5 s"):  # 0.5 s of training after 2 s of importing
        evaluate(config, TrialContext(trial, time.monotonic() + 1.5, prune=False))
    monkeypatch.setitem(sys.modules, "torch", object())  # imported: nothing more to pay
    assert learner.startup_seconds() == 0.0 and get_learner("lightgbm", spaces["lightgbm"]).startup_seconds() == 0.0


def test_a_library_s_import_is_paid_before_the_folds_are_timed(monkeypatch: pytest.MonkeyPatch) -> None:
    import optuna

    from autometa.evaluate import plan_cv
    from autometa.flow import _OofPool, trial_evaluator
    from autometa.search import TrialContext

    observed: list[float] = []

    class Recorder:
        def predict(self, config, fidelity=None):  # type: ignore[no-untyped-def]
            return 0.01

        def observe(self, config, seconds):  # type: ignore[no-untyped-def]
            observed.append(seconds)

    spaces = load_spaces()
    learner = type(get_learner("linear", spaces["linear"]))
    started: list[float] = []
    monkeypatch.setattr(learner, "start_up", lambda self: started.append(time.sleep(0.6) or 0.6))  # a slow import
    task = make_task(mixed_frame(n=80, kind="regression"), "target")
    metric = get_metric(None, task.kind)
    evaluate = trial_evaluator(task, FitOptions(cv=3, n_jobs=1), metric, spaces, plan_cv(task, 3, seed=0),
                               _OofPool(metric), cost=Recorder())  # type: ignore[arg-type]
    start = time.monotonic()
    score, _ = evaluate(spaces["linear"].default_config("regression"),
                        TrialContext(optuna.create_study().ask(), start + 2.0, prune=False))
    assert started == [0.6] and math.isfinite(score)
    assert len(observed) == 1 and observed[0] < 0.5  # the import is not training


def test_a_first_trial_far_slower_than_predicted_is_cut_and_the_fallback_gives_the_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A configuration that would run for a minute (here: k-nearest neighbours made to) is cut at
    the budget's deadline even as the fit's first trial; the linear model's default then runs
    once, past the budget, and gives the fit its model."""
    from autometa.learners.base import check_deadline
    from autometa.learners.sklearn_models import KNearestNeighbors

    def crawl(self, model, Xt, y, stages, on_stage, deadline, *, valid=None):  # type: ignore[no-untyped-def]
        for _ in range(600):  # a minute, checking its deadline as the boosting libraries do
            time.sleep(0.1)
            check_deadline(deadline)
        raise AssertionError("ran past its deadline")

    monkeypatch.setattr(KNearestNeighbors, "fit_stages", crawl)
    task = make_task(mixed_frame(n=200), "target")
    slow = load_spaces()["knn"].default_config(task.kind)
    start = time.monotonic()
    from autometa.data import AutoMetaWarning

    with warnings.catch_warnings(record=True) as caught:  # (MLflow's own pandas deprecation among them)
        warnings.simplefilter("always")
        result = fit_task(task, FitOptions(n_trials=None, time_budget=4, n_jobs=1, record=False,
                                           learners=("knn", "linear"), output_dir=tmp_path / "out"),
                          warm_start=[slow])
    ours = [str(w.message) for w in caught if issubclass(w.category, AutoMetaWarning)]
    assert len(ours) == 1 and ours[0].startswith("no trial finished within the time budget of 4 s")
    assert time.monotonic() - start < 20  # not the minute the first trial would take
    assert result.records[0].config == slow and result.records[0].state == "failed"
    assert (result.records[0].error or "").startswith("timeout")
    assert result.best_config.learner == "linear" and result.records[-1].source == "fallback"
    assert len(result.model.members) == 5  # the fallback's whole bag: five fold models
