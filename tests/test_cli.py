"""The command line: fast start, fit and predict end to end, one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autometa.cli import main
from tests.conftest import EXAMPLE, mixed_frame, workbook_zip

HEAVY = ("torch", "mlflow", "lightgbm", "optuna", "sklearn")


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["autometa", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_does_not_import_heavy_modules() -> None:
    code = ("import sys; sys.argv=['autometa','--help']\n"
            "from autometa.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print('LOADED', [m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "fit" in out and "predict" in out
    assert "LOADED []" in out


@pytest.mark.slow
def test_fit_json_then_predict(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code, out, err = run_cli(["fit", str(EXAMPLE), "--target", "survived", "--trials", "4",
                              "--learners", "lightgbm,linear", "--output", "model_out",
                              "--tracking-uri", uri, "--json"], capsys, monkeypatch)
    assert code == 0, err
    summary = json.loads(out)
    assert {"best_score", "metric", "best_config", "n_trials", "model_dir", "mlflow_run_id"} <= set(summary)
    assert summary["metric"] == "roc_auc" and summary["n_trials"] == 4 and 0.6 < summary["best_score"] <= 1
    assert (tmp_path / "model_out" / "leaderboard.csv").exists()
    code, out, err = run_cli(["predict", "model_out", str(EXAMPLE), "--proba", "--output", "p.csv"],
                             capsys, monkeypatch)
    assert code == 0, err
    preds = pd.read_csv(tmp_path / "p.csv")
    assert list(preds.columns) == ["prediction", "proba_no", "proba_yes"] and len(preds) == 1309
    assert np.allclose(preds[["proba_no", "proba_yes"]].sum(axis=1), 1)


@pytest.mark.slow
def test_fit_shows_progress_and_leaderboard(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "reg.csv"
    mixed_frame(kind="regression").to_csv(path, index=False)
    code, out, err = run_cli(["fit", str(path), "--trials", "3", "--learners", "linear,knn",
                              "--no-tracking", "--output", "o"], capsys, monkeypatch)
    assert code == 0, err
    assert "Leaderboard (rmse" in out and "autometa predict" in out
    assert "search" in err and "3/3" in err


def _write(tmp_path: Path, name: str, content: bytes | str) -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


BAD_INPUTS = {
    "missing file": (None, [], "not found"),
    "unreadable format": (b"\x89PNG\r\n\x1a\n\x00\x00IHDR", [], "binary"),
    "spreadsheet": (workbook_zip(), [], "Excel workbook; save the sheet as CSV"),
    "damaged archive": (b"PK\x03\x04\x14\x00\x06\x00xl/workbook.xml", [], "damaged zip file"),
    "empty file": (b"", [], "is empty"),
    "header only": ("a,b,target\n", [], "no data rows"),
    "target absent": ("age,income,label\n1,2,0\n3,4,1\n", ["--target", "incme"], "did you mean 'income'"),
    "constant target": ("a,target\n" + "".join(f"{i},1\n" for i in range(30)), [], "only one class"),
    "one class": ("a,target\n" + "".join(f"{i},x\n" for i in range(30)), [], "only one class"),
    "all-NaN columns": ("a,b,target\n" + ",,1\n,,0\n" * 10, [], "no usable feature columns"),
    "duplicate columns": ("a,a,target\n1,2,0\n3,4,1\n", [], "duplicate column name 'a'"),
    "fewer rows than folds": ("a,target\n0.1,1.5\n0.7,2.5\n0.3,3.5\n", [], "fewer than the 5"),
    "bad metric": ("a,target\n" + "".join(f"{i * 0.37},{i % 2}\n" for i in range(30)), ["--metric", "rmse"],
                   "does not apply"),
    "bad learner": ("a,target\n" + "".join(f"{i * 0.37},{i % 2}\n" for i in range(30)), ["--learners", "svm"],
                    "unknown or unavailable learner"),
    "bad trials": ("a,target\n" + "".join(f"{i * 0.37},{i % 2}\n" for i in range(30)), ["--trials", "0"],
                   ">= 1"),
    "bad task": ("a,target\n1,2\n", ["--task", "ranking"], "task kind must be"),
    "bad time budget": ("a,target\n1,2\n", ["--time-budget", "-5"], "--time-budget must be a positive"),
    "bad trial timeout": ("a,target\n1,2\n", ["--trial-timeout", "0"], "--trial-timeout must be a positive"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    content, extra, match = BAD_INPUTS[case]
    path = str(tmp_path / "missing.csv") if content is None else _write(tmp_path, "data.csv", content)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["fit", path, "--trials", "2", "--no-tracking", "-q", *extra], capsys, monkeypatch)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0], err
    assert "Traceback" not in err


def test_messy_but_usable_data_fits_with_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    n = 80
    mixed = [str(v) for v in rng.normal(size=n)]
    mixed[3], mixed[9] = "n/a", "?"
    df = pd.DataFrame({"num": mixed, "inf": np.where(np.arange(n) % 10 == 0, np.inf, rng.normal(size=n)),
                       "zip": [f"z{v}" for v in rng.integers(0, 60, n)],
                       "y": rng.choice(["a", "b"], n)})
    df.to_csv(tmp_path / "messy.csv", index=False)
    (tmp_path / "latin.csv").write_bytes(df.assign(city="Zürich").to_csv(index=False).encode("cp1252"))
    monkeypatch.chdir(tmp_path)
    for name in ("messy.csv", "latin.csv"):
        code, _, err = run_cli(["fit", name, "--trials", "2", "--learners", "linear", "--no-tracking",
                                  "--output", "o"], capsys, monkeypatch)
        assert code == 0, err
        assert "warning:" in err and "Traceback" not in err


def test_predict_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run_cli(["predict", str(tmp_path), str(EXAMPLE)], capsys, monkeypatch)
    assert code == 2 and "no saved model" in err


@pytest.mark.slow
def test_ctrl_c_leaves_study_and_runs_consistent(tmp_path: Path) -> None:
    import os
    import signal
    import time

    import mlflow
    import optuna

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cmd = [sys.executable, "-m", "autometa.cli", "fit", str(EXAMPLE), "--target", "survived", "--trials", "500",
           "--learners", "lightgbm,linear", "--tracking-uri", uri, "--output", str(tmp_path / "out"),
           "--experiment", "interrupt", "--n-jobs", "1", "-q"]
    # a shell's background job inherits SIGINT ignored, and Python then never raises KeyboardInterrupt
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    journal = tmp_path / "out" / "study.journal"

    def finished_trials() -> list:
        if not journal.exists():
            return []
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
        summaries = optuna.get_all_study_summaries(storage)
        if not summaries:
            return []
        trials = optuna.load_study(study_name=summaries[0].study_name, storage=storage).trials
        return [t for t in trials if t.state.is_finished()]

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and len(finished_trials()) < 3:
        time.sleep(0.5)
    assert proc.poll() is None and len(finished_trials()) >= 3, proc.stderr.read() if proc.stderr else ""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err

    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name("interrupt")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    kids = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "KILLED"
    assert all(r.info.status in ("FINISHED", "FAILED") for r in kids)

    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    (summary,) = optuna.get_all_study_summaries(storage)
    trials = optuna.load_study(study_name=summary.study_name, storage=storage).trials
    assert all(t.state.is_finished() for t in trials)  # the trial in flight was closed as failed
    done = [t for t in trials if t.state != optuna.trial.TrialState.FAIL]
    assert {t.number for t in done} <= {int(r.data.tags["autometa.trial"]) for r in kids}

    # resume: the finished trials count, none is repeated, and the model is saved
    total = len(trials) + 2
    resumed = subprocess.run([*cmd[:cmd.index("--trials")], "--trials", str(total),
                              *cmd[cmd.index("--trials") + 2:], "--resume", "--json"],
                             capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    again = optuna.load_study(study_name=summary.study_name, storage=storage).trials
    assert len(again) == total and [t.number for t in again] == list(range(total))
    assert [t.params for t in again[: len(trials)]] == [t.params for t in trials]
    assert (tmp_path / "out" / "model" / "MLmodel").exists()


def test_resume_needs_the_same_data_and_a_fit_to_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    base = ["fit", str(EXAMPLE), "--target", "survived", "--trials", "2", "--learners", "linear", "--no-tracking",
            "--no-record", "--no-meta", "-q"]
    code, _, err = run_cli([*base, "--resume"], capsys, monkeypatch)
    assert code == 2 and "--resume needs --output" in err
    code, _, err = run_cli([*base, "--output", "empty", "--resume"], capsys, monkeypatch)
    assert code == 2 and "no fit to resume in 'empty'" in err
    assert run_cli([*base, "--output", "o"], capsys, monkeypatch)[0] == 0
    code, _, err = run_cli([*base[:3], "age", *base[4:], "--output", "o", "--resume"], capsys, monkeypatch)
    assert code == 2 and "the data differ" in err and len(err.strip().splitlines()) == 1
    code, out, _ = run_cli([*base[:-1], "--json", "--output", "o", "--resume", "--trials", "4"], capsys, monkeypatch)
    assert code == 0 and '"n_trials": 4' in out


def test_the_final_ensemble_s_members_are_counted_in_words() -> None:
    from autometa.cli import _members

    assert _members({3: 0.5, 7: 0.25, "L2:3": 0.25}) == "2 trials and 1 second-level run"
    assert _members({"L2:3": 1.0}) == "1 second-level run"
    assert _members({3: 0.6, 7: 0.4}) == "2 trials"
    assert _members({3: 1.0, "L2:3": 0.5, "L2:7": 0.5}) == "1 trial and 2 second-level runs"


@pytest.mark.slow
def test_a_time_budget_alone_runs_past_the_default_30_trials(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """`fit --time-budget` without --trials lets the time decide: cheap linear trials run past 30."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["fit", str(EXAMPLE), "--target", "survived", "--time-budget", "20",
                              "--learners", "linear", "--no-tracking", "--no-record", "--no-meta",
                              "--output", "m", "--json"], capsys, monkeypatch)
    assert code == 0, err
    assert json.loads(out)["n_trials"] > 30


def test_the_command_s_entry_runs_main_then_spares_the_exit_its_collections(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    import autometa.cli as cli

    ran: list[bool] = []
    monkeypatch.setattr(cli, "main", lambda: ran.append(True))
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        cli.entry()
        assert ran == [True] and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # this test process goes on collecting
    out = subprocess.run([sys.executable, "-m", "autometa.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "fit" in out.stdout
