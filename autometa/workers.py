"""Several processes on one study: ``autometa worker`` and the local worker pool of ``fit --n-workers``.

A fit stores on its Optuna study what a worker needs to join it: where the
data can be read (path, target, task kind), the data's content hash, and the
options that shape a trial (metric, learners, validation, seed, budget). A
worker reads them back, loads the data (refusing data that changed), and runs
trials until the study has its number of trials; the fit's process then takes
every worker's trials into its leaderboard, MLflow run, meta_db and ensemble
(each trial's out-of-fold predictions are shared through the fit's output
folder; a worker on another machine without that folder still adds its
trials, which then only miss the ensemble).

The storage must be safe for several processes: a journal file on one machine
(the default of ``autometa fit``), or PostgreSQL across machines. Optuna
advises against SQLite for parallel optimization, so it is refused here.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from autometa.errors import DataError, OptionError, message
from autometa.flow import FitOptions, _OofPool, prepare, trial_evaluator
from autometa.records import TrialRecord
from autometa.repeats import reserved

__all__ = ["LocalWorkers", "check_shared_storage", "work"]


def check_shared_storage(storage: str | None, n_workers: int) -> None:
    """Refuse a storage that several processes cannot share safely."""
    if n_workers < 1:
        raise OptionError(message(f"--n-workers must be at least 1; got {n_workers}", "pass for example --n-workers 2"))
    if n_workers > 1 and (storage is None or storage.startswith("sqlite")):
        raise OptionError(message("SQLite (or no storage) cannot hold a study that several processes share",
                                  "drop --storage (the default is a journal file in --output), or pass a "
                                  ".journal file or a PostgreSQL URL"))


class LocalWorkers:
    """``n`` ``autometa worker`` processes on this machine, started once the study exists."""

    def __init__(self, n: int, *, quiet: bool = True) -> None:
        self.n, self.quiet = n, quiet
        self.procs: list[subprocess.Popen[bytes]] = []
        self.storage = self.study = ""

    def start(self, storage: str, study: str) -> None:
        self.storage, self.study = storage, study
        cmd = [sys.executable, "-m", "autometa.cli", "worker", "--storage", storage, "--study", study, "--quiet"]
        self.procs = [subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       start_new_session=True) for _ in range(self.n)]

    def join(self) -> None:
        """Wait for the workers; the trial of one that was killed is closed as failed."""
        import socket

        from autometa.search import fail_trials_of

        for p in self.procs:
            p.wait()
        dead = {f"{socket.gethostname()}:{p.pid}" for p in self.procs if p.returncode and p.returncode < 0}
        if dead:
            fail_trials_of(self.storage, self.study, dead)

    def stop(self) -> None:
        """Interrupt the workers (their trial in flight is closed as failed) and wait for them."""
        import signal

        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in self.procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()


def work(storage: str, study: str, *, on_trial: Callable[[TrialRecord], None] | None = None) -> int:
    """Join a fit's study and run its trials until it has them all; returns how many ran here.

    Raises:
        OptionError: No such study, or one not started by ``autometa fit``.
        DataError: The data cannot be read here, or changed since the fit started.
    """
    from autometa.data import make_task, read_table
    from autometa.search import WARM_TRIALS, run_search, study_attrs

    attrs = study_attrs(storage, study)
    source = attrs.get("autometa.source")
    if not source or "autometa.options" not in attrs:
        raise OptionError(message(f"study '{study}' was not started by 'autometa fit' from a data file",
                                  "start it with: autometa fit DATA --storage URL --study NAME"))
    path = Path(source["path"])
    try:
        frame = read_table(path)
    except DataError as exc:
        raise DataError(message(f"this worker cannot read the fit's data ({exc})",
                                f"run the worker where '{path}' exists (a shared folder), or copy it there")) from exc
    task = make_task(frame, source["target"], kind=source["task"], name=path.stem)
    if task.digest != attrs["autometa.digest"]:
        raise DataError(message(f"the data in '{path}' changed since the fit started",
                                "restore the file the fit was started with, or start a new fit"))
    saved = dict(attrs["autometa.options"])
    saved["learners"] = tuple(saved["learners"]) if saved.get("learners") else None
    saved["output_dir"] = Path(saved["output_dir"]) if saved.get("output_dir") else None
    if saved.get("init"):
        raise OptionError(message(f"study '{study}' starts its MLP from the meta-learned initialization "
                                  f"'{saved['init']}'; workers cannot join such a fit yet",
                                  "run that fit in one process, or without --init"))
    options = FitOptions(**saved, storage=storage, study_name=study, use_meta=False, record=False)
    metric, spaces, plan = prepare(task, options)
    out = options.output_dir
    # out-of-fold predictions go to the fit's folder when this machine sees it
    pool = _OofPool(metric, folder=out / "oof" if out is not None and out.is_dir() else None)
    ran: list[TrialRecord] = []
    callbacks: list[Callable[[TrialRecord], None]] = [ran.append]
    if on_trial is not None:
        callbacks.append(on_trial)
    # a budgeted fit's worker, too, leaves the fit's repeated cross-validation (and second stack level)
    # its reserve: the fit waits for its workers before the rounds
    hooks = (reserved(pool, options.time_budget, options.repeats, options.level2_keep(plan.scheme))
             if options.time_budget is not None else None)
    run_search(spaces, task.kind, metric.direction,
               trial_evaluator(task, options, metric, spaces, plan, pool, ends=hooks.ends if hooks else None),
               replace(options.search_settings(study), warm_trials=int(attrs.get(WARM_TRIALS, 0))),
               callbacks=callbacks, stop_when=hooks.stop_when if hooks else None)
    return len(ran)
