"""Every fit adds to the user's meta_db; the shipped corpus seeds it and is never written."""

from __future__ import annotations

from pathlib import Path

import pytest

from autometa.data import make_task
from autometa.flow import FitOptions, fit_task
from autometa.meta.db import MetaDB
from autometa.meta.history import open_meta_db
from tests.conftest import EXAMPLE, mixed_frame
from tests.test_cli import run_cli
from tests.test_meta_db import run, task_row

pytestmark = pytest.mark.filterwarnings("ignore::autometa.data.AutoMetaWarning")


def test_fit_records_task_and_trials(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "user.sqlite")
    task = make_task(mixed_frame(), "target", name="mixed")
    fit_task(task, FitOptions(n_trials=3, learners=("linear", "knn"), n_jobs=1), db=db)
    stats = db.stats()
    assert stats["tasks"] == 1 and stats["runs"] == 3 and stats["runs_by_origin"] == {"user": 3}
    tasks = db.frame("tasks")
    assert tasks["digest"].iloc[0] == task.digest and tasks["origin"].iloc[0] == "user"
    assert "data" not in " ".join(tasks.columns)  # meta-features and hash, never the rows


def test_user_db_starts_from_the_shipped_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = MetaDB(tmp_path / "build.sqlite")
    shipped.add_runs([run()], task=task_row())
    shipped.export(tmp_path / "shipped")
    monkeypatch.setenv("AUTOMETA_SHIPPED_META_DB", str(tmp_path / "shipped"))
    before = sorted(p.stat().st_mtime_ns for p in (tmp_path / "shipped").iterdir())
    db = open_meta_db(tmp_path / "user.sqlite")
    assert db.stats()["runs_by_origin"] == {"corpus": 1}
    task = make_task(mixed_frame(), "target")
    fit_task(task, FitOptions(n_trials=2, learners=("linear",), n_jobs=1), db=db)
    assert db.stats()["runs_by_origin"] == {"corpus": 1, "user": 2}
    assert sorted(p.stat().st_mtime_ns for p in (tmp_path / "shipped").iterdir()) == before
    assert open_meta_db(tmp_path / "user.sqlite").stats()["runs"] == 3  # seeded once only


def test_the_default_user_db_takes_a_newer_shipped_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build = MetaDB(tmp_path / "build.sqlite")
    build.add_runs([run()], task=task_row())
    build.export(tmp_path / "shipped")
    monkeypatch.setenv("AUTOMETA_SHIPPED_META_DB", str(tmp_path / "shipped"))
    monkeypatch.setenv("AUTOMETA_META_DB", str(tmp_path / "user.sqlite"))
    assert open_meta_db().stats()["tasks"] == 1
    build.add_runs([run("t2")], task=task_row("t2"))  # an upgrade ships more experience
    build.export(tmp_path / "shipped")
    assert open_meta_db(create=False).stats()["tasks"] == 1  # reading only: untouched
    assert open_meta_db().stats()["tasks"] == 2
    assert open_meta_db(tmp_path / "other.sqlite").stats()["tasks"] == 2  # a new file is seeded


@pytest.mark.slow
def test_cli_records_unless_no_record(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.chdir(tmp_path)
    base = ["fit", str(EXAMPLE), "--target", "survived", "--trials", "2", "--learners", "linear", "--no-tracking",
            "--meta-db", str(tmp_path / "m.sqlite"), "-q", "--output", "o"]
    assert run_cli([*base, "--no-record"], capsys, monkeypatch)[0] == 0
    assert not (tmp_path / "m.sqlite").exists()
    assert run_cli(base, capsys, monkeypatch)[0] == 0
    code, out, _ = run_cli(["meta-db", "stats", "--meta-db", str(tmp_path / "m.sqlite"), "--json"], capsys,
                           monkeypatch)
    stats = json.loads(out)
    assert code == 0 and stats["runs_by_origin"] == {"user": 2} and stats["tasks_by_kind"] == {"binary": 1}
    keys = {"tasks", "tasks_by_kind", "configurations", "runs", "runs_by_origin", "learners", "fill_ratio"}
    assert keys <= set(stats)
    code, _, err = run_cli(["meta-db", "export", "ex", "--meta-db", str(tmp_path / "m.sqlite")], capsys, monkeypatch)
    assert code == 0 and (tmp_path / "ex" / "runs.parquet").exists()
    code, _, err = run_cli(["meta-db", "import", "ex", "--meta-db", str(tmp_path / "n.sqlite")], capsys, monkeypatch)
    assert code == 0 and "imported 2 runs" in err
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"garbage" * 500)
    code, _, err = run_cli(["meta-db", "stats", "--meta-db", str(bad)], capsys, monkeypatch)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_import_past_fits_from_mlflow(tmp_path: Path, mlflow_uri: str) -> None:
    from autometa.meta.history import import_mlflow_fits
    from autometa.tracking import MlflowTracker, read_fits

    task = make_task(mixed_frame(kind="multiclass"), "target", name="past")
    fit_task(task, FitOptions(n_trials=3, learners=("linear", "random_forest"), n_jobs=1),
             tracker=MlflowTracker(mlflow_uri))
    fits = read_fits(mlflow_uri)
    assert len(fits) == 1 and len(fits[0]["trials"]) == 3
    db = MetaDB(tmp_path / "m.sqlite")
    assert import_mlflow_fits(db, fits) == (1, 3)
    assert import_mlflow_fits(db, read_fits(mlflow_uri, "past")) == (0, 0)  # already there
    runs = db.runs_frame()
    assert set(runs["origin"]) == {"user"} and set(runs["metric"]) == {"log_loss"}
    assert runs["params"].str.len().min() > 2  # typed parameters came back
    stored = db.frame("tasks").iloc[0]
    assert stored["digest"] == task.digest and stored["kind"] == "multiclass"
