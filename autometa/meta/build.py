"""Building the meta-database: every portfolio slot evaluated on every corpus task.

``build(..., curves=True)`` records learning curves instead of runs: each slot of a learner
with a fidelity is fit once, on the first fold, growing through ``CURVE_FRACTIONS`` of its
fidelity, and scored at each (what the fidelity schedules are chosen from).

``build`` is resumable (a (task, slot) pair with a corpus run is skipped),
parallel (worker processes, each given a task and a chunk of slots), bounded
(each evaluation has a time limit; a slow one is recorded as ``timeout``), and
Ctrl-C safe (each chunk is written in one transaction, so an interruption
loses at most the chunks in flight). Evaluations use the same validation as
``autometa fit`` (``plan_cv(task, "auto", seed=0)``) and its default metric.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from autometa.errors import TrialTimeout
from autometa.meta.corpus import CorpusTask, load_task
from autometa.meta.db import CurveRow, MetaDB, RunRow, TaskRow
from autometa.meta.history import task_row
from autometa.meta.portfolio import Slot
from autometa.schedules import CURVE_FRACTIONS

__all__ = ["CURVE_FRACTIONS", "BuildSummary", "build", "curve_chunk", "evaluate_chunk"]

CHUNK = 25


@dataclass(frozen=True)
class BuildSummary:
    """What a build call did."""

    evaluations: int
    skipped: int
    failed_tasks: tuple[str, ...]
    seconds: float
    interrupted: bool = False


def evaluate_chunk(spec: CorpusTask, slots: Sequence[Slot], timeout: float,
                   seed: int = 0) -> tuple[TaskRow, list[RunRow]]:
    """Evaluate slots on one corpus task (runs in a worker process)."""
    from autometa.evaluate import cross_validate, plan_cv
    from autometa.learners import get_learner
    from autometa.metrics import get_metric

    warnings.simplefilter("ignore")
    task = load_task(spec)
    row = task_row(task, source=spec.source, group_key=spec.group_key, origin="corpus")
    metric = get_metric(None, task.kind)
    plan = plan_cv(task, "auto", seed=seed)
    out = []
    for slot in slots:
        learner = get_learner(slot.learner)
        config = slot.config(learner.space, task.kind)
        start = time.perf_counter()
        base: dict[str, Any] = {"task_digest": task.digest, "learner": slot.learner,
                                "space_version": slot.space_version,
                "params": config.params, "metric": metric.name, "direction": metric.direction,
                "origin": "corpus", "cv": plan.describe(), "seed": seed, "slot": slot.name}
        try:
            ev = cross_validate(task, config, learner, metric, plan, seed=seed, n_jobs=1,
                                deadline=time.monotonic() + timeout)
            out.append(RunRow(**base, score=ev.score, fold_scores=ev.fold_scores, fit_seconds=ev.fit_seconds,
                              fidelity=ev.fidelity if ev.reached is None else ev.reached, status="ok"))
        except TrialTimeout:
            out.append(RunRow(**base, score=None, fold_scores=(), fit_seconds=time.perf_counter() - start,
                              status="timeout", error=f"over {timeout:g} s"))
        except Exception as exc:
            out.append(RunRow(**base, score=None, fold_scores=(), fit_seconds=time.perf_counter() - start,
                              status="failed", error=f"{type(exc).__name__}: {exc}"[:500]))
    return row, out


def curve_chunk(spec: CorpusTask, slots: Sequence[Slot], timeout: float,
                seed: int = 0) -> tuple[TaskRow, list[CurveRow]]:
    """Learning curves of slots on one corpus task (runs in a worker process); slots of learners
    without a fidelity are left out. A fit that fails or passes ``timeout`` keeps the stages it
    reached, and the next stage is recorded with no score."""
    from threadpoolctl import threadpool_limits

    from autometa.evaluate import encode_target, plan_cv
    from autometa.metrics import get_metric

    warnings.simplefilter("ignore")
    task = load_task(spec)
    row = task_row(task, source=spec.source, group_key=spec.group_key, origin="corpus")
    metric = get_metric(None, task.kind)
    train, val = plan_cv(task, "auto", seed=seed).splits[0]
    y_val = encode_target(task)[val]
    X_val = task.X.iloc[val]
    out: list[CurveRow] = []
    with threadpool_limits(limits=1):  # as cross_validate with n_jobs=1: the seconds are one thread's
        for slot in slots:
            out += _curve(task, slot, metric, train, X_val, y_val, timeout, seed)
    return row, out


def _curve(task: Any, slot: Slot, metric: Any, train: Any, X_val: Any, y_val: Any, timeout: float,
           seed: int) -> list[CurveRow]:
    """One slot's learning curve on the first fold (none for a learner without a fidelity)."""
    import numpy as np

    from autometa.evaluate import predict_scores
    from autometa.learners import get_learner
    from autometa.learners.base import stage_values

    learner = get_learner(slot.learner)
    config = slot.config(learner.space, task.kind)
    full = learner.fidelity(config)
    if full is None:
        return []
    pipe = learner.pipeline(config, task.columns, task.kind, seed=seed, n_jobs=1)
    base: dict[str, Any] = {"task_digest": task.digest, "learner": slot.learner, "slot": slot.name,
                            "space_version": slot.space_version, "params": config.params,
                            "metric": metric.name, "direction": metric.direction, "seed": seed}
    done: list[CurveRow] = []
    start = time.perf_counter()

    def on_stage(value: int) -> None:
        score = float(metric(y_val, predict_scores(pipe, X_val, task)))
        done.append(CurveRow(**base, fidelity=value, fraction=value / full, score=score if np.isfinite(score) else None,
                             seconds=time.perf_counter() - start))

    try:
        learner.fit(pipe, task.X.iloc[train], task.y[train], on_stage=on_stage, deadline=time.monotonic() + timeout,
                    fractions=CURVE_FRACTIONS)
    except Exception:  # a timeout or a failure: the curve ends where the fit stopped, with no score
        reached = {c.fidelity for c in done}
        missing = [v for v in stage_values(full, CURVE_FRACTIONS) if v not in reached]
        if missing:
            done.append(CurveRow(**base, fidelity=missing[0], fraction=missing[0] / full, score=None,
                                 seconds=time.perf_counter() - start))
    return done


def build(
    db: MetaDB,
    specs: Sequence[CorpusTask],
    slots: Sequence[Slot],
    *,
    jobs: int = 1,
    timeout: float = 60.0,
    progress: Callable[[int, int, str], None] | None = None,
    curves: bool = False,
) -> BuildSummary:
    """Evaluate every slot on every task that lacks it; see the module docstring.

    Args:
        db: Where runs go (origin ``corpus``).
        specs: Corpus tasks, in order.
        slots: The portfolio.
        jobs: Worker processes.
        timeout: Seconds one evaluation may take.
        progress: Called with (evaluations done, evaluations planned, last task name).
        curves: Record learning curves (``curve_chunk``) of the slots with a fidelity, instead of runs.
    """
    import multiprocessing as mp

    from autometa.errors import DataError, message
    from autometa.learners import get_learner
    from autometa.meta.portfolio import signatures

    start = time.perf_counter()
    # curves are keyed by slot and configuration: any subset of the portfolio may have them
    for learner, stamp in ({} if curves else signatures(list(slots))).items():
        recorded = db.get_info(f"portfolio.{learner}")
        if recorded is None:
            db.set_info(f"portfolio.{learner}", stamp)
        elif recorded != stamp:
            raise DataError(message(
                f"meta_db '{db.url}' was built with other {learner} slots ({recorded}, now {stamp})",
                "use the same --configs-per-learner as before for that learner, or a new --meta-db"))
    if curves:
        slots = [s for s in slots if get_learner(s.learner).space.fidelity is not None]
    done = db.curve_pairs("corpus") if curves else db.done_pairs("corpus")
    digest_of = _known_digests(db)
    work: list[tuple[CorpusTask, list[Slot]]] = []
    skipped = 0
    for spec in specs:
        digest = digest_of.get(spec.source)
        pending = [s for s in slots if digest is None or (digest, s.name) not in done]
        skipped += len(slots) - len(pending)
        for i in range(0, len(pending), CHUNK):
            work.append((spec, pending[i:i + CHUNK]))
    total = sum(len(chunk) for _, chunk in work)
    finished = 0
    failed: list[str] = []
    if progress is not None:
        progress(0, total, "")
    ctx = mp.get_context("spawn")  # no fork: OpenMP runtimes do not survive it
    pool = ctx.Pool(jobs, initializer=_ignore_sigint)
    interrupted = False
    try:
        items = [(s, c, timeout, curves) for s, c in work]
        for spec, n_chunk, outcome in pool.imap_unordered(_run_chunk, items):
            if isinstance(outcome, str):
                failed.append(f"{spec.name}: {outcome}")
            else:
                try:
                    if curves:
                        db.add_curves(outcome[1], task=outcome[0])
                    else:
                        db.add_runs(outcome[1], task=outcome[0])
                except Exception as exc:
                    failed.append(f"{spec.name}: {type(exc).__name__}: {str(exc)[:200]}")
            finished += n_chunk
            if progress is not None:
                progress(finished, total, spec.name)
        pool.close()
    except KeyboardInterrupt:
        interrupted = True
        pool.terminate()  # workers ignore SIGINT; stop the evaluations in flight now
    finally:
        pool.join()
    return BuildSummary(evaluations=finished, skipped=skipped, failed_tasks=tuple(failed),
                        seconds=time.perf_counter() - start, interrupted=interrupted)


def _ignore_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_chunk(item: tuple[CorpusTask, list[Slot], float, bool]) -> tuple[CorpusTask, int, Any]:
    """Worker entry: the chunk's rows, or the error text when the task cannot be loaded."""
    spec, chunk, timeout, curves = item
    try:
        return spec, len(chunk), (curve_chunk if curves else evaluate_chunk)(spec, chunk, timeout)
    except Exception as exc:
        return spec, len(chunk), f"{type(exc).__name__}: {str(exc)[:200]}"


def _known_digests(db: MetaDB) -> dict[str, str]:
    """Corpus source -> task digest, for tasks already in the database."""
    frame = db.frame("tasks")
    if frame.empty:
        return {}
    corpus = frame[frame["origin"] == "corpus"]
    return dict(zip(corpus["source"], corpus["digest"], strict=True))
