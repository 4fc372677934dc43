"""Building the meta-database: every portfolio slot evaluated on every corpus task.

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
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from autometa.errors import TrialTimeout
from autometa.meta.corpus import CorpusTask, load_task
from autometa.meta.db import MetaDB, RunRow, TaskRow
from autometa.meta.history import task_row
from autometa.meta.portfolio import Slot

__all__ = ["BuildSummary", "build", "evaluate_chunk"]

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
                              fidelity=ev.fidelity, status="ok"))
        except TrialTimeout:
            out.append(RunRow(**base, score=None, fold_scores=(), fit_seconds=time.perf_counter() - start,
                              status="timeout", error=f"over {timeout:g} s"))
        except Exception as exc:
            out.append(RunRow(**base, score=None, fold_scores=(), fit_seconds=time.perf_counter() - start,
                              status="failed", error=f"{type(exc).__name__}: {exc}"[:500]))
    return row, out


def build(
    db: MetaDB,
    specs: Sequence[CorpusTask],
    slots: Sequence[Slot],
    *,
    jobs: int = 1,
    timeout: float = 60.0,
    progress: Callable[[int, int, str], None] | None = None,
) -> BuildSummary:
    """Evaluate every slot on every task that lacks it; see the module docstring.

    Args:
        db: Where runs go (origin ``corpus``).
        specs: Corpus tasks, in order.
        slots: The portfolio.
        jobs: Worker processes.
        timeout: Seconds one evaluation may take.
        progress: Called with (evaluations done, evaluations planned, last task name).
    """
    import multiprocessing as mp

    start = time.perf_counter()
    done = db.done_pairs("corpus")
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
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)
    interrupted = False
    try:
        futures: dict[Future[Any], tuple[CorpusTask, list[Slot]]] = {}
        queue = iter(work)
        for item in _take(queue, jobs * 2):
            futures[pool.submit(evaluate_chunk, item[0], item[1], timeout)] = item
        while futures:
            future = next(_as_completed(futures))
            spec, chunk = futures.pop(future)
            try:
                row, rows = future.result()
                db.add_runs(rows, task=row)
            except Exception as exc:
                failed.append(f"{spec.name}: {type(exc).__name__}: {str(exc)[:200]}")
            finished += len(chunk)
            if progress is not None:
                progress(finished, total, spec.name)
            for item in _take(queue, 1):
                futures[pool.submit(evaluate_chunk, item[0], item[1], timeout)] = item
    except KeyboardInterrupt:
        interrupted = True
    finally:
        # on Ctrl-C the workers, in the same process group, got the signal too
        pool.shutdown(wait=not interrupted, cancel_futures=True)
    return BuildSummary(evaluations=finished, skipped=skipped, failed_tasks=tuple(failed),
                        seconds=time.perf_counter() - start, interrupted=interrupted)


def _take(iterator: Any, n: int) -> list[Any]:
    out = []
    for _ in range(n):
        try:
            out.append(next(iterator))
        except StopIteration:
            break
    return out


def _as_completed(futures: dict[Future[Any], Any]) -> Any:
    from concurrent.futures import FIRST_COMPLETED, wait

    done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
    return iter(done)


def _known_digests(db: MetaDB) -> dict[str, str]:
    """Corpus source -> task digest, for tasks already in the database."""
    frame = db.frame("tasks")
    if frame.empty:
        return {}
    corpus = frame[frame["origin"] == "corpus"]
    return dict(zip(corpus["source"], corpus["digest"], strict=True))
