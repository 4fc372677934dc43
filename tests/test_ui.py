"""The experiment history as users browse it: run structure in MLflow, `autometa history`,
`autometa ui`, and a real headless Chromium on the MLflow UI (Debian's browser, no download)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from autometa.data import make_task
from autometa.flow import FitOptions, fit_task
from autometa.meta.db import MetaDB
from autometa.tracking import MlflowTracker
from tests.conftest import mixed_frame
from tests.test_cli import run_cli
from tests.test_recommend import fill

pytestmark = [pytest.mark.filterwarnings("ignore::autometa.data.AutoMetaWarning"), pytest.mark.slow]

CHROMIUM = os.environ.get("AUTOMETA_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path, int]:
    """A store holding one fit with recommended trials, a registered model and its data file."""
    folder = tmp_path_factory.mktemp("ui")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    db = MetaDB(folder / "meta.sqlite")
    fill(db, n_groups=6)
    frame = mixed_frame(n=200)
    path = folder / "churn.csv"
    frame.to_csv(path, index=False)
    task = make_task(frame, "target", name="churn")
    options = FitOptions(n_trials=12, learners=("lightgbm", "linear"), n_jobs=1, meta_top_k=3, record=False,
                         output_dir=folder / "out")
    result = fit_task(task, options, tracker=MlflowTracker(uri, register="churn-model"), db=db,
                      source={"path": str(path), "target": "target", "task": "auto"})
    assert result.run_id is not None and result.recommendation is not None
    return uri, result.run_id, path, len(result.recommendation.suggestions)


def test_a_wide_table_s_dataset_schema_comes_from_fewer_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow checks each cell of the sample its dataset schema is inferred from: a wide table's
    sample has fewer rows (``SCHEMA_CELLS``), every column still in the schema, and the profile
    counts the whole table."""
    import mlflow.data.pandas_dataset as pandas_dataset
    import numpy as np
    import pandas as pd

    from autometa.tracking import SCHEMA_CELLS, DatasetRef, _dataset_input

    shapes: list[tuple[int, int]] = []
    real = pandas_dataset.from_pandas

    def from_pandas(df, **kwargs):  # type: ignore[no-untyped-def]
        shapes.append(df.shape)
        return real(df, **kwargs)

    monkeypatch.setattr(pandas_dataset, "from_pandas", from_pandas)
    for columns, rows in ((50, 1000), (1500, SCHEMA_CELLS // 1501)):
        frame = pd.DataFrame(np.ones((3000, columns)), columns=[f"c{i}" for i in range(columns)]).assign(target=0)
        entity = _dataset_input(DatasetRef(frame, "wide", "d" * 36, "target")).dataset
        assert shapes.pop() == (rows, columns + 1)
        assert len(json.loads(entity.schema)["mlflow_colspec"]) == columns + 1
        assert json.loads(entity.profile) == {"num_rows": 3000, "num_elements": 3000 * (columns + 1)}


def test_parent_run_reads_like_a_lab_notebook(fitted: tuple[str, str, Path, int]) -> None:
    uri, run_id, path, _ = fitted
    client = mlflow.MlflowClient(uri)
    parent = client.get_run(run_id)
    assert parent.info.run_name.startswith("fit churn ")
    note = parent.data.tags["mlflow.note.content"]
    assert "autometa fit** of `churn`" in note and "nearest past tasks" in note and "**Result:** best roc_auc" in note
    assert parent.data.params["meta.strategy"] != "off" and "(" in parent.data.params["meta.nearest_tasks"]
    assert any(k.startswith("mf.") for k in parent.data.metrics)
    [inp] = parent.inputs.dataset_inputs
    assert inp.dataset.name == "churn" and json.loads(inp.dataset.source)["uri"] == str(path)
    assert "target" in inp.dataset.schema and inp.dataset.digest
    assert json.loads(inp.dataset.profile)["num_rows"] == 200  # the whole table's, schema from a sample
    assert {t.key: t.value for t in inp.tags}["mlflow.data.context"] == "training"
    plots = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert plots == {"plots/optimization_history.png", "plots/anytime_curve.png", "plots/param_importances.png"}
    assert {a.path for a in client.list_artifacts(run_id)} >= {"leaderboard.csv", "meta"}
    [logged] = parent.outputs.model_outputs  # the final model, logged from this run
    [version] = client.search_model_versions("name='churn-model'")
    assert version.run_id == run_id and logged.model_id in version.source


def test_trial_runs_say_whether_the_meta_learner_recommended_them(fitted: tuple[str, str, Path, int]) -> None:
    uri, run_id, _, k = fitted
    client = mlflow.MlflowClient(uri)
    children = client.search_runs([client.get_run(run_id).info.experiment_id],
                                  f"tags.`mlflow.parentRunId` = '{run_id}'")
    assert len(children) == 12
    tags = {int(c.data.tags["autometa.trial"]): c.data.tags for c in children}
    recommended = sorted(n for n, t in tags.items() if t["autometa.recommended"] == "true")
    assert k >= 1 and recommended == list(range(k))  # the recommended configurations run first
    for n in recommended:
        assert tags[n]["autometa.source"] == "meta" and tags[n]["autometa.recommendation_rank"] == str(n + 1)
        assert 0.0 <= float(tags[n]["autometa.predicted_percentile"]) <= 1.0
    assert all("autometa.predicted_percentile" not in tags[n] for n in tags if n not in recommended)
    child = next(c for c in children if c.data.tags["autometa.trial"] == "0")
    assert {"roc_auc", "roc_auc_fold0", "duration_s"} <= set(child.data.metrics)
    assert child.data.params["learner"] == child.data.tags["autometa.learner"]


def test_history_lists_fits_newest_first(fitted: tuple[str, str, Path, int], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    uri, run_id, _, _ = fitted
    task = make_task(mixed_frame(n=120, kind="regression"), "target", name="prices")
    later = fit_task(task, FitOptions(n_trials=2, learners=("linear",), n_jobs=1, use_meta=False, ensemble=False),
                     tracker=MlflowTracker(uri))
    code, out, _ = run_cli(["history", "--tracking-uri", uri, "--json"], capsys, monkeypatch)
    assert code == 0
    fits = json.loads(out)
    assert [f["run_id"] for f in fits][:2] == [later.run_id, run_id]
    assert fits[0]["dataset"] == "prices" and fits[0]["metric"] == "rmse"
    assert fits[0]["best_score"] == pytest.approx(later.best_score) and fits[0]["n_trials"] == 2
    code, out, _ = run_cli(["history", "--tracking-uri", uri, "--experiment", "churn"], capsys, monkeypatch)
    assert code == 0 and run_id in out and later.run_id not in out
    code, _, err = run_cli(["history", "--tracking-uri", f"sqlite:///{tmp_path / 'none.db'}"], capsys, monkeypatch)
    assert code == 2 and err.count("\n") == 1 and "no MLflow store" in err
    assert not (tmp_path / "none.db").exists()


def test_ui_refuses_a_busy_port(fitted: tuple[str, str, Path, int], capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run_cli(["ui", "--tracking-uri", fitted[0], "--port", str(port)], capsys, monkeypatch)
    assert code == 2 and f"port {port}" in err and "--port" in err and err.count("\n") == 1


def test_a_fit_into_a_tracking_server_keeps_stdout_clean(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from autometa.ui import UiServer

    with UiServer(f"sqlite:///{tmp_path / 'server.db'}", port=0, log=tmp_path / "server.log") as server:
        task = make_task(mixed_frame(n=120), "target", name="served")
        capfd.readouterr()
        result = fit_task(task, FitOptions(n_trials=3, learners=("linear",), n_jobs=1, use_meta=False,
                                           ensemble=False), tracker=MlflowTracker(server.url))
        out = capfd.readouterr().out
        runs = mlflow.MlflowClient(server.url).search_runs([mlflow.MlflowClient(server.url).get_run(
            result.run_id).info.experiment_id])
    assert "View run" not in out and out.strip() == ""  # `autometa fit --json` prints only its JSON
    assert len(runs) == 4  # the fit and its 3 trials, over HTTP


def _start_ui(uri: str, log: Path) -> tuple[subprocess.Popen[str], str]:
    """``autometa ui`` as a user runs it; returns the process and the UI's address."""
    exe = Path(sys.executable).parent / "autometa"
    proc = subprocess.Popen([str(exe), "ui", "--tracking-uri", uri, "--port", "0"], stdout=subprocess.PIPE,
                            stderr=log.open("w"), text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # stoppable by Ctrl-C
    assert proc.stdout is not None
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("MLflow UI: "):
            return proc, line.split(": ", 1)[1].strip()
    proc.kill()
    raise AssertionError(f"autometa ui did not start: {log.read_text()[-2000:]}")


def test_mlflow_ui_shows_the_fit_in_a_real_browser(fitted: tuple[str, str, Path, int], tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; scripts/chromium.sh)")
    uri, run_id, _, _ = fitted
    client = mlflow.MlflowClient(uri)
    parent = client.get_run(run_id)
    best = parent.data.metrics["best_roc_auc"]
    shots = Path(os.environ.get("AUTOMETA_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    proc, base = _start_ui(uri, tmp_path / "ui.log")
    page_url = f"{base}/#/experiments/{parent.info.experiment_id}/runs"
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                                        "--disable-dev-shm-usage"])
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(page_url)
            expect = sync_api.expect
            expect(page.get_by_text(parent.info.run_name).first).to_be_visible(timeout=60_000)
            expect(page.get_by_text("13 matching runs")).to_be_visible(timeout=30_000)  # the fit and its trials
            # the parent row's expander (first button of its run-name cell) shows the 12 trial runs
            row = page.locator("[role=row]").filter(has_text=parent.info.run_name).first
            row.locator("[col-id*='Run Name'] button").first.click()
            expect(page.get_by_text("trial-0", exact=True).first).to_be_visible(timeout=30_000)
            expect(page.get_by_text("trial-11", exact=True).first).to_be_visible(timeout=30_000)
            page.screenshot(path=str(shots / "mlflow_runs.png"), full_page=True)
            page.goto(f"{page_url}/{run_id}")
            expect(page.get_by_text("best_roc_auc").first).to_be_visible(timeout=60_000)
            expect(page.get_by_text(f"{best:.4f}"[:5]).first).to_be_visible(timeout=30_000)
            page.screenshot(path=str(shots / "mlflow_parent_run.png"), full_page=True)
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    assert (shots / "mlflow_runs.png").stat().st_size > 10_000


def test_history_and_ui_refuse_a_file_that_is_not_an_mlflow_store(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    MetaDB(tmp_path / "meta.sqlite")  # a SQLite file, but autometa's meta-database
    uri = f"sqlite:///{tmp_path / 'meta.sqlite'}"
    for args in (["history", "--tracking-uri", uri], ["ui", "--tracking-uri", uri, "--port", "0"]):
        code, _, err = run_cli(args, capsys, monkeypatch)
        assert code == 2 and "cannot read the MLflow store" in err and err.count("\n") == 1, err
    code, _, err = run_cli(["ui", "--tracking-uri", uri, "--port", "70000"], capsys, monkeypatch)
    assert code == 2 and "--port 70000 is not a TCP port" in err  # the port is checked before the store is read


def test_the_result_note_says_how_a_single_final_model_was_made() -> None:
    from autometa.records import TrialRecord
    from autometa.report import result_note
    from autometa.spaces import Config

    best = TrialRecord(3, Config("lightgbm", {}), "complete", 0.9, source="meta")
    assert "refitted on all rows" in result_note("", [best], "roc_auc", best, None)
    bagged = result_note("", [best], "roc_auc", best, None, refit=False)
    assert "no refit" in bagged and "recommended by the meta-learner" in bagged
    assert "an ensemble of the best trials, out-of-fold roc_auc 0.95" in result_note("", [best], "roc_auc", best, 0.95)
    grown = TrialRecord(4, Config("lightgbm", {}), "complete", 0.91, source="grown")
    assert "with more rounds" in result_note("", [best, grown], "roc_auc", grown, None)
