"""Several workers on one study, on a real PostgreSQL server and on a journal file, with faults injected.

The PostgreSQL tests need a server: ``scripts/postgres.sh`` (run by
``scripts/test.sh``, as CI does) starts Debian's and exports
``AUTOMETA_PG_URL``. Without one they skip, saying why.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import pytest

from tests.conftest import EXAMPLE, ROOT

pytestmark = pytest.mark.slow
BASE = ["fit", str(EXAMPLE), "--target", "survived", "--no-tracking", "--no-record", "--no-meta", "--n-jobs", "1",
        "--json"]


def _server_url() -> str | None:
    url = os.environ.get("AUTOMETA_PG_URL")
    if url:
        return url
    try:
        out = subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh")], capture_output=True, text=True,
                             timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@pytest.fixture(scope="module")
def pg_server() -> str:
    url = _server_url()
    if not url:
        pytest.skip("no PostgreSQL server: scripts/postgres.sh could not start one (needs Debian's postgresql "
                    "and root); CI runs it")
    return url


@pytest.fixture
def pg_databases(pg_server: str) -> Iterator[Callable[[], str]]:
    """Makes fresh databases on the server for one test (dropped afterwards); returns their URLs."""
    import psycopg

    admin = pg_server.replace("postgresql+psycopg://", "postgresql://")
    made: list[str] = []

    def make() -> str:
        name = f"t_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return pg_server.rsplit("/", 1)[0] + f"/{name}"

    yield make
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in made:
            for attempt in range(20):
                try:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    break
                except psycopg.errors.InsufficientPrivilege:
                    # a server process of another role (autovacuum) is in the database, which FORCE
                    # may not end: it leaves within moments
                    if attempt == 19:
                        raise
                    time.sleep(0.5)


@pytest.fixture
def pg_url(pg_databases: Callable[[], str]) -> str:
    return pg_databases()


def _cli(args: list[str], **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "autometa.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONWARNINGS": "ignore", **env})


def _trials(storage: str, study: str) -> list[optuna.trial.FrozenTrial]:
    from autometa.search import _make_storage

    return optuna.load_study(study_name=study, storage=_make_storage(storage)).trials


def _wait_for_study(storage: str, study: str, proc: subprocess.Popen[str], timeout: float = 180) -> None:
    """Until the fit in ``proc`` has created its study (and started a trial)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if _trials(storage, study):
                return
        except (KeyError, FileNotFoundError, OSError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"the fit never created study '{study}'")


def _accounted(trials: list[optuna.trial.FrozenTrial]) -> None:
    """Every trial finished as complete, pruned or failed, with contiguous numbers."""
    assert [t.number for t in trials] == list(range(len(trials)))
    assert all(t.state.is_finished() for t in trials), [t.state for t in trials]


@pytest.mark.parametrize("backend", ["journal", "postgresql"])
def test_a_fit_with_local_workers_and_one_joining_from_another_process(backend: str, tmp_path: Path,
                                                                       request: pytest.FixtureRequest) -> None:
    storage = str(tmp_path / "s.journal") if backend == "journal" else request.getfixturevalue("pg_url")
    fit = _cli([*BASE, "--trials", "14", "--learners", "linear,knn,random_forest", "--storage", storage,
                "--study", "shared", "--n-workers", "2", "--output", str(tmp_path / "out")])
    _wait_for_study(storage, "shared", fit)
    joiner = _cli(["worker", "--storage", storage, "--study", "shared"])
    out, err = fit.communicate(timeout=400)
    _, werr = joiner.communicate(timeout=120)
    assert fit.returncode == 0, err
    assert joiner.returncode == 0 and "trials run by this worker" in werr, werr
    trials = _trials(storage, "shared")
    _accounted(trials)
    assert 14 <= len(trials) <= 14 + 2  # workers stop once the study has its trials; at most one each in flight
    assert len({t.user_attrs["worker"] for t in trials}) >= 2  # more than one process ran trials
    summary = json.loads(out)
    assert summary["n_trials"] == len(trials) and (tmp_path / "out" / "model" / "MLmodel").exists()


def test_worker_errors_are_one_line(tmp_path: Path) -> None:
    storage = str(tmp_path / "s.journal")
    proc = _cli(["worker", "--storage", storage, "--study", "nope"])
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "no study 'nope'" in err and len(err.strip().splitlines()) == 1
    proc = _cli(["worker", "--storage", "sqlite:///x.db", "--study", "s"])
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "SQLite" in err
    proc = _cli(["worker", "--storage", "postgresql+psycopg://u:secret@127.0.0.1:1/db", "--study", "s"])
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "cannot open the study storage" in err and "secret" not in err
    # the data moved away: the worker says where it looked
    data = tmp_path / "data.csv"
    data.write_bytes(EXAMPLE.read_bytes())
    fit = _cli([*BASE[:1], str(data), *BASE[2:], "--trials", "2", "--learners", "linear", "--storage", storage,
                "--study", "s2", "--output", str(tmp_path / "o")])
    assert fit.wait(timeout=300) == 0
    data.unlink()
    proc = _cli(["worker", "--storage", storage, "--study", "s2"])
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "cannot read the fit's data" in err and str(data) in err


def test_sigkill_of_a_worker_mid_trial_fails_and_retries_its_trial(pg_url: str, tmp_path: Path) -> None:
    env = {"AUTOMETA_HEARTBEAT_SECONDS": "1"}
    fit = _cli([*BASE, "--trials", "12", "--learners", "random_forest", "--storage", pg_url, "--study", "kill",
                "--output", str(tmp_path / "out")], **env)
    _wait_for_study(pg_url, "kill", fit)
    worker = _cli(["worker", "--storage", pg_url, "--study", "kill"], **env)
    victim = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline and worker.poll() is None:
        for t in _trials(pg_url, "kill"):
            if t.state == optuna.trial.TrialState.RUNNING and t.user_attrs.get("worker", "").endswith(
                    f":{worker.pid}"):
                victim = t.number
        time.sleep(0.1)
    assert victim is not None, "the worker never ran a trial"
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    out, err = fit.communicate(timeout=400)
    assert fit.returncode == 0, err
    trials = _trials(pg_url, "kill")
    _accounted(trials)
    assert trials[victim].state == optuna.trial.TrialState.FAIL  # failed by the heartbeat ...
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == victim]
    assert retried and retried[0].params == trials[victim].params  # ... and run again
    assert json.loads(out)["n_trials"] == len(trials)


def test_sigkill_of_a_local_worker_on_a_journal_fails_its_trial(tmp_path: Path) -> None:
    storage = str(tmp_path / "s.journal")
    fit = _cli([*BASE, "--trials", "10", "--learners", "random_forest", "--storage", storage, "--study", "kill",
                "--n-workers", "2", "--output", str(tmp_path / "out")])
    victim = None
    deadline = time.monotonic() + 180
    while victim is None and time.monotonic() < deadline and fit.poll() is None:
        try:
            for t in _trials(storage, "kill"):
                pid = int(t.user_attrs.get("worker", "x:0").rsplit(":", 1)[1])
                if t.state == optuna.trial.TrialState.RUNNING and pid not in (0, fit.pid):
                    victim = (t.number, pid)
        except (KeyError, ValueError, FileNotFoundError):  # no study yet
            pass
        time.sleep(0.1)
    assert victim is not None, "no worker ran a trial"
    os.kill(victim[1], signal.SIGKILL)
    out, err = fit.communicate(timeout=400)
    assert fit.returncode == 0, err
    trials = _trials(storage, "kill")
    _accounted(trials)
    assert trials[victim[0]].state == optuna.trial.TrialState.FAIL
    assert trials[victim[0]].user_attrs["error"] == "worker died during the trial"
    assert json.loads(out)["n_trials"] == len(trials)


def test_postgresql_restarted_mid_study(pg_url: str, tmp_path: Path) -> None:
    import shutil

    if os.geteuid() != 0 or shutil.which("pg_ctlcluster") is None:
        pytest.skip("restarting the server needs root and pg_ctlcluster")
    fit = _cli([*BASE, "--trials", "14", "--learners", "linear,knn", "--storage", pg_url, "--study", "restart",
                "--output", str(tmp_path / "out")])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and fit.poll() is None:
        try:
            if sum(t.state.is_finished() for t in _trials(pg_url, "restart")) >= 3:
                break
        except Exception:  # the study is not there yet
            pass
        time.sleep(0.2)
    cluster = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout.split()[:2]
    subprocess.run(["pg_ctlcluster", *cluster, "restart"], check=True, timeout=120)
    out, err = fit.communicate(timeout=400)
    assert fit.returncode == 0, err
    trials = _trials(pg_url, "restart")
    _accounted(trials)
    assert len(trials) >= 14 and json.loads(out)["n_trials"] == len(trials)


def test_meta_db_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    from autometa.meta.db import MetaDB
    from tests.test_meta_db import run, task_row

    db = MetaDB(pg_url)
    db.add_runs([run(), run(num_leaves=63)], task=task_row())
    stats = MetaDB(pg_url).stats()
    assert stats["runs"] == 2 and stats["tasks"] == 1 and stats["configurations"] == 2
    fit = _cli(["fit", str(EXAMPLE), "--target", "survived", "--no-tracking", "--trials", "2", "--learners",
                "linear", "--meta-db", pg_url, "--json", "--output", str(tmp_path / "o")])
    _, err = fit.communicate(timeout=300)
    assert fit.returncode == 0, err
    assert MetaDB(pg_url).stats()["runs_by_origin"]["user"] == 2


def test_study_meta_db_and_mlflow_on_one_postgresql_server(pg_databases: Callable[[], str], tmp_path: Path) -> None:
    """Optuna and MLflow each keep an ``alembic_version`` table, so they need a database each;
    the meta_db has its own schema and shares either."""
    from mlflow import MlflowClient

    from autometa.meta.db import MetaDB

    pg_url, tracking = pg_databases(), pg_databases()
    fit = _cli(["fit", str(EXAMPLE), "--target", "survived", "--trials", "3", "--learners", "linear,knn",
                "--n-jobs", "1", "--storage", pg_url, "--study", "all-in-one", "--meta-db", pg_url,
                "--tracking-uri", tracking, "--experiment", "pg", "--json", "--output", str(tmp_path / "o")],
               MLFLOW_ARTIFACTS_DESTINATION=str(tmp_path / "artifacts"))
    out, err = fit.communicate(timeout=400)
    assert fit.returncode == 0, err
    summary = json.loads(out)
    assert len(_trials(pg_url, "all-in-one")) == 3
    assert MetaDB(pg_url).stats()["runs_by_origin"].get("user") == 3
    client = MlflowClient(tracking)
    runs = client.search_runs([client.get_experiment_by_name("pg").experiment_id])
    assert summary["mlflow_run_id"] in {r.info.run_id for r in runs} and len(runs) == 4  # parent + 3 trials
