"""Cross-validating one configuration on a task: fold scores, out-of-fold predictions, timing.

The validation scheme depends on size (``plan_cv``): stratified k-fold for
classification and shuffled k-fold for regression, 5 folds by default; a
single 80/20 holdout above ``HOLDOUT_ROWS`` rows.

Intermediate values for pruning (``Reporter.report(step, value)``): on the
first fold, the validation score at each fidelity stage (steps 0, 1, 2 for
1/9, 1/3 and all of the fidelity; learners without one report only step 2);
then, after each further fold ``f``, the mean score so far at step ``2 + f``.
Every trial reports the same steps, so a pruner compares like with like.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from autometa.data import AutoMetaWarning, Task
from autometa.errors import DataError, OptionError, TrialTimeout, message
from autometa.learners.base import STAGE_FRACTIONS, stage_values

if TYPE_CHECKING:
    import numpy as np

    from autometa.learners.base import Learner
    from autometa.metrics import Metric
    from autometa.spaces import Config

__all__ = ["HOLDOUT_ROWS", "RESHUFFLE", "CVPlan", "Evaluation", "Reporter", "align_proba", "cross_validate", "plan_cv",
           "predict_scores", "reshuffled", "shuffled_plan", "trial_plan"]

HOLDOUT_ROWS = 100_000
DEFAULT_FOLDS = 5
# under a deadline, a fold with more validation rows than twice this predicts this many first and
# times the rest (``_predict_within``): a model's predictions can take far longer than its fit (a
# k-nearest neighbours model's grow with its training rows times these rows; on an 80/20 holdout
# of 200,000 rows, 54 s against a 60 s budget), and one call cannot be cut once started
PROBE_ROWS = 1_000
FINAL_STAGE_STEP = len(STAGE_FRACTIONS) - 1
# Each trial after the first cross-validated on its own shuffle of the rows (Nagler et al.,
# "Reshuffling Resampling Splits Can Improve Generalization of Hyperparameter Optimization",
# NeurIPS 2024): a long search on a small table then cannot keep choosing what one partition
# happens to favour. The second level cross-validates its inputs again on the first trial's.
# Off: even with one partition at every measured budget, by amounts within one run's spread
# (benchmarks/README.md, section 11, sessions 18-20): at 10 s 8 task-splits better and 6 worse,
# at 60 s 15 and 13, at 300 s 8 and 4.
RESHUFFLE = False


class Reporter(Protocol):
    """Receives intermediate scores; ``report`` may raise to stop the trial (pruning)."""

    def report(self, step: int, value: float) -> None: ...


@dataclass(frozen=True)
class CVPlan:
    """Train/validation index pairs and how they were made."""

    splits: tuple[tuple[Any, Any], ...]
    scheme: str  # "kfold" or "holdout"

    @property
    def n_splits(self) -> int:
        return len(self.splits)

    def describe(self) -> str:
        return "80/20 holdout" if self.scheme == "holdout" else f"{self.n_splits}-fold CV"


@dataclass(frozen=True)
class Evaluation:
    """The outcome of cross-validating one configuration."""

    score: float
    fold_scores: tuple[float, ...]
    oof: Any  # out-of-fold predictions; rows no split validates (a holdout's training rows) are NaN
    fit_seconds: float
    fidelity: int | None
    models: tuple[Any, ...] = ()  # the fitted pipeline of each split, in ``plan.splits`` order
    reached: int | None = None  # the median fidelity the fold models ended at, where they stop early


def plan_cv(task: Task, cv: int | str = "auto", *, seed: int = 0) -> CVPlan:
    """Choose the validation splits for a task.

    Args:
        task: The task.
        cv: ``"auto"`` (5 folds, holdout above 100,000 rows), ``"holdout"``, or a
            number of folds >= 2.
        seed: Shuffling seed.

    Raises:
        OptionError: ``cv`` is not allowed.
        DataError: There are fewer rows than folds.
    """
    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    n = task.n_rows
    if cv == "auto":
        folds: int | None = None if n > HOLDOUT_ROWS else DEFAULT_FOLDS
    elif cv == "holdout":
        folds = None
    elif isinstance(cv, int) and not isinstance(cv, bool) and cv >= 2:
        folds = cv
    else:
        raise OptionError(message(f"cv must be 'auto', 'holdout' or a number of folds >= 2; got {cv!r}",
                                  "pass for example --cv 5"))
    idx = np.arange(n)
    stratify = task.y if task.is_classification else None
    if folds is None:
        if n < 10:
            raise DataError(message(f"{n} rows are too few for a holdout split", "give at least 10 rows"))
        train, val = train_test_split(idx, test_size=0.2, random_state=seed, stratify=stratify)
        return CVPlan(((np.sort(train), np.sort(val)),), "holdout")
    if n < folds:
        raise DataError(message(f"{n} rows are fewer than the {folds} cross-validation folds",
                                f"give at least {folds} rows, or lower --cv (minimum 2)"))
    if task.is_classification:
        smallest = int(np.unique(task.y, return_counts=True)[1].min())
        if smallest < folds:
            warnings.warn(f"the smallest class has {smallest} rows, so cross-validation uses "
                          f"{smallest} folds instead of {folds}", AutoMetaWarning, stacklevel=2)
            folds = smallest
        splitter: Any = StratifiedKFold(folds, shuffle=True, random_state=seed)
    else:
        splitter = KFold(folds, shuffle=True, random_state=seed)
    return CVPlan(tuple(splitter.split(idx, stratify)), "kfold")


def shuffled_plan(task: Task, cv: int | str, seed: int) -> CVPlan:
    """``plan_cv`` with another ``seed``: a partition beside the search's, without the warnings
    that the search's own plan has already given (a repeated round's, a reshuffled trial's)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return plan_cv(task, cv, seed=seed)


def reshuffled(plan: CVPlan, number: int) -> bool:
    """Whether trial ``number`` of a search on ``plan`` is cross-validated on a partition of its
    own (``RESHUFFLE``; k-fold only; trial 0 keeps the search's, which the second level uses)."""
    return RESHUFFLE and plan.scheme == "kfold" and number > 0


def trial_plan(task: Task, plan: CVPlan, cv: int | str, seed: int, number: int) -> CVPlan:
    """The partition trial ``number`` is cross-validated on: the search's ``plan`` (made by
    ``plan_cv(task, cv, seed=seed)``), or its own shuffle where ``reshuffled``."""
    return shuffled_plan(task, cv, seed + number) if reshuffled(plan, number) else plan


def encode_target(task: Task) -> np.ndarray:
    """Class indices (0..K-1, in ``task.classes`` order) for classification, values otherwise."""
    return task.encoded_y()


def align_proba(model: Any, X: Any, classes: Sequence[Any]) -> np.ndarray:
    """``model.predict_proba(X)`` with columns in the order of ``classes``.

    A class the model never saw (absent from its training fold) gets probability 0.
    """
    import numpy as np

    proba = np.asarray(model.predict_proba(X), dtype="float64")
    out = np.zeros((len(proba), len(classes)))
    position = {c: i for i, c in enumerate(classes)}
    for j, c in enumerate(model.classes_):
        out[:, position[c.item() if hasattr(c, "item") else c]] = proba[:, j]
    return out


def predict_scores(model: Any, X: Any, task: Task) -> np.ndarray:
    """Predictions a metric scores: probabilities aligned to ``task.classes``, or values."""
    import numpy as np

    if not task.is_classification:
        return np.asarray(model.predict(X), dtype="float64")
    return align_proba(model, X, task.classes)


def cross_validate(
    task: Task,
    config: Config,
    learner: Learner,
    metric: Metric,
    plan: CVPlan,
    *,
    seed: int = 0,
    n_jobs: int = 1,
    deadline: float | None = None,
    reporter: Reporter | None = None,
    fractions: Sequence[float] = STAGE_FRACTIONS,
    early_stop: bool = False,
) -> Evaluation:
    """Fit and score ``config`` on every split of ``plan``; the first fold reports at
    ``fractions`` of the fidelity (a fidelity schedule's stages, at most three). With
    ``early_stop``, a learner that ``early_stops`` (the boosting libraries) stops growing each fold
    model on that fold's validation rows, as AutoGluon's bagged boosters do: the configured rounds
    become an upper bound, at the price of slightly optimistic out-of-fold predictions.

    Raises:
        TrialTimeout: Training passed ``deadline``.
        Whatever ``reporter.report`` raises (the search's pruning signal).
        ValueError: The score is not a finite number.
    """
    from threadpoolctl import threadpool_limits

    # models without n_jobs (histogram boosting, BLAS) would otherwise take every core
    with threadpool_limits(limits=n_jobs):
        return _cross_validate(task, config, learner, metric, plan, seed=seed, n_jobs=n_jobs,
                               deadline=deadline, reporter=reporter, fractions=fractions,
                               early_stop=early_stop and learner.early_stops)


def _cross_validate(task: Task, config: Config, learner: Learner, metric: Metric, plan: CVPlan, *,
                    seed: int, n_jobs: int, deadline: float | None, reporter: Reporter | None,
                    fractions: Sequence[float], early_stop: bool) -> Evaluation:
    import numpy as np

    y_enc = encode_target(task)
    shape = (task.n_rows, len(task.classes)) if task.is_classification else (task.n_rows,)
    oof = np.full(shape, np.nan)
    scores: list[float] = []
    models: list[Any] = []
    start = time.perf_counter()
    full = learner.fidelity(config)
    stages = stage_values(full, fractions) if full is not None else [0]
    step_of = {v: FINAL_STAGE_STEP - (len(stages) - 1 - i) for i, v in enumerate(stages)}
    X = task.X
    try:
        for fold, (train, val) in enumerate(plan.splits):
            pipe = learner.pipeline(config, task.columns, task.kind, seed=seed, n_jobs=n_jobs)
            X_val, y_val = X.iloc[val], y_enc[val]

            final: list[np.ndarray] = []  # the reporter's predictions at the full fidelity: the fold's

            def on_stage(value: int, *, _pipe: Any = pipe, _X: Any = X_val, _y: Any = y_val,
                         _final: list[np.ndarray] = final) -> None:
                if reporter is not None and value in step_of:
                    stage_pred = _predict_within(_pipe, _X, task, deadline, start, plan.n_splits, len(scores))
                    if value == stages[-1]:
                        _final.append(stage_pred)
                    reporter.report(step_of[value], _finite(metric(_y, stage_pred)))

            # plan_cv's folds never leave a class out of a training part, so every validation label is known
            valid = (X_val, task.y[val]) if early_stop else None
            learner.fit(pipe, X.iloc[train], task.y[train], deadline=deadline, fractions=fractions,
                        on_stage=on_stage if fold == 0 else None, staged=fold == 0 and reporter is not None,
                        valid=valid)
            pred = final[-1] if final else _predict_within(pipe, X_val, task, deadline, start, plan.n_splits,
                                                             len(scores))
            scores.append(_finite(metric(y_val, pred)))
            models.append(pipe)
            oof[val] = pred
            if fold > 0 and reporter is not None:
                reporter.report(FINAL_STAGE_STEP + fold, float(np.mean(scores)))
            _check_pace(start, fold + 1, plan.n_splits, deadline)
    except TrialTimeout as exc:  # cut inside a fold: counting that fold as done gives at least the total
        if exc.projected is None:
            exc.projected = (time.perf_counter() - start) * plan.n_splits / (len(scores) + 1)
        raise
    ends = [learner.reached(m) for m in models]
    known = [e for e in ends if e is not None]
    reached = int(np.median(known)) if known and len(known) == len(ends) else None
    return Evaluation(score=float(np.mean(scores)), fold_scores=tuple(scores), oof=oof,
                      fit_seconds=time.perf_counter() - start, fidelity=full, models=tuple(models),
                      reached=reached)


def _predict_within(pipe: Any, X_val: Any, task: Task, deadline: float | None, start: float, total: int,
                    done: int) -> np.ndarray:
    """A fold's validation predictions. Under ``deadline``, with more than twice ``PROBE_ROWS``
    rows: the first ``PROBE_ROWS`` are predicted and timed, and ``TrialTimeout`` is raised where
    the rest, at that pace, would end past the deadline (``start``: the cross-validation's; the
    projection counts ``total`` folds at the pace of this one and the ``done`` before it)."""
    import numpy as np

    if deadline is None or len(X_val) <= 2 * PROBE_ROWS:
        return predict_scores(pipe, X_val, task)
    probe_start = time.perf_counter()
    head = predict_scores(pipe, X_val.iloc[:PROBE_ROWS], task)
    rest = (time.perf_counter() - probe_start) * (len(X_val) - PROBE_ROWS) / PROBE_ROWS
    left = deadline - time.monotonic()
    if rest > left:
        raise TrialTimeout(f"predicting the fold's validation rows would take about {rest:.1f} s more; "
                           f"{max(left, 0.0):.1f} s are left",
                           projected=(time.perf_counter() - start + rest) * total / (done + 1))
    return np.concatenate([head, predict_scores(pipe, X_val.iloc[PROBE_ROWS:], task)])


def _check_pace(start: float, done: int, total: int, deadline: float | None) -> None:
    """Stop a cross-validation whose remaining folds, at the pace of those done, would end past
    ``deadline``: the time is better left to another configuration."""
    if deadline is None or done >= total:
        return
    per_fold = (time.perf_counter() - start) / done
    left = deadline - time.monotonic()
    if per_fold * (total - done) > left:
        raise TrialTimeout(f"{total - done} more folds would take about {per_fold * (total - done):.1f} s; "
                           f"{max(left, 0.0):.1f} s are left", projected=per_fold * total)


def _finite(value: float) -> float:
    import math

    if not math.isfinite(value):
        raise ValueError(f"the score is {value}")
    return value


def check_learners(names: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """Validate a learner restriction against the learners available for the task.

    Raises:
        OptionError: A name is unknown or the list is empty.
    """
    if names is None:
        return list(available)
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in available]
    if unknown or not names:
        raise OptionError(message(
            f"unknown or unavailable learner(s): {', '.join(unknown) or '(none given)'}",
            f"choose from: {', '.join(available)}"))
    return list(dict.fromkeys(names))
