"""MetaDB on a real SQLite file: schema, version checks, transactions, export/import, bad input."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from autometa.errors import DataError, OptionError
from autometa.meta.db import SCHEMA_VERSION, MetaDB, RunRow, TaskRow


def task_row(digest: str = "t1", origin: str = "corpus") -> TaskRow:
    return TaskRow(digest=digest, name=f"task-{digest}", source=f"test:{digest}", group_key="g", kind="binary",
                   n_rows=100, n_features=3, target="y", metafeatures={"log_rows": 4.6}, metafeatures_version=1,
                   origin=origin)


def run(digest: str = "t1", slot: str | None = "lightgbm/000", score: float | None = 0.8, status: str = "ok",
        origin: str = "corpus", num_leaves: int = 31) -> RunRow:
    return RunRow(task_digest=digest, learner="lightgbm", space_version=1, params={"num_leaves": num_leaves},
                  metric="roc_auc", direction="maximize", score=score, fold_scores=(0.79, 0.81) if score else (),
                  fit_seconds=0.5, status=status, origin=origin, cv="5-fold CV", slot=slot)


def test_round_trip_stats_and_done_pairs(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "m.sqlite")
    db.add_runs([run(), run(slot="lightgbm/001", num_leaves=7, score=None, status="timeout")], task=task_row())
    db.add_runs([run(origin="user", slot=None)], task=task_row())  # same task digest: reused
    stats = db.stats()
    # a portfolio slot is its own configuration, even when a user run has the same parameters
    assert stats["tasks"] == 1 and stats["runs"] == 3 and stats["configurations"] == 3
    assert stats["runs_by_origin"] == {"corpus": 2, "user": 1}
    assert stats["fill_ratio"] == pytest.approx(0.5)  # 1 ok corpus cell of 1 task x 2 slots
    assert db.done_pairs() == {("t1", "lightgbm/000"), ("t1", "lightgbm/001")}
    frame = db.runs_frame()
    assert set(frame["status"]) == {"ok", "timeout"} and "versions" in frame


def test_export_then_import_is_idempotent(tmp_path: Path) -> None:
    src = MetaDB(tmp_path / "a.sqlite")
    src.add_runs([run(), run(slot="lightgbm/001", num_leaves=7)], task=task_row())
    src.export(tmp_path / "export")
    dst = MetaDB(tmp_path / "b.sqlite")
    assert dst.import_folder(tmp_path / "export") == 2
    assert dst.import_folder(tmp_path / "export") == 0
    assert dst.stats()["runs"] == 2


def test_import_refuses_wrong_columns_and_types_without_writing(tmp_path: Path) -> None:
    src = MetaDB(tmp_path / "a.sqlite")
    src.add_runs([run()], task=task_row())
    folder = tmp_path / "export"
    src.export(folder)
    runs = pd.read_parquet(folder / "runs.parquet")
    runs.drop(columns=["score"]).to_parquet(folder / "runs.parquet")
    dst = MetaDB(tmp_path / "b.sqlite")
    with pytest.raises(DataError, match="lacks column\\(s\\) score"):
        dst.import_folder(folder)
    runs.assign(fit_seconds="fast").to_parquet(folder / "runs.parquet")
    with pytest.raises(DataError, match="'fit_seconds' must hold numbers"):
        dst.import_folder(folder)
    assert dst.stats()["runs"] == 0 and dst.stats()["tasks"] == 0


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "m.sqlite")
    with pytest.raises(DataError, match="unknown task"):
        db.add_runs([run(), run(digest="missing")], task=task_row())
    assert db.stats()["runs"] == 0 and db.stats()["tasks"] == 0


def test_schema_version_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite"
    MetaDB(path)
    engine = sa.create_engine(f"sqlite:///{path}")
    for version, word in ((SCHEMA_VERSION + 1, "newer"), (SCHEMA_VERSION - 1, "older")):
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE meta_info SET value = :v WHERE key = 'schema_version'"), {"v": str(version)})
        with pytest.raises(DataError, match=f"schema version {version}, {word}"):
            MetaDB(path)


def test_corrupt_and_locked_files(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.sqlite"
    bad.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(DataError, match="corrupt") as info:
        MetaDB(bad)
    assert "\n" not in str(info.value)
    path = tmp_path / "locked.sqlite"
    db = MetaDB(path)
    db.engine.dispose()
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        slow = MetaDB.__new__(MetaDB)
        slow.url = f"sqlite:///{path}"
        slow.engine = sa.create_engine(slow.url, connect_args={"timeout": 0.2})
        with pytest.raises(DataError, match="locked"):
            slow.add_runs([run()], task=task_row())
    finally:
        holder.rollback()
        holder.close()


def test_bad_urls(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="cannot use meta_db URL"):
        MetaDB("nosuchdriver://host/db")
    with pytest.raises(DataError, match="cannot be used"):
        MetaDB(f"sqlite:///{tmp_path}")  # a directory, not a database file
    (tmp_path / "plain.txt").write_text("x")
    with pytest.raises(DataError, match="cannot be used"):
        MetaDB(tmp_path / "plain.txt" / "m.sqlite")  # a file where its folder should be


def test_an_older_database_gets_the_curves_table_and_a_read_only_one_goes_on_without(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    MetaDB(path).add_runs([run()], task=task_row())
    with sqlite3.connect(path) as con:  # as a database made before the curves table existed
        con.execute("DROP TABLE curves")
    path.chmod(0o444)
    try:
        ro = MetaDB(f"sqlite:///file:{path}?mode=ro&uri=true")
        assert not ro.has_curves and ro.curves_frame().empty and ro.curve_pairs() == set()
        assert ro.stats()["runs"] == 1 and ro.fingerprint()
        with pytest.raises(DataError, match="no curves table"):
            ro.add_curves([])
    finally:
        path.chmod(0o644)
    db = MetaDB(path)
    assert db.has_curves and db.curves_frame().empty and db.stats()["runs"] == 1
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT name FROM sqlite_master WHERE name = 'curves'").fetchone()


def test_a_new_database_appears_whole_to_a_process_that_opens_it_at_once(tmp_path: Path) -> None:
    """A process that opens the file the moment it exists (a second build, a watcher) finds the
    schema version, and the creation leaves no side file behind."""
    import subprocess
    import sys

    watch = ("import sys, time; from pathlib import Path; from autometa.meta.db import MetaDB\n"
             "p = Path(sys.argv[1]); print('ready', flush=True)\n"
             "while not p.exists(): time.sleep(0.0002)\n"
             "MetaDB(p)")
    names = []
    for i in range(12):
        path = tmp_path / f"m{i}.sqlite"
        names.append(path.name)
        watcher = subprocess.Popen([sys.executable, "-c", watch, str(path)], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        assert watcher.stdout is not None and watcher.stdout.readline().strip() == "ready"
        MetaDB(path)
        _, err = watcher.communicate(timeout=60)
        assert watcher.returncode == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
