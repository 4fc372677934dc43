"""Fidelity-schedule advice: for each learner family, the schedule (``autometa.schedules``) that
would have found the best configuration in a fixed time on the learning curves of the nearest
past tasks.

The meta_db's curves (``meta-db build --curves``) hold, for a family's portfolio slots on a past
task, the first fold's validation score and elapsed seconds at 1/16 to all of the fidelity. On
each such task a search is replayed under every candidate schedule: ``STREAMS`` random streams of
the family's configurations (drawn with replacement, the same streams for every schedule) run
in turn, each reporting at the schedule's rungs and pruned there as ``SameLearnerPruner`` would
(after ``N_STARTUP`` peers, outside the best ``keep`` share), until the time of ``BUDGET_FITS``
full fits of an average configuration is spent. The outcome is the best full-fidelity score
found, normalized on the task (1 = the family's best configuration there, 0 = its median). A
schedule that prunes well finishes more configurations in the time; one that prunes wrongly
loses the best. Curves are first-fold only, so a finished configuration is charged one fold's fit:
the later folds, and the median pruning between them, are the same under every schedule. That
understates what early rungs save, and so leans towards ``none``.

The advice is the schedule with the highest mean outcome over the ``N_NEIGHBOURS`` nearest past
tasks with curves of the family, if it beats ``none`` by more than the standard error of the
paired difference (and there are two tasks or more); else ``none``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from autometa.schedules import CANDIDATES, CURVE_FRACTIONS, NONE, FidelitySchedule

__all__ = ["BUDGET_FITS", "FidelityAdvice", "advise_fidelity", "curves_for", "replay", "task_curves"]

N_NEIGHBOURS = 15
BUDGET_FITS = 10.0  # the replayed search's time, in full fits of an average configuration
STREAMS = 20
N_STARTUP = 4  # as the search's pruner


@dataclass(frozen=True)
class FidelityAdvice:
    """A family's schedule, its replayed outcome, and the other candidates' for comparison."""

    learner: str
    schedule: FidelitySchedule
    outcomes: Mapping[str, float]  # candidate name -> mean normalized best score found
    n_tasks: int

    @property
    def reason(self) -> str:
        others = ", ".join(f"{n} {v:.2f}" for n, v in sorted(self.outcomes.items(), key=lambda kv: -kv[1])
                           if n != self.schedule.name)
        return (f"best found in {BUDGET_FITS:g} fits' time on the curves of the {self.n_tasks} nearest past tasks: "
                f"{self.outcomes[self.schedule.name]:.2f} ({others})")

    def to_dict(self) -> dict[str, Any]:
        return {"learner": self.learner, "schedule": self.schedule.name, "tasks": self.n_tasks,
                "outcomes": {k: round(v, 4) for k, v in self.outcomes.items()}}


@dataclass(frozen=True)
class _Curves:
    """One family's curves on one task: configurations x curve fractions."""

    fractions: np.ndarray  # (n_points,): ``CURVE_FRACTIONS``
    scores: np.ndarray  # (n_configs, n_points), higher is better; NaN where not recorded
    seconds: np.ndarray  # (n_configs, n_points), elapsed at each point


def task_curves(frame: pd.DataFrame) -> dict[tuple[str, str], _Curves]:
    """(task digest, learner) -> its curves, from ``MetaDB.curves_frame()``. Configurations whose
    fidelity is too small to be staged (a single point) and those without a full-fidelity score
    are left out."""
    out: dict[tuple[str, str], _Curves] = {}
    if frame.empty:
        return out
    grid = np.array(CURVE_FRACTIONS)
    # each point on the nearest recorded stage (a stage's fidelity is its fraction, rounded)
    stage = np.abs(np.log(frame["fraction"].to_numpy(dtype=float))[:, None] - np.log(grid)).argmin(axis=1)
    signed = np.where(frame["direction"] == "maximize", 1.0, -1.0) * frame["score"].to_numpy(dtype=float)
    points = pd.DataFrame({"task": frame["task_digest"], "learner": frame["learner"], "config": frame["config_id"],
                           "stage": stage, "score": signed, "seconds": frame["seconds"].to_numpy(dtype=float)})
    wide = points.pivot_table(index=["task", "learner", "config"], columns="stage", values=["score", "seconds"],
                              aggfunc="last", dropna=False)
    stages = list(range(len(grid)))
    score = pd.DataFrame(wide["score"]).reindex(columns=stages)
    seconds = pd.DataFrame(wide["seconds"]).reindex(columns=stages)
    usable = (score.notna().sum(axis=1) >= 2) & score[stages[-1]].notna()  # staged, and scored in full
    score, seconds = score[usable], seconds[usable]
    for (task, learner), rows in score.groupby(level=[0, 1], sort=False):
        if len(rows) >= 2:
            out[(str(task), str(learner))] = _Curves(grid, rows.to_numpy(), seconds.loc[rows.index].to_numpy())
    return out


_CACHE: dict[str, dict[tuple[str, str], _Curves]] = {}


def curves_for(db: Any) -> dict[tuple[str, str], _Curves]:
    """``task_curves`` of a meta_db, read again only when the database changed (``fingerprint``)."""
    key = db.fingerprint()
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = task_curves(db.curves_frame())
    return _CACHE[key]


def _rung_columns(curves: _Curves, schedule: FidelitySchedule) -> list[int]:
    """The curve points nearest each of the schedule's rungs (in log fraction); the last is full."""
    logs = np.log(curves.fractions)
    return [int(np.argmin(np.abs(logs - np.log(r)))) for r in schedule.fractions]


def replay(curves: _Curves, schedules: Iterable[FidelitySchedule], *, seed: int = 0) -> dict[str, float]:
    """Each schedule's mean normalized best score over ``STREAMS`` replayed searches."""
    rng = np.random.default_rng(seed)
    full = curves.scores[:, -1]
    best, median = float(full.max()), float(np.median(full))
    spread = best - median
    n = len(full)
    budget = BUDGET_FITS * float(np.nanmean(curves.seconds[:, -1]))
    streams = [rng.integers(0, n, size=int(4 * BUDGET_FITS * n) + 8).tolist() for _ in range(STREAMS)]
    scores, seconds = curves.scores.tolist(), curves.seconds.tolist()  # plain floats: the loop is hot
    out = {}
    for schedule in schedules:
        cols = _rung_columns(curves, schedule)
        found = [_search(scores, seconds, cols, schedule.keep, stream, budget) for stream in streams]
        values = [(-1.0 if f is None else float(np.clip((f - median) / spread, -1, 1)) if spread > 0 else 1.0)
                  for f in found]
        out[schedule.name] = float(np.mean(values))
    return out


def _search(scores: list[list[float]], seconds: list[list[float]], cols: Sequence[int], keep: float,
            stream: list[int], budget: float) -> float | None:
    """The best full score one replayed search finds before ``budget`` seconds are spent."""
    spent, best = 0.0, None
    rungs = list(cols[:-1])
    peers: dict[int, list[float]] = {c: [] for c in rungs}  # kept sorted
    prunes = keep < 1.0
    for i in stream:
        elapsed = 0.0
        pruned = False
        for c in rungs:
            value = scores[i][c]
            elapsed = seconds[i][c]
            if spent + elapsed > budget:
                return best
            if value != value:  # NaN: not recorded at this stage
                continue
            seen = peers[c]
            if prunes and len(seen) >= N_STARTUP and value < _quantile(seen, 1.0 - keep):
                pruned = True
            bisect.insort(seen, value)
            if pruned:
                break
        if pruned:
            spent += elapsed
            continue
        spent += seconds[i][-1]
        if spent > budget:
            return best
        value = scores[i][-1]
        best = value if best is None or value > best else best
    return best


def _quantile(ordered: list[float], q: float) -> float:
    """``numpy.quantile`` (linear interpolation) of an ascending list."""
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def advise_fidelity(curves: Mapping[tuple[str, str], _Curves], neighbours: Sequence[str], learners: Iterable[str],
                    *, n_neighbours: int = N_NEIGHBOURS, cache: dict[tuple[str, str], dict[str, float]] | None = None,
                    ) -> dict[str, FidelityAdvice]:
    """Each learner's advice from the curves of its nearest past tasks (``neighbours``: task
    digests, nearest first); learners without curves on any neighbour are left out. ``cache``
    keeps replays across calls (they depend on the curves only)."""
    cache = {} if cache is None else cache
    out = {}
    for learner in learners:
        near = [d for d in neighbours if (d, learner) in curves][:n_neighbours]
        if not near:
            continue
        results = []
        for d in near:
            if (d, learner) not in cache:
                cache[(d, learner)] = replay(curves[(d, learner)], CANDIDATES.values())
            results.append(cache[(d, learner)])
        table = pd.DataFrame(results)
        mean = {name: float(table[name].mean()) for name in CANDIDATES}
        name = max(CANDIDATES, key=lambda k: mean[k])
        # one standard error (Breiman's rule): a schedule must beat none by more than the
        # standard error of its paired difference over the tasks, else nothing is pruned early
        diff = table[name] - table[NONE.name]
        if len(diff) < 2 or not diff.mean() > diff.std(ddof=1) / np.sqrt(len(diff)):
            name = NONE.name
        out[learner] = FidelityAdvice(learner, CANDIDATES[name], mean, len(near))
    return out
