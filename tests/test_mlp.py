"""The PyTorch MLP learner: learns, is seeded, stops early, respects deadlines, saves without torch
types, and runs the same code on CUDA (where there is a GPU) as on the CPU."""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest

from autometa.errors import TrialTimeout
from autometa.learners import get_learner
from autometa.learners.mlp import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::autometa.data.AutoMetaWarning")


def blobs(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    return X, np.where(X[:, 0] + 0.5 * X[:, 1] ** 2 > 0.5, "yes", "no")


def devices() -> list[str]:
    import torch

    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


@pytest.mark.parametrize("device", [
    "cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_mlp_learns_and_is_seeded(device: str) -> None:
    if device not in devices():
        pytest.skip("no CUDA device here (the device tool's GPU machine runs this)")
    X, y = blobs()
    a = MLPClassifier(epochs=40, random_state=3, device=device).fit(X[:500], y[:500])
    b = MLPClassifier(epochs=40, random_state=3, device=device).fit(X[:500], y[:500])
    assert a.score(X[500:], y[500:]) > 0.85
    assert set(a.classes_) == {"no", "yes"} and a.predict_proba(X[:3]).sum(axis=1) == pytest.approx(1.0)
    if device == "cpu":  # bitwise reproducible on the CPU
        assert all(np.array_equal(p, q) for p, q in zip(a.coefs_, b.coefs_, strict=True))
    rng = np.random.default_rng(1)
    Xr = rng.normal(size=(600, 5))
    yr = Xr @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + 100.0
    reg = MLPRegressor(epochs=80, random_state=0, device=device).fit(Xr[:500], yr[:500])
    assert reg.score(Xr[500:], yr[500:]) > 0.9  # R^2, on the target's own scale


def test_early_stopping_restores_the_best_epoch_and_ends_sooner() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 4)), rng.normal(size=300)  # nothing to learn: validation loss rises
    model = MLPRegressor(epochs=200, patience=5, width=256, learning_rate=0.01, random_state=0).fit(X, y)
    assert model.stopped_early_ and model.n_epochs_ < 200
    assert 1 <= model.best_epoch_ == model.n_epochs_ - 5  # patience epochs past the kept one


def test_a_cross_validation_records_the_epoch_early_stopping_kept() -> None:
    from autometa.data import make_task
    from autometa.evaluate import cross_validate, plan_cv
    from autometa.metrics import get_metric
    from autometa.spaces import Config
    from tests.conftest import mixed_frame

    task = make_task(mixed_frame(n=300), "target")
    learner = get_learner("mlp")
    config = learner.space.default_config(task.kind)
    config = Config("mlp", {**config.params, "epochs": 150, "learning_rate": 0.02})
    ev = cross_validate(task, config, learner, get_metric(None, task.kind), plan_cv(task, 3))
    kept = sorted(m[-1].best_epoch_ for m in ev.models)
    assert ev.fidelity == 150 and ev.reached == kept[1] < 150  # the median fold's


def test_staged_fit_reports_each_stage_and_stops_at_the_deadline() -> None:
    from autometa.data import make_task
    from tests.conftest import mixed_frame

    task = make_task(mixed_frame(n=300), "target")
    learner = get_learner("mlp")
    config = learner.space.default_config(task.kind)
    pipe = learner.pipeline(config, task.columns, task.kind)
    seen: list[int] = []
    predictions = []

    def stage(value: int) -> None:
        seen.append(value)
        predictions.append(pipe.predict_proba(task.X))

    learner.fit(pipe, task.X, task.y, on_stage=stage)
    assert seen == [6, 18, 54] and all(p.shape == (300, 2) for p in predictions)
    pipe = learner.pipeline(config, task.columns, task.kind)
    with pytest.raises(TrialTimeout):
        learner.fit(pipe, task.X, task.y, deadline=time.monotonic() - 1)


@pytest.mark.slow
def test_a_fitted_mlp_saves_and_loads_without_torch_types(tmp_path: Path) -> None:
    import subprocess
    import sys

    from autometa.data import make_task
    from autometa.flow import FitOptions, fit_task
    from tests.conftest import mixed_frame

    task = make_task(mixed_frame(n=200, kind="multiclass"), "target", name="mlp")
    result = fit_task(task, FitOptions(n_trials=3, learners=("mlp",), n_jobs=1, use_meta=False,
                                       output_dir=tmp_path / "out"))
    assert {r.config.learner for r in result.records} == {"mlp"} and result.best_score < 1.2
    mlmodel = (tmp_path / "out" / "model" / "MLmodel").read_text()
    assert "autometa.learners.mlp.MLPClassifier" in mlmodel and "torch" not in mlmodel
    # a fresh process loads the saved model (its weights are NumPy arrays) and predicts raw rows
    code = ("import pandas as pd; from autometa.tracking import load_model; "
            f"m = load_model({str(tmp_path / 'out' / 'model')!r}); "
            f"print(len(m.predict(pd.read_csv({str(tmp_path / 'x.csv')!r}))))")
    task.X.to_csv(tmp_path / "x.csv", index=False)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["200"]


@pytest.mark.parametrize("curriculum", ["none", "easy_to_hard", "anti", "self_paced"])
@pytest.mark.parametrize("schedule", ["constant", "cosine", "onecycle", "warmup"])
def test_every_curriculum_and_schedule_trains_and_is_seeded(curriculum: str, schedule: str) -> None:
    X, y = blobs(400)
    kwargs = {"epochs": 30, "random_state": 1, "curriculum": curriculum, "lr_schedule": schedule,
              "pace_start": 0.3, "learning_rate": 3e-3}
    a = MLPClassifier(**kwargs).fit(X[:300], y[:300])
    b = MLPClassifier(**kwargs).fit(X[:300], y[:300])
    assert all(np.array_equal(p, q) for p, q in zip(a.coefs_, b.coefs_, strict=True))
    assert a.score(X[300:], y[300:]) > 0.75, (curriculum, schedule)  # the majority class is about 0.6
    rng = np.random.default_rng(2)
    Xr = rng.normal(size=(300, 4))
    yr = Xr @ np.array([1.0, -1.0, 2.0, 0.0])
    assert MLPRegressor(**kwargs).fit(Xr[:240], yr[:240]).score(Xr[240:], yr[240:]) > 0.8


def test_a_curriculum_trains_the_first_epochs_on_the_easy_rows() -> None:
    from autometa.learners.curriculum import lr_factor, pace

    assert pace(0, 20, 0.25) == 0.25 and pace(10, 20, 0.25) == 1.0 and pace(5, 20, 0.25) == pytest.approx(0.625)
    assert lr_factor("warmup", 0, 100) == pytest.approx(0.1) and lr_factor("warmup", 50, 100) == 1.0
    assert lr_factor("onecycle", 30, 100) == pytest.approx(1.0) and lr_factor("cosine", 100, 100) == pytest.approx(0)
    X, y = blobs(300)
    model = MLPClassifier(epochs=10, curriculum="easy_to_hard", pace_start=0.2, batch_size=32)
    model._start(X, y)
    rows = model._rows(0.2, nullcontext())
    order = model._order
    assert len(rows) == int(0.2 * len(model._data["x"])) and bool((rows == order[: len(rows)]).all())
    anti = MLPClassifier(epochs=10, curriculum="anti", pace_start=0.2, batch_size=32)
    anti._start(X, y)
    assert bool((anti._order == order.flip(0)).all())  # the same ranking, hardest first
