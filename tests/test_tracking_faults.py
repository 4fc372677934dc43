"""An MLflow store that cannot be reached: the fit goes on, warns once, and writes what waited
as soon as the store answers again."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Run

from autometa.data import AutoMetaWarning, make_task
from autometa.flow import FitOptions, fit_task
from autometa.records import TrialRecord
from autometa.spaces import Config
from autometa.tracking import MlflowTracker
from tests.conftest import mixed_frame


def record(n: int) -> TrialRecord:
    return TrialRecord(number=n, config=Config("linear", {"C": 1.0}), state="complete", value=0.8,
                       fold_scores=(0.8,), duration=0.1, source="sampler")


def fit_runs(uri: str) -> tuple[list[Run], list[Run]]:
    """Experiment "e"'s parent runs and child (trial) runs in the store at ``uri``."""
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("e").experiment_id])
    return ([r for r in runs if "mlflow.parentRunId" not in r.data.tags],
            [r for r in runs if "mlflow.parentRunId" in r.data.tags])


def test_runs_wait_for_the_store_and_are_written_when_it_answers(tmp_path: Path) -> None:
    blocker = tmp_path / "store"
    blocker.write_text("")  # a file where the store's folder must go: the store cannot open
    uri = f"sqlite:///{blocker}/mlflow.db"
    tracker = MlflowTracker(uri)
    tracker.retry_seconds = 0.0
    with pytest.warns(AutoMetaWarning, match="unreachable") as caught:
        assert tracker.start_fit(experiment="e", run_name="fit", params={"a": 1},
                                 tags={"autometa.kind": "fit"}) is None
        tracker.log_trial(record(0), "roc_auc")
        tracker.log_trial(record(1), "roc_auc")
        tracker.flush()  # (writes wait while the store opens on its thread: this one waits for it)
    assert len([w for w in caught if issubclass(w.category, AutoMetaWarning)]) == 1, [str(w.message) for w in caught]
    blocker.unlink()  # the store comes back
    tracker.log_trial(record(2), "roc_auc")
    tracker.finish_fit(metrics={"best_roc_auc": 0.8}, artifacts={})
    parents, children = fit_runs(uri)
    kids = sorted(int(r.data.tags["autometa.trial"]) for r in children)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED" and kids == [0, 1, 2]
    assert parents[0].data.params["a"] == "1" and tracker.run_id == parents[0].info.run_id


def test_writes_made_while_a_new_store_opens_are_written_in_order(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"  # a new file: MLflow creates its tables
    tracker = MlflowTracker(uri)  # starts opening the store on a thread
    tracker.start_fit(experiment="e", run_name="fit", params={"a": 1}, tags={"autometa.kind": "fit"})
    for n in range(3):
        tracker.log_trial(record(n), "roc_auc")
    tracker.finish_fit(metrics={"best_roc_auc": 0.8}, artifacts={})
    parents, kids = fit_runs(uri)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED" and tracker.run_id == parents[0].info.run_id
    assert parents[0].data.metrics["best_roc_auc"] == 0.8
    assert sorted(int(r.data.tags["autometa.trial"]) for r in kids) == [0, 1, 2]
    assert {r.data.tags["mlflow.parentRunId"] for r in kids} == {tracker.run_id}


@pytest.mark.slow
def test_a_fit_goes_on_when_the_tracking_server_is_down() -> None:
    task = make_task(mixed_frame(), "target", name="down")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit_task(task, FitOptions(n_trials=3, learners=("linear",), n_jobs=1, use_meta=False),
                          tracker=MlflowTracker("http://127.0.0.1:9"))
    ours = [str(w.message) for w in caught if issubclass(w.category, AutoMetaWarning)]
    assert result.n_trials == 3 and result.run_id is None
    assert len([m for m in ours if "unreachable (" in m]) == 1 and any("still unreachable" in m for m in ours)
