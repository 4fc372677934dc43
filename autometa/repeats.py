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

A round scored is all leaders or none: one that cannot finish in the time left is not started,
and one cut short is at most partial (below). Rounds take at most ``REPEAT_SHARE`` of the
search's seconds; under a time budget the search ends early enough to leave them that time
(``reserve``). On large tables, where one round costs more than that share, there are none.
Holdout validation keeps no out-of-fold predictions, so there is nothing to repeat.

Under a time budget, the time that whole rounds leave (a reserve over-estimated, or asked rounds
that did not all fit) goes to a last, partial round: the leaders, best first, each whose
cross-validation still fits, add that round's fold models to their bags; so do the leaders done
in a round cut short. Their scores and out-of-fold predictions are left as they were, so that the
choice of the best trial and ensemble selection compare leaders on the same rounds (a leader
averaged over one more fresh partition would lose its share of the search's optimism that the
others keep). Without a budget there is no partial round: a fit of so many trials makes the same
model on any machine, as long as its whole rounds do.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from autometa.evaluate import cross_validate, shuffled_plan

if TYPE_CHECKING:
    from autometa.data import Task
    from autometa.metrics import Metric
    from autometa.spaces import Config

__all__ = ["REPEAT_ROUNDS", "REPEAT_SHARE", "REPEAT_TOP", "Repeated", "Reserved", "leaders", "repeat",
           "repeat_until", "reserve", "reserved", "search_over", "trials_end"]

REPEAT_TOP = 10  # the leading trials repeated: ensemble selection rarely picks beyond them
# Off by default: side by side under time budgets (60 s on 8 tasks, 300 s on 8) and at a fixed
# 100 trials (12 tasks), the rounds were better about as often as worse, at 1.8 times the
# prediction cost (benchmarks/README.md sections 11 and 12b). ``--repeats 4`` asks for them.
REPEAT_ROUNDS = 0
REPEAT_SHARE = 0.25  # the share of the search's seconds that rounds may take


class Pool(Protocol):
    """The fit's out-of-fold pool (``autometa.flow``), as the rounds use it."""

    items: dict[int, tuple[float, Config, Any]]  # trial number: score, configuration, predictions
    models: dict[int, Any]  # trial number: its bag of fold models
    seconds: dict[int, float]  # trial number: its cross-validation's seconds

    def _key(self, score: float) -> float: ...

    def merge(self, number: int, score: float, oof: Any, models: Any = ()) -> None: ...

    def extend(self, number: int, models: Any) -> bool: ...

    def bag_growth(self, number: int) -> float: ...

    def write_seconds(self, y: Any = None) -> float: ...

    def written(self, y: Any = None) -> set[int]: ...

    def write_seconds_of(self, numbers: Iterable[int]) -> float: ...


class Options(Protocol):
    """The fit's options (``autometa.flow.FitOptions``) that the rounds follow."""

    @property
    def cv(self) -> int | str: ...

    @property
    def seed(self) -> int: ...

    @property
    def final(self) -> str: ...

    @property
    def early_stop(self) -> bool: ...

    def threads(self, n_rows: int) -> int: ...


class Repeated(NamedTuple):
    """What ``repeat`` did."""

    rounds: int  # whole rounds over the leaders, scored and bagged
    partial: int  # leaders whose fold models of one more round joined their bags only


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


Keep = Callable[[Pool, float], float]  # seconds kept after the search, from the pool and its length


def trials_end(pool: Pool, search_end: float, search_seconds: float, rounds: int, more: Keep | None = None,
               ) -> float | None:
    """When a budgeted search's trials must end (a ``time.monotonic()`` value) to leave its rounds
    their ``reserve`` (and ``more``'s seconds: the second stack level's, ``autometa.stacking``): a
    trial that would run into it is not started, or is cut there, so that one slow trial at the end
    of the search cannot take the rounds' time. None while nothing is reserved (the search's own
    deadline rules, and a first trial is never cut for the rounds)."""
    keep = reserve(pool, search_seconds, rounds) + (more(pool, search_seconds) if more is not None else 0.0)
    return search_end - keep if keep > 0 else None


def search_over(pool: Pool, search_end: float, search_seconds: float, rounds: int, more: Keep | None = None) -> bool:
    """Whether a budgeted search (ending at ``search_end``, a ``time.monotonic()`` value) should
    stop now to leave its rounds their ``reserve``: not even its fastest trial so far would end
    before it. A slower configuration is skipped or cut by the trial's own deadline (``ends``),
    so the time until the reserve goes to those that fit; at the pool's mean pace, a few slow
    trials (CatBoost's 10-17 s on an 8,000-row table) stopped the search while a cheap one (the
    linear model's 0.3 s) still fitted."""
    end = trials_end(pool, search_end, search_seconds, rounds, more)
    if end is None:
        return False
    pace = min(pool.seconds.values(), default=0.0)
    return time.monotonic() + pace >= end


class Reserved(NamedTuple):
    """A budgeted search's hooks that leave its rounds their ``reserve`` (``reserved``)."""

    stop_when: Callable[[], bool]  # whether the search should stop now (``search_over``)
    ends: Callable[[], float | None]  # when its trials must end (``trials_end``)


def reserved(pool: Pool, search_seconds: float, rounds: int, more: Keep | None = None) -> Reserved:
    """The hooks of a budgeted search of ``search_seconds`` from now, whether the rounds run in
    this process or (for a worker's share of the search) in the fit's; ``more``: seconds kept
    besides the rounds' (``trials_end``)."""
    search_end = time.monotonic() + search_seconds
    return Reserved(lambda: search_over(pool, search_end, search_seconds, rounds, more),
                    lambda: trials_end(pool, search_end, search_seconds, rounds, more))


def repeat_until(search_seconds: float) -> float:
    """When the rounds after a search without a time budget must end (``time.monotonic()``)."""
    return time.monotonic() + REPEAT_SHARE * search_seconds


def repeat(task: Task, pool: Pool, spaces: Mapping[str, Any], metric: Metric, options: Options, *,
           rounds: int, until: float, writes: bool = False, fill: bool = False) -> Repeated:
    """Cross-validate the pool's leaders again, up to ``rounds`` times, each on a new partition,
    starting no round that would end after ``until`` (a ``time.monotonic()`` value; with
    ``writes``, the longer write of the grown bags counts too). The leaders' out-of-fold
    predictions and scores in the pool are then averaged over the rounds, and their bags hold the
    rounds' fold models; the other trials of the pool stay as they were, candidates for ensemble
    selection beside the leaders (restricting it to the leaders measured worse). With ``fill``
    (a budgeted fit, whose time left is otherwise lost), when a whole round no longer fits, the
    leaders that still do are repeated once more for their bags only; a round cut short (past
    ``until``, or a leader that fails on its folds) leaves the same to the leaders it finished.
    Without it, a fit of so many trials makes the same model whatever the machine's speed, as
    long as its whole rounds do.
    """
    if options.cv == "holdout" or rounds <= 0:
        return Repeated(0, 0)
    numbers = leaders(pool)
    if not numbers:
        return Repeated(0, 0)
    bags = options.final == "bag"
    done = 0
    for r in range(1, rounds + 1):
        growth = pool.write_seconds() / r if writes and bags else 0.0  # one more fold set each
        if time.monotonic() + _round_seconds(pool, numbers) + growth > until:
            break
        found: dict[int, Any] = {}
        plan = _round_plan(task, options, r)
        try:
            for n in numbers:
                found[n] = _cross_validate(task, pool, n, spaces, metric, options, plan, r, until - growth)
        except Exception:  # past the time, or a leader that fails on these folds: a partial round
            return Repeated(done, sum(pool.extend(n, ev.models) for n, ev in found.items()) if bags and fill else 0)
        for n, ev in found.items():
            pool.merge(n, ev.score, ev.oof, ev.models if bags else ())
        done += 1
    else:
        return Repeated(done, 0)  # every round asked for
    return Repeated(done, _partial_round(task, pool, numbers, spaces, metric, options, r, until, writes)
                    if bags and fill else 0)


def _round_plan(task: Task, options: Options, r: int) -> Any:
    """Round ``r``'s partition of the rows: another shuffle than the search's."""
    return shuffled_plan(task, options.cv, options.seed + 7919 * r)


def _cross_validate(task: Task, pool: Pool, number: int, spaces: Mapping[str, Any], metric: Metric,
                    options: Options, plan: Any, r: int, deadline: float) -> Any:
    """Trial ``number``'s configuration cross-validated on round ``r``'s ``plan``, by ``deadline``."""
    from autometa.learners import get_learner

    config = pool.items[number][1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # library noise inside the fits, as in the search's trials
        learner = get_learner(config.learner, spaces[config.learner])
        return cross_validate(task, config, learner, metric, plan, seed=options.seed + r,
                              n_jobs=options.threads(task.n_rows), deadline=deadline, early_stop=options.early_stop)


def _partial_round(task: Task, pool: Pool, numbers: list[int], spaces: Mapping[str, Any], metric: Metric,
                   options: Options, r: int, until: float, writes: bool) -> int:
    """Round ``r`` over the leaders with a bag, best first, that still fit before ``until`` (with
    ``writes``, their bags' longer write too): their fold models join their bags. Returns how
    many did."""
    from autometa.errors import TrialTimeout

    extended, written = 0, 0.0
    plan = _round_plan(task, options, r)
    for n in numbers:
        if n not in pool.models:
            continue  # no bag to grow: an earlier run's trial, or a worker's
        growth = pool.bag_growth(n) if writes else 0.0
        end = until - written - growth
        if time.monotonic() + pool.seconds.get(n, 0.0) > end:
            continue  # a later, cheaper leader may still fit
        try:
            ev = _cross_validate(task, pool, n, spaces, metric, options, plan, r, end)
        except TrialTimeout:  # past the time: what is done stays
            break
        except Exception:  # this leader fails on these folds; the next may not
            continue
        if pool.extend(n, ev.models):
            extended += 1
            written += growth
    return extended
