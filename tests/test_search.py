"""The search: a real Optuna study, warm start, failures, budget, pruning."""

from __future__ import annotations

import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest

from autometa.errors import OptionError, TrialTimeout
from autometa.search import (
    WARM_TRIALS,
    SearchSettings,
    TrialContext,
    config_from_params,
    from_distribution,
    params_of,
    run_search,
    to_distribution,
)
from autometa.spaces import Config, load_spaces


def spaces() -> dict:
    return {k: v for k, v in load_spaces().items() if k in ("lightgbm", "linear", "knn")}


def test_distributions_round_trip() -> None:
    for space in load_spaces().values():
        for p in space.params:
            back = from_distribution(p.name, to_distribution(p), p.default)
            assert to_distribution(back) == to_distribution(p)


def test_params_round_trip() -> None:
    c = Config("lightgbm", {"num_leaves": 31, "learning_rate": 0.1})
    assert config_from_params(params_of(c)) == c


def test_warm_start_runs_first_then_sampler() -> None:
    warm = [Config("knn", {"n_neighbors": 7, "weights": "distance", "p": 1}),
            Config("linear", {"C": 0.5, "class_weight": None})]
    seen: list[Config] = []

    def evaluate(config: Config, ctx: TrialContext) -> tuple[float, dict]:
        seen.append(config)
        return float(len(seen)), {}

    out = run_search(spaces(), "binary", "maximize", evaluate, SearchSettings(n_trials=6, seed=1),
                     warm_start=warm)
    assert seen[:2] == warm
    assert [r.source for r in out.records] == ["warm_start"] * 2 + ["sampler"] * 4
    assert out.best is not None and out.best.number == 5


def test_interleaved_configurations_follow_each_sampler_trial_until_they_run_out() -> None:
    warm = [Config("knn", {"n_neighbors": 7, "weights": "distance", "p": 1})]
    later = [Config("linear", {"C": 0.5, "class_weight": None}),
             Config("svm", {"C": 1.0}),  # not a searched learner here: left out
             Config("knn", {"n_neighbors": 3, "weights": "uniform", "p": 2})]
    seen: list[Config] = []

    def evaluate(config: Config, ctx: TrialContext) -> tuple[float, dict]:
        seen.append(config)
        return float(len(seen)), {}

    out = run_search(spaces(), "binary", "maximize", evaluate, SearchSettings(n_trials=7, seed=1),
                     warm_start=warm, warm_labels={warm[0]: "meta"}, interleave=later)
    assert [r.source for r in out.records] == ["meta", "sampler", "meta", "sampler", "meta", "sampler", "sampler"]
    assert [seen[i] for i in (0, 2, 4)] == [warm[0], later[0], later[2]]


def test_a_leading_booster_still_improving_at_its_last_round_is_tried_again_with_twice_the_rounds() -> None:
    spaces_ = {k: v for k, v in load_spaces().items() if k in ("lightgbm", "knn")}
    start = spaces_["lightgbm"].default_config("binary")
    warm = [start, Config("knn", {"n_neighbors": 7, "weights": "distance", "p": 1})]

    def evaluate(config: Config, ctx: TrialContext) -> tuple[float, dict]:
        if config.learner == "knn":
            return 0.5, {}
        n = config.params["n_estimators"]
        curve = [1 - 9 / n, 1 - 3 / n, 1 - 1 / n] if n < 800 else [0.9, 0.99, 0.99]  # flat from 800 rounds
        for step, value in enumerate(curve):
            ctx.report(step, value)
        return curve[-1], {}

    out = run_search(spaces_, "binary", "maximize", evaluate, SearchSettings(n_trials=7, seed=1, pruning=False),
                     warm_start=warm)
    first = out.records[:5]
    assert [r.source for r in first] == ["warm_start", "warm_start", "grown", "grown", "grown"]
    assert [r.config.params.get("n_estimators") for r in first] == [100, None, 200, 400, 800]
    boosted = [r.config for r in first if r.config.learner == "lightgbm"]
    assert all(c.params["num_leaves"] == start.params["num_leaves"] for c in boosted)
    assert {r.source for r in out.records[5:]} == {"sampler"}  # 800 rounds no longer improved


def test_a_grown_trial_whose_leader_was_overtaken_while_it_waited_is_skipped() -> None:
    spaces_ = {k: v for k, v in load_spaces().items() if k in ("lightgbm", "knn")}
    knn = Config("knn", {"n_neighbors": 7, "weights": "distance", "p": 1})
    warm = [spaces_["lightgbm"].default_config("binary"), knn]
    ran: list[Config] = []

    def evaluate(config: Config, ctx: TrialContext) -> tuple[float, dict]:
        ran.append(config)
        if config.learner == "knn":
            return 2.0, {}  # overtakes the booster before its grown trial's turn
        for step, value in enumerate((0.1, 0.2, 0.3)):
            ctx.report(step, value)
        return 0.3, {}

    out = run_search(spaces_, "binary", "maximize", evaluate, SearchSettings(n_trials=3, seed=1, pruning=False),
                     warm_start=warm)
    grown = out.records[2]
    assert grown.source == "grown" and grown.state == "pruned" and grown.config.params["n_estimators"] == 200
    assert grown.error is not None and "trial 0, whose rounds it doubles, no longer leads" in grown.error
    assert len(ran) == 2


def test_under_a_time_budget_the_random_start_up_comes_after_the_warm_start() -> None:
    warm = [Config("knn", {"n_neighbors": 7, "weights": "distance", "p": 1}),
            Config("linear", {"C": 0.5, "class_weight": None}),
            Config("svm", {"C": 1.0})]  # not a searched learner here: left out
    seen: list[Config] = []

    def evaluate(config: Config, ctx: TrialContext) -> tuple[float, dict]:
        seen.append(config)
        return float(len(seen)), {}

    timed = run_search(spaces(), "binary", "maximize", evaluate, SearchSettings(n_trials=None, time_budget=60, seed=1),
                       warm_start=warm, stop_when=lambda: len(seen) >= 4)
    assert seen[:2] == warm[:2] and timed.study.user_attrs[WARM_TRIALS] == 2
    # TPE's 10 random start-up trials follow the 2 warm ones (a private attribute: Optuna has no getter)
    assert timed.study.sampler._n_startup_trials == 12
    counted = run_search(spaces(), "binary", "maximize", evaluate, SearchSettings(n_trials=6, seed=1),
                         warm_start=warm)
    assert counted.study.sampler._n_startup_trials == 4  # a trial budget: the warm start counts as start-up


def test_failures_are_recorded_and_the_search_goes_on() -> None:
    calls = {"n": 0}

    def evaluate(config: Config, ctx: TrialContext) -> tuple[float, dict]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("learner exploded")
        if calls["n"] == 2:
            return math.nan, {}
        if calls["n"] == 3:
            raise TrialTimeout("too slow")
        return 1.0, {"fold_scores": [1.0]}

    out = run_search(spaces(), "binary", "maximize", evaluate, SearchSettings(n_trials=5))
    states = [r.state for r in out.records]
    assert states == ["failed", "failed", "failed", "complete", "complete"]
    assert "learner exploded" in (out.records[0].error or "")
    assert (out.records[2].error or "").startswith("timeout")
    assert out.records[3].fold_scores == (1.0,)


def test_time_budget_ends_the_search_and_cuts_the_trial_in_flight() -> None:
    deadlines: list[float | None] = []

    def evaluate(config: Config, ctx: TrialContext) -> tuple[float, dict]:
        deadlines.append(ctx.deadline)
        time.sleep(0.3)
        return 0.5, {}

    start = time.monotonic()
    out = run_search(spaces(), "binary", "maximize", evaluate, SearchSettings(n_trials=None, time_budget=1.0))
    end = time.monotonic()
    assert end - start < 2.5
    assert 2 <= len(out.records) <= 5
    # every trial, the first included, shares the search's deadline: a second after it started
    # (creating the study comes first, and can take a moment on a busy machine), and the search
    # ended there
    shared = set(deadlines)
    assert len(shared) == 1 and None not in shared
    assert start + 1.0 <= shared.pop() <= end  # type: ignore[operator]


def test_a_budget_shorter_than_the_first_trial_ends_with_the_fallback_s_trial() -> None:
    seen: list[tuple[Config, float | None]] = []

    def evaluate(config: Config, ctx: TrialContext) -> tuple[float, dict]:
        seen.append((config, ctx.deadline))
        time.sleep(0.5)
        if ctx.deadline is not None and time.monotonic() > ctx.deadline:
            raise TrialTimeout("past the deadline")
        return 0.5, {}

    cheap = Config("linear", {"C": 1.0, "class_weight": None})
    start = time.monotonic()
    out = run_search(spaces(), "binary", "maximize", evaluate, SearchSettings(n_trials=None, time_budget=0.1),
                     fallback=cheap)
    assert time.monotonic() - start < 3.0  # the first trial is cut, not run to its end
    assert [(r.state, r.source) for r in out.records] == [("failed", "sampler"), ("complete", "fallback")]
    assert seen[0][1] is not None and seen[1] == (cheap, None)  # the fallback alone runs past the budget
    # without a fallback the budget cuts every trial, and the search can end with none completed
    bare = run_search(spaces(), "binary", "maximize", evaluate, SearchSettings(n_trials=None, time_budget=0.1))
    assert [r.state for r in bare.records] == ["failed"]


def test_the_fallback_does_not_run_once_a_trial_has_completed() -> None:
    def evaluate(config: Config, ctx: TrialContext) -> tuple[float, dict]:
        return 0.5, {}

    out = run_search(spaces(), "binary", "maximize", evaluate, SearchSettings(n_trials=2, time_budget=60),
                     fallback=Config("linear", {"C": 1.0, "class_weight": None}))
    assert [r.source for r in out.records] == ["sampler", "sampler"]


def test_pruner_compares_within_a_learner() -> None:
    def evaluate(config: Config, ctx: TrialContext) -> tuple[float, dict]:
        good = config.learner == "knn"
        for step in range(4):
            ctx.report(step, (0.9 if good else 0.5) + 0.01 * step - 0.001 * ctx.number)
        return 0.9 if good else 0.5, {}

    out = run_search(spaces(), "binary", "maximize", evaluate, SearchSettings(n_trials=40, seed=0))
    pruned = [r for r in out.records if r.state == "pruned"]
    assert pruned, "later, worse trials of a learner should be pruned"
    for r in pruned:
        same = [o for o in out.records if o.number < r.number and o.config.learner == r.config.learner]
        assert len(same) >= 4


def test_settings_are_validated() -> None:
    with pytest.raises(OptionError, match="no budget"):
        SearchSettings(n_trials=None, time_budget=None)
    with pytest.raises(OptionError, match=">= 1"):
        SearchSettings(n_trials=0)
    with pytest.raises(OptionError, match="> 0"):
        SearchSettings(time_budget=-3)


def test_journal_storage_resumes_a_study(tmp_path) -> None:
    path = str(tmp_path / "study.journal")

    def evaluate(config: Config, ctx: TrialContext) -> tuple[float, dict]:
        return 0.5, {}

    run_search(spaces(), "binary", "maximize", evaluate, SearchSettings(n_trials=3, storage=path, study_name="s"))
    out = run_search(spaces(), "binary", "maximize", evaluate,
                     SearchSettings(n_trials=5, storage=path, study_name="s"))
    assert len(out.records) == 5
    assert isinstance(out.study, optuna.Study)


def test_a_trial_that_failed_before_sampling_is_recorded_without_a_configuration(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A storage error while the learner is suggested (a database restart) fails a trial with no
    parameters: it is a failed record with no configuration, and the meta_db leaves it out."""
    import optuna

    from autometa.meta.db import MetaDB
    from autometa.meta.history import record_fit
    from autometa.metrics import get_metric
    from autometa.search import NO_CONFIG, record_of
    from tests.test_meta_db import task_row

    study = optuna.create_study()
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)
    record = record_of(study.trials[0])
    assert record.config == NO_CONFIG and record.state == "failed"
    assert record.error == "failed before a configuration was sampled"
    db = MetaDB(tmp_path / "m.sqlite")
    assert record_fit(db, task_row(), [record], get_metric("rmse", "regression"), "5-fold CV", 0, {"linear": 1}) == 0


def test_a_commit_cut_by_a_server_disconnect_is_transient() -> None:
    """Optuna wraps a failed commit in StorageInternalError; when SQLAlchemy saw the server
    disconnect (``connection_invalidated``), the storage call is retried, like a lost connection."""
    import optuna
    import sqlalchemy.exc

    from autometa.search import _transient

    def wrapped(cause: BaseException) -> BaseException:
        try:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from cause
        except optuna.exceptions.StorageInternalError as exc:
            return exc

    cut = sqlalchemy.exc.DBAPIError("COMMIT", {}, Exception("server closed"), connection_invalidated=True)
    assert _transient(wrapped(cut))
    internal = sqlalchemy.exc.InternalError("COMMIT", {}, Exception("terminating connection"))
    assert _transient(wrapped(internal))  # a driver error that is not about the data
    bad = sqlalchemy.exc.DataError("INSERT", {}, Exception("value too long"), connection_invalidated=False)
    assert not _transient(wrapped(bad))
    taken = sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("duplicate key"))
    assert not _transient(wrapped(taken))


def test_importances_judge_a_long_search_on_an_even_sample_of_its_trials(monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    from autometa.search import IMPORTANCE_TRIALS, LEARNER_PARAM, param_importances

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = random.Random(0)
    study = optuna.create_study()

    def objective(trial: optuna.Trial) -> float:
        learner = trial.suggest_categorical(LEARNER_PARAM, ["linear"])
        x = trial.suggest_float(f"{learner}.x", 0, 1)
        return 3 * x + trial.suggest_float(f"{learner}.noise", 0, 1) * 0.1 + rng.random() * 0.01

    study.optimize(objective, n_trials=IMPORTANCE_TRIALS + 60)
    seen: list[list[float | None]] = []
    real = optuna.importance.get_param_importances

    def spy(sub: optuna.Study, **kwargs):  # type: ignore[no-untyped-def]
        seen.append([t.value for t in sub.trials])
        return real(sub, **kwargs)

    monkeypatch.setattr(optuna.importance, "get_param_importances", spy)
    found = param_importances(study)
    assert len(seen) == 1 and len(seen[0]) == IMPORTANCE_TRIALS
    assert seen[0][0] == study.trials[0].value and seen[0][-1] == study.trials[-1].value  # first to last
    assert max(found["linear"], key=found["linear"].get) == "x"


def test_a_ctrl_c_that_a_finalizer_swallows_still_stops_the_search_after_its_trial(  # type: ignore[no-untyped-def]
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import signal
    import threading

    recorded: list[int] = []

    class Finalized:
        def __del__(self) -> None:  # Python prints and drops what a finalizer raises
            # to the main thread: sent to the process, it may land on another of its threads (a
            # library's, an earlier test's), where it does not cut the sleep below
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
            time.sleep(0.05)  # the handler runs here, inside the finalizer

    def evaluate(config: Config, ctx: TrialContext) -> tuple[float, dict]:
        if len(recorded) == 2:
            Finalized()  # collected at once: the Ctrl-C lands in its __del__
        return 1.0, {}

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    reported: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    with pytest.raises(KeyboardInterrupt):
        run_search(spaces(), "binary", "maximize", evaluate, SearchSettings(n_trials=50, storage=storage),
                   callbacks=[lambda r: recorded.append(r.number)])
    assert recorded == [0, 1, 2]  # the trial in flight finished and was recorded; no other started
    assert reported == [] and sys.unraisablehook == reported.append  # no "Exception ignored" report
    study = optuna.load_study(study_name=optuna.get_all_study_names(storage)[0], storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is restored


@pytest.mark.parametrize("where", ["ask", "tell"])
def test_a_ctrl_c_while_optuna_opens_or_closes_a_trial_leaves_no_trial_running(
        where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Optuna handles Ctrl-C only inside the objective: one in ``ask`` had left the trial it opened
    running in the study, and one in ``tell`` surfaced as an UnboundLocalError (a traceback)."""
    import os
    import signal

    # once Optuna has opened the third trial, or told the sampler of its end
    owner, hook = (optuna.Study, "ask") if where == "ask" else (optuna.samplers.TPESampler, "after_trial")
    real = getattr(owner, hook)
    calls: list[int] = []

    def interrupting(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = real(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(owner, hook, interrupting)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    with pytest.raises(KeyboardInterrupt):
        run_search(spaces(), "binary", "maximize", lambda config, ctx: (1.0, {}),
                   SearchSettings(n_trials=10, storage=storage))
    study = optuna.load_study(study_name=optuna.get_all_study_names(storage)[0], storage=storage)
    S = optuna.trial.TrialState
    if where == "ask":  # closed as failed
        assert [t.state for t in study.trials] == [S.COMPLETE, S.COMPLETE, S.FAIL]
        assert study.trials[2].user_attrs["error"] == "interrupted"
    else:  # Optuna writes the trial's state after the sampler's hook whatever it raised; the Ctrl-C
        # is raised as itself, not as the UnboundLocalError that Optuna's ``finally`` then raises
        assert [t.state for t in study.trials] == [S.COMPLETE] * 3


def test_a_search_in_a_process_that_ignores_ctrl_c_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import signal

    from autometa.interrupts import interrupt_deferred

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell's background job starts
    try:
        def evaluate(config: Config, ctx: TrialContext) -> tuple[float, dict]:
            with interrupt_deferred():  # as a trial's record is written
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.02)
            return 1.0, {}

        out = run_search(spaces(), "binary", "maximize", evaluate, SearchSettings(n_trials=3))
        assert len(out.completed) == 3
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_the_storage_calls_optunas_cache_and_heartbeat_make_wait_for_a_lost_connection(tmp_path: Path) -> None:
    """Optuna's cache in front of a study's storage, and the heartbeat's check for stale trials
    before each trial, call private methods of the RDB storage: a connection lost there (a
    PostgreSQL restart) is retried like one lost in a public call, not a failed fit."""
    import sqlalchemy.exc
    from sqlalchemy import event

    from autometa.search import _make_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = _make_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(storage=storage, study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    cuts: list[str] = []

    def cut(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if len(cuts) < 2:  # the next two statements lose the server
            cuts.append(statement)
            raise sqlalchemy.exc.OperationalError(statement, params, Exception("server closed the connection"))

    event.listen(storage.engine, "before_cursor_execute", cut)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # the storage's _get_stale_trial_ids
    assert len(cuts) == 2
    cuts.clear()
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 2  # _get_trials, through the cache
    assert len(cuts) == 2
