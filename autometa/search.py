"""The search: one Optuna study over the union of the learners' spaces.

This is the only module that imports optuna. The learner family is itself a
categorical parameter (``learner``); each learner's parameters are named
``<learner>.<param>`` so that the spaces never collide. Configurations passed
as ``warm_start`` are enqueued first, then the sampler (TPE by default, seeded)
takes over. A failing trial (an exception, a non-finite score, a timeout) is
recorded as failed and the search goes on. Pruning compares a trial's
intermediate scores only with earlier trials of the same learner family.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import optuna

from autometa.errors import OptionError, TrialTimeout, message
from autometa.evaluate import FINAL_STAGE_STEP
from autometa.interrupts import interrupt_deferred, interrupt_remembered, raise_if_interrupted
from autometa.records import GROWN, TrialRecord, TrialState
from autometa.schedules import HYPERBAND, MEDIAN, FidelitySchedule, parse_schedules
from autometa.spaces import Config, Param, SearchSpace

__all__ = [
    "NO_CONFIG",
    "RAN_ATTR",
    "SameLearnerPruner",
    "SearchOutcome",
    "SearchSettings",
    "Skipped",
    "TrialContext",
    "TrialRecord",
    "config_from_params",
    "fail_trials_of",
    "grown_leader",
    "make_pruner",
    "param_importances",
    "ran_config",
    "run_search",
    "study_attrs",
    "to_distribution",
]

LEARNER_PARAM = "learner"
NO_CONFIG = Config("(none)")  # the configuration of a trial that failed before one was sampled
RAN_ATTR = "ran"  # a trial's attribute: the parameters it ran with in place of the sampled ones
# RDB storages: a worker silent for 3 heartbeats has its trial failed and retried
HEARTBEAT_SECONDS = int(os.environ.get("AUTOMETA_HEARTBEAT_SECONDS", "30"))


class Pruned(Exception):
    """Raised by ``TrialContext.report`` when the pruner stops a trial."""


class Skipped(Exception):
    """Raised by an evaluator for a configuration that cannot finish in the time left. The trial
    is recorded as pruned with the reason; after ``MAX_SKIPS`` in a row of the sampler's own
    proposals the search stops, since the time left is too short for what it proposes. Skipped
    recommended configurations do not count: they were chosen before this machine's pace on the
    task was known, and the sampler's proposals, cheaper ones among them, may still fit."""


MAX_SKIPS = 3
# a leading boosting model still improving at its last round is tried again with this many times
# its rounds (``grown_leader``), as source ``GROWN``
GROW_FACTOR = 2.0
# a grown trial's attribute: the number of the trial whose rounds it doubles (its lineage in the
# study, which Optuna's dashboard and ``trials_dataframe`` show)
GROWN_FROM = "grown_from"
# fANOVA's importances, drawn in every fit's outputs: on at most this many trials per learner, with
# this many trees (Optuna's default is 64). On synthetic searches of 100-1,000 trials they named the
# same leading parameter as every trial with 64 trees, at 1/5 to 1/65 of the time
# (benchmarks/bench_importances.py); the smaller importances moved by up to 0.2
IMPORTANCE_TRIALS, IMPORTANCE_TREES = 100, 16
WARM_TRIALS = "autometa.warm_trials"  # the study attribute: how many trials the warm start enqueued


@dataclass(frozen=True)
class SearchSettings:
    """How the search runs. ``n_trials`` and ``time_budget``: whichever ends first."""

    n_trials: int | None = 30
    time_budget: float | None = None
    trial_timeout: float | None = None
    seed: int = 0
    sampler: Literal["tpe", "random"] = "tpe"
    pruning: bool = True
    study_name: str = "autometa"
    storage: str | None = None
    heartbeat: int = HEARTBEAT_SECONDS
    fidelity: str = "median"  # the learners' fidelity schedules (``autometa.schedules``), resolved
    # trials the warm start enqueued: under a time budget alone, TPE's random start-up comes after
    # them rather than counting them (``make_sampler``)
    warm_trials: int = 0

    def __post_init__(self) -> None:
        if self.n_trials is None and self.time_budget is None:
            raise OptionError(message("no budget: both the number of trials and the time budget are unset",
                                      "pass --trials N or --time-budget SECONDS"))
        if self.n_trials is not None and (isinstance(self.n_trials, bool) or self.n_trials < 1):
            raise OptionError(message(f"the number of trials must be >= 1; got {self.n_trials}",
                                      "pass --trials N with N >= 1"))
        for name in ("time_budget", "trial_timeout"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise OptionError(message(f"'{name}' must be a number of seconds > 0; got {value}",
                                          f"pass a positive {name}"))

    @property
    def meta(self) -> dict[str, Any]:
        """What to log about the search."""
        return {"sampler": self.sampler, "pruning": self.pruning, "fidelity": self.fidelity, "seed": self.seed,
                "n_trials": self.n_trials, "time_budget": self.time_budget,
                "trial_timeout": self.trial_timeout}


@dataclass(frozen=True)
class SearchOutcome:
    """The study and its trials, as records."""

    study: Any  # optuna.Study
    records: tuple[TrialRecord, ...]
    direction: str
    earlier: frozenset[int] = frozenset()  # trials finished before this run (a resumed study)

    def settled(self, timeout: float) -> SearchOutcome:
        """The study's trials once no trial is running any more (other workers' last ones), or
        after ``timeout`` seconds (a worker that died without a heartbeat leaves one running)."""
        from optuna.trial import TrialState as S

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.study.get_trials(deepcopy=False, states=(S.RUNNING,)):
            time.sleep(0.5)
        records = tuple(record_of(t) for t in self.study.get_trials(deepcopy=False) if t.state.is_finished())
        return SearchOutcome(study=self.study, records=records, direction=self.direction, earlier=self.earlier)

    @property
    def completed(self) -> list[TrialRecord]:
        return [r for r in self.records if r.state == "complete"]

    @property
    def best(self) -> TrialRecord | None:
        done = self.completed
        if not done:
            return None
        key: Callable[[TrialRecord], float] = lambda r: r.value if r.value is not None else 0.0  # noqa: E731
        return max(done, key=key) if self.direction == "maximize" else min(done, key=key)


class TrialContext:
    """What the evaluator sees of a trial: its number, its deadline, and ``report``."""

    def __init__(self, trial: optuna.Trial, deadline: float | None, prune: bool) -> None:
        self._trial = trial
        self.number: int = trial.number
        self.deadline = deadline
        self._prune = prune

    def report(self, step: int, value: float) -> None:
        """Record an intermediate score; raises ``Pruned`` when the pruner says stop."""
        self._trial.report(value, step)
        if self._prune and self._trial.should_prune():
            raise Pruned(f"pruned at step {step}")

    def set(self, key: str, value: Any) -> None:
        """Attach a JSON-able value to the trial."""
        self._trial.set_user_attr(key, value)


def to_distribution(param: Param) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution of a search-space parameter (lossless)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if param.type == "categorical":
        return CategoricalDistribution(list(param.choices))
    assert param.low is not None and param.high is not None
    if param.type == "int":
        return IntDistribution(int(param.low), int(param.high), log=param.log, step=int(param.step or 1))
    return FloatDistribution(float(param.low), float(param.high), log=param.log, step=param.step)


def from_distribution(name: str, dist: optuna.distributions.BaseDistribution, default: Any) -> Param:
    """The inverse of ``to_distribution`` (used to test the round trip)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return Param(name, "categorical", default, choices=tuple(dist.choices))
    if isinstance(dist, IntDistribution):
        step = None if dist.step == 1 else dist.step
        return Param(name, "int", default, low=dist.low, high=dist.high, log=dist.log, step=step)
    assert isinstance(dist, FloatDistribution)
    return Param(name, "float", default, low=dist.low, high=dist.high, log=dist.log, step=dist.step)


def suggest_config(trial: optuna.Trial, spaces: Mapping[str, SearchSpace], kind: str) -> Config:
    """Sample a configuration: first the learner, then its active parameters."""
    learner = trial.suggest_categorical(LEARNER_PARAM, sorted(spaces))
    assert isinstance(learner, str)
    chosen: dict[str, Any] = {}
    for p in spaces[learner].params:
        if p.applies(kind, chosen):
            chosen[p.name] = _suggest(trial, f"{learner}.{p.name}", p)
    return Config(learner, chosen)


def _suggest(trial: optuna.Trial, name: str, p: Param) -> Any:
    if p.type == "categorical":
        return trial.suggest_categorical(name, list(p.choices))
    assert p.low is not None and p.high is not None
    if p.type == "int":
        return trial.suggest_int(name, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
    return trial.suggest_float(name, float(p.low), float(p.high), step=p.step, log=p.log)


def config_from_params(params: Mapping[str, Any]) -> Config:
    """Rebuild a ``Config`` from a trial's flat Optuna parameters."""
    learner = str(params[LEARNER_PARAM])
    prefix = f"{learner}."
    return Config(learner, {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)})


def params_of(config: Config) -> dict[str, Any]:
    """A configuration as flat Optuna parameters (for ``enqueue_trial``)."""
    return {LEARNER_PARAM: config.learner, **{f"{config.learner}.{k}": v for k, v in config.params.items()}}


def make_sampler(settings: SearchSettings) -> optuna.samplers.BaseSampler:
    import optuna

    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=settings.seed)
    if settings.sampler != "tpe":
        raise OptionError(message(f"unknown sampler '{settings.sampler}'", "use 'tpe' or 'random'"))
    budget = settings.n_trials or 30
    startup = min(10, max(4, budget // 3))
    if settings.n_trials is None:
        # A time budget alone buys many trials: the random start-up explores after the warm start
        # instead of being replaced by it. Measured at 60 s on 6 held-out tasks x 4 seeds
        # (benchmarks/bench_warmstart.py, README section 11): better than counting the warm start
        # as start-up on 18 of 24 task-seed pairs. Under a trial budget the warm start still
        # counts, so that its configurations leave the trials to TPE.
        startup += settings.warm_trials
    with warnings.catch_warnings():
        # group=True (experimental) is what Optuna advises for conditional spaces like ours
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=settings.seed, multivariate=True, group=True,
                                          n_startup_trials=startup)


def _make_storage(url: str | None, heartbeat: int = HEARTBEAT_SECONDS) -> Any:
    """An Optuna storage: None (in memory), a journal file (``*.journal`` or ``journal:PATH``;
    safe for several processes on one machine), or an RDB URL (PostgreSQL for several machines).

    RDB storages get heartbeats: the trial of a worker that died (SIGKILL, a lost machine) is
    failed after ``3 * heartbeat`` seconds and retried once; connections are checked before use,
    and a call that loses its connection waits for the server (a restart) and tries again.
    """
    if url is None:
        return None
    if url.endswith(".journal") or url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        return _UninterruptedJournalStorage(JournalFileBackend(url.removeprefix("journal:")))
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return _ReconnectingRDBStorage(url, engine_kwargs={"pool_pre_ping": True}, heartbeat_interval=heartbeat,
                              grace_period=3 * heartbeat,
                              heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1))
    except Exception as exc:  # a malformed URL, a missing driver, a server that does not answer
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise OptionError(message(f"cannot open the study storage '{_safe(url)}' ({type(exc).__name__}: {first})",
                                  "check the URL (e.g. postgresql+psycopg://user:pw@host/db, or a .journal "
                                  "file), that the server runs, and that psycopg is installed")) from exc


RECONNECT_SECONDS = 120.0


def _transient(exc: BaseException) -> bool:
    """A lost or refused database connection (a server restarting), as opposed to a real error."""
    seen: BaseException | None = exc
    while seen is not None:
        names = {c.__name__ for c in type(seen).__mro__}
        if names & {"IntegrityError", "DataError", "ProgrammingError"}:  # real errors: never retried
            return False
        # PendingRollbackError: a session whose connection the restart cut mid-transaction;
        # DBAPIError: any other driver error, such as a commit cut by the restart that the driver
        # did not report as a disconnect (seen as Optuna's StorageInternalError "during the commit")
        if names & {"OperationalError", "InterfaceError", "ConnectionError", "DisconnectionError",
                    "PendingRollbackError", "DBAPIError"}:
            return True
        if getattr(seen, "connection_invalidated", False):  # SQLAlchemy saw the server disconnect
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _reconnecting(method: Callable[..., Any]) -> Callable[..., Any]:
    """Retry a storage call that lost its connection, until ``RECONNECT_SECONDS`` have passed."""

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + RECONNECT_SECONDS
        wait = 0.5
        while True:
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                if not _transient(exc) or time.monotonic() + wait > deadline:
                    raise
                time.sleep(wait)
                wait = min(wait * 2, 5.0)

    return call


def _uninterrupted(method: Callable[..., Any]) -> Callable[..., Any]:
    """Hold Ctrl-C until a journal write is done: interrupted while it holds the journal's file
    lock, the write would leave the lock taken and the next write waiting for ever."""

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        with interrupt_deferred():
            return method(self, *args, **kwargs)

    return call


def _every_method(base: type, wrap: Callable[[Callable[..., Any]], Callable[..., Any]], doc: str,
                  also: Sequence[str] = ()) -> type:
    """A subclass of a storage class whose public methods, and the private ones named in
    ``also``, all go through ``wrap``."""
    methods = {}
    for name, member in vars(base).items():
        if (not name.startswith("_") or name in also) and callable(member):
            call = wrap(member)
            call.__name__, call.__doc__ = member.__name__, member.__doc__
            methods[name] = call
    return type(f"_{base.__name__}", (base,), {"__doc__": doc, **methods})


# RDBStorage's private methods that Optuna calls from outside it, each a transaction of its own:
# the cache in front of every storage a study is given (``_CachedStorage``) and the heartbeat's
# ``fail_stale_trials``, run before each trial (a restart that cut it failed the fit)
_RDB_ENTRY_POINTS = ("_create_new_trial", "_set_trial_param", "_get_best_trial_id", "_get_trials",
                     "_get_stale_trial_ids")
_ReconnectingRDBStorage = _every_method(
    optuna.storages.RDBStorage, _reconnecting,
    "Optuna's RDB storage whose calls wait for the database to come back (up to ``RECONNECT_SECONDS``) "
    "instead of failing the worker when the server restarts.", also=_RDB_ENTRY_POINTS)
_UninterruptedJournalStorage = _every_method(
    optuna.storages.JournalStorage, _uninterrupted,
    "Optuna's journal storage whose writes Ctrl-C never cuts in half.")


def _safe(url: str) -> str:
    """A storage URL without its password."""
    import re

    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def fail_trials_of(storage: str, study_name: str, workers: set[str]) -> int:
    """Close as failed the trials left running by workers known to be dead (``host:pid``, as
    each trial's ``worker`` attribute says); returns how many. A journal file has no
    heartbeats, so the process that started the workers does this when one dies."""
    from optuna.trial import TrialState as S

    study = optuna.load_study(study_name=study_name, storage=_make_storage(storage))
    orphans = [t for t in study.get_trials(deepcopy=False, states=(S.RUNNING,))
               if t.user_attrs.get("worker") in workers]
    for t in orphans:
        _fail(study, t._trial_id, "worker died during the trial")
    return len(orphans)


def _fail(study: optuna.Study, trial_id: int, error: str) -> None:
    """Close a running trial as failed, saying why."""
    from optuna.trial import TrialState as S

    study._storage.set_trial_user_attr(trial_id, "error", error)
    study._storage.set_trial_state_values(trial_id, state=S.FAIL)


@contextlib.contextmanager
def _closed_when_cut(study: optuna.Study) -> Iterator[None]:
    """Inside the block, ``study.ask`` holds Ctrl-C until the trial it opens is kept; if the block
    is cut short, that trial is closed as failed if it still runs, and a Ctrl-C behind the
    exception is raised as itself.

    Optuna opens a trial (running) in ``ask`` and closes it in ``tell``, and handles a
    ``KeyboardInterrupt`` only in the objective between them: a Ctrl-C inside ``ask`` (sampling,
    or the journal write that opens the trial) left the trial running in the study for ever, and
    one inside ``tell`` surfaced as the UnboundLocalError of Optuna's ``finally``. This process
    runs one trial at a time: the trial it last opened is the one that can be left running.
    """
    asked: list[int] = []
    ask = study.ask

    def held_ask(*args: Any, **kwargs: Any) -> optuna.Trial:
        with interrupt_deferred():  # a Ctrl-C here is raised once the trial is kept
            trial = ask(*args, **kwargs)
            asked[:] = [trial._trial_id]
        return trial

    study.ask = held_ask  # type: ignore[method-assign]
    try:
        yield
    except BaseException as exc:
        _fail_running(study, asked)
        if not isinstance(exc, KeyboardInterrupt) and _interrupted(exc):
            raise KeyboardInterrupt from exc
        raise
    finally:
        del study.ask  # the class's again (a study holding a closure cannot be pickled)


def _interrupted(exc: BaseException) -> bool:
    """Whether a Ctrl-C is behind ``exc`` (it, or an exception raised while handling it)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__context__
    return False


def _fail_running(study: optuna.Study, trial_ids: Sequence[int]) -> None:
    """Close as failed those of ``trial_ids`` still running (a search cut short). A storage that
    cannot be reached is left as it is: the error that cut the search is the one to report."""
    from optuna.trial import TrialState as S

    with interrupt_deferred(), contextlib.suppress(Exception):
        for trial_id in trial_ids:
            if study._storage.get_trial(trial_id).state == S.RUNNING:
                _fail(study, trial_id, "interrupted")


def study_attrs(storage: str, study_name: str) -> dict[str, Any]:
    """The user attributes of an existing study (what a worker needs to join it).

    Raises:
        OptionError: No such study in the storage.
    """
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        study = optuna.load_study(study_name=study_name, storage=_make_storage(storage))
    except KeyError as exc:
        raise OptionError(message(f"no study '{study_name}' in '{_safe(storage)}'",
                                  "start it with: autometa fit DATA --storage URL --study NAME")) from exc
    return dict(study.user_attrs)


def param_importances(study: optuna.Study, min_trials: int = 5, max_trials: int = IMPORTANCE_TRIALS,
                      trees: int = IMPORTANCE_TREES) -> dict[str, dict[str, float]]:
    """Each learner's hyperparameter importances (fANOVA with ``trees`` trees) over its completed
    trials, for the learners with at least ``min_trials`` of them; a learner's parameters differ
    from another's, so each is judged on its own trials. A learner with more than ``max_trials``
    is judged on an even sample of them: fANOVA's cost grows with trials times trees, and with
    Optuna's 64 trees on every trial it took 15.7 s for 1,000 trials of two learners
    (benchmarks/bench_importances.py), spent writing a time-budgeted fit's outputs."""
    import optuna
    from optuna.trial import TrialState as S

    by_learner: dict[str, list[Any]] = {}
    for t in study.get_trials(deepcopy=False, states=(S.COMPLETE,)):
        by_learner.setdefault(str(t.params.get(LEARNER_PARAM)), []).append(t)
    out: dict[str, dict[str, float]] = {}
    for learner, trials in sorted(by_learner.items()):
        if len(trials) < min_trials:
            continue
        if len(trials) > max_trials:  # evenly spaced over the search, first and last included
            trials = [trials[round(i * (len(trials) - 1) / (max_trials - 1))] for i in range(max_trials)]
        sub = optuna.create_study(direction=study.direction)
        sub.add_trials(trials)
        names = [n for n in trials[0].params if n != LEARNER_PARAM
                 and all(n in t.params for t in trials) and len({repr(t.params[n]) for t in trials}) > 1]
        if not names:
            continue
        try:
            found = optuna.importance.get_param_importances(
                sub, params=names, evaluator=optuna.importance.FanovaImportanceEvaluator(n_trees=trees, seed=0))
        except (ValueError, RuntimeError):  # too few distinct values to split on
            continue
        out[learner] = {k.split(".", 1)[1]: float(v) for k, v in found.items()}
    return out


def ran_config(trial: optuna.trial.FrozenTrial) -> Config:
    """The configuration a trial ran: the sampled one, with the parameters the time left changed
    (its ``RAN_ATTR``: a fidelity cut to fit, see ``autometa.flow.trial_evaluator``)."""
    config = config_from_params(trial.params)
    ran = trial.user_attrs.get(RAN_ATTR)
    return Config(config.learner, {**config.params, **ran}) if ran else config


def record_of(trial: optuna.trial.FrozenTrial) -> TrialRecord:
    """A ``TrialRecord`` from a finished Optuna trial.

    A trial that failed before its learner was sampled (its storage call failed, as when the
    database restarts mid-study) has no configuration: its record carries ``NO_CONFIG``.
    """
    from optuna.trial import TrialState as S

    state: TrialState = {S.COMPLETE: "complete", S.PRUNED: "pruned"}.get(trial.state, "failed")  # type: ignore[assignment]
    attrs = trial.user_attrs
    duration = trial.duration.total_seconds() if trial.duration is not None else 0.0
    sampled = LEARNER_PARAM in trial.params
    return TrialRecord(
        number=trial.number,
        config=ran_config(trial) if sampled else NO_CONFIG,
        state=state,
        value=trial.value if state == "complete" else None,
        fold_scores=tuple(attrs.get("fold_scores", ())),
        duration=duration,
        source=str(attrs.get("source", "sampler")),
        fidelity=attrs.get("fidelity"),
        error=attrs.get("error") or (None if sampled else "failed before a configuration was sampled"),
        intermediate=dict(trial.intermediate_values),
        sampled=config_from_params(trial.params) if sampled and RAN_ATTR in attrs else None,
    )


class SameLearnerPruner(optuna.pruners.BasePruner):
    """Prune a trial whose intermediate score is not among the best ``keep`` share of earlier
    trials of the same learner at the same step, once ``n_startup`` such trials exist. ``keep``
    is the learner's fidelity schedule's at the rungs before the first fold's full fidelity
    (``FINAL_STAGE_STEP``), and one half (the median) at the fold steps after.

    Learner families differ in how fast they converge along their fidelity, so
    comparing a forest's early score with a boosted model's would prune unfairly.
    """

    def __init__(self, direction: str, schedules: Mapping[str, FidelitySchedule] | None = None,
                 n_startup: int = 4) -> None:
        self.direction = direction
        self.schedules = dict(schedules or {})
        self.n_startup = n_startup

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        import numpy as np

        step = trial.last_step
        if step is None:
            return False
        value = trial.intermediate_values[step]
        learner = trial.params.get(LEARNER_PARAM)
        done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        peers = [t.intermediate_values[step] for t in study.get_trials(deepcopy=False, states=done)
                 if t.params.get(LEARNER_PARAM) == learner and step in t.intermediate_values]
        if len(peers) < self.n_startup:
            return False
        keep = self.schedules.get(str(learner), MEDIAN).keep if step < FINAL_STAGE_STEP else 0.5
        if keep >= 1.0:
            return False
        if self.direction == "maximize":
            return value < float(np.quantile(peers, 1.0 - keep))
        return value > float(np.quantile(peers, keep))


def grown_leader(record: TrialRecord, study: optuna.Study, spaces: Mapping[str, SearchSpace]) -> Config | None:
    """What to try after trial ``record``: where it leads the study and is a boosting model whose
    score on its first fold still improved from its fidelity schedule's last rung (a third of its
    rounds by default) to all of them (no early stop ended it), the same configuration with
    ``GROW_FACTOR`` times the rounds (``SearchSpace.grown``); else None.

    A recommendation learnt on small tables, or a sampler's first proposals, can stop a booster
    well short of what a large table's signal takes; this goes on where the curve says more
    rounds pay, as long as they keep paying, within the time left (the evaluator skips what
    cannot finish) and the space's bound.
    """
    space = spaces.get(record.config.learner)
    if space is None or space.fidelity is None or record.state != "complete" or record.value is None:
        return None
    last, before = (record.intermediate.get(FINAL_STAGE_STEP - i) for i in (0, 1))
    rounds = record.config.params.get(space.fidelity)
    if last is None or before is None or rounds is None or (record.fidelity or rounds) < rounds:
        return None
    improving = last > before if study.direction == optuna.study.StudyDirection.MAXIMIZE else last < before
    return space.grown(record.config, GROW_FACTOR) if improving and _leads(study, record.value) else None


def _leads(study: optuna.Study, value: float) -> bool:
    """Whether no completed trial of ``study`` scores better than ``value``."""
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    return all(t.value is None or (value >= t.value if maximize else value <= t.value)
               for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def _check_still_leads(study: optuna.Study, leader: tuple[int, float] | None) -> None:
    """Skip a grown trial whose leader was overtaken while it waited in the queue (``leader``: the
    number and score of the trial whose rounds it doubles; None for any other trial, which reads
    nothing)."""
    if leader is not None and not _leads(study, leader[1]):
        raise Skipped(f"trial {leader[0]}, whose rounds it doubles, no longer leads")


def make_pruner(settings: SearchSettings, direction: str, learners: Sequence[str]) -> optuna.pruners.BasePruner:
    """The search's pruner: none, Optuna's Hyperband, or each learner's schedule."""
    if not settings.pruning:
        return optuna.pruners.NopPruner()
    schedules = parse_schedules(settings.fidelity, learners)
    if schedules == HYPERBAND:
        return optuna.pruners.HyperbandPruner()
    if isinstance(schedules, str):
        raise OptionError(message(f"fidelity schedules '{settings.fidelity}' must be resolved before the search",
                                  "resolve 'auto' with autometa.meta.fidelity first"))
    return SameLearnerPruner(direction, schedules)


def run_search(
    spaces: Mapping[str, SearchSpace],
    kind: str,
    direction: Literal["maximize", "minimize"],
    evaluate: Callable[[Config, TrialContext], tuple[float, dict[str, Any]]],
    settings: SearchSettings,
    *,
    warm_start: Sequence[Config] = (),
    warm_labels: Mapping[Config, str] | None = None,
    interleave: Sequence[Config] = (),
    callbacks: Sequence[Callable[[TrialRecord], None]] = (),
    attrs: Mapping[str, Any] | None = None,
    on_ready: Callable[[], None] | None = None,
    stop_when: Callable[[], bool] | None = None,
    fallback: Config | None = None,
) -> SearchOutcome:
    """Run one study.

    Args:
        spaces: The learners' search spaces to search over (already filtered to the task).
        kind: The task kind (parameters can depend on it).
        direction: ``"maximize"`` or ``"minimize"``.
        evaluate: Scores a configuration; returns the score and JSON-able attributes to
            keep on the trial (fold scores, fidelity). It may raise; the trial then fails.
        settings: Budget, sampler, seed, storage.
        warm_start: Configurations to try first, in order.
        warm_labels: The ``source`` a warm-start configuration's trial records (default
            ``"warm_start"``; the recommender's are ``"meta"``).
        interleave: Configurations to try during the search, after the warm start: one after
            each trial the sampler proposes, in order, until they run out (source ``"meta"``).
            The sampler models their results with its own.
        callbacks: Called with each finished trial's record.
        attrs: JSON-able facts stored on a new study (what workers need to join it).
        on_ready: Called once the study exists with its warm start enqueued (start workers here).
        stop_when: Asked after each trial; the search stops (before its budget) once it says True.
        fallback: Under a time budget, a cheap configuration to run once more, without the
            budget's deadline, when the search ends and no trial of the study has completed (the
            budget cuts every trial, the first included, so that a configuration far slower than
            predicted cannot hold the fit past its budget; this one gives the fit its model).
            Source ``"fallback"``. None: the search may end with no completed trial.

    Returns:
        The study and the records of all its trials.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if not spaces:
        raise OptionError(message("no learner to search", "allow at least one learner"))
    warm_start = [c for c in warm_start if c.learner in spaces]
    later = iter([c for c in interleave if c.learner in spaces])
    if warm_start:  # workers, which get no warm start, read it from the study (``WARM_TRIALS``)
        settings = replace(settings, warm_trials=len(warm_start))
    study = optuna.create_study(
        direction=direction,
        sampler=make_sampler(settings),
        pruner=make_pruner(settings, direction, list(spaces)),
        study_name=settings.study_name,
        storage=_make_storage(settings.storage, settings.heartbeat),
        load_if_exists=True,
    )
    facts = dict(attrs or {})
    if warm_start:
        facts[WARM_TRIALS] = len(warm_start)
    for key, value in facts.items():
        if key not in study.user_attrs:
            study.set_user_attr(key, value)
    for config in warm_start:
        label = (warm_labels or {}).get(config, "warm_start")
        study.enqueue_trial(params_of(config), user_attrs={"source": label}, skip_if_exists=True)
    if on_ready is not None:
        on_ready()
    start = time.monotonic()
    global_deadline = start + settings.time_budget if settings.time_budget else None
    skips: list[int] = []  # the trials skipped in a row
    grown_from: dict[Config, tuple[int, float]] = {}  # the grown configurations this process queued: leader, score
    rescue = [False]  # the fallback's trial: the budget's deadline does not cut it

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        config = suggest_config(trial, spaces, kind)
        deadlines = [d for d in (None if rescue[0] else global_deadline,
                                 time.monotonic() + settings.trial_timeout if settings.trial_timeout else None)
                     if d is not None]
        ctx = TrialContext(trial, min(deadlines) if deadlines else None, settings.pruning)
        started = time.perf_counter()
        skipped = False
        try:
            _check_still_leads(trial.study, grown_from.pop(config, None))
            value, attrs = evaluate(config, ctx)
        except Pruned as exc:
            raise optuna.TrialPruned(str(exc)) from None
        except Skipped as exc:
            skipped = True
            trial.set_user_attr("error", f"skipped: {exc}")
            if trial.user_attrs.get("source", "sampler") == "sampler":
                skips.append(trial.number)
            if len(skips) >= MAX_SKIPS:
                trial.study.stop()
            raise optuna.TrialPruned(str(exc)) from None
        except TrialTimeout as exc:
            trial.set_user_attr("error", f"timeout: {exc}")
            raise
        except Exception as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
            raise
        finally:
            if not skipped:
                skips.clear()
        trial.set_user_attr("evaluate_s", round(time.perf_counter() - started, 4))
        for key, val in attrs.items():
            trial.set_user_attr(key, val)
        return value

    def on_trial(study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        record = record_of(frozen)
        if record.source == "sampler":  # the sampler's turn is over: the next recommended configuration
            nxt = next(later, None)
            if nxt is not None:
                study.enqueue_trial(params_of(nxt), user_attrs={"source": "meta"}, skip_if_exists=True)
        grown = grown_leader(record, study, spaces)
        if grown is not None and record.value is not None:
            grown_from[grown] = (record.number, record.value)
            study.enqueue_trial(params_of(grown), user_attrs={"source": GROWN, GROWN_FROM: record.number},
                                skip_if_exists=True)
        for cb in callbacks:
            cb(record)
        raise_if_interrupted()  # a Ctrl-C that a finalizer or a library swallowed: the trial is recorded, stop
        if stop_when is not None and stop_when():
            study.stop()

    earlier = frozenset(t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished())
    remaining = None
    stops: list[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = [on_trial]
    if settings.n_trials is not None:
        finished = len([t for t in study.trials if t.state.is_finished()])
        remaining = max(0, settings.n_trials - finished)
        # with several workers on one study, stop when the study (not this worker) has them all
        from optuna.study import MaxTrialsCallback
        from optuna.trial import TrialState as S

        stops.append(MaxTrialsCallback(settings.n_trials, states=(S.COMPLETE, S.PRUNED, S.FAIL)))
    if remaining != 0:
        with _closed_when_cut(study), interrupt_remembered():
            study.optimize(objective, n_trials=remaining, timeout=settings.time_budget,
                           catch=(Exception,), callbacks=stops)
            if fallback is not None and global_deadline is not None and not study.get_trials(
                    deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):  # (workers' trials too)
                rescue[0] = True
                study.enqueue_trial(params_of(fallback), user_attrs={"source": "fallback"})
                study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=[on_trial])
    records = tuple(record_of(t) for t in study.trials if t.state.is_finished())
    return SearchOutcome(study=study, records=records, direction=direction, earlier=earlier)
