"""``fit_task``: the data flow of ``autometa fit`` as one short function that delegates.

task -> metric, spaces, validation plan -> search (warm start first) -> final
model (best configuration refit, or an ensemble) -> saved model, leaderboard,
tracking.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from autometa.data import AutoMetaWarning, Task
from autometa.errors import AutoMetaError, OptionError, TrialTimeout, message
from autometa.evaluate import CVPlan, check_learners, cross_validate, encode_target, plan_cv, trial_plan
from autometa.interrupts import interrupt_deferred
from autometa.learners import get_learner
from autometa.meta.db import MetaDB
from autometa.meta.history import record_fit, task_row
from autometa.metrics import Metric, get_metric
from autometa.records import TrialRecord
from autometa.repeats import REPEAT_ROUNDS, leaders, repeat, repeat_until, reserved
from autometa.report import NOTE_TAG, dataset_ref, fit_note, nearest_summary, result_note, trial_tags
from autometa.schedules import MEDIAN, format_schedules, parse_schedules
from autometa.search import (
    RAN_ATTR,
    SearchOutcome,
    SearchSettings,
    Skipped,
    TrialContext,
    param_importances,
    run_search,
)
from autometa.skops_io import import_skops, linear_dumps
from autometa.spaces import Config, SearchSpace, iter_learner_names, load_spaces
from autometa.stacking import Upper, level_two, level_two_seconds, stacks_level_two
from autometa.tracking import NullTracker, Tracker, save_model

if TYPE_CHECKING:
    import pandas as pd

    from autometa.meta.cost import Calibrated
    from autometa.meta.recommend import Recommendation

__all__ = ["DEFAULT_TRIALS", "FitFailed", "FitOptions", "FitResult", "WorkerPool", "default_trials", "fit_task",
           "leaderboard", "new_study_name", "prepare", "study_for", "trial_evaluator"]

ENSEMBLE_POOL = 25
DEFAULT_TRIALS = 30  # the trial budget of a fit given neither trials nor a time budget
# where the default final model is a linear stacker over ensemble selection's members: on held-out
# tasks it beat selection's weights for regression, not for classes (benchmarks/README.md, 11)
STACK_KINDS = ("regression",)
FINALS = ("bag", "refit")
META_TOP_K = 10
SETTLE_SECONDS = 120.0  # how long a fit waits for trials that other workers still run
SMALL_TASK_ROWS = 5_000
# a time budget covers the whole fit: the search leaves this much for what follows it, the share
# at most: where the final model's combining is predicted (``ensemble.combine_seconds``), that
# times FINISH_SAFETY. The floor was 0.5 s: over 230 benchmarked fits of 10 s the final model took
# 0.02 s on average and 0.17 s at most, so it left a tenth of the budget idle (benchmarks/README.md, 11)
FINISH_SECONDS, FINISH_SHARE, WRITE_SECONDS = 0.1, 0.05, 2.0
FINISH_SAFETY = 3.0
MIN_SEARCH_SHARE = 0.2  # the search has at least this share of the budget, whatever came before
# writing a bagged model takes a multiple of skops' dumps of its folds one by one (``skops_io``
# makes the whole dump their sum): MLflow's save dumps it whole (without loading it back:
# ``tracking._no_load_back``), the allowlist check dumped one fold of each member (since session
# 28 its dump is the one written: ``tracking._dumped_once``), and a regressor's signature predicts.
# Measured: 1.6-1.7 times the summed dumps (benchmarks/README.md, section 11, session 24). Since
# session 30 the check's listing of the types reads no arrays (0.6 times the dump on two stacks by
# hand, 1.2 before) and a bag or ensemble's signature predicts nothing: the factor is kept as a
# margin for the dumps' own estimate (one fold of a family, scaled). A budgeted fit that writes
# ends its search early enough to write the ensemble it would make if it stopped now
# (``_Weigher``).
WRITE_FACTOR = 2.0
# with ``CUT_TO_FIT``, a boosting configuration predicted past the time left runs with its rounds
# cut to fill ``SHRINK_SHARE`` of it (``SearchSpace.shrunk``; the other half stays for the
# configurations after it) instead of being skipped. Off: side by side with skipping at 10 s and 60 s
# (three runs of the unseen tables, two of the held-out tasks) it was better on 18 tables and worse
# on 19, and a cut trial slower than predicted can take the rest of a search (benchmarks/README.md
# section 11, session 27)
CUT_TO_FIT = False
SHRINK_SHARE = 0.5
# a fold this many times the largest its family had dumped is dumped again (``_Weigher``): a
# family's pace may change with the model's size (skops' own writer was quadratic in the arrays)
REWEIGH_GROWTH = 2.0


def default_trials(n_trials: int | str | None, time_budget: float | None) -> int | None:
    """The trial budget for ``n_trials="auto"``: ``DEFAULT_TRIALS`` without a time budget, none
    with one (the time decides, as for AutoGluon's ``time_limit`` and FLAML's ``time_budget``);
    an int or None unchanged. Callers validate first: ``"auto"`` is the only string they pass.

        >>> default_trials("auto", None), default_trials("auto", 60.0), default_trials(10, 60.0)
        (30, None, 10)
    """
    if isinstance(n_trials, str):
        return DEFAULT_TRIALS if time_budget is None else None
    return n_trials


class FitFailed(AutoMetaError, RuntimeError):
    """No trial completed, so there is no model."""


@dataclass(frozen=True)
class FitOptions:
    """Everything a fit can be told, validated on construction.

    Args:
        metric: Metric name; None picks the task kind's default.
        learners: Learner families to search; None searches all.
        n_trials: Trial budget (None: time only).
        time_budget: Seconds for the whole fit (None: trials only): meta-features and
            recommendation, trials and the final model; the search stops early enough to leave
            ``finish_reserve`` seconds for the final model.
        trial_timeout: Seconds one trial may run (None: no limit beyond the budget).
        cv: ``"auto"``, ``"holdout"`` or a number of folds.
        seed: Seed for splits, sampler and models.
        ensemble: Ensemble selection over the best trials (the default: it measured better than
            refitting the single best, see benchmarks/README.md); False keeps the best trial alone.
        stack: Combine the trials that ensemble selection chose with a one-level linear stacker
            trained on their out-of-fold predictions, instead of selection's weights (needs
            ``ensemble``). None, the default: for regression only (``STACK_KINDS``), where it
            measured better; True: for every task; False: never.
        final: How the final model's members are made: ``"bag"`` (the default) averages each
            chosen trial's cross-validation fold models, with no further training (under holdout
            validation, each is refitted on all rows where the time budget allows, else its one
            model of 80% of the rows serves); ``"refit"`` trains each chosen configuration again
            on all rows. Trials without fold models (another worker's or an interrupted run's)
            are refitted.
        n_jobs: Threads per model (-1: automatic, see ``threads``).
        experiment: MLflow experiment name (None: the task's name).
        output_dir: Where to save the model and leaderboard (None: not saved).
        storage: Optuna storage URL or ``.journal`` path (None: in memory).
        pruning: Prune unpromising trials on intermediate scores.
        sampler: ``"tpe"`` or ``"random"``.
        use_meta: Warm-start the search with the recommender's configurations (needs a meta_db).
        meta_top_k: How many recommended configurations to try first (None: ``default_top_k``).
        recommender: The recommender's strategy (``"auto"``, ``"static"``, ``"knn"``, ``"surrogate"``,
            ``"knn+static"``).
        record: Record the task's meta-features and the trials in the meta_db.
        study_name: The Optuna study in ``storage`` (None: a new, unique name). An existing
            study of that name is continued: its finished trials count towards ``n_trials``.
        init: Start the MLP learner from this meta-learned initialization in the meta_db
            (``autometa meta-train``); its architecture and encoding replace the searched ones.
        fidelity: The learners' fidelity schedules (``autometa.schedules``): ``"median"`` (the
            default), ``"none"``, ``"hyperband"``, ``"MIN:ETA"`` (successive halving, such as
            ``"1/9:3"``), one per learner (``"lightgbm=1/9:3,mlp=none"``), or ``"auto"``: chosen
            per learner from the learning curves of the nearest past tasks (needs a meta_db with
            curves; else ``"median"``).
        repeats: After the search, cross-validate the leading trials again on up to this many new
            partitions of the rows, within a quarter of the search's time (``autometa.repeats``:
            meant to keep a long search on a small table from overfitting one partition). 0, the
            default: never (measured even, at a higher prediction cost).
        early_stop: Stop each boosting model (LightGBM, XGBoost, CatBoost) once its loss on the
            fold's validation rows has not improved for 150 rounds (fewer above 10,000 rows:
            ``learners.base.patience``), and predict with its best round: the searched number of
            rounds becomes an upper bound. False, the default: it measured worse at 60 s (small
            tables' trials run at half the rate, and the out-of-fold predictions are optimistic;
            see benchmarks/README.md).
        level2: After the search, train a second stack level (``autometa.stacking``): the best
            configuration of each of the best families again, on the columns plus the out-of-fold
            predictions of the best trial of each family and of those ensemble selection picks;
            the final ensemble chooses among both levels. Needs ``final="bag"``,
            cross-validation and ``repeats=0`` (else there is none). True, the default: at 60 s
            on 14 held-out tasks and two splits it was better on 13 task-splits and worse on 10
            (benchmarks/README.md, section 11).
    """

    metric: str | None = None
    learners: tuple[str, ...] | None = None
    n_trials: int | None = DEFAULT_TRIALS
    time_budget: float | None = None
    trial_timeout: float | None = None
    cv: int | str = "auto"
    seed: int = 0
    ensemble: bool = True
    stack: bool | None = None
    final: str = "bag"
    n_jobs: int = -1
    experiment: str | None = None
    output_dir: Path | None = None
    storage: str | None = None
    pruning: bool = True
    sampler: str = "tpe"
    use_meta: bool = True
    meta_top_k: int | None = None
    recommender: str = "auto"
    record: bool = True
    study_name: str | None = None
    init: str | None = None
    fidelity: str = "median"
    repeats: int = REPEAT_ROUNDS
    early_stop: bool = False
    level2: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, int) or self.n_jobs == 0 \
                or self.n_jobs < -1:
            raise OptionError(message(f"n_jobs must be -1 (all cores) or a positive integer; got {self.n_jobs!r}",
                                      "pass for example n_jobs=-1"))
        if self.sampler not in ("tpe", "random"):
            raise OptionError(message(f"sampler must be 'tpe' or 'random'; got {self.sampler!r}",
                                      "pass one of those"))
        if self.meta_top_k is not None and (isinstance(self.meta_top_k, bool) or not isinstance(self.meta_top_k, int)
                                            or self.meta_top_k < 0):
            raise OptionError(message(f"meta_top_k must be a non-negative integer; got {self.meta_top_k!r}",
                                      "pass for example meta_top_k=10, or None for the default"))
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int) or self.repeats < 0:
            raise OptionError(message(f"repeats must be a non-negative integer; got {self.repeats!r}",
                                      "pass --repeats 4 (API: repeats=4), or 0 (the default) to never repeat"))
        if not isinstance(self.level2, bool):
            raise OptionError(message(f"level2 must be True or False; got {self.level2!r}",
                                      "pass level2=True (a second stack level) or False"))
        if self.stack is not None and not isinstance(self.stack, bool):
            raise OptionError(message(f"stack must be True, False or None; got {self.stack!r}",
                                      "pass stack=None (the default: by task kind), True or False"))
        if self.final not in FINALS:
            raise OptionError(message(f"final must be one of {', '.join(FINALS)}; got {self.final!r}",
                                      "use 'bag' (no refit) or 'refit'"))
        from autometa.meta.recommend import STRATEGIES

        if self.recommender not in ("auto", *STRATEGIES):
            raise OptionError(message(f"unknown recommender '{self.recommender}'",
                                      f"use one of: auto, {', '.join(STRATEGIES)}"))
        self.search_settings("check")  # validates the budget
        from autometa.learners import LEARNER_NAMES
        from autometa.schedules import parse_schedules

        if not isinstance(self.fidelity, str):
            raise OptionError(message(f"fidelity must be a string; got {self.fidelity!r}",
                                      "pass for example fidelity='median' or 'auto'"))
        parse_schedules(self.fidelity, self.learners or LEARNER_NAMES)  # validates the spec

    def for_workers(self) -> dict[str, Any]:
        """The options a worker needs to run this fit's trials (JSON-able; stored on the study)."""
        return {"metric": self.metric, "learners": list(self.learners) if self.learners else None,
                "n_trials": self.n_trials, "time_budget": self.time_budget, "trial_timeout": self.trial_timeout,
                "cv": self.cv, "seed": self.seed, "n_jobs": self.n_jobs, "pruning": self.pruning,
                "sampler": self.sampler, "output_dir": str(self.output_dir) if self.output_dir else None,
                "init": self.init, "fidelity": self.fidelity, "repeats": self.repeats, "early_stop": self.early_stop,
                "level2": self.level2}

    def top_k(self) -> int:
        """Recommended configurations to enqueue: ``meta_top_k``, else up to ``META_TOP_K``
        (never more than the trial budget)."""
        if self.meta_top_k is not None:
            return self.meta_top_k
        return min(self.n_trials, META_TOP_K) if self.n_trials is not None else META_TOP_K

    def search_settings(self, study_name: str, time_left: float | None = None) -> SearchSettings:
        """How the search runs; ``time_left``: the seconds it may take (default: the budget)."""
        return SearchSettings(n_trials=self.n_trials, time_budget=time_left or self.time_budget,
                              trial_timeout=self.trial_timeout, seed=self.seed,
                              sampler=self.sampler, pruning=self.pruning,  # type: ignore[arg-type]
                              study_name=study_name, storage=self.storage,
                              fidelity="median" if self.fidelity == "auto" else self.fidelity)

    def finish_reserve(self, writes: bool, combine: float | None = None) -> float:
        """Seconds a budgeted fit keeps for ensemble selection and the final model (plus writing
        the model and the tracking, when ``writes``). ``combine``: the predicted seconds of
        making the final model from the trials (``ensemble.combine_seconds``), when known."""
        assert self.time_budget is not None
        share = FINISH_SHARE * self.time_budget
        if combine is not None:
            share = min(share, FINISH_SAFETY * combine)
        return FINISH_SECONDS + share + (WRITE_SECONDS if writes else 0.0)

    def has_level2(self, scheme: str) -> bool:
        """Whether the fit trains a second stack level (``stacking.stacks_level_two``; ``scheme``:
        the validation plan's)."""
        return self.ensemble and stacks_level_two(self.level2, self.final, scheme, self.repeats)

    def level2_keep(self, scheme: str) -> Callable[[Any, float], float] | None:
        """What a budgeted search keeps for the second stack level, from its pool and length
        (``stacking.level_two_seconds``); None where the fit has none."""
        return level_two_seconds if self.has_level2(scheme) else None

    def stacks(self, kind: str) -> bool:
        """Whether the final model is a stacker over ensemble selection's members (else selection's
        weighted average)."""
        return self.stack if self.stack is not None else kind in STACK_KINDS

    def threads(self, n_rows: int) -> int:
        """Threads per model. ``n_jobs=-1`` is automatic: one thread below
        ``SMALL_TASK_ROWS`` rows, where thread synchronisation costs more than it
        gains (and is very slow on a busy machine), else every core."""
        if self.n_jobs != -1:
            return self.n_jobs
        return 1 if n_rows < SMALL_TASK_ROWS else (os.cpu_count() or 1)


@dataclass(frozen=True)
class FitResult:
    """What a fit produced."""

    model: Any
    best_config: Config
    best_score: float
    metric: str
    greater_is_better: bool
    leaderboard: pd.DataFrame
    study: Any
    records: tuple[TrialRecord, ...]
    cv: str
    ensemble_weights: dict[int | str, float] = field(default_factory=dict)  # ``L2:<trial>``: second level
    ensemble_score: float | None = None
    model_dir: Path | None = None
    run_id: str | None = None
    tracking: str = "(tracking off)"
    seconds: float = 0.0
    recommendation: Recommendation | None = None
    init: str | None = None  # the meta-learned initialization the MLP started from
    fidelity: str = "median"  # the fidelity schedules the search used (``auto`` resolved)
    repeats: int = 0  # the leaders' extra cross-validation rounds (``autometa.repeats``)
    repeats_partial: int = 0  # leaders bagged over one more, partial round
    # where the seconds went: "setup" (meta-features, recommendation, tracking's start), "search",
    # "after" (the repeats and the second stack level), "final" (the final model), "write" (the
    # model, plots and tracking's end)
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def n_trials(self) -> int:
        return len(self.records)

    @property
    def stacked(self) -> bool:
        """Whether the final model is a linear stacker over its members (else their weighted
        average, or one trial's model)."""
        from autometa.ensemble import StackedEnsemble

        return isinstance(self.model, StackedEnsemble)

    def summary(self) -> dict[str, Any]:
        """The JSON object ``autometa fit --json`` prints."""
        return {
            "best_score": self.best_score,
            "metric": self.metric,
            "best_config": {"learner": self.best_config.learner, "params": self.best_config.params},
            "n_trials": self.n_trials,
            "n_complete": sum(r.state == "complete" for r in self.records),
            "n_pruned": sum(r.state == "pruned" for r in self.records),
            "n_failed": sum(r.state == "failed" for r in self.records),
            "ensemble": {str(k): v for k, v in self.ensemble_weights.items()} or None,
            "ensemble_score": self.ensemble_score,
            "stacked": self.stacked,
            "cv": self.cv,
            "model_dir": str(self.model_dir) if self.model_dir else None,
            "mlflow_run_id": self.run_id,
            "tracking_uri": self.tracking,
            "seconds": round(self.seconds, 2),
            "recommendation": self.recommendation.to_dict() if self.recommendation else None,
            "mlp_init": self.init,
            "fidelity": self.fidelity,
            "cv_repeats": self.repeats,
            "cv_repeats_partial": self.repeats_partial,
            "phases": {k: round(v, 2) for k, v in self.phases.items()},
        }


class _OofPool:
    """Keeps the out-of-fold predictions of the best ``size`` completed trials, each learner
    family's best among them (``_weakest``), and a copy of each in ``folder`` (if given) so that
    a resumed fit can still ensemble the earlier trials."""

    def __init__(self, metric: Metric, size: int = ENSEMBLE_POOL, folder: Path | None = None) -> None:
        self.metric, self.size, self.folder = metric, size, folder
        self.items: dict[int, tuple[float, Config, Any]] = {}
        self.models: dict[int, tuple[Any, ...]] = {}  # fold models, in memory only
        self.dump_seconds: dict[int, float] = {}  # skops' time to dump a trial's bag, when weighed
        self.seconds: dict[int, float] = {}  # a trial's cross-validation seconds
        self.rounds: dict[int, int] = {}  # cross-validation rounds averaged (``autometa.repeats``)
        self.unwritable: list[int] = []  # trials forgotten because the time left could not write them
        self.shrunk: dict[int, int] = {}  # a trial's bag cut to this many fold models, for the same reason

    def add(self, number: int, score: float, config: Config, oof: Any, models: Sequence[Any] = (), *,
            save: bool = True, dump_seconds: float | None = None, seconds: float | None = None) -> None:
        if oof is None:
            return
        self.items[number] = (score, config, oof)
        self.rounds[number] = 1
        if models:
            self.models[number] = tuple(models)
        if dump_seconds is not None:
            self.dump_seconds[number] = dump_seconds
        if seconds is not None:
            self.seconds[number] = seconds
        if self.folder is not None and save:
            import numpy as np

            self.folder.mkdir(parents=True, exist_ok=True)
            np.save(self.folder / f"{number}.npy", np.asarray(oof), allow_pickle=False)
        if len(self.items) > self.size:
            self._drop(self._weakest())

    def _weakest(self) -> int:
        """The trial a full pool forgets: the worst-scored one that is not its learner family's
        best. A long search fills the pool with one family's neighbours (a 300 s fit of
        ``bioChemists``: 25 LightGBM trials of 25, where its 60 s fit had 9 families), and
        ensemble selection could no longer mix families (benchmarks/README.md, 11, session 35)."""
        best: dict[str, int] = {}
        for n, (score, config, _) in self.items.items():
            if config.learner not in best or self._key(score) > self._key(self.items[best[config.learner]][0]):
                best[config.learner] = n
        kept = set(best.values())
        spare = [n for n in self.items if n not in kept] or list(self.items)
        return min(spare, key=lambda n: self._key(self.items[n][0]))

    def merge(self, number: int, score: float, oof: Any, models: Sequence[Any] = ()) -> None:
        """Fold in one more cross-validation round of trial ``number`` (on another partition):
        its score and out-of-fold predictions are averaged over the rounds, its fold models join
        the bag."""
        old, config, pred = self.items[number]
        k = self.rounds[number]
        self.items[number] = ((old * k + score) / (k + 1), config, (pred * k + oof) / (k + 1))
        self.rounds[number] = k + 1
        if models and number in self.models:
            self.models[number] = (*self.models[number], *models)
            if number in self.dump_seconds:
                self.dump_seconds[number] *= (k + 1) / k

    def extend(self, number: int, models: Sequence[Any]) -> bool:
        """Add fold models of one more cross-validation round to trial ``number``'s bag, leaving
        its score and out-of-fold predictions as they were (a partial round: see
        ``autometa.repeats``). Returns whether there was a bag to grow."""
        if not models or number not in self.models:
            return False
        old = len(self.models[number])
        self.models[number] = (*self.models[number], *models)
        if number in self.dump_seconds:
            self.dump_seconds[number] *= (old + len(models)) / old
        return True

    def bag_growth(self, number: int) -> float:
        """Seconds that one more round's fold models in trial ``number``'s bag add to the final
        write, at most (0 when its dump was never weighed)."""
        if number not in self.dump_seconds or not self.models.get(number):
            return 0.0
        return WRITE_FACTOR * self.dump_seconds[number] / self.rounds[number]

    def trim_to_write(self, seconds: float, y: Any = None) -> list[int]:
        """Forget the heaviest trials that the final model would hold (``written(y)``), one at a
        time, until writing it is predicted to take at most ``seconds``: a trial whose bag cannot
        be written in the time left must not become the final model's member. A trial that
        ensemble selection leaves out costs the write nothing and stays, a candidate for the
        selection without the trials forgotten. The last trial is kept, its bag cut to the fold
        models that fit (one at least; ``shrunk``). Returns the numbers forgotten (and adds them
        to ``unwritable``)."""
        dropped: list[int] = []
        while (writing := self.write_seconds_of(held := self.written(y))) > seconds:
            if not held:
                break
            heaviest = max(held, key=lambda n: self.dump_seconds[n])
            if len(self.items) > 1:
                self._drop(heaviest)
                dropped.append(heaviest)
                continue
            folds = self.models.get(heaviest, ())
            keep = min(len(folds) - 1, max(1, int(len(folds) * max(seconds, 0.0) / writing)))
            if keep < 1:
                break
            self.models[heaviest] = folds[:keep]
            self.dump_seconds[heaviest] *= keep / len(folds)
            self.shrunk[heaviest] = keep
        self.unwritable += dropped
        return dropped

    def _drop(self, number: int) -> None:
        """Forget a trial, and its copy on disk (``reload`` must not bring it back)."""
        for store in (self.items, self.models, self.dump_seconds, self.seconds, self.rounds):
            store.pop(number, None)  # type: ignore[attr-defined]
        if self.folder is not None:
            (self.folder / f"{number}.npy").unlink(missing_ok=True)

    def write_seconds(self, y: Any = None) -> float:
        """Seconds to write the final model if the search stopped now: ``WRITE_FACTOR`` times the
        dumps of the bags that ensemble selection picks (with the encoded target ``y``), else of
        every weighed trial (an upper bound, for free)."""
        return self.write_seconds_of(self.written(y))

    def written(self, y: Any = None) -> set[int]:
        """The weighed trials whose bags the final model would hold if the search stopped now:
        those ensemble selection picks (with the encoded target ``y``), else all of them."""
        weighed = [n for n in sorted(self.dump_seconds) if n in self.items]
        if y is None or len(weighed) < 2:
            return set(weighed)
        from autometa.ensemble import ensemble_selection

        weights, _ = ensemble_selection([self.items[n][2] for n in weighed], y, self.metric)
        return {n for n, w in zip(weighed, weights, strict=True) if w > 0}

    def write_seconds_of(self, numbers: Iterable[int]) -> float:
        """Seconds to write these trials' bags (``WRITE_FACTOR`` times their dumps; 0 for a trial
        never weighed)."""
        return WRITE_FACTOR * sum(self.dump_seconds.get(n, 0.0) for n in set(numbers) if n in self.items)

    def reload(self, records: Sequence[TrialRecord]) -> None:
        """Add the completed trials of an earlier, interrupted run of the same study."""
        import numpy as np

        if self.folder is None:
            return
        for r in records:
            path = self.folder / f"{r.number}.npy"
            if r.state == "complete" and r.value is not None and r.number not in self.items and path.is_file():
                self.add(r.number, r.value, r.config, np.load(path, allow_pickle=False), save=False,
                         seconds=r.duration)

    def _key(self, score: float) -> float:
        return score if self.metric.greater_is_better else -score


class WorkerPool(Protocol):
    """Processes that run trials of a fit's study beside the fit (``autometa.workers``)."""

    def start(self, storage: str, study: str) -> None: ...

    def join(self) -> None: ...

    def stop(self) -> None: ...


def prepare(task: Task, options: FitOptions, db: MetaDB | None = None) -> tuple[Metric, dict[str, Any], Any]:
    """The metric, the learners' search spaces and the validation plan of a fit.

    Raises:
        OptionError: A learner or metric that does not fit the task, or ``options.init`` without
            the meta_db it lives in, without the MLP among the learners, or learned on other data.
    """
    metric = get_metric(options.metric, task.kind)
    all_spaces = load_spaces()
    names = check_learners(options.learners, list(iter_learner_names(all_spaces, task.kind)))
    spaces = {n: all_spaces[n] for n in names}
    if options.init is not None:
        spaces = _started(spaces, task, options.init, db)
    return metric, spaces, plan_cv(task, options.cv, seed=options.seed)


def _started(spaces: dict[str, Any], task: Task, init: str, db: MetaDB | None) -> dict[str, Any]:
    """The MLP's space starting from a meta-learned initialization: its depth and width are the
    initialization's, so they leave the search."""
    from autometa.meta.starts import load_start

    if db is None:
        raise OptionError(message("--init needs the meta-database that holds the initialization",
                                  "pass --meta-db, or drop --init"))
    if "mlp" not in spaces:
        raise OptionError(message("--init starts the mlp learner, which this fit does not search",
                                  "add mlp to --learners, or drop --init"))
    start = load_start(db, init, task)
    space = spaces["mlp"]
    fixed = tuple(p for p in space.params if p.name not in ("depth", "width"))
    return {**spaces, "mlp": dataclasses.replace(space, params=fixed, start=start)}


def _continued_fidelity(options: FitOptions, study_name: str) -> FitOptions:
    """A continued study keeps the fidelity schedules its trials ran with (``auto`` could choose
    others now, and a pruner must compare trials that report at the same fractions)."""
    from autometa.search import study_attrs

    try:
        attrs = study_attrs(str(options.storage), study_name)
    except OptionError:  # a new study
        return options
    saved = (attrs.get("autometa.options") or {}).get("fidelity")
    return dataclasses.replace(options, fidelity=str(saved)) if saved else options


def resolve_fidelity(db: MetaDB | None, stored_task: Any, kind: str, names: Sequence[str],
                     options: FitOptions) -> str:
    """``fidelity="auto"`` made concrete: each learner's schedule from the learning curves of the
    nearest past tasks (``autometa.meta.fidelity``); ``median`` for learners without curves, and
    for all when there is no meta_db or meta-learning is off."""
    schedules = {n: MEDIAN for n in names}
    if db is not None and stored_task is not None and options.use_meta:
        from autometa.meta.fidelity import curves_for
        from autometa.meta.recommend import recommender_for

        recommender = recommender_for(db, options.recommender, seed=options.seed, digest=stored_task.digest)
        for learner, advice in recommender.advise_fidelity(stored_task.metafeatures, kind, names,
                                                           curves_for(db)).items():
            schedules[learner] = advice.schedule
    return format_schedules(schedules)


def trial_evaluator(task: Task, options: FitOptions, metric: Metric, spaces: dict[str, Any], plan: Any,
                    pool: _OofPool, cost: Calibrated | None = None, weigh: bool = False,
                    ends: Callable[[], float | None] | None = None, fit_deadline: float | None = None,
                    ) -> Callable[[Config, TrialContext], tuple[float, dict[str, Any]]]:
    """What the search calls to score a configuration: cross-validation, out-of-fold predictions
    kept. With ``cost``, a configuration predicted to run past the trial's deadline is skipped
    (with ``CUT_TO_FIT``, one whose space allows it runs instead with its rounds cut to fill
    ``SHRINK_SHARE`` of the time left and its rate raised by as much: ``SearchSpace.shrunk``,
    boosting; the trial's ``RAN_ATTR`` holds what changed).
    With ``weigh`` (a budgeted fit that writes a bagged model), each trial's bag is weighed and
    trials end early enough to leave the time that writing the expected final model takes; a bag
    that could not be written before ``fit_deadline`` (the whole fit's, default: the trial's) leaves
    the pool. With ``ends``, a budgeted trial's deadline is no later than ``ends()`` (the repeats'
    reserve)."""

    weigher = _Weigher() if weigh and options.final == "bag" else None
    encoded_y = encode_target(task) if weigher is not None and options.ensemble else None
    schedules = parse_schedules(options.fidelity, list(spaces))
    fractions = {n: schedules[n].fractions if isinstance(schedules, dict) else MEDIAN.fractions for n in spaces}

    def evaluate(config: Config, ctx: TrialContext) -> tuple[float, dict[str, Any]]:
        deadline = ctx.deadline
        if deadline is not None and ends is not None and (end := ends()) is not None:
            deadline = min(deadline, end)
        learner = get_learner(config.learner, spaces[config.learner])
        startup = learner.startup_seconds()  # a library's import, which past runs' costs leave out
        predicted = cost.predict(config, spaces[config.learner].fidelity) if cost is not None else None
        predicted = None if predicted is None else predicted + startup
        proposed = config

        def skip_if_too_slow(until: float | None) -> None:
            """Cut the configuration's rounds to fit the time left, or skip it."""
            nonlocal config, predicted
            if predicted is None or until is None or predicted <= (left := until - time.monotonic()):
                return
            space = spaces[config.learner]
            cut = space.shrunk(config, SHRINK_SHARE * (left - startup) / (predicted - startup)) if CUT_TO_FIT else None
            if cut is None:
                raise Skipped(f"predicted {predicted:.1f} s; {max(left, 0):.1f} s are left")
            # a slow configuration's seconds are its rounds': in proportion to them (the cost
            # model's trees learnt the rounds' effect only in steps)
            assert space.fidelity is not None  # (``shrunk`` cuts nothing without one)
            predicted = startup + (predicted - startup) * cut.params[space.fidelity] / config.params[space.fidelity]
            config = cut

        skip_if_too_slow(deadline)  # before weighing the write, which can take a second on a large table
        if deadline is not None and weigher is not None:  # leave the time that writing the model takes
            writing = pool.write_seconds()
            if deadline - writing <= time.monotonic() + (predicted or 0.0):  # the bound binds: be exact
                if encoded_y is not None:  # a bag the fit's whole time left could not write leaves the
                    # pool; short of that the search ends here (below) and the final model keeps the pool:
                    # against the search's own time left, the last trials had emptied it (benchmarks, 11)
                    pool.trim_to_write(max(deadline, fit_deadline or deadline) - time.monotonic(), encoded_y)
                writing = pool.write_seconds(encoded_y)
            deadline -= writing
            if deadline <= time.monotonic():
                left = deadline + writing - time.monotonic()
                raise Skipped(f"writing the model needs ~{writing:.1f} s of the {left:.1f} s left")
        skip_if_too_slow(deadline)
        if config != proposed:  # on the trial before it runs: a cut trial that then fails is recorded as it ran
            ctx.set(RAN_ATTR, {k: v for k, v in config.params.items() if proposed.params.get(k) != v})
        learner.start_up()  # outside the folds' clock: their pace, and the cost observed, are training's
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # library noise inside trials; outcomes are recorded
                ev = cross_validate(task, config, learner, metric,
                                    trial_plan(task, plan, options.cv, options.seed, ctx.number), seed=options.seed,
                                    n_jobs=options.threads(task.n_rows), deadline=deadline, reporter=ctx,
                                    fractions=fractions[config.learner], early_stop=options.early_stop)
        except TrialTimeout as exc:  # what its folds so far say of the whole is a bound on its cost
            if cost is not None and exc.projected is not None:
                cost.observe(config, exc.projected, at_least=True)
            raise
        pool.add(ctx.number, ev.score, config, ev.oof, ev.models if options.final == "bag" else (),
                 dump_seconds=weigher.dump_seconds(learner, ev.models) if weigher is not None and ev.models else None,
                 seconds=ev.fit_seconds)
        if cost is not None:
            cost.observe(config, ev.fit_seconds)
        return ev.score, {"fold_scores": list(ev.fold_scores),
                          "fidelity": ev.fidelity if ev.reached is None else ev.reached}

    return evaluate


def fallback_config(spaces: Mapping[str, SearchSpace], kind: str, options: FitOptions) -> Config | None:
    """What a budgeted fit runs, without the budget's deadline, when no trial completed within
    it (``run_search``'s ``fallback``): the linear model's default where the fit searches it
    (fast on any table, and its time grows no faster than the rows and columns), else the
    first learner's default. None without a time budget: the trial limit cuts nothing."""
    if options.time_budget is None or not spaces:
        return None
    name = "linear" if "linear" in spaces else next(iter(spaces))
    return spaces[name].default_config(kind)


def fit_task(
    task: Task,
    options: FitOptions,
    *,
    tracker: Tracker | None = None,
    db: MetaDB | None = None,
    warm_start: Sequence[Config] = (),
    interleave: Sequence[Config] = (),
    on_trial: Callable[[TrialRecord], None] | None = None,
    workers: WorkerPool | None = None,
    source: Mapping[str, Any] | None = None,
) -> FitResult:
    """Search, pick and save a model for ``task``.

    Args:
        task: Validated data.
        options: Budget, metric, learners, validation, output.
        tracker: Where to record the fit (None: nowhere).
        db: The meta-database: the recommender learns from it (``options.use_meta``) and it
            receives the task and its trials (``options.record``). None: a cold search, not recorded.
        warm_start: Configurations to try first, before the recommended ones.
        interleave: Configurations to try during the search, one after each trial the sampler
            proposes (``search.run_search``). The fit adds none of its own: interleaving the
            recommender's next configurations measured worse than the warm start alone
            (benchmarks/README.md, section 5a, session 19).
        on_trial: Called after each trial of this process (progress display).
        workers: Worker processes that join the study (``options.storage`` must be shared);
            they are started once the study exists and joined before the final model.
        source: Where the data can be read again (``path``, ``target``, ``task``), stored on the
            study so that ``autometa worker`` can join it from another process or machine.

    Returns:
        The fitted model, leaderboard, study and records.

    Raises:
        OptionError: An option does not fit the task.
        FitFailed: No trial completed.
    """
    started = time.perf_counter()
    phases: dict[str, float] = {}
    phase_start = time.monotonic()

    def phase(name: str) -> None:
        nonlocal phase_start
        now = time.monotonic()
        phases[name], phase_start = now - phase_start, now

    deadline = time.monotonic() + options.time_budget if options.time_budget is not None else None
    tracker = tracker or NullTracker()
    if options.init is None and options.use_meta and db is not None and "mlp" in (options.learners or ("mlp",)):
        from autometa.meta.starts import find_start

        found = find_start(db, task)  # a stored family with this table's columns: its MLP starts there
        if found is not None:
            options = dataclasses.replace(options, init=found)
    metric, spaces, plan = prepare(task, options, db)
    names = list(spaces)
    study_name = options.study_name or new_study_name(task.name)
    if options.storage is not None and options.study_name is not None:
        options = _continued_fidelity(options, study_name)
    if workers is not None and options.storage is None:
        raise OptionError(message("worker processes need a study storage they can share",
                                  "pass --storage (a .journal file or a PostgreSQL URL)"))
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    tracking = not isinstance(tracker, NullTracker)
    writes = options.output_dir is not None or tracking
    # meta-features cost a fraction of a second: compute them only when something stores them
    stored_task = task_row(task, source=f"user:{task.name}", group_key=f"user:{task.digest}",
                           origin="user") if db is not None or tracking else None
    # the seconds kept for the final model (and writing): the search, and the recommendations, get the rest
    reserve = (options.finish_reserve(writes, _combine_seconds(task, metric, options, plan))
               if deadline is not None else 0.0)
    recommendation, cost = None, None
    if db is not None and stored_task is not None and options.use_meta and options.top_k() > 0:
        from autometa.meta.recommend import recommender_for

        recommender = recommender_for(db, options.recommender, seed=options.seed, digest=task.digest)
        recommendation = recommender.recommend(stored_task.metafeatures, task.kind, options.top_k(), learners=names,
                                               time_budget=_search_seconds(options, deadline, reserve))
        warm_start = [*warm_start, *recommendation.configs()]
        if options.time_budget is not None:
            from autometa.meta.cost import Calibrated

            cost = Calibrated(recommender.cost, stored_task.metafeatures)
    if options.fidelity == "auto":
        options = dataclasses.replace(options, fidelity=resolve_fidelity(db, stored_task, task.kind, names, options))
    budget = " and ".join(b for b in (f"{options.n_trials} trials" if options.n_trials else "",
                                       f"{options.time_budget:g} s" if options.time_budget else "") if b) or "none"
    note = fit_note(task, metric.name, plan.describe(), names, recommendation, budget)
    tracker.start_fit(
        experiment=options.experiment or task.name,
        run_name=f"fit {task.name} {stamp}",
        params={"dataset": task.name, "rows": task.n_rows, "features": len(task.columns),
                "task_kind": task.kind, "target": task.target, "metric": metric.name,
                "cv": plan.describe(), "learners": ",".join(names), "digest": task.digest,
                "seed": options.seed, "meta.strategy": recommendation.strategy if recommendation else "off",
                "meta.novel": recommendation.novel if recommendation else None,
                "meta.nearest_tasks": nearest_summary(recommendation) or None,
                "meta.mlp_init": options.init,
                **{f"search.{k}": v for k, v in options.search_settings("x").meta.items()}},
        tags={"autometa.kind": "fit", "autometa.dataset": task.name, NOTE_TAG: note},
        metrics={f"mf.{k}": v for k, v in stored_task.metafeatures.items()} if stored_task else None,
        dataset=dataset_ref(task, source) if tracking else None,
    )
    pool = _OofPool(metric, folder=options.output_dir / "oof" if options.output_dir is not None else None)
    finished: list[TrialRecord] = []

    def remember() -> None:
        if db is not None and options.record and stored_task is not None and finished:
            with interrupt_deferred():
                record_fit(db, stored_task, finished, metric, plan.describe(), options.seed,
                           {n: s.version for n, s in spaces.items()})

    tags_of = trial_tags(recommendation)

    def log(record: TrialRecord) -> None:
        with interrupt_deferred():
            tracker.log_trial(record, metric.name, tags_of(record))

    callbacks: list[Callable[[TrialRecord], None]] = [log, finished.append]
    if on_trial is not None:
        callbacks.append(on_trial)
    search_seconds, stop_when, ends = None, None, None
    if deadline is not None and options.time_budget is not None:  # the budget left, less the final's share
        left = deadline - time.monotonic() - reserve
        search_seconds = _search_seconds(options, deadline, reserve)
        assert search_seconds is not None
        if left < search_seconds:  # the set-up and the final model's share left less than the floor
            spent = options.time_budget - (deadline - time.monotonic())
            warnings.warn(f"the time budget of {options.time_budget:g} s is short: {spent:.0f} s went to "
                          f"setting up and {reserve:.0f} s are kept for the final model, so the search gets "
                          f"{search_seconds:.0f} s and the fit overruns by about {search_seconds - left:.0f} s; "
                          f"give a budget of {2 * (spent + reserve):.0f} s or more for a real search",
                          AutoMetaWarning, stacklevel=2)
        # the search, and each trial, ends early enough to repeat its leaders' cross-validation
        # (``autometa.repeats``)
        stop_when, ends = reserved(pool, search_seconds, options.repeats, options.level2_keep(plan.scheme))
    evaluate = trial_evaluator(task, options, metric, spaces, plan, pool, cost,
                               weigh=options.time_budget is not None and writes, ends=ends, fit_deadline=deadline)
    search_start = time.monotonic()
    phase("setup")
    # workers search for as long as this process does
    attrs = {"autometa.digest": task.digest, "autometa.source": dict(source) if source else None,
             "autometa.options": {**options.for_workers(), "time_budget": search_seconds or options.time_budget}}
    try:
        outcome = run_search(spaces, task.kind, metric.direction, evaluate,
                             options.search_settings(study_name, search_seconds),
                             warm_start=warm_start, interleave=interleave, callbacks=callbacks, attrs=attrs,
                             warm_labels={c: "meta" for c in recommendation.configs()} if recommendation else None,
                             stop_when=stop_when, fallback=fallback_config(spaces, task.kind, options),
                             on_ready=(lambda: workers.start(str(options.storage), study_name)) if workers else None)
        if workers is not None:
            workers.join()
        if options.storage is not None:  # other workers' last trials, then all their trials logged here
            outcome = outcome.settled(max(SETTLE_SECONDS, options.trial_timeout or 0.0))
            known = {r.number for r in finished} | outcome.earlier  # a resumed fit's earlier trials are recorded
            for record in outcome.records:
                if record.number not in known:
                    log(record)
                    finished.append(record)
    except BaseException:
        if workers is not None:
            workers.stop()
        tracker.finish_fit(metrics={}, artifacts={}, status="KILLED")
        remember()
        raise
    remember()
    best = outcome.best
    if best is None or best.value is None:
        tracker.finish_fit(metrics={}, artifacts={}, status="FAILED")
        raise FitFailed(message(f"no trial completed ({_failure_summary(outcome)})",
                                "raise --time-budget or --trials, or check the data"))
    pool.reload(outcome.records)
    phase("search")
    rescued = best.source == "fallback"
    if rescued:
        warnings.warn(f"no trial finished within the time budget of {options.time_budget:g} s, so the "
                      f"{best.config.learner} learner's default ran past it to give the fit a model; "
                      "raise --time-budget for a real search", AutoMetaWarning, stacklevel=2)
    # no member of the final ensemble that the time left cannot write (the fallback's, which had
    # no budget left to keep, is written whole)
    if deadline is not None and writes and options.final == "bag" and options.ensemble and not rescued:
        pool.trim_to_write(deadline - time.monotonic() - reserve, encode_target(task))
        if dropped := sorted(pool.unwritable):
            warnings.warn(f"left out of the final model: trial{'s' if len(dropped) > 1 else ''} "
                          f"{', '.join(map(str, dropped))}, whose fold models would take longer to save "
                          "than the time budget had left", AutoMetaWarning, stacklevel=2)
        for number, keep in sorted(pool.shrunk.items()):
            if number not in pool.items:
                continue
            warnings.warn(f"trial {number}'s bag keeps {keep} of its fold models: all of them would take "
                          "longer to save than the time budget had left", AutoMetaWarning, stacklevel=2)
        if best.number in dropped:  # the best trial the time left can write
            leader = leaders(pool, top=1)[0]
            best = next(r for r in outcome.records if r.number == leader)
    until = (deadline - reserve if deadline is not None
             else repeat_until(time.monotonic() - search_start))
    if deadline is not None and writes and options.final == "bag":  # the write the trials left time for
        until -= pool.write_seconds(encode_target(task) if options.ensemble else None)
    try:
        rounds, partial = repeat(task, pool, spaces, metric, options, rounds=options.repeats, until=until,
                                 writes=writes, fill=deadline is not None)
        uppers = (level_two(task, pool, spaces, metric, options, plan, until=until if deadline is not None else None,
                            writes=writes)
                  if options.has_level2(plan.scheme) else [])
    except BaseException:
        tracker.finish_fit(metrics={}, artifacts={}, status="KILLED")
        raise
    assert best.value is not None  # a completed trial's (the pool keeps no other)
    best_score: float = best.value
    if rounds:  # the best trial after the rounds, and its score averaged over them
        leader = leaders(pool, top=1)[0]
        best, best_score = next(r for r in outcome.records if r.number == leader), pool.items[leader][0]
    reached = {r.number: r.fidelity for r in outcome.records if r.fidelity is not None}
    phase("after")
    from autometa.ensemble import FoldBag

    refit_until = _refit_until(deadline, writes)
    model, weights, ens_score = _final_model(task, best, pool, metric, options, spaces, reached, uppers,
                                             plan=plan, refit_until=refit_until)
    phase("final")
    board = leaderboard(outcome, metric)
    model_dir = options.output_dir / "model" if options.output_dir else None
    result = FitResult(model=model, best_config=best.config, best_score=best_score, metric=metric.name,
                       greater_is_better=metric.greater_is_better, leaderboard=board, study=outcome.study,
                       records=outcome.records, cv=plan.describe(), ensemble_weights=weights,
                       ensemble_score=ens_score, model_dir=model_dir, tracking=tracker.location,
                       recommendation=recommendation, init=options.init, fidelity=options.fidelity,
                       repeats=rounds, repeats_partial=partial, phases=phases)
    final_metrics = {f"best_{metric.name}": best_score, "n_trials": len(outcome.records), "cv_repeats": rounds,
                     "cv_repeats_partial": partial, **{f"seconds_{k}": v for k, v in phases.items()}}
    if ens_score is not None:
        final_metrics[f"ensemble_{metric.name}"] = ens_score
    with tempfile.TemporaryDirectory(prefix="autometa-") as scratch:
        artifacts: dict[str, Path] = {}
        if options.output_dir is not None or tracking:
            artifacts = _write_outputs(result, task, options.output_dir, Path(scratch))
        tracker.finish_fit(metrics=final_metrics, artifacts=artifacts, model=model, model_dir=model_dir,
                           input_example=task.X.head(5),
                           tags={NOTE_TAG: result_note(note, outcome.records, metric.name, best, ens_score,
                                                       refit=not isinstance(model, FoldBag))})
    phase("write")
    # the parent run's id once the tracker has written what waited (a new store opens on a thread)
    return dataclasses.replace(result, run_id=tracker.run_id, seconds=time.perf_counter() - started)


class _Weigher:
    """How long skops takes to dump a trial's bag of fold models.

    The first trial of each learner family has one fold model dumped with skops: its seconds per
    pickled megabyte (skops' pace differs by family: its JSON schema made a histogram-boosting
    fold 3-5 times its pickle, forests' arrays dump fast). Later trials are pickled, which is
    quick, and scaled by their family's pace; a fold over ``REWEIGH_GROWTH`` times the largest its
    family had dumped is dumped again, and sets the pace. Dumps are timed inside
    ``skops_io.linear_dumps``, as the final model is written. The first dump also imports
    skops (about 1 s: it lists every scikit-learn estimator) inside the search's time rather
    than after it.
    """

    def __init__(self) -> None:
        self.pace: dict[str, float] = {}  # seconds of skops dump per pickled megabyte, per family
        self.largest: dict[str, float] = {}  # the pickled megabytes of the fold its pace was timed on

    def dump_seconds(self, learner: Any, models: Sequence[Any]) -> float:
        """The bag's dump time; forests are thinned to one forest's trees in a bag."""
        import pickle

        from autometa.learners.base import Learner

        pickled = len(pickle.dumps(models[0], protocol=pickle.HIGHEST_PROTOCOL)) / 1e6
        if learner.name not in self.pace or pickled > REWEIGH_GROWTH * self.largest[learner.name]:
            sio = import_skops()
            start = time.perf_counter()
            with linear_dumps():  # as the final model is written
                sio.dumps(models[0])
            self.pace[learner.name] = (time.perf_counter() - start) / max(pickled, 1e-6)
            self.largest[learner.name] = pickled
        one = pickled * self.pace[learner.name]
        return one if type(learner).thin is not Learner.thin else one * len(models)


def _search_seconds(options: FitOptions, deadline: float | None, reserve: float) -> float | None:
    """The seconds a budgeted search has from now: those left until ``deadline`` less the
    final model's ``reserve``, and at least ``MIN_SEARCH_SHARE`` of the budget (None: no budget)."""
    if deadline is None or options.time_budget is None:
        return None
    return max(deadline - time.monotonic() - reserve, MIN_SEARCH_SHARE * options.time_budget)


def new_study_name(name: str) -> str:
    """A study name unique to one fit: the data's name, the time and a random suffix."""
    return f"{name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def study_for(folder: Path, task: Task, *, resume: bool, name: str | None = None) -> str:
    """The study of the fit whose outputs go to ``folder``, kept in ``folder/fit.json``.

    A new fit gets a new study, or the one called ``name`` (and forgets an earlier fit's saved
    predictions); ``resume`` continues the study of the fit that was interrupted there, on the
    same data.

    Raises:
        OptionError: Nothing to resume in ``folder``, or the data differ from that fit's.
    """
    import json

    state = folder / "fit.json"
    if resume:
        if not state.is_file():
            raise OptionError(message(f"no fit to resume in '{folder}' (no fit.json)",
                                      "pass --output with the folder of the interrupted fit, or drop --resume"))
        saved = json.loads(state.read_text(encoding="utf-8"))
        if saved.get("digest") != task.digest:
            raise OptionError(message(f"the data differ from those of the fit in '{folder}' "
                                      f"({saved.get('data', '?')}, target '{saved.get('target', '?')}')",
                                      "resume with the same file and --target, or drop --resume"))
        return str(saved["study"])
    name = name or new_study_name(task.name)
    shutil.rmtree(folder / "oof", ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"study": name, "digest": task.digest, "data": task.name, "target": task.target,
                                 "created": datetime.now(UTC).isoformat(timespec="seconds")}, indent=2) + "\n",
                     encoding="utf-8")
    return name


def _combine_seconds(task: Task, metric: Metric, options: FitOptions, plan: CVPlan) -> float | None:
    """The predicted seconds of making the final model from the trials' out-of-fold predictions
    (``ensemble.combine_seconds``, on the rows ``plan`` validates); None where they are not
    predicted: a final model refitted on all rows, or a stacker for classes."""
    stack = options.stacks(task.kind)
    if options.final != "bag" or (stack and task.is_classification):
        return None
    if not options.ensemble:
        return 0.0
    from autometa.ensemble import SELECTION_ROWS, combine_seconds

    y = encode_target(task)
    if plan.scheme == "holdout":  # the combiners see the holdout's rows, a sample of them (``ensemble.validated``)
        y = y[plan.splits[0][1][:SELECTION_ROWS]]
    return combine_seconds(y, metric, len(task.classes), members=ENSEMBLE_POOL, stack=stack, seed=options.seed)


def _failure_summary(outcome: SearchOutcome) -> str:
    failed = [r for r in outcome.records if r.state == "failed"]
    if not outcome.records:
        return "the budget ended before the first trial"
    first = failed[0].error if failed and failed[0].error else "pruned"
    return f"{len(failed)} of {len(outcome.records)} failed; first: {first}"


def _refit_until(deadline: float | None, writes: bool) -> float | None:
    """When a refit on all rows must end (``time.monotonic()``): before the budget's write; None
    without a budget."""
    return deadline - (WRITE_SECONDS if writes else 0.0) if deadline is not None else None


def _final_model(task: Task, best: TrialRecord, pool: _OofPool, metric: Metric, options: FitOptions,
                 spaces: dict[str, Any], reached: Mapping[int, int], uppers: Sequence[Upper] = (), *,
                 plan: CVPlan | None = None, refit_until: float | None = None,
                 ) -> tuple[Any, dict[int | str, float], float | None]:
    """The best trial's model, or the selected ensemble; each member is its trial's bag of fold
    models (``options.final == "bag"`` and the fold models are here) or a refit on all rows.
    ``reached``: the fidelity each trial's fold models ended at; a refit of an early-stopped
    booster grows that many rounds (it has no validation rows to stop on). ``uppers``: the
    second stack level's runs (``autometa.stacking``), candidates beside the trials.

    Under a holdout ``plan`` a trial's bag is its one model of 80% of the rows: each member is
    refitted on all rows (it measured better) where the time left allows it before
    ``refit_until`` (``time.monotonic()``; None: always), predicted from its trial's seconds
    scaled by the rows; else its 80% model serves (a refit of a slow trial on a large table
    would overrun the budget by as long as the trial took)."""
    from autometa.ensemble import FoldBag, LevelTwo

    def bag(config: Config, folds: Sequence[Any]) -> FoldBag:
        learner = get_learner(config.learner, spaces[config.learner])
        for fold in folds:  # a bag of forests holds as many trees as one forest
            learner.thin(fold, 1 / len(folds))
        return FoldBag(list(folds), list(task.classes))

    made: dict[int, Any] = {}  # one model per trial: a bag is thinned once, and shared by the levels

    def member(number: int, config: Config) -> Any:
        if number not in made:
            made[number] = _member(number, config)
        return made[number]

    def refits(number: int) -> bool:
        if plan is None or plan.scheme != "holdout":
            return False
        if refit_until is None:
            return True
        predicted = pool.seconds.get(number, float("inf")) * task.n_rows / len(plan.splits[0][0])
        return time.monotonic() + predicted <= refit_until

    def _member(number: int, config: Config) -> Any:
        if options.final == "bag" and number in pool.models and not refits(number):
            return bag(config, pool.models[number])
        learner = get_learner(config.learner, spaces[config.learner])
        fidelity = learner.space.fidelity
        if options.early_stop and learner.early_stops and fidelity and number in reached:
            config = Config(config.learner, {**config.params, fidelity: min(reached[number], config.params[fidelity])})
        pipe = learner.pipeline(config, task.columns, task.kind, seed=options.seed,
                                 n_jobs=options.threads(task.n_rows))
        from threadpoolctl import threadpool_limits

        with warnings.catch_warnings(), threadpool_limits(limits=options.threads(task.n_rows)):
            warnings.simplefilter("ignore")
            return learner.fit(pipe, task.X, task.y, staged=False)

    if not options.ensemble:
        return member(best.number, best.config), {}, None
    if len(pool.items) < 2:
        if pool.items and best.source != "fallback":  # (which has its warning)
            warnings.warn("ensemble selection needs 2+ completed trials; keeping the best trial's model",
                          AutoMetaWarning, stacklevel=3)
        return member(best.number, best.config), {}, None
    from autometa.ensemble import WeightedEnsemble, ensemble_selection

    by_key = {u.key: u for u in uppers}
    oof: dict[int | str, Any] = {**{n: pool.items[n][2] for n in sorted(pool.items)}, **{u.key: u.oof for u in uppers}}

    def make(key: int | str) -> Any:
        if isinstance(key, int):
            return member(key, pool.items[key][1])
        u = by_key[key]
        return LevelTwo([member(n, pool.items[n][1]) for n in u.inputs], bag(u.config, u.models), list(u.names),
                        list(task.classes))

    keys = list(oof)
    weights, score = ensemble_selection([oof[k] for k in keys], encode_target(task), metric)
    chosen = {k: w for k, w in zip(keys, weights, strict=True) if w > 0}
    if options.stacks(task.kind) and len(chosen) > 1:
        return _stacked(task, oof, metric, options, make, list(chosen))
    model = WeightedEnsemble([make(k) for k in chosen], list(chosen.values()), list(task.classes))
    return model, chosen, score


def _stacked(task: Task, oof: Mapping[int | str, Any], metric: Metric, options: FitOptions,
             make: Callable[[int | str], Any], keys: list[int | str],
             ) -> tuple[Any, dict[int | str, float], float]:
    """These members (``oof``: their out-of-fold predictions) under a linear stacker; a member's
    weight is its share of the stacker's absolute coefficients, and the score is the stacker's
    cross-validated one. Members that non-negative least squares gives no weight are left out
    (the stacker refitted on the others is the same: they were at their bound)."""
    import numpy as np

    from autometa.ensemble import StackedEnsemble, fit_stacker

    y = encode_target(task)
    combiner, score = fit_stacker([oof[k] for k in keys], y, metric, seed=options.seed)
    if not len(task.classes) and 0 < int((combiner.coef_ > 0).sum()) < len(keys):
        keys = [k for k, c in zip(keys, combiner.coef_, strict=True) if c > 0]
        combiner, _ = fit_stacker([oof[k] for k in keys], y, metric, seed=options.seed)
    coef = np.abs(np.atleast_2d(combiner.coef_))
    width = coef.shape[1] // len(keys)
    share = coef.reshape(coef.shape[0], len(keys), width).sum(axis=(0, 2))
    share = share / share.sum() if share.sum() > 0 else np.full(len(keys), 1 / len(keys))
    model = StackedEnsemble([make(k) for k in keys], combiner, list(task.classes))
    return model, {k: float(w) for k, w in zip(keys, share, strict=True)}, score


def leaderboard(outcome: SearchOutcome, metric: Metric) -> pd.DataFrame:
    """One row per trial, best first: rank, trial, learner, score, spread, state, time, params (as
    it ran) and, for a trial whose fidelity the time left cut, the values it was proposed with."""
    import json

    import numpy as np
    import pandas as pd

    rows = []
    for r in outcome.records:
        rows.append({
            "trial": r.number, "learner": r.config.learner, "score": r.value,
            "score_std": float(np.std(r.fold_scores)) if len(r.fold_scores) > 1 else None,
            "state": r.state, "seconds": round(r.duration, 3), "source": r.source,
            "params": json.dumps(r.config.params, sort_keys=True), "error": r.error,
            "cut_from": None if r.sampled is None else json.dumps(
                {k: v for k, v in sorted(r.sampled.params.items()) if r.config.params.get(k) != v}),
        })
    df = pd.DataFrame(rows, columns=["trial", "learner", "score", "score_std", "state", "seconds",
                                     "source", "params", "error", "cut_from"])
    done = df["state"] == "complete"
    order = df[done].sort_values("score", ascending=not metric.greater_is_better, kind="stable")
    df = pd.concat([order, df[~done].sort_values("trial")], ignore_index=True)
    df.insert(0, "rank", [i + 1 if s == "complete" else None for i, s in enumerate(df["state"])])
    df = df.rename(columns={"score": metric.name})
    return df


def _write_outputs(result: FitResult, task: Task, output_dir: Path | None, scratch: Path) -> dict[str, Path]:
    """Save the model, leaderboard and history plot (to ``scratch`` when there is no output folder,
    for the tracker only); returns the tracker's artifacts."""
    from autometa.plots import plot_anytime, plot_history, plot_importances

    folder = output_dir if output_dir is not None else scratch
    folder.mkdir(parents=True, exist_ok=True)
    board = folder / "leaderboard.csv"
    result.leaderboard.to_csv(board, index=False)
    predicted = [s.predicted for s in result.recommendation.suggestions] if result.recommendation else []
    plots = [plot_history(result.records, result.metric, result.greater_is_better, folder / "optimization_history.png"),
             plot_anytime(result.records, result.metric, result.greater_is_better, predicted,
                          folder / "anytime_curve.png"),
             plot_importances(param_importances(result.study), folder / "param_importances.png")]
    plot_dir = scratch / "plots"  # one artifact folder for the tracker
    plot_dir.mkdir(parents=True, exist_ok=True)
    for plot in plots:
        shutil.copy(plot, plot_dir / plot.name)
    if output_dir is not None:
        target = output_dir / "model"
        if target.exists():
            shutil.rmtree(target)
        save_model(result.model, target, task.X.head(5))
    artifacts = {"": board, "plots": plot_dir}
    if result.recommendation is not None:
        import json

        path = folder / "recommendation.json"
        path.write_text(json.dumps(result.recommendation.to_dict(), indent=2) + "\n")
        artifacts["meta"] = path
    return artifacts
