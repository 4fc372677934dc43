"""Repeated cross-validation of the leading trials, after the search.

A long search on a small table overfits its validation folds: among hundreds of configurations
scored on one partition of a few hundred rows, the best are partly the ones that partition
happens to favour, and ensemble selection over their out-of-fold predictions fits the same noise.
AutoGluon's ``best_quality`` answers with repeated k-fold bagging. Here the search keeps its
single partition (every trial is cheap to compare), and at its end the ``REPEAT_TOP`` leading
trials of the out-of-fold pool are cross-validated again on new partitions (the same number of
folds, another shuffle), round by round. Each round adds its fold models to the trials' bags and
averages their out-of-fold predictions and scores over the rounds, so ensemble selection and the
choice of the best trial read predictions that depend less on one partition, and each member of
the final model averages more fold models.

A round is all leaders or none: one that cannot finish in the time left is not started, and one
cut short is dropped. Rounds take at most ``REPEAT_SHARE`` of the search's seconds; under a time
budget the search ends early enough to leave them that time (``reserve``). On large tables, where
one round costs more than that share, there are none. Holdout validation keeps no out-of-fold
predictions, so there is nothing to repeat.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from autometa.evaluate import cross_validate, plan_cv

if TYPE_CHECKING:
    from autometa.data import Task
    from autometa.metrics import Metric
    from autometa.spaces import Config

__all__ = ["REPEAT_ROUNDS", "REPEAT_SHARE", "REPEAT_TOP", "leaders", "repeat", "repeat_until", "reserve",
           "search_over"]

REPEAT_TOP = 10  # the leading trials repeated: ensemble selection rarely picks beyond them
REPEAT_ROUNDS = 4  # the most rounds by default: with 5 folds, a bag of up to 25 fold models
REPEAT_SHARE = 0.25  # the share of the search's seconds that rounds may take


class Pool(Protocol):
    """The fit's out-of-fold pool (``autometa.flow``), as the rounds use it."""

    items: dict[int, tuple[float, Config, Any]]  # trial number: score, configuration, predictions
    seconds: dict[int, float]  # trial number: its cross-validation's seconds

    def _key(self, score: float) -> float: ...

    def merge(self, number: int, score: float, oof: Any, models: Any = ()) -> None: ...

    def write_seconds(self, y: Any = None) -> float: ...


class Options(Protocol):
    """The fit's options (``autometa.flow.FitOptions``) that the rounds follow."""

    @property
    def cv(self) -> int | str: ...

    @property
    def seed(self) -> int: ...

    @property
    def final(self) -> str: ...

    def threads(self, n_rows: int) -> int: ...


def leaders(pool: Pool, top: int = REPEAT_TOP) -> list[int]:
    """The trial numbers of the pool's ``top`` best scores, best first."""
    return sorted(pool.items, key=lambda n: pool._key(pool.items[n][0]), reverse=True)[:top]


def _round_seconds(pool: Pool, numbers: list[int]) -> float:
    return sum(pool.seconds.get(n, 0.0) for n in numbers)


def reserve(pool: Pool, search_seconds: float, rounds: int) -> float:
    """Seconds a search of ``search_seconds`` keeps, at its end, for up to ``rounds`` rounds over
    the current leaders: as many rounds as fit ``REPEAT_SHARE`` of it (0 when not one does)."""
    if rounds <= 0 or len(pool.items) == 0:
        return 0.0
    cost = _round_seconds(pool, leaders(pool))
    if cost <= 0:
        return 0.0
    fitting = min(rounds, int(REPEAT_SHARE * search_seconds // cost))
    return fitting * cost


def search_over(pool: Pool, search_end: float, search_seconds: float, rounds: int) -> bool:
    """Whether a budgeted search (ending at ``search_end``, a ``time.monotonic()`` value) should
    stop now to leave its rounds their ``reserve``: another trial, at the pool's mean pace, would
    run into it."""
    keep = reserve(pool, search_seconds, rounds)
    if keep <= 0:
        return False
    pace = sum(pool.seconds.values()) / max(len(pool.seconds), 1)
    return time.monotonic() + pace >= search_end - keep


def repeat_until(search_seconds: float) -> float:
    """When the rounds after a search without a time budget must end (``time.monotonic()``)."""
    return time.monotonic() + REPEAT_SHARE * search_seconds


def repeat(task: Task, pool: Pool, spaces: Mapping[str, Any], metric: Metric, options: Options, *,
           rounds: int, until: float, writes: bool = False) -> int:
    """Cross-validate the pool's leaders again, up to ``rounds`` times, each on a new partition,
    starting no round that would end after ``until`` (a ``time.monotonic()`` value; with
    ``writes``, the longer write of the grown bags counts too). The leaders' out-of-fold
    predictions and scores in the pool are then averaged over the rounds, and their bags hold the
    rounds' fold models; the other trials of the pool stay as they were, candidates for ensemble
    selection beside the leaders (restricting it to the leaders measured worse).

    Returns:
        The rounds completed.
    """
    from autometa.learners import get_learner

    if options.cv == "holdout" or rounds <= 0:
        return 0
    numbers = leaders(pool)
    if not numbers:
        return 0
    done = 0
    for r in range(1, rounds + 1):
        growth = pool.write_seconds() / r if writes and options.final == "bag" else 0.0  # one more fold set each
        if time.monotonic() + _round_seconds(pool, numbers) + growth > until:
            break
        found: dict[int, Any] = {}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the search's plan has said what there is to say
                plan = plan_cv(task, options.cv, seed=options.seed + 7919 * r)  # another shuffle of the rows
                for n in numbers:
                    config = pool.items[n][1]
                    learner = get_learner(config.learner, spaces[config.learner])
                    found[n] = cross_validate(task, config, learner, metric, plan, seed=options.seed + r,
                                              n_jobs=options.threads(task.n_rows), deadline=until)
        except Exception:  # past the time, or a configuration that fails on these folds: drop the round
            break
        for n, ev in found.items():
            pool.merge(n, ev.score, ev.oof, ev.models if options.final == "bag" else ())
        done += 1
    return done
