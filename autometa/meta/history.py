"""The user's meta-database: seeded from the shipped corpus runs, grown by every fit.

The shipped experience lives in ``meta_db/corpus/`` (Parquet files written by
``MetaDB.export``) and is never written by a fit. A user's database (by default
``default_user_db()``) is created on first use and imports those corpus runs;
``record_fit`` then adds each fit's task (its meta-features and content hash,
never the data) and trials, marked ``origin="user"``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autometa.meta.db import MetaDB, RunRow, TaskRow, default_user_db

__all__ = ["open_meta_db", "record_fit", "run_row", "shipped_dir", "task_row"]


def shipped_dir() -> Path:
    """``$AUTOMETA_SHIPPED_META_DB`` if set, else the project's ``meta_db/corpus``."""
    env = os.environ.get("AUTOMETA_SHIPPED_META_DB")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "meta_db" / "corpus"


def open_meta_db(location: str | Path | None = None, *, seed_from_shipped: bool = True) -> MetaDB:
    """Open (creating if needed) a meta-database; a new, empty one imports the shipped corpus runs."""
    db = MetaDB(location if location is not None else default_user_db())
    shipped = shipped_dir()
    if seed_from_shipped and (shipped / "runs.parquet").is_file() and not db.task_digests():
        db.import_folder(shipped, origins=("corpus",))
    return db


def run_row(record: Any, task_digest: str, metric: Any, cv: str, seed: int, space_version: int) -> RunRow:
    """A search trial as a meta_db run."""
    status = {"complete": "ok", "pruned": "pruned"}.get(record.state, "failed")
    if record.state == "failed" and (record.error or "").startswith("timeout"):
        status = "timeout"
    return RunRow(task_digest=task_digest, learner=record.config.learner, space_version=space_version,
                  params=record.config.params, metric=metric.name, direction=metric.direction,
                  score=record.value, fold_scores=tuple(record.fold_scores), fit_seconds=record.duration,
                  status=status, origin="user", cv=cv, seed=seed, fidelity=record.fidelity, error=record.error)


def record_fit(db: MetaDB, task_row: Any, records: Sequence[Any], metric: Any, cv: str, seed: int,
               space_versions: dict[str, int]) -> int:
    """Store a fit's task and trials in one transaction; returns the number of runs."""
    rows = [run_row(r, task_row.digest, metric, cv, seed, space_versions[r.config.learner]) for r in records]
    return db.add_runs(rows, task=task_row)


def task_row(task: Any, *, source: str, group_key: str, origin: str) -> TaskRow:
    """The stored form of a task, meta-features included."""
    from autometa.metafeatures import compute_metafeatures

    mf = compute_metafeatures(task)
    return TaskRow(digest=task.digest, name=task.name, source=source, group_key=group_key, kind=task.kind,
                   n_rows=task.n_rows, n_features=len(task.columns), target=task.target,
                   metafeatures=mf.as_dict(), metafeatures_version=mf.version, origin=origin)
