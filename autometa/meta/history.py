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

__all__ = ["import_mlflow_fits", "meta_db_for_fit", "open_meta_db", "record_fit", "run_row", "shipped_dir", "task_row"]


def shipped_dir() -> Path:
    """``$AUTOMETA_SHIPPED_META_DB`` if set, else the project's ``meta_db/corpus``."""
    env = os.environ.get("AUTOMETA_SHIPPED_META_DB")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "meta_db" / "corpus"


def open_meta_db(location: str | Path | None = None, *, seed_from_shipped: bool = True,
                 create: bool = True) -> MetaDB:
    """Open (creating if needed) a meta-database; a new, empty one imports the shipped corpus runs.

    With ``create=False`` (reading only, as a fit with ``record=False`` does) a database
    file that does not exist yet is not created: the shipped runs are read into memory.
    The user's default database also imports the shipped runs again when they changed
    (a newer autometa ships more experience).
    """
    target = location if location is not None else default_user_db()
    text = str(target)
    if not create and "://" not in text and text != ":memory:" and not Path(text).exists():
        target = ":memory:"
    db = MetaDB(target)
    shipped = shipped_dir()
    if not seed_from_shipped or not (shipped / "runs.parquet").is_file():
        return db
    # the user's own database also takes the corpus runs of a newer autometa (duplicates are skipped)
    signature = _signature(shipped)
    writable = create or target == ":memory:"  # record=False: an existing file is only read
    stale = location is None and db.get_info("shipped_corpus") != signature
    if writable and (stale or not db.task_digests()):
        db.import_folder(shipped, origins=("corpus",))
        db.set_info("shipped_corpus", signature)
    return db


def meta_db_for_fit(location: str | Path | None, *, record: bool, use_meta: bool) -> MetaDB | None:
    """The meta_db a fit uses: written when it records, only read when it just learns from it
    (``use_meta``), none for a cold, unrecorded fit."""
    if not (record or use_meta):
        return None
    return open_meta_db(location, create=record)


def _signature(folder: Path) -> str:
    """A hash of the shipped corpus files: changes when an upgrade ships more experience."""
    import hashlib

    h = hashlib.sha256()
    for name in ("tasks.parquet", "configurations.parquet", "runs.parquet", "curves.parquet"):
        path = folder / name
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def run_row(record: Any, task_digest: str, metric: Any, cv: str, seed: int, space_version: int) -> RunRow:
    """A search trial as a meta_db run."""
    status = _status(record.state, record.error)
    return RunRow(task_digest=task_digest, learner=record.config.learner, space_version=space_version,
                  params=record.config.params, metric=metric.name, direction=metric.direction,
                  score=record.value, fold_scores=tuple(record.fold_scores), fit_seconds=record.duration,
                  status=status, origin="user", cv=cv, seed=seed, fidelity=record.fidelity, error=record.error)


def _status(state: str, error: str | None) -> str:
    """A trial's state as a meta_db run status (a failed trial that ran out of time: ``timeout``)."""
    status = {"complete": "ok", "pruned": "pruned"}.get(state, "failed")
    return "timeout" if status == "failed" and (error or "").startswith("timeout") else status


def record_fit(db: MetaDB, task_row: Any, records: Sequence[Any], metric: Any, cv: str, seed: int,
               space_versions: dict[str, int]) -> int:
    """Store a fit's task and trials in one transaction; returns the number of runs. A trial without
    a configuration of one of the fit's learners (one that failed before it was sampled), or one
    skipped because it could not finish in the time left, teaches nothing and is left out."""
    rows = [run_row(r, task_row.digest, metric, cv, seed, space_versions[r.config.learner]) for r in records
            if r.config.learner in space_versions and not (r.error or "").startswith("skipped")]
    return db.add_runs(rows, task=task_row)


def task_row(task: Any, *, source: str, group_key: str, origin: str) -> TaskRow:
    """The stored form of a task, meta-features included."""
    from autometa.metafeatures import compute_metafeatures

    mf = compute_metafeatures(task)
    return TaskRow(digest=task.digest, name=task.name, source=source, group_key=group_key, kind=task.kind,
                   n_rows=task.n_rows, n_features=len(task.columns), target=task.target,
                   metafeatures=mf.as_dict(), metafeatures_version=mf.version, origin=origin)


def _parse(space: Any, name: str, text: str) -> Any:
    """A parameter value as MLflow stored it (a string), typed by its search space."""
    import json

    p = space.param(name)
    if p.type == "int":
        return int(float(text))
    if p.type == "float":
        return float(text)
    for choice in p.choices:
        if str(choice) == text or (choice is None and text == "None"):
            return choice
    return json.loads(text)


def import_mlflow_fits(db: MetaDB, fits: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """Add past fits read from MLflow (``tracking.read_fits``) to ``db`` as user runs.

    A fit is skipped when it lacks meta-features (fits logged before they were
    logged) or when its task is already in the database (it was recorded live).

    Returns:
        (fits imported, runs added).
    """
    from autometa.meta.db import RunRow, TaskRow
    from autometa.metafeatures import NAMES, VERSION
    from autometa.metrics import METRICS
    from autometa.spaces import load_spaces

    spaces = load_spaces()
    known = db.task_digests()
    n_fits = n_runs = 0
    for fit in fits:
        params, metrics = fit["params"], fit["metrics"]
        digest = params.get("digest")
        if not digest or digest in known or not all(f"mf.{n}" in metrics for n in NAMES):
            continue
        metric = params["metric"]
        task = TaskRow(digest=digest, name=params.get("dataset", "mlflow"), source=f"mlflow:{fit['run_id']}",
                       group_key=f"user:{digest}", kind=params["task_kind"], n_rows=int(params["rows"]),
                       n_features=int(params["features"]), target=params.get("target", ""),
                       metafeatures={n: float(metrics[f"mf.{n}"]) for n in NAMES}, metafeatures_version=VERSION,
                       origin="user")
        direction = METRICS[metric].direction
        rows = []
        for trial in fit["trials"]:
            learner = trial["params"].get("learner")
            if learner not in spaces:
                continue
            space = spaces[learner]
            values = {k: _parse(space, k, v) for k, v in trial["params"].items() if k != "learner"}
            state = trial["tags"].get("autometa.state", "failed")
            error = trial["tags"].get("autometa.error")
            status = _status(state, error)
            folds = [trial["metrics"][f"{metric}_fold{i}"] for i in range(100)
                     if f"{metric}_fold{i}" in trial["metrics"]]
            rows.append(RunRow(task_digest=digest, learner=learner, space_version=space.version, params=values,
                               metric=metric, direction=direction,
                               score=trial["metrics"].get(metric) if status == "ok" else None,
                               fold_scores=tuple(folds), fit_seconds=float(trial["metrics"].get("duration_s", 0.0)),
                               status=status, origin="user", cv=params.get("cv", ""),
                               seed=int(float(params.get("seed", 0))), fidelity=None, error=error))
        if rows:
            n_runs += db.add_runs(rows, task=task)
            n_fits += 1
            known.add(digest)
    return n_fits, n_runs
