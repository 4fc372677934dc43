"""Experience: what the recommender learns from, read out of a MetaDB.

One table of tasks (meta-feature vectors, kind, source group) and one of
scores: for each task and *candidate* (a portfolio slot such as
``lightgbm/003``, or the digest of a configuration that a user fit tried), the
mean score of its runs. Scores are made comparable across tasks in two ways:

* ``pct``: the percentile of the candidate among the task's candidates
  (1 = best, 0 = worst; failed runs count as the worst). Robust to a metric's
  scale and outliers; what the strategies learn from.
* ``norm``: ``(score - median) / (best - median)`` clipped to [-1, 1]
  (1 = the task's best candidate, 0 = its median). What the benchmarks report
  (TabRepo's normalization); ``1 - norm`` is the regret to the oracle.

A held-out task must never be visible to the recommender evaluated on it:
``without_groups`` removes every task of a source data frame, and
``Experience.groups`` says which are present (``evaluation`` checks it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from autometa.meta.db import MetaDB
from autometa.meta.portfolio import Slot
from autometa.metafeatures import NAMES, VERSION
from autometa.spaces import Config, SearchSpace

__all__ = ["Candidate", "Experience", "problem_of"]


def problem_of(kind: str) -> str:
    """``classification`` or ``regression``: kinds whose past runs transfer to each other."""
    return "regression" if kind == "regression" else "classification"


@dataclass(frozen=True)
class Candidate:
    """A configuration the recommender can propose: a portfolio slot or a configuration a fit tried.

    ``params`` merges the parameters seen for every task kind, so a slot that
    ran as ``C`` on classification and ``alpha`` on regression completes to
    the right one for a new task (``Slot.config``).
    """

    key: str
    learner: str
    params: Mapping[str, Any]
    space_version: int

    def config(self, space: SearchSpace, kind: str) -> Config:
        return Slot(self.key, self.learner, dict(self.params), self.space_version).config(space, kind)


@dataclass(frozen=True)
class Experience:
    """Tasks and their candidates' scores.

    Attributes:
        tasks: One row per task, indexed by digest: ``name``, ``group_key``, ``kind``,
            ``problem``, ``origin`` and one column per meta-feature (``NAMES``).
        scores: One row per (task, candidate): ``task``, ``key``, ``learner``,
            ``score``, ``pct``, ``norm``, ``seconds`` (the mean time its cross-validation took) and
            ``fidelity`` (the median fidelity its runs reached: a network's kept epoch).
        candidates: Every candidate by key.
    """

    tasks: pd.DataFrame
    scores: pd.DataFrame
    candidates: Mapping[str, Candidate]

    @classmethod
    def from_db(cls, db: MetaDB) -> Experience:
        """Read a meta-database (tasks with meta-features of the current version only)."""
        task_frame = db.frame("tasks")
        runs = db.runs_frame()
        return cls.from_frames(task_frame, runs)

    @classmethod
    def from_frames(cls, task_frame: pd.DataFrame, runs: pd.DataFrame) -> Experience:
        tasks = _task_table(task_frame)
        runs = runs[runs["task_digest"].isin(tasks.index)]
        candidates = _candidates(runs)
        return cls(tasks, _score_table(runs), candidates)

    # ------------------------------------------------------------------ views

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(self.tasks["group_key"])

    def __len__(self) -> int:
        return len(self.tasks)

    def without_groups(self, groups: Iterable[str]) -> Experience:
        """The same experience with every task of these source groups removed."""
        drop = set(groups)
        tasks = self.tasks[~self.tasks["group_key"].isin(drop)]
        scores = self.scores[self.scores["task"].isin(tasks.index)]
        keys = set(scores["key"])
        return Experience(tasks, scores, {k: c for k, c in self.candidates.items() if k in keys})

    def matrix(self, column: str = "pct") -> pd.DataFrame:
        """Tasks x candidates (NaN where a candidate never ran on a task)."""
        return self.scores.pivot_table(index="task", columns="key", values=column, aggfunc="mean")

    def metafeatures(self) -> np.ndarray:
        return self.tasks[list(NAMES)].to_numpy(dtype=float)


def _task_table(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[frame["metafeatures_version"] == VERSION]
    rows = []
    for rec in frame.itertuples(index=False):
        mf = json.loads(str(rec.metafeatures))
        rows.append({"digest": rec.digest, "name": rec.name, "group_key": rec.group_key, "kind": rec.kind,
                     "problem": problem_of(str(rec.kind)), "origin": rec.origin,
                     **{n: float(mf.get(n, np.nan)) for n in NAMES}})
    columns = ["digest", "name", "group_key", "kind", "problem", "origin", *NAMES]
    return pd.DataFrame(rows, columns=columns).set_index("digest")


def _candidates(runs: pd.DataFrame) -> dict[str, Candidate]:
    out: dict[str, Candidate] = {}
    keys = _keys(runs)
    for key, part in runs.assign(key=keys).groupby("key", sort=True):
        merged: dict[str, Any] = {}
        for text in part["params"].unique():
            merged.update(json.loads(text))
        first = part.iloc[0]
        version = int(first["space_version"]) if "space_version" in part else 1
        out[str(key)] = Candidate(str(key), str(first["learner"]), merged, version)
    return out


def _keys(runs: pd.DataFrame) -> pd.Series:
    """A run's candidate: its portfolio slot, else its configuration."""
    keys = runs["slot"].copy()
    own = keys.isna()  # a user fit's configuration: its digest (corpus runs have their slot)
    digests = runs.loc[own, "params"].map(lambda p: Config("x", json.loads(p)).digest)
    keys[own] = runs.loc[own, "learner"] + ":" + digests
    return keys


def _score_table(runs: pd.DataFrame) -> pd.DataFrame:
    columns = ["task", "key", "learner", "score", "pct", "norm", "seconds", "fidelity"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    df = runs.assign(key=_keys(runs))
    if "fidelity" not in df:
        df = df.assign(fidelity=np.nan)
    sign = np.where(df["direction"] == "maximize", 1.0, -1.0)
    # higher is better from here on; failed, timed-out and pruned runs have no score
    df = df.assign(score=np.where(df["status"] == "ok", df["score"] * sign, np.nan))
    agg = (df.groupby(["task_digest", "key"], sort=True)
             .agg(learner=("learner", "first"), score=("score", "mean"), seconds=("fit_seconds", "mean"),
                  fidelity=("fidelity", "median"))
             .reset_index().rename(columns={"task_digest": "task"}))
    # per task: percentile rank (no score ranks below the worst) and the score against the
    # median, in units of the best's distance from it (clipped to [-1, 1]; 1 where all are equal)
    by_task = agg.groupby("task", sort=False)["score"]
    s = agg["score"]
    worst = by_task.transform("min")
    filled = s.fillna((worst - 1.0).where(np.isfinite(worst), 0.0))
    ranks = filled.groupby(agg["task"], sort=False).rank(method="average")
    count = by_task.transform("size")
    med = by_task.transform("median")
    spread = by_task.transform("max") - med
    norm = ((s - med) / spread.where(spread > 0)).clip(-1, 1).where(spread > 0, s * 0 + 1.0)
    out = agg.assign(pct=(ranks - 1) / np.maximum(count - 1, 1), norm=norm.fillna(-1.0))
    return out[columns]
