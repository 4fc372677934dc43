"""Fidelity schedules and curriculum advice: the schedules' grammar, the pruner that keeps each
family's best share at its rungs, the replayed searches on learning curves, and advice learnt from
a real SQLite meta_db in which the right answer is known (the synthetic world of test_recommend,
with MLP curriculum runs and learning curves added)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest

from autometa.errors import OptionError
from autometa.meta.curricula import advise_curriculum, variant_gains
from autometa.meta.db import CurveRow, MetaDB, RunRow
from autometa.meta.experience import Experience
from autometa.meta.fidelity import _Curves, advise_fidelity, curves_for, replay
from autometa.meta.portfolio import build_portfolio
from autometa.meta.recommend import Recommender
from autometa.schedules import CANDIDATES, CURVE_FRACTIONS, MEDIAN, NONE, format_schedules, parse_schedules
from autometa.search import SameLearnerPruner
from autometa.spaces import load_spaces
from tests.test_recommend import fill

pytestmark = pytest.mark.filterwarnings("ignore::autometa.data.AutoMetaWarning")


# ---------------------------------------------------------------------------- the grammar


def test_schedules_parse_for_all_learners_or_each_and_round_trip() -> None:
    learners = ["lightgbm", "mlp", "random_forest"]
    every = parse_schedules("1/9:3", learners)
    assert isinstance(every, dict) and {s.name for s in every.values()} == {"1/9:3"}
    assert [round(f, 4) for f in every["mlp"].fractions] == [0.1111, 0.3333, 1.0] and every["mlp"].keep == 1 / 3
    per = parse_schedules("lightgbm=1/16:4,mlp=none", learners)
    assert isinstance(per, dict)
    assert (per["lightgbm"].name, per["mlp"], per["random_forest"]) == ("1/16:4", NONE, MEDIAN)
    assert parse_schedules(format_schedules(per), learners) == per
    assert parse_schedules("hyperband", learners) == "hyperband" and parse_schedules("auto", learners) == "auto"
    assert all(len(s.fractions) <= 3 and s.fractions[-1] == 1.0 for s in CANDIDATES.values())
    assert NONE.fractions == (1.0,) and MEDIAN.fractions == (1 / 9, 1 / 3, 1.0)


@pytest.mark.parametrize("spec", ["fast", "1/9:1", "2:3", "1/100:2", "xgb=median", "lightgbm=1/9"])
def test_a_bad_schedule_is_one_clear_error(spec: str) -> None:
    with pytest.raises(OptionError) as err:
        parse_schedules(spec, ["lightgbm"])
    assert "\n" not in str(err.value) and ("fidelity schedule" in str(err.value))


# ---------------------------------------------------------------------------- the pruner


def _study_with_peers(pruner: optuna.pruners.BasePruner, values: list[float]) -> optuna.Study:
    study = optuna.create_study(direction="maximize", pruner=pruner)
    dist = {"learner": optuna.distributions.CategoricalDistribution(["a", "b"])}
    for v in values:
        study.add_trial(optuna.trial.create_trial(params={"learner": "a"}, distributions=dist, value=v,
                                                  intermediate_values={0: v}))
    return study


def _pruned(study: optuna.Study, value: float, learner: str = "a") -> bool:
    study.enqueue_trial({"learner": learner})
    trial = study.ask()
    trial.suggest_categorical("learner", ["a", "b"])
    trial.report(value, 0)
    return trial.should_prune()


def test_the_pruner_keeps_each_families_best_share_at_a_rung() -> None:
    peers = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    sh = _study_with_peers(SameLearnerPruner("maximize", {"a": CANDIDATES["1/9:3"]}), peers)
    median = _study_with_peers(SameLearnerPruner("maximize", {"a": MEDIAN}), peers)
    none = _study_with_peers(SameLearnerPruner("maximize", {"a": NONE}), peers)
    assert _pruned(sh, 0.4) and not _pruned(median, 0.4) and not _pruned(none, 0.05)  # 1/3 vs 1/2 kept
    assert not _pruned(sh, 0.58) and _pruned(median, 0.3)
    assert not _pruned(sh, 0.0, learner="b")  # no peers of its own family


# ---------------------------------------------------------------------------- replays


def _curves(n: int, informative: bool, seed: int) -> _Curves:
    """``n`` configurations: their full scores spread over [0, 1]; early scores rank them as the
    full ones do (``informative``) or in reverse; seconds grow with the fraction."""
    rng = np.random.default_rng(seed)
    full = rng.permutation(np.linspace(0.0, 1.0, n))
    early = full if informative else 1.0 - full
    fr = np.array(CURVE_FRACTIONS)
    scores = np.where(fr < 1.0, early[:, None] * 0.5, full[:, None])
    seconds = np.tile(fr * 10.0, (n, 1))
    return _Curves(fr, scores, seconds)


def test_a_replay_rewards_pruning_when_early_scores_rank_as_late_ones_do() -> None:
    good = replay(_curves(8, True, 0), CANDIDATES.values())
    bad = replay(_curves(8, False, 0), CANDIDATES.values())
    assert good["1/16:4"] > good["none"] and good["1/9:3"] > good["none"]
    assert bad["1/16:4"] < bad["none"]
    curves = {(f"t{i}", "random_forest"): _curves(8, True, i) for i in range(6)}
    curves |= {(f"t{i}", "lightgbm"): _curves(8, False, i) for i in range(6)}
    advice = advise_fidelity(curves, [f"t{i}" for i in range(6)], ["random_forest", "lightgbm", "knn"])
    assert advice["random_forest"].schedule != NONE and advice["lightgbm"].schedule == NONE
    assert "knn" not in advice and "nearest past tasks" in advice["random_forest"].reason


# ---------------------------------------------------------------------------- advice from a meta_db


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> MetaDB:
    """test_recommend's world, plus: on cluster A the easy-to-hard curriculum helps a network and
    forests' early scores rank configurations as their full ones do; on cluster B no curriculum
    helps and early scores rank them in reverse."""
    db = MetaDB(tmp_path_factory.mktemp("schedules") / "meta.sqlite")
    fill(db)
    rng = np.random.default_rng(1)
    spaces = load_spaces()
    mlp = build_portfolio({"mlp": spaces["mlp"]}, 7)
    forest = build_portfolio({"random_forest": spaces["random_forest"]}, 8)
    tasks = db.frame("tasks")
    for rec in tasks.itertuples(index=False):
        cluster_a = rec.name.endswith("A")
        maximize = rec.kind != "regression"
        runs = []
        for slot in mlp:
            params = slot.config(spaces["mlp"], rec.kind).params
            helped = cluster_a and params.get("curriculum") == "easy_to_hard"
            quality = 0.6 + (0.25 if helped else 0.0) + float(rng.normal(scale=0.01))
            runs.append(RunRow(task_digest=rec.digest, learner="mlp", space_version=slot.space_version,
                               params=params, metric="roc_auc" if maximize else "rmse",
                               direction="maximize" if maximize else "minimize",
                               score=quality if maximize else 10 * (1 - quality), fold_scores=(), fit_seconds=0.1,
                               status="ok", origin="corpus", cv="5-fold CV", slot=slot.name, fidelity=20))
        db.add_runs(runs)
        c = _curves(8, cluster_a, int(rng.integers(1 << 30)))
        points = []
        for i, slot in enumerate(forest):
            params = slot.config(spaces["random_forest"], rec.kind).params
            for j, f in enumerate(c.fractions):
                score = float(c.scores[i, j])
                points.append(CurveRow(task_digest=rec.digest, learner="random_forest", slot=slot.name,
                                       space_version=slot.space_version, params=params,
                                       metric="roc_auc" if maximize else "rmse",
                                       direction="maximize" if maximize else "minimize", fidelity=int(100 * f),
                                       fraction=float(f), score=score if maximize else -score,
                                       seconds=float(c.seconds[i, j])))
        db.add_curves(points)
    return db


def test_advice_follows_the_nearest_tasks(world: MetaDB) -> None:
    exp = Experience.from_db(world)
    gains = variant_gains(exp)
    assert set(zip(gains["curriculum"], gains["lr_schedule"], strict=True)) == {
        ("easy_to_hard", "constant"), ("anti", "constant"), ("self_paced", "constant"), ("none", "cosine"),
        ("none", "onecycle"), ("none", "warmup")}
    rec = Recommender("knn").fit(exp)
    tasks = exp.tasks
    curves = curves_for(world)
    for digest in ("g0-t0", "g1-t0"):  # cluster A, then cluster B
        mf = tasks.loc[digest, list(tasks.columns[6:])].to_dict()
        advice = rec.advise_curriculum(mf, "binary")
        schedule = rec.advise_fidelity(mf, "binary", ["random_forest", "linear"], curves)
        assert set(schedule) == {"random_forest"}
        assert advice is not None and advice.n_tasks == 12  # every binary task: both clusters
        near = [d for d, _ in rec.neighbours(mf, "binary")]  # its own cluster's 6 come first
        advice = advise_curriculum(gains, near, n_neighbours=5)
        forest = advise_fidelity(curves, near, ["random_forest"], n_neighbours=5)["random_forest"]
        if digest == "g0-t0":
            assert advice is not None and advice.curriculum == "easy_to_hard" and advice.gain > 0.5
            assert forest.schedule != NONE and forest.outcomes[forest.schedule.name] > forest.outcomes["none"]
        else:
            assert advice is not None and advice.is_plain and "no curriculum" in advice.reason
            assert forest.schedule == NONE


def test_a_fit_runs_its_schedules_and_auto_falls_back_to_median_without_curves(tmp_path: Path) -> None:
    from autometa.data import make_task
    from autometa.flow import FitOptions, fit_task
    from tests.conftest import mixed_frame

    task = make_task(mixed_frame(n=300), "target")
    options = FitOptions(learners=("random_forest", "linear"), n_trials=6, fidelity="random_forest=1/16:4",
                         use_meta=False, record=False)
    result = fit_task(task, options)
    assert result.fidelity == "random_forest=1/16:4" and result.summary()["fidelity"] == result.fidelity
    forest = [r for r in result.records if r.config.learner == "random_forest" and r.state == "complete"]
    staged = [r for r in forest if r.config.params["n_estimators"] >= 27]  # smaller forests grow at once
    assert staged and all(set(r.intermediate) >= {0, 1, 2} for r in staged)  # 1/16, 1/4 and all
    auto = fit_task(task, FitOptions(learners=("linear",), n_trials=2, fidelity="auto", use_meta=False,
                                     record=False))
    assert auto.fidelity == "linear=median"
    with pytest.raises(OptionError):
        FitOptions(fidelity="lightgbm=fast")


def test_the_command_line_shows_and_uses_the_advice(world: MetaDB, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from tests.conftest import EXAMPLE
    from tests.test_cli import run_cli

    monkeypatch.chdir(tmp_path)
    args = ["recommend", str(EXAMPLE), "--target", "survived", "--top-k", "2", "--meta-db", str(world.url)]
    code, out, _ = run_cli([*args, "--json"], capsys, monkeypatch)
    doc = json.loads(out)
    assert code == 0 and doc["curriculum"]["curriculum"] in ("none", "easy_to_hard", "anti", "self_paced")
    assert set(doc["fidelity"]) == {"random_forest"} and doc["fidelity"]["random_forest"]["schedule"] in CANDIDATES
    code, out, _ = run_cli(args, capsys, monkeypatch)
    assert code == 0 and "training a network: curriculum=" in out and "fidelity schedule for random_forest" in out
    fit = ["fit", str(EXAMPLE), "--target", "survived", "--trials", "3", "--learners", "random_forest,linear",
           "--no-tracking", "--no-record", "--meta-db", str(world.url), "--json", "--output", "o"]
    code, out, _ = run_cli([*fit, "--fidelity", "auto"], capsys, monkeypatch)
    chosen = parse_schedules(json.loads(out)["fidelity"], ["random_forest", "linear"])
    assert code == 0 and isinstance(chosen, dict) and chosen["linear"] == MEDIAN
    code, _, err = run_cli([*fit, "--fidelity", "1/9:1"], capsys, monkeypatch)
    assert code == 2 and "fidelity schedule '1/9:1' needs" in err and len(err.strip().splitlines()) == 1


def test_a_continued_study_keeps_the_schedules_its_trials_ran_with(tmp_path: Path) -> None:
    from autometa.data import make_task
    from autometa.flow import FitOptions, fit_task
    from tests.conftest import mixed_frame

    task = make_task(mixed_frame(n=200), "target")
    common = {"learners": ("random_forest",), "use_meta": False, "record": False,
              "storage": str(tmp_path / "s.journal"), "study_name": "kept"}
    first = fit_task(task, FitOptions(n_trials=2, fidelity="1/16:4", **common))
    again = fit_task(task, FitOptions(n_trials=4, **common))  # the default would be median
    assert first.fidelity == again.fidelity == "1/16:4" and again.n_trials == 4
