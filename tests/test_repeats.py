"""Repeated cross-validation of the leading trials after the search (``autometa.repeats``)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from autometa import flow, repeats
from autometa.data import make_task
from autometa.ensemble import FoldBag
from autometa.errors import OptionError
from autometa.evaluate import align_proba, encode_target
from autometa.flow import FitOptions, _OofPool, fit_task
from autometa.metrics import get_metric
from autometa.spaces import Config
from tests.conftest import mixed_frame

pytestmark = [pytest.mark.filterwarnings("ignore::autometa.data.AutoMetaWarning")]


def _pool() -> _OofPool:
    pool = _OofPool(get_metric("rmse", "regression"), size=3)
    for n, score in enumerate([3.0, 1.0, 2.0, 4.0]):
        pool.add(n, score, Config("linear", {"alpha": float(n)}), np.full(4, float(n)), models=(f"m{n}",),
                 seconds=0.5 * (n + 1), save=False)
    return pool


def test_the_pool_averages_a_repeated_round() -> None:
    pool = _pool()
    assert sorted(pool.items) == [0, 1, 2]  # the worst RMSE (4.0) left the pool of 3
    assert repeats.leaders(pool, top=2) == [1, 2]  # lowest RMSE first

    pool.merge(1, 3.0, np.full(4, 5.0), models=("m1b",))
    score, _, oof = pool.items[1]
    assert score == pytest.approx(2.0) and np.allclose(oof, 3.0)  # (1 + 3) / 2 and (1 + 5) / 2
    assert pool.models[1] == ("m1", "m1b") and pool.rounds[1] == 2
    pool.merge(1, 2.0, np.full(4, 0.0))  # a third round: running means over three
    assert pool.items[1][0] == pytest.approx(2.0) and np.allclose(pool.items[1][2], 2.0)
    assert pool.items[0][0] == 3.0 and pool.rounds[0] == 1  # the others are untouched


def test_the_reserve_is_whole_rounds_within_a_quarter_of_the_search() -> None:
    pool = _pool()
    cost = sum(pool.seconds[n] for n in repeats.leaders(pool))  # 3 leaders: 1.0 + 1.5 + 0.5
    assert cost == pytest.approx(3.0)
    assert repeats.reserve(pool, 100.0, rounds=4) == pytest.approx(4 * cost)  # 25 s fit 8 rounds: 4 asked
    assert repeats.reserve(pool, 30.0, rounds=4) == pytest.approx(2 * cost)  # 7.5 s fit 2
    assert repeats.reserve(pool, 10.0, rounds=4) == 0.0  # 2.5 s: not one round
    assert repeats.reserve(pool, 100.0, rounds=0) == 0.0


def test_the_pool_extends_a_bag_without_touching_its_scores() -> None:
    pool = _pool()
    pool.dump_seconds[1] = 0.2
    assert pool.bag_growth(1) == pytest.approx(flow.WRITE_FACTOR * 0.2)  # one more round's dump
    assert pool.bag_growth(0) == 0.0  # never weighed
    pool.extend(1, ("m1b", "m1c"))
    assert pool.models[1] == ("m1", "m1b", "m1c") and pool.dump_seconds[1] == pytest.approx(0.6)
    assert pool.items[1][0] == 1.0 and np.allclose(pool.items[1][2], 1.0) and pool.rounds[1] == 1


def test_the_time_left_after_whole_rounds_goes_to_the_leaders_that_fit() -> None:
    from autometa.evaluate import cross_validate, plan_cv
    from autometa.learners import get_learner
    from autometa.spaces import load_spaces

    task = make_task(mixed_frame(n=120, kind="regression"), "target")
    metric, spaces = get_metric("rmse", task.kind), load_spaces()
    options = FitOptions(cv=3, n_jobs=1)
    pool = _OofPool(metric, size=5)
    plan = plan_cv(task, 3, seed=0)
    for n, alpha in enumerate([0.1, 10.0]):
        config = Config("linear", {"alpha": alpha})
        ev = cross_validate(task, config, get_learner("linear", spaces["linear"]), metric, plan)
        pool.add(n, ev.score, config, ev.oof, ev.models, seconds=0.01, save=False)
    slow = repeats.leaders(pool)[0]
    pool.seconds[slow] = 1e6  # no whole round, and not this leader, fits the minute left
    fast = next(n for n in pool.items if n != slow)
    before = {n: (pool.items[n][0], pool.items[n][2].copy()) for n in pool.items}

    unbudgeted = repeats.repeat(task, pool, spaces, metric, options, rounds=2, until=time.monotonic() + 60)
    assert unbudgeted == (0, 0) and len(pool.models[fast]) == 3  # no partial round: the same model on any machine
    done = repeats.repeat(task, pool, spaces, metric, options, rounds=2, until=time.monotonic() + 60, fill=True)

    assert done == repeats.Repeated(rounds=0, partial=1)
    assert len(pool.models[fast]) == 3 + 3 and len(pool.models[slow]) == 3  # one more round's folds
    for n, (score, oof) in before.items():  # the scores compare the leaders on the same rounds
        assert pool.items[n][0] == score and np.array_equal(pool.items[n][2], oof)
    refit = FitOptions(cv=3, n_jobs=1, final="refit")  # no bags to grow: no partial round
    assert repeats.repeat(task, pool, spaces, metric, refit, rounds=2, until=time.monotonic() + 60, fill=True) == (0, 0)


def test_a_partial_round_leaves_time_to_write_every_bag_it_grows() -> None:
    from autometa.evaluate import cross_validate, plan_cv
    from autometa.learners import get_learner
    from autometa.spaces import load_spaces

    task = make_task(mixed_frame(n=120, kind="regression"), "target")
    metric, spaces = get_metric("rmse", task.kind), load_spaces()
    pool = _OofPool(metric, size=5)
    ev = cross_validate(task, Config("linear", {"alpha": 1.0}), get_learner("linear", spaces["linear"]), metric,
                        plan_cv(task, 3, seed=0))
    pool.add(0, ev.score - 1.0, Config("linear", {"alpha": 0.5}), ev.oof, seconds=0.01, save=False)  # no bag
    for n, alpha in ((1, 1.0), (2, 2.0)):  # each bag's write (16 s) grows by 16 s with one more round
        pool.add(n, ev.score + n, Config("linear", {"alpha": alpha}), ev.oof, ev.models, seconds=0.01,
                 dump_seconds=16.0 / flow.WRITE_FACTOR, save=False)
    assert repeats.leaders(pool) == [0, 1, 2] and pool.write_seconds() == pytest.approx(32.0)

    done = repeats.repeat(task, pool, spaces, metric, FitOptions(cv=3, n_jobs=1), rounds=1,
                          until=time.monotonic() + 30, writes=True, fill=True)

    # no whole round (32 s of writing), and the second bag's 16 s no longer fit after the first's
    assert done == repeats.Repeated(rounds=0, partial=1)
    assert len(pool.models[1]) == 6 and len(pool.models[2]) == 3 and 0 not in pool.models
    assert pool.write_seconds() == pytest.approx(16.0 * 2 + 16.0)


def test_a_round_cut_short_leaves_its_finished_leaders_their_fold_models() -> None:
    from autometa.evaluate import cross_validate, plan_cv
    from autometa.learners import get_learner
    from autometa.spaces import load_spaces

    task = make_task(mixed_frame(n=120, kind="regression"), "target")
    metric, spaces = get_metric("rmse", task.kind), load_spaces()
    pool = _OofPool(metric, size=5)
    good = Config("linear", {"alpha": 1.0})
    ev = cross_validate(task, good, get_learner("linear", spaces["linear"]), metric, plan_cv(task, 3, seed=0))
    pool.add(0, ev.score, good, ev.oof, ev.models, seconds=0.01, save=False)
    pool.add(1, ev.score + 1.0, Config("linear", {"alpha": -5.0}), ev.oof, ev.models, seconds=0.01, save=False)
    before = pool.items[0][0]

    done = repeats.repeat(task, pool, spaces, metric, FitOptions(cv=3, n_jobs=1), rounds=2,
                          until=time.monotonic() + 60, fill=True)

    assert done == repeats.Repeated(rounds=0, partial=1)  # the second leader fails on its new folds
    assert len(pool.models[0]) == 6 and len(pool.models[1]) == 3
    assert pool.items[0][0] == before and pool.rounds[0] == 1


def test_the_trials_of_a_budgeted_search_end_where_the_rounds_reserve_begins() -> None:
    from autometa.errors import TrialTimeout
    from autometa.evaluate import plan_cv
    from autometa.flow import trial_evaluator
    from autometa.spaces import load_spaces

    pool = _pool()
    cost = sum(pool.seconds[n] for n in repeats.leaders(pool))
    assert repeats.trials_end(pool, 500.0, 100.0, rounds=4) == pytest.approx(500.0 - 4 * cost)
    assert repeats.trials_end(pool, 500.0, 100.0, rounds=0) is None  # nothing reserved: the search's end rules

    task = make_task(mixed_frame(n=120, kind="regression"), "target")
    metric, spaces = get_metric("rmse", task.kind), load_spaces()
    options, plan = FitOptions(cv=3, n_jobs=1), plan_cv(task, 3, seed=0)

    class Trial:  # the search's context of a trial with plenty of time before the search's end
        number, deadline = 0, time.monotonic() + 600

        def report(self, step: int, value: float) -> None:
            pass

    config = Config("linear", {"alpha": 1.0})
    score, _ = trial_evaluator(task, options, metric, spaces, plan, _OofPool(metric))(config, Trial())  # type: ignore[arg-type]
    assert np.isfinite(score)
    reserved = trial_evaluator(task, options, metric, spaces, plan, _OofPool(metric), ends=time.monotonic)
    with pytest.raises(TrialTimeout):  # the rounds' reserve has begun: no time is left to this trial
        reserved(config, Trial())  # type: ignore[arg-type]


def test_a_budgeted_search_and_its_workers_share_the_hooks_that_leave_the_rounds_their_reserve() -> None:
    pool = _pool()
    cost = sum(pool.seconds[n] for n in repeats.leaders(pool))
    start = time.monotonic()
    long = repeats.reserved(pool, 100.0, rounds=4)
    assert start + 100.0 - 4 * cost <= long.ends() <= time.monotonic() + 100.0 - 4 * cost  # type: ignore[operator]
    assert not long.stop_when()  # 88 s left before the reserve: another trial fits
    short = repeats.reserved(pool, 3.5, rounds=4)  # a quarter of 3.5 s holds no round of 3 s
    assert short.ends() is None and not short.stop_when()
    tight = repeats.reserved(pool, 13.0, rounds=4)  # one round reserved (a quarter of 13 s is 3.25 s)
    assert tight.ends() == pytest.approx(start + 13.0 - cost, abs=0.5)
    assert not repeats.reserved(pool, 10.0, rounds=0).stop_when()
    # the search goes on while its fastest trial (0.5 s; the pool's mean is 1 s) still fits
    near = repeats.reserved(pool, 13.0, rounds=4, more=lambda p, s: 13.0 - cost - 1.0)
    assert not near.stop_when()
    assert repeats.reserved(pool, 13.0, rounds=4, more=lambda p, s: 13.0 - cost - 0.4).stop_when()
    # a worker reads the fit's options from its study: the rounds it leaves time for are the fit's
    assert FitOptions(repeats=2).for_workers()["repeats"] == 2


@pytest.mark.slow
def test_a_long_search_repeats_its_leaders_and_bags_every_round(monkeypatch: pytest.MonkeyPatch) -> None:
    task = make_task(mixed_frame(n=200, kind="multiclass"), "target")
    common = {"n_trials": 6, "learners": ("lightgbm", "linear"), "pruning": False, "n_jobs": 1, "cv": 3}
    once = fit_task(task, FitOptions(**common))  # the default: no rounds
    assert once.repeats == 0
    monkeypatch.setattr(repeats, "REPEAT_SHARE", 100.0)  # this short search counts as a long one
    result = fit_task(task, FitOptions(**common, repeats=2))

    assert result.repeats == 2 and result.summary()["cv_repeats"] == 2
    assert [r.config for r in result.records] == [r.config for r in once.records]  # the same search
    members = result.model.members
    assert members and all(isinstance(m, FoldBag) and len(m.members) == 3 * 3 for m in members)
    # each round's fold models saw another partition of the rows: the bags differ from one round's
    first = members[0].members
    assert not np.allclose(align_proba(first[0], task.X, task.classes), align_proba(first[3], task.X, task.classes))
    # the ensemble's out-of-fold score was computed on the averaged predictions of the rounds
    assert result.ensemble_score is not None and np.isfinite(result.ensemble_score)
    assert get_metric(None, task.kind)(encode_target(task), result.model.predict_proba(task.X)) < 1.0


@pytest.mark.slow
def test_a_budgeted_fit_leaves_time_for_its_rounds_and_ends_on_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # a larger share reserves several rounds, so that one slow trial on a busy machine cannot leave
    # too little for the first (at the default quarter of 12 s, one round fits with no slack)
    monkeypatch.setattr(repeats, "REPEAT_SHARE", 0.6)
    task = make_task(mixed_frame(n=200, kind="regression"), "target")
    start = time.perf_counter()
    result = fit_task(task, FitOptions(n_trials=None, time_budget=12, learners=("linear",), n_jobs=1,
                                       record=False, pruning=False, repeats=4))
    took = time.perf_counter() - start
    assert result.repeats >= 1  # a linear trial takes a fraction of a second: rounds fit the share
    assert took < 12 + 2.0
    sizes = [len(m.members) for m in result.model.members]
    rounds = 1 + result.repeats  # a leader's bag holds every round's folds, and a partial round's
    assert set(sizes) <= {5, 5 * rounds, 5 * (rounds + 1)}
    assert sizes.count(5 * (rounds + 1)) <= result.repeats_partial


@pytest.mark.parametrize("bad", [-1, 1.5, True, "4"])
def test_repeats_must_be_a_non_negative_integer(bad: object) -> None:
    with pytest.raises(OptionError, match="repeats must be a non-negative integer"):
        FitOptions(repeats=bad)  # type: ignore[arg-type]
