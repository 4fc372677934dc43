"""Whether a second-level configuration pays, judged on rows that no model below it saw.

The second level's out-of-fold predictions are optimistic (``autometa.stacking``): a training
row's columns come from first-level models that saw the validation rows. Where rows repeat (a
table of a few discrete columns), a memorizing first-level model (k-nearest neighbours, deep
trees) passes validation labels into the training part's columns, and the second level's
out-of-fold score, on which the final ensemble chooses its members, can be well above what it
scores on new rows (benchmarks/README.md, section 11: ``carData.Vocab.sex``).

AutoGluon's dynamic stacking (DyStack, AutoGluon 1.0) holds out some rows, fits the whole stack
on the rest, and keeps the second level only if the stacked ensemble beats the first level's on
the held-out rows. This is the same question, asked at a lower cost:

* the held-out rows are the search's first validation fold;
* each input of the second level is cross-validated again on the other rows alone
  (``INNER_FOLDS`` folds). The training rows get honest columns (its inner out-of-fold
  predictions), and the held-out rows get the mean prediction of its inner models;
* a second-level candidate is fitted once on the other rows with those columns. It goes on to its
  cross-validation only if, on the held-out rows, it beats ensemble selection over the same
  inputs, with weights chosen on the other rows.

Its cost is about ``INNER_COST`` times the inputs' cross-validation seconds, once, and one fold
fit per candidate. A held-out fold of a small table is small, so the verdict is noisy.

It is off by default (``stacking.LEVEL2_CHECK``). Measured in session 17 (benchmarks/README.md,
section 11) on held-out tasks: at 30 trials it left the test score unchanged on 14 of 15 tasks
(the 15th moved by 0.002%), at 10% more time, since ensemble selection already passes over the
second-level runs it rejects; at 60 s, where it took the time of the runs it judged, it cost
two tasks their second level (RMSE 19% and ROC-AUC 4.5% worse).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from autometa.data import Task
    from autometa.evaluate import CVPlan
    from autometa.metrics import Metric
    from autometa.repeats import Options, Pool

__all__ = ["CHECK_FIT", "INNER_COST", "INNER_FOLDS", "HoldoutCheck", "run_config", "with_columns"]

INNER_FOLDS = 3  # folds of the inputs' cross-validation on the rows outside the held-out fold
INNER_COST = 0.4  # its seconds against the input's search run: 3 fits on 8/15 of the rows, not 5 on 4/5
CHECK_FIT = 0.25  # a candidate's one fit against its cross-validation's seconds (and more columns)


class HoldoutCheck:
    """The held-out verdict on a task's second-level candidates over ``inputs`` (trial numbers
    whose predictions become the columns ``names``), on the first split of ``plan``. The inputs'
    inner cross-validation runs once, at the first ``passes``."""

    def __init__(self, task: Task, pool: Pool, inputs: Sequence[int], names: Sequence[str],
                 spaces: Mapping[str, Any], metric: Metric, options: Options, plan: CVPlan) -> None:
        self.task, self.pool, self.inputs, self.names = task, pool, tuple(inputs), tuple(names)
        self.spaces, self.metric, self.options = spaces, metric, options
        self.rest, self.held = plan.splits[0]
        self._upper: Task | None = None
        self.baseline: float | None = None  # ensemble selection's score on the held-out rows
        self.scores: dict[int, float] = {}  # candidate: its score on the held-out rows

    @property
    def ready(self) -> bool:
        """Whether the inputs' inner cross-validation has run."""
        return self._upper is not None

    def seconds(self, number: int) -> float:
        """Predicted seconds of judging trial ``number``'s configuration, the inner
        cross-validation included while it has not run."""
        own = CHECK_FIT * self.pool.seconds.get(number, 0.0)
        return own if self.ready else own + INNER_COST * sum(self.pool.seconds.get(n, 0.0) for n in self.inputs)

    def passes(self, number: int, deadline: float | None) -> bool:
        """Whether trial ``number``'s configuration, on the inputs' honest columns, beats the
        inputs' ensemble on the held-out rows.

        Raises:
            TrialTimeout: The inner cross-validation or the fit passed ``deadline``.
            Whatever the fit raises (the configuration fails on these columns).
        """
        from autometa.evaluate import CVPlan

        upper = self._columns(deadline)
        config = self.pool.items[number][1]
        ev = self._cross_validate(upper, config, CVPlan(((self.rest, self.held),), "holdout"), deadline)
        self.scores[number] = ev.score
        assert self.baseline is not None
        return self.metric.better(ev.score, self.baseline)

    def _columns(self, deadline: float | None) -> Task:
        import numpy as np

        from autometa.ensemble import ensemble_selection
        from autometa.evaluate import encode_target, predict_scores

        if self._upper is not None:
            return self._upper
        task, y = self.task, encode_target(self.task)
        inner = self._inner_plan(y)
        predictions: list[np.ndarray] = []
        X_held = task.X.iloc[self.held]
        for n in self.inputs:
            ev = self._cross_validate(task, self.pool.items[n][1], inner, deadline)
            column = ev.oof
            column[self.held] = np.mean([predict_scores(m, X_held, task) for m in ev.models], axis=0)
            predictions.append(column)
        weights, _ = ensemble_selection([p[self.rest] for p in predictions], y[self.rest], self.metric)
        blend = np.tensordot(np.asarray(weights), np.stack([p[self.held] for p in predictions]), axes=1)
        self.baseline = float(self.metric(y[self.held], blend))
        self._upper = with_columns(task, predictions, self.names)
        return self._upper

    def _inner_plan(self, y: np.ndarray) -> CVPlan:
        """``INNER_FOLDS`` folds of the rows outside the held-out fold (stratified for
        classification, as the search's)."""
        from autometa.ensemble import combiner_folds
        from autometa.evaluate import CVPlan

        rest = self.rest
        folds = combiner_folds(y[rest], self.task.is_classification, seed=self.options.seed, folds=INNER_FOLDS)
        return CVPlan(tuple((rest[a], rest[b]) for a, b in folds.split(rest, y[rest])), "kfold")

    def _cross_validate(self, task: Task, config: Any, plan: CVPlan, deadline: float | None) -> Any:
        return run_config(task, config, self.spaces, self.metric, self.options, plan, deadline)


def with_columns(task: Task, predictions: Sequence[np.ndarray], names: Sequence[str]) -> Task:
    """``task`` with members' predictions as more numeric columns ``names``
    (``ensemble.with_predictions``): the second level's rows."""
    from autometa.data import Column
    from autometa.ensemble import with_predictions

    X = with_predictions(task.X, predictions, names)
    return dataclasses.replace(task, X=X, columns=(*task.columns, *(Column(c, "numeric") for c in names)))


def run_config(task: Task, config: Any, spaces: Mapping[str, Any], metric: Metric, options: Options, plan: CVPlan,
               deadline: float | None) -> Any:
    """``evaluate.cross_validate`` of ``config`` on ``plan`` with the fit's seed, threads and early
    stopping, library warnings silenced as in the trials: a second-level run, or one for its
    verdict."""
    from autometa.evaluate import cross_validate
    from autometa.learners import get_learner

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # library noise inside the fits, as in the trials
        return cross_validate(task, config, get_learner(config.learner, spaces[config.learner]), metric, plan,
                              seed=options.seed, n_jobs=options.threads(task.n_rows), deadline=deadline,
                              early_stop=options.early_stop)
