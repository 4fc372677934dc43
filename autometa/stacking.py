"""The second level of a stack, after the search.

AutoGluon's ``best_quality`` preset stacks: models of a second level are trained on the columns
plus the out-of-fold predictions of the first level's models, on the same folds, and its final
ensemble chooses among both levels (Erickson et al., "AutoGluon-Tabular: Robust and Accurate
AutoML for Structured Data", 2020). A learner of the second level sees where the first level's
models agree and where they err, together with the columns that explain it.

Here the first level is the search's out-of-fold pool. Its **inputs** are the best trial of
each family and the trials that ensemble selection picks over the pool (at most
``LEVEL2_INPUTS``, best first): their predictions become columns (with the selected trials
alone, often one or two, the second level measured worse). The second level's configurations
are the best trial of each of the ``LEVEL2_FAMILIES`` best learner families, cross-validated
again on the same folds with those columns. Each such run is a candidate for the final ensemble
beside the first level's trials (``autometa.flow``), as a ``LevelTwo`` model that on new rows
lets its inputs predict first.

Under a time budget the search ends early enough to leave the second level its predicted time
(the candidates' seconds in the search, up to ``LEVEL2_SHARE`` of the search's), as it does for
repeated cross-validation (``autometa.repeats``). A candidate that cannot finish before the end is
not started, and the time the candidates leave goes to the best trials of the next families
(``LEVEL2_MORE``; measured better at 60 s in benchmarks/README.md, session 16). Holdout
validation keeps no out-of-fold predictions, and a refitted final model keeps
no fold models, so neither has a second level; nor has a fit that repeats its leaders'
cross-validation (``autometa.repeats``), whose out-of-fold predictions mix other partitions. A
search whose trials each have a partition of their own (``evaluate.RESHUFFLE``) keeps its second
level: the inputs are cross-validated again on the first trial's partition, the second level's.

The out-of-fold predictions of the second level are optimistic: a row's inputs in a training
part were predicted by first-level models that saw the validation rows. AutoGluon takes the same
risk, and checks it on held-out rows (DyStack). ``LEVEL2_CHECK`` does the same: each candidate is
first judged on a held-out fold whose rows no model behind its columns saw
(``autometa.stack_check``) and cross-validated only if it beats the inputs' ensemble there; under
a time budget, only where twice the verdict's predicted time is left. It is off: measured in
session 17 (benchmarks/README.md, section 11), it left the test score unchanged on 14 of 15
tasks at 30 trials, where ensemble selection already passed over the runs it rejected, at 10%
more time, and at 60 s it took the time of the runs it judged.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from autometa.data import Task
    from autometa.metrics import Metric
    from autometa.repeats import Options, Pool
    from autometa.spaces import Config

__all__ = ["LEVEL2_CHECK", "LEVEL2_FAMILIES", "LEVEL2_INPUTS", "LEVEL2_MORE", "LEVEL2_SHARE", "Upper",
           "candidate_seconds", "candidates", "inputs_of", "level_two", "level_two_seconds", "stacks_level_two"]

LEVEL2_FAMILIES = 3  # second-level configurations: the best trial of each of the best families
LEVEL2_MORE = True  # under a time budget, the next families' best trials too, in the time left
LEVEL2_INPUTS = 10  # first-level trials whose predictions become columns, at most
LEVEL2_CHECK = False  # judge each candidate on a held-out fold first (``autometa.stack_check``): measured no gain
LEVEL2_SHARE = 0.3  # the share of the search's seconds that the second level may take
CHECK_MARGIN = 2.0  # under a time budget, judge only where twice the verdict's predicted seconds are left
COLUMNS_COST = 1.2  # a second-level run's seconds against its trial's: more columns to split on
PREFIX = "__level1_"  # the added columns' names (a number per input, and a class)


@dataclass(frozen=True)
class Upper:
    """One second-level run: trial ``number``'s configuration on the columns plus its inputs'
    predictions, cross-validated on the search's folds."""

    number: int
    score: float
    config: Config
    oof: np.ndarray
    models: tuple[Any, ...]
    inputs: tuple[int, ...]
    names: tuple[str, ...]
    seconds: float

    @property
    def key(self) -> str:
        """Its name among the final model's members: ``L2:<trial>``."""
        return f"L2:{self.number}"


def stacks_level_two(level2: bool, final: str, scheme: str, repeats: int = 0) -> bool:
    """Whether a fit has a second level: it asks for one (``level2``), keeps fold models
    (``final="bag"``), validates by cross-validation (``scheme``, the plan's: ``"kfold"``) and
    asks for no repeated rounds (``repeats``: they average the leaders' out-of-fold predictions
    over other partitions, whose models saw the rows that the second level's folds validate on)."""
    return level2 and final == "bag" and scheme == "kfold" and repeats == 0


def candidates(pool: Pool, top: int | None = LEVEL2_FAMILIES) -> list[int]:
    """The best trial of each of the ``top`` best families in the pool (None: of every family),
    best first; only trials with fold models (a resumed fit's earlier trials have none)."""
    best: dict[str, int] = {}
    for n in sorted(pool.items, key=lambda n: pool._key(pool.items[n][0]), reverse=True):
        if n in pool.models:
            best.setdefault(pool.items[n][1].learner, n)
    return list(best.values())[:top]


def level_two_seconds(pool: Pool, search_seconds: float) -> float:
    """Seconds a search of ``search_seconds`` keeps for the second level over its current
    candidates: those, best first, whose predicted seconds fit ``LEVEL2_SHARE`` of it.

    A candidate's seconds are those ``level_two`` counts before starting it (``candidate_seconds``):
    its run, and where the fit weighs its write, the growth of its bag and, for the first, the
    write of the inputs' bags that the first level's ensemble would not hold (here the best trial
    of every family but the best: ``inputs_of`` without its ensemble selection, which is too slow
    to run after every trial). Without them the search had kept a 60 s fit 14 s that no candidate
    could use: the first needed 14 s to run and 5 s more to write its inputs."""
    if len(pool.items) < 2:
        return 0.0
    from autometa.evaluate import RESHUFFLE

    cap, total = LEVEL2_SHARE * search_seconds, 0.0
    # a reshuffled search's candidates are inputs too, cross-validated again for their columns
    pace = COLUMNS_COST + (1.0 if RESHUFFLE else 0.0)
    ranked = candidates(pool, None)
    inputs_writing = pool.write_seconds_of(ranked[1:])
    for n in ranked[:LEVEL2_FAMILIES]:
        run, write = candidate_seconds(pool, n, pace, inputs_writing if not total else 0.0)
        if total + run + write <= cap:
            total += run + write
    return total


def candidate_seconds(pool: Pool, number: int, pace: float, inputs_writing: float | None) -> tuple[float, float]:
    """The seconds that the second level counts before starting candidate ``number``: its run,
    at ``pace`` times its first-level trial's cross-validation, and its write (None for
    ``inputs_writing``: a fit that does not weigh its write; else its bag's growth plus
    ``inputs_writing``, the inputs' bags that go with the first candidate). ``level_two`` and the
    search's reserve for it (``level_two_seconds``) price a candidate with this alone."""
    run = pace * pool.seconds.get(number, 0.0)
    return run, (0.0 if inputs_writing is None else pool.bag_growth(number) + inputs_writing)


def inputs_of(pool: Pool, y: np.ndarray, metric: Metric) -> list[int]:
    """The first-level trials whose out-of-fold predictions become columns: the best trial of
    each family (AutoGluon's first level, too, is one model per family and variant), and those
    ensemble selection picks over the pool, at most ``LEVEL2_INPUTS``, best first; only trials
    with fold models (they predict on new rows as they did out of fold)."""
    from autometa.ensemble import ensemble_selection

    numbers = [n for n in sorted(pool.items) if n in pool.models]
    if len(numbers) < 2:
        return numbers
    weights, _ = ensemble_selection([pool.items[n][2] for n in numbers], y, metric)
    picked = {n for n, w in zip(numbers, weights, strict=True) if w > 0} | set(candidates(pool, None))
    return sorted(picked, key=lambda n: pool._key(pool.items[n][0]), reverse=True)[:LEVEL2_INPUTS]


def level_two(task: Task, pool: Pool, spaces: Mapping[str, Any], metric: Metric, options: Options, plan: Any, *,
              until: float | None, writes: bool = False) -> list[Upper]:
    """Run the second level: each candidate (``candidates``) cross-validated on ``plan`` with the
    inputs' (``inputs_of``) out-of-fold predictions as more columns, best first, starting none
    that is predicted to end after ``until`` (a ``time.monotonic()`` value; None: no limit; with
    ``writes``, writing its bag counts too, at its first-level trial's pace, and for the first
    its inputs' bags that the first level's ensemble would not hold). A candidate that
    fails is left out, and so is one cut short (its folds would end past ``until``); the next
    are predicted at the pace this level's runs have kept over their first-level trials (at
    least ``COLUMNS_COST``: a multiclass task's inputs add a column per class).

    With an end (``until``) and ``LEVEL2_MORE``, the best trials of the other families follow the
    ``LEVEL2_FAMILIES`` candidates, in the time the search kept for those and did not use (their
    runs are often faster than predicted, or one of them did not fit); an unbudgeted fit runs the
    candidates alone.

    With ``LEVEL2_CHECK``, a candidate is cross-validated only if it passes the held-out verdict
    (``stack_check.HoldoutCheck``). Under a time budget the verdict is asked only where
    ``CHECK_MARGIN`` times its predicted seconds are left before the first candidate that fits;
    otherwise the candidates run unjudged."""
    from autometa.ensemble import stack_columns
    from autometa.errors import TrialTimeout
    from autometa.evaluate import encode_target
    from autometa.stack_check import HoldoutCheck, run_config, with_columns

    inputs = inputs_of(pool, encode_target(task), metric)
    columns = _columns(task, pool, inputs, spaces, metric, options, plan, until) if inputs else None
    if not columns:
        return []
    names = tuple(stack_columns(_prefix(task), len(inputs), len(task.classes)))
    upper = with_columns(task, columns, names)
    done: list[Upper] = []
    # a second-level member holds its inputs: those the first level's ensemble would not hold are
    # written too, once, with the first member
    inputs_writing = pool.write_seconds_of(set(inputs) - pool.written(encode_target(task))) if writes else 0.0
    written = 0.0
    ratios: list[float] = []  # a run's seconds over its first-level trial's, so far in this level
    check = HoldoutCheck(task, pool, inputs, names, spaces, metric, options, plan) if LEVEL2_CHECK else None
    for n in candidates(pool, None if until is not None and LEVEL2_MORE else LEVEL2_FAMILIES):
        trial_seconds = pool.seconds.get(n, 0.0)
        # the added columns cost more where they are many (a class each per input): what this
        # level's runs took so far says how much
        pace = max(COLUMNS_COST, statistics.median(ratios) if ratios else 0.0)
        cost, growth = candidate_seconds(pool, n, pace, (0.0 if done else inputs_writing) if writes else None)
        end = None if until is None else until - written - growth
        if (check is not None and not check.ready and end is not None
                and time.monotonic() + cost + CHECK_MARGIN * check.seconds(n) > end):
            check = None  # no time to judge the candidates: they run unjudged, as they did before
        if end is not None and time.monotonic() + cost + (check.seconds(n) if check else 0.0) > end:
            continue  # a later, cheaper candidate may still fit
        config = pool.items[n][1]
        if check is not None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if not check.passes(n, end):
                        continue
            except TrialTimeout:
                break
            except Exception:  # the configuration fails on the new columns, or the inputs on fewer rows
                if check.ready:
                    continue
                check = None
        start = time.perf_counter()
        try:
            ev = run_config(upper, config, spaces, metric, options, plan, end)
        except TrialTimeout as exc:  # slower than predicted: a later, cheaper candidate may still fit
            if exc.projected is not None and trial_seconds > 0:
                ratios.append(exc.projected / trial_seconds)
            continue
        except Exception:  # this configuration fails on the new columns; the next may not
            continue
        seconds = time.perf_counter() - start
        if trial_seconds > 0:
            ratios.append(seconds / trial_seconds)
        done.append(Upper(n, ev.score, config, ev.oof, ev.models, tuple(inputs), names, seconds))
        written += growth
    return done


def _columns(task: Task, pool: Pool, inputs: list[int], spaces: Mapping[str, Any], metric: Metric, options: Options,
             plan: Any, until: float | None) -> list[np.ndarray] | None:
    """The inputs' out-of-fold predictions on ``plan``: as the search kept them, or, for a trial
    that the search cross-validated on a partition of its own (``evaluate.RESHUFFLE``), from its
    configuration cross-validated again on ``plan``. None: one of those did not finish by ``until``
    or failed (then there is no second level)."""
    from autometa.evaluate import reshuffled
    from autometa.stack_check import run_config

    columns = []
    for n in inputs:
        if not reshuffled(plan, n):
            columns.append(pool.items[n][2])
            continue
        try:
            columns.append(run_config(task, pool.items[n][1], spaces, metric, options, plan, until).oof)
        except Exception:  # past ``until``, or the configuration fails on these folds
            return None
    return columns


def _prefix(task: Task) -> str:
    """``PREFIX``, lengthened until no column of the task starts with it."""
    prefix = PREFIX
    while any(c.name.startswith(prefix) for c in task.columns):
        prefix = "_" + prefix
    return prefix
