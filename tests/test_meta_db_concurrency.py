"""Two processes writing one SQLite meta_db at once: no lost, duplicated or failed writes."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from autometa.meta.db import MetaDB, RunRow, TaskRow
from autometa.metafeatures import NAMES

WRITES = 15
ROWS = 12


def _writer(path: str, who: int) -> None:
    db = MetaDB(path)
    for w in range(WRITES):
        digest = f"p{who}-t{w}"
        task = TaskRow(digest=digest, name=digest, source="test", group_key=f"user:{digest}", kind="binary",
                       n_rows=10, n_features=2, target="y", metafeatures={n: 0.0 for n in NAMES},
                       metafeatures_version=1, origin="user")
        # both processes insert the same configurations: the unique digests race
        rows = [RunRow(task_digest=digest, learner="knn", space_version=1, params={"n_neighbors": i},
                       metric="roc_auc", direction="maximize", score=0.5, fold_scores=(0.5,), fit_seconds=0.01,
                       status="ok", origin="user", cv="5-fold CV") for i in range(ROWS)]
        db.add_runs(rows, task=task)


def test_two_processes_write_one_sqlite_file(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    MetaDB(path)  # created once, as a user's database is
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, who)) for who in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0, 0]
    stats = MetaDB(path).stats()
    assert stats["tasks"] == 2 * WRITES
    assert stats["runs"] == 2 * WRITES * ROWS
    assert stats["configurations"] == ROWS  # shared, never duplicated
