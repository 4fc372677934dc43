"""The second stack level after the search (``autometa.stacking``, ``ensemble.LevelTwo``)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from autometa import flow, repeats, stacking
from autometa.data import make_task
from autometa.ensemble import FoldBag, LevelTwo, stack_columns, with_predictions
from autometa.errors import OptionError
from autometa.evaluate import align_proba, cross_validate, encode_target, plan_cv
from autometa.flow import FitOptions, _OofPool, fit_task
from autometa.learners import get_learner
from autometa.metrics import get_metric
from autometa.spaces import Config, load_spaces
from tests.conftest import mixed_frame

pytestmark = [pytest.mark.filterwarnings("ignore::autometa.data.AutoMetaWarning")]


@pytest.fixture(autouse=True)
def _unjudged(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second level's mechanics, without the held-out verdict on its candidates (which
    tests/test_stack_check.py tests): on these small tables it may reject them all."""
    monkeypatch.setattr(stacking, "LEVEL2_CHECK", False)

CONFIGS = [Config("linear", {"C": 1.0, "class_weight": None}),
           Config("random_forest", {"n_estimators": 20, "max_features": "sqrt", "min_samples_leaf": 2,
                                    "bootstrap": True, "class_weight": None, "criterion": "gini"}),
           Config("linear", {"C": 0.01, "class_weight": None})]


def _searched(frame_kind: str = "binary", n: int = 150, **rename: str):
    """A task and the pool a search of CONFIGS would leave (fold models kept)."""
    frame = mixed_frame(n=n, kind=frame_kind).rename(columns=rename)
    task = make_task(frame, "target")
    metric, spaces = get_metric(None, task.kind), load_spaces()
    plan = plan_cv(task, 3, seed=0)
    pool = _OofPool(metric, size=10)
    for number, config in enumerate(CONFIGS):
        ev = cross_validate(task, config, get_learner(config.learner, spaces[config.learner]), metric, plan)
        pool.add(number, ev.score, config, ev.oof, ev.models, seconds=ev.fit_seconds, save=False)
    return task, metric, spaces, plan, pool


def test_the_candidates_are_the_best_trial_of_each_family_best_first() -> None:
    _, _, _, _, pool = _searched()
    best_linear = 0 if pool.items[0][0] >= pool.items[2][0] else 2
    found = stacking.candidates(pool)
    assert sorted(found) == sorted([best_linear, 1])  # one per family: the weaker linear trial is not there
    assert pool.items[found[0]][0] >= pool.items[found[1]][0]  # ROC-AUC: higher first
    assert stacking.candidates(pool, top=1) == found[:1]
    del pool.models[1]  # a trial without fold models (an earlier run's) is no candidate
    assert stacking.candidates(pool) == [best_linear]


def test_the_second_level_trains_on_the_columns_and_the_inputs_predictions() -> None:
    task, metric, spaces, plan, pool = _searched()
    uppers = stacking.level_two(task, pool, spaces, metric, FitOptions(cv=3, n_jobs=1), plan, until=None)
    assert [u.number for u in uppers] == stacking.candidates(pool)
    inputs = stacking.inputs_of(pool, encode_target(task), metric)
    for u in uppers:
        assert u.key == f"L2:{u.number}" and u.inputs == tuple(inputs)
        assert u.names == tuple(stack_columns("__level1_", len(inputs), 2))  # binary: one column per input
        assert u.oof.shape == (task.n_rows, 2) and not np.isnan(u.oof).any()
        assert len(u.models) == plan.n_splits
        X = with_predictions(task.X.head(5), [pool.items[n][2][:5] for n in inputs], u.names)
        assert u.models[0].predict_proba(X).shape == (5, 2)  # a fold model reads the added columns
        with pytest.raises(Exception):  # noqa: B017 (whatever the pipeline raises: it needs them)
            u.models[0].predict_proba(task.X.head(5))


def test_a_level_two_model_predicts_from_raw_columns_as_its_parts_do() -> None:
    task, metric, spaces, plan, pool = _searched(frame_kind="multiclass")
    [upper, *_] = stacking.level_two(task, pool, spaces, metric, FitOptions(cv=3, n_jobs=1), plan, until=None)
    classes = list(task.classes)
    inputs = [FoldBag(list(pool.models[n]), classes) for n in upper.inputs]
    model = LevelTwo(inputs, FoldBag(list(upper.models), classes), list(upper.names), classes)
    X = task.X.head(7)
    assert len(upper.names) == 3 * len(upper.inputs)  # multiclass: a column per input and class
    by_hand = FoldBag(list(upper.models), classes).predict_proba(
        with_predictions(X, [align_proba(m, X, classes) for m in inputs], upper.names))
    assert np.allclose(model.predict_proba(X), by_hand)
    assert np.allclose(model.predict_proba(X).sum(axis=1), 1.0)
    assert list(model.predict(X)) == [classes[i] for i in by_hand.argmax(axis=1)]

    refitted = model.fit(task.X, task.y)  # the whole stack trained again: inputs out of fold first
    assert refitted.predict_proba(X).shape == (7, 3)


def test_added_columns_never_take_a_column_s_name() -> None:
    task, metric, spaces, plan, pool = _searched(n=90, a="__level1_0")
    [upper, *_] = stacking.level_two(task, pool, spaces, metric, FitOptions(cv=3, n_jobs=1), plan, until=None)
    assert upper.names[0] == "___level1_0"


def test_a_second_level_that_cannot_finish_in_time_is_not_started() -> None:
    task, metric, spaces, plan, pool = _searched()
    for n in pool.seconds:
        pool.seconds[n] = 1e6
    assert stacking.level_two(task, pool, spaces, metric, FitOptions(cv=3, n_jobs=1), plan,
                              until=time.monotonic() + 60) == []


def test_writing_the_inputs_the_first_level_would_not_hold_counts_against_the_second(
        monkeypatch: pytest.MonkeyPatch) -> None:
    task, metric, spaces, plan, pool = _searched()
    inputs = stacking.inputs_of(pool, encode_target(task), metric)
    for n in pool.items:
        pool.dump_seconds[n] = 0.001
    pool.dump_seconds[inputs[-1]] = 80.0 / flow.WRITE_FACTOR  # written in 80 s: more than the 60 s left
    options = FitOptions(cv=3, n_jobs=1)

    def run(writes: bool) -> list[int]:
        return [u.number for u in stacking.level_two(task, pool, spaces, metric, options, plan,
                                                     until=time.monotonic() + 60, writes=writes)]

    assert run(writes=False) == stacking.candidates(pool)
    monkeypatch.setattr(pool, "written", lambda y=None: set(inputs[:-1]))  # the first level would not hold it
    assert pool.write_seconds_of(inputs) == pytest.approx(80.0 + flow.WRITE_FACTOR * 0.001 * (len(inputs) - 1))
    assert run(writes=True) == []
    monkeypatch.setattr(pool, "written", lambda y=None: set(inputs))  # it is written anyway: no more to write
    assert run(writes=True) == [n for n in stacking.candidates(pool) if n != inputs[-1]]  # but not a bag as large


def test_time_left_at_the_end_goes_to_the_next_families(monkeypatch: pytest.MonkeyPatch) -> None:
    task, metric, spaces, plan, pool = _searched()
    monkeypatch.setattr(stacking, "LEVEL2_FAMILIES", 1)
    options = FitOptions(cv=3, n_jobs=1)
    best_first = stacking.candidates(pool)
    assert len(best_first) == 2
    unbudgeted = stacking.level_two(task, pool, spaces, metric, options, plan, until=None)
    assert [u.number for u in unbudgeted] == best_first[:1]  # a trial-count fit: the candidates alone
    budgeted = stacking.level_two(task, pool, spaces, metric, options, plan, until=time.monotonic() + 600)
    assert [u.number for u in budgeted] == best_first  # the next family in the time left
    monkeypatch.setattr(stacking, "LEVEL2_MORE", False)
    assert [u.number for u in stacking.level_two(task, pool, spaces, metric, options, plan,
                                                 until=time.monotonic() + 600)] == best_first[:1]
    pool.seconds[best_first[1]] = 1e6  # the next family would not end in time: not started
    monkeypatch.setattr(stacking, "LEVEL2_MORE", True)
    assert [u.number for u in stacking.level_two(task, pool, spaces, metric, options, plan,
                                                 until=time.monotonic() + 600)] == best_first[:1]


def test_a_candidate_cut_short_leaves_its_time_to_the_next_at_the_pace_it_showed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from autometa import stack_check
    from autometa.errors import TrialTimeout

    task, metric, spaces, plan, pool = _searched()
    options = FitOptions(cv=3, n_jobs=1)
    first, second = stacking.candidates(pool)
    real = stack_check.run_config
    seen: list[int] = []

    def slow_first(task, config, *args, **kwargs):  # type: ignore[no-untyped-def]
        number = next(n for n in (first, second) if pool.items[n][1] == config)
        seen.append(number)
        if number == first:  # its folds, at the pace of the first, would end past the time left
            raise TrialTimeout("cut", projected=3 * pool.seconds[first])
        return real(task, config, *args, **kwargs)

    monkeypatch.setattr(stack_check, "run_config", slow_first)
    pool.seconds[second] = 1.0
    done = stacking.level_two(task, pool, spaces, metric, options, plan, until=time.monotonic() + 60)
    assert seen == [first, second] and [u.number for u in done] == [second]
    pool.seconds[second] = 30.0  # 1.2 x 30 s would fit in 60 s; at the 3 x the first showed, not
    seen.clear()
    assert stacking.level_two(task, pool, spaces, metric, options, plan, until=time.monotonic() + 60) == []
    assert seen == [first]


def test_the_search_keeps_the_second_level_its_time_within_its_share() -> None:
    _, _, _, _, pool = _searched()
    for n in pool.seconds:
        pool.seconds[n] = 1.0
    cost = stacking.COLUMNS_COST * len(stacking.candidates(pool))  # 2 families
    assert stacking.level_two_seconds(pool, 100.0) == pytest.approx(cost)
    assert stacking.level_two_seconds(pool, 1.5 / stacking.LEVEL2_SHARE) == pytest.approx(stacking.COLUMNS_COST)
    assert stacking.level_two_seconds(pool, 1.0) == 0.0  # not one fits
    end = time.monotonic() + 100.0
    kept = repeats.trials_end(pool, end, 100.0, rounds=0, more=stacking.level_two_seconds)
    assert kept == pytest.approx(end - cost)
    assert repeats.trials_end(pool, end, 100.0, rounds=0) is None  # nothing kept without it
    for n in pool.items:  # a fit that writes: each bag takes 0.5 s to dump (twice that to write)
        pool.dump_seconds[n] = 0.5
    growth = 2 * 0.5
    first = stacking.candidates(pool)[0]
    assert pool.bag_growth(first) == pytest.approx(growth)
    # each run, its bag's growth, and with the first the other family's best trial's bag (an input)
    assert stacking.level_two_seconds(pool, 100.0) == pytest.approx(cost + 2 * growth + growth)
    first_alone = stacking.COLUMNS_COST + growth + growth
    assert stacking.level_two_seconds(pool, (first_alone + 0.1) / stacking.LEVEL2_SHARE) == pytest.approx(first_alone)


def test_only_a_bagged_cross_validated_fit_has_a_second_level() -> None:
    assert stacking.stacks_level_two(True, "bag", "kfold")
    assert not stacking.stacks_level_two(True, "refit", "kfold")
    assert not stacking.stacks_level_two(True, "bag", "holdout")
    assert not stacking.stacks_level_two(False, "bag", "kfold")
    assert not stacking.stacks_level_two(True, "bag", "kfold", repeats=2)  # rounds mix partitions
    assert FitOptions(repeats=2).level2_keep("kfold") is None
    assert FitOptions(ensemble=False).level2_keep("kfold") is None  # nothing would choose its runs
    assert FitOptions().level2_keep("kfold") is stacking.level_two_seconds
    assert FitOptions(level2=True, cv="holdout").level2_keep("holdout") is None
    with pytest.raises(OptionError, match="level2 must be True or False"):
        FitOptions(level2="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["binary", "regression"])
def test_a_fit_with_a_second_level_chooses_among_both_levels(kind: str, tmp_path) -> None:
    from autometa.tracking import load_model

    task = make_task(mixed_frame(n=200, kind=kind), "target")
    options = FitOptions(n_trials=8, cv=3, n_jobs=1, record=False, level2=True, output_dir=tmp_path / "out",
                         learners=("linear", "random_forest", "lightgbm"))
    result = fit_task(task, options)
    assert result.ensemble_weights and sum(result.ensemble_weights.values()) == pytest.approx(1.0)
    loaded = load_model(tmp_path / "out" / "model")
    X = task.X.head(20)
    if kind == "binary":
        assert np.allclose(loaded.predict_proba(X), result.model.predict_proba(X))
    else:
        assert np.allclose(loaded.predict(X), result.model.predict(X))
    level_two = [m for m in result.model.members if isinstance(m, LevelTwo)]
    assert len(level_two) == sum(isinstance(k, str) for k in result.ensemble_weights)
    for model in (result.model, loaded):  # second-level members share their inputs' bags: each written once
        level_two = [m for m in model.members if isinstance(m, LevelTwo)]
        for m in level_two[1:]:
            assert all(a is b for a, b in zip(m.inputs, level_two[0].inputs, strict=True))
