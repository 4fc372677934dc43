"""The held-out verdict on second-level candidates (``autometa.stack_check``)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from autometa import stack_check, stacking
from autometa.data import make_task
from autometa.ensemble import stack_columns
from autometa.evaluate import cross_validate, encode_target, plan_cv
from autometa.flow import FitOptions, _OofPool
from autometa.learners import get_learner
from autometa.metrics import get_metric
from autometa.spaces import Config, load_spaces
from tests.test_stacking import _searched

pytestmark = [pytest.mark.filterwarnings("ignore::autometa.data.AutoMetaWarning")]

LINEAR = Config("linear", {"alpha": 1e-3})
FOREST = Config("random_forest", {"n_estimators": 60, "max_features": 1.0, "min_samples_leaf": 2,
                                  "bootstrap": True})


def _check(task, pool, inputs, plan, options=None):
    metric, spaces = get_metric(None, task.kind), load_spaces()
    names = stack_columns("__level1_", len(inputs), len(task.classes))
    return stack_check.HoldoutCheck(task, pool, inputs, names, spaces, metric, options or FitOptions(n_jobs=1), plan)


def _regression(target: str, n: int = 240):
    """A regression task whose target is linear in two columns, or a wave of one of them."""
    rng = np.random.default_rng(3)
    a, b = rng.uniform(-2, 2, n), rng.uniform(-2, 2, n)
    y = 2 * a - b if target == "linear" else 3 * np.sin(3 * a) + 0.2 * b
    task = make_task(pd.DataFrame({"a": a, "b": b, "target": y + rng.normal(scale=0.1, size=n)}), "target")
    metric, spaces = get_metric(None, task.kind), load_spaces()
    plan = plan_cv(task, 5, seed=0)
    pool = _OofPool(metric, size=10)
    for number, config in enumerate([LINEAR, FOREST]):
        ev = cross_validate(task, config, get_learner(config.learner, spaces[config.learner]), metric, plan)
        pool.add(number, ev.score, config, ev.oof, ev.models, seconds=ev.fit_seconds, save=False)
    return task, pool, plan


def test_no_model_behind_the_columns_saw_the_held_out_labels() -> None:
    task, _, _, plan, pool = _searched()
    inputs = stacking.candidates(pool, None)
    rest, held = plan.splits[0]
    flipped = task.y.copy()
    flipped[held] = np.where(task.y[held] == task.classes[0], task.classes[1], task.classes[0])
    other = make_task(task.X.assign(target=flipped), "target")
    checks = [_check(t, pool, inputs, plan) for t in (task, other)]
    for check in checks:
        assert not check.ready and check.seconds(inputs[0]) > stack_check.CHECK_FIT * pool.seconds[inputs[0]]
        check.passes(inputs[0], None)
        assert check.ready and check.seconds(inputs[0]) == pytest.approx(
            stack_check.CHECK_FIT * pool.seconds[inputs[0]])  # the inner cross-validation runs once
    columns = [c._upper.X[list(c.names)].to_numpy() for c in checks]
    assert np.array_equal(columns[0], columns[1])  # every row's columns, whatever the held-out labels
    assert checks[0].baseline != checks[1].baseline  # scored on the held-out labels, which differ
    # the search's out-of-fold columns, which an unjudged second level trains on, do depend on them
    metric, spaces = get_metric(None, task.kind), load_spaces()
    config = pool.items[inputs[0]][1]
    again = cross_validate(other, config, get_learner(config.learner, spaces[config.learner]), metric, plan)
    assert not np.allclose(again.oof[rest], pool.items[inputs[0]][2][rest])


@pytest.mark.parametrize(("target", "verdict"), [("wave", True), ("linear", False)])
def test_a_candidate_must_beat_its_inputs_ensemble_on_the_held_out_rows(target: str, verdict: bool) -> None:
    task, pool, plan = _regression(target)
    check = _check(task, pool, [0], plan)  # the linear trial's predictions as the one input
    assert check.passes(1, None) is verdict  # a forest on them: it follows a wave, not a line
    assert (check.scores[1] < check.baseline) is verdict  # RMSE: lower is better
    y = encode_target(task)[plan.splits[0][1]]
    assert check.baseline < float(np.std(y))  # the linear input's ensemble, better than the mean


def test_the_second_level_cross_validates_only_the_candidates_that_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    task, metric, spaces, plan, pool = _searched()
    monkeypatch.setattr(stacking, "LEVEL2_CHECK", True)
    options = FitOptions(cv=3, n_jobs=1)
    found = stacking.candidates(pool)
    judged: list[int] = []

    def passes(self, number, deadline):
        judged.append(number)
        return number == found[-1]

    monkeypatch.setattr(stack_check.HoldoutCheck, "passes", passes)
    assert [u.number for u in stacking.level_two(task, pool, spaces, metric, options, plan, until=None)] == found[-1:]
    assert judged == found
    monkeypatch.setattr(stacking, "LEVEL2_CHECK", False)
    assert [u.number for u in stacking.level_two(task, pool, spaces, metric, options, plan, until=None)] == found


def test_under_a_time_budget_candidates_run_unjudged_where_the_verdict_would_not_fit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    task, metric, spaces, plan, pool = _searched()
    monkeypatch.setattr(stacking, "LEVEL2_CHECK", True)
    options = FitOptions(cv=3, n_jobs=1)

    judged: list[int] = []

    def passes(self, number, deadline):
        judged.append(number)
        return True

    monkeypatch.setattr(stack_check.HoldoutCheck, "passes", passes)
    monkeypatch.setattr(stack_check, "INNER_COST", 1e6)  # the inputs' inner cross-validation: too long
    budgeted = stacking.level_two(task, pool, spaces, metric, options, plan, until=time.monotonic() + 600)
    assert [u.number for u in budgeted] == stacking.candidates(pool) and judged == []
    stacking.level_two(task, pool, spaces, metric, options, plan, until=None)
    assert judged == stacking.candidates(pool)  # without a budget, there is always time to judge
