"""The recommender on a real SQLite meta_db filled with a synthetic, structured experience.

The world: tasks fall in two clusters of meta-features. On cluster A the linear
slots are clearly best, on cluster B the LightGBM slots; everything else is
middling noise. A recommender that learns anything must put linear first for
a task like cluster A, and LightGBM first for one like cluster B.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autometa.meta.db import MetaDB, RunRow, TaskRow
from autometa.meta.evaluation import LeakageError, check_unseen, grouped_folds, simulate
from autometa.meta.experience import Experience
from autometa.meta.portfolio import build_portfolio
from autometa.meta.recommend import STRATEGIES, Recommender, diversify, recommender_for
from autometa.metafeatures import NAMES
from autometa.spaces import load_spaces

# the families of the generated world (fixed: its random draws follow the slot count)
FAMILIES = ("extra_trees", "hist_gradient_boosting", "knn", "lightgbm", "linear", "random_forest")


def metafeatures(cluster: str, rng: np.random.Generator, kind: str) -> dict[str, float]:
    mf = {n: float(rng.normal(scale=0.1)) for n in NAMES}
    mf["landmark_linear"] = (1.0 if cluster == "A" else -1.0) + float(rng.normal(scale=0.05))
    mf["landmark_1nn"] = (-1.0 if cluster == "A" else 1.0) + float(rng.normal(scale=0.05))
    mf["is_regression"] = float(kind == "regression")
    mf["is_binary"] = float(kind == "binary")
    return mf


def fill(db: MetaDB, n_groups: int = 12, seed: int = 0, first: int = 0) -> None:
    rng = np.random.default_rng(seed)
    spaces = load_spaces()
    slots = build_portfolio({k: v for k, v in spaces.items() if k in FAMILIES}, 3)
    for g in range(first, n_groups):
        for j, kind in enumerate(("binary", "regression")):
            cluster = "A" if g % 2 == 0 else "B"
            digest = f"g{g}-t{j}"
            task = TaskRow(digest=digest, name=f"task{g}.{j}{cluster}", source="test", group_key=f"group{g}",
                           kind=kind, n_rows=500, n_features=5, target="y",
                           metafeatures=metafeatures(cluster, rng, kind), metafeatures_version=1, origin="corpus")
            best = "linear" if cluster == "A" else "lightgbm"
            rows = []
            for slot in slots:
                quality = 0.9 if slot.learner == best else 0.6
                quality += float(rng.normal(scale=0.02))
                config = slot.config(spaces[slot.learner], kind)
                maximize = kind != "regression"
                rows.append(RunRow(task_digest=digest, learner=slot.learner, space_version=slot.space_version,
                                   params=config.params, metric="roc_auc" if maximize else "rmse",
                                   direction="maximize" if maximize else "minimize",
                                   score=quality if maximize else 10 * (1 - quality), fold_scores=(),
                                   fit_seconds=0.1, status="ok", origin="corpus", cv="5-fold CV", slot=slot.name))
            db.add_runs(rows, task=task)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> MetaDB:
    db = MetaDB(tmp_path_factory.mktemp("world") / "meta.sqlite")
    fill(db)
    return db


@pytest.fixture(scope="module")
def experience(world: MetaDB) -> Experience:
    return Experience.from_db(world)


def test_experience_normalizes_each_task(experience: Experience) -> None:
    assert len(experience) == 24 and experience.groups == frozenset(f"group{g}" for g in range(12))
    for _, part in experience.scores.groupby("task"):
        assert part["pct"].max() == pytest.approx(1.0) and part["pct"].min() == pytest.approx(0.0)
        assert part["norm"].max() == pytest.approx(1.0)
        assert part["norm"].median() == pytest.approx(0.0, abs=0.05)
    # minimized metrics are flipped: on a regression task of cluster A the lowest rmse (linear) is best
    a_reg = experience.scores[experience.scores["task"] == "g0-t1"]
    assert a_reg.sort_values("pct").iloc[-1]["learner"] == "linear"


def test_failed_runs_rank_last(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "m.sqlite")
    task = TaskRow(digest="t", name="t", source="s", group_key="g", kind="binary", n_rows=10, n_features=1,
                   target="y", metafeatures={n: 0.0 for n in NAMES}, metafeatures_version=1, origin="corpus")
    rows = [RunRow(task_digest="t", learner="knn", space_version=1, params={"n_neighbors": k}, metric="roc_auc",
                   direction="maximize", score=score, fold_scores=(), fit_seconds=0.1, status=status,
                   origin="corpus", cv="cv", slot=f"knn/{k:03d}")
            for k, score, status in ((1, 0.7, "ok"), (2, 0.8, "ok"), (3, None, "timeout"))]
    db.add_runs(rows, task=task)
    scores = Experience.from_db(db).scores.set_index("key")
    assert scores.loc["knn/003", "pct"] == 0.0 and scores.loc["knn/003", "norm"] == -1.0
    assert scores.loc["knn/002", "pct"] == 1.0


def test_blend_takes_knns_first_choice_then_the_static_portfolio(experience: Experience) -> None:
    train = experience.without_groups({"group0", "group1"})
    query = metafeatures("A", np.random.default_rng(7), "binary")
    knn, static, blend = (Recommender(s).fit(train).recommend(query, "binary", 6)
                          for s in ("knn", "static", "knn+static"))
    assert blend.strategy == "knn+static"
    first = knn.suggestions[0].key
    assert blend.suggestions[0].key == first
    assert [s.key for s in blend.suggestions[1:]] == [s.key for s in static.suggestions if s.key != first][:5]


def test_without_groups_drops_every_task_of_the_group(experience: Experience) -> None:
    rest = experience.without_groups({"group3"})
    assert "group3" not in rest.groups and len(rest) == 22
    assert not rest.scores["task"].str.startswith("g3-").any()


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(("cluster", "best"), [("A", "linear"), ("B", "lightgbm")])
def test_each_strategy_learns_what_wins_where(experience: Experience, strategy: str, cluster: str,
                                               best: str) -> None:
    rec = Recommender(strategy).fit(experience.without_groups({"group0", "group1"}))
    query = metafeatures(cluster, np.random.default_rng(99), "binary")
    out = rec.recommend(query, "binary", 3)
    if strategy == "static":  # one portfolio for every task: it must cover both clusters
        assert {s.config.learner for s in out.suggestions} >= {"linear", "lightgbm"}
    else:
        assert out.suggestions[0].config.learner == best
        assert out.neighbours and out.neighbours[0].name.endswith(cluster)
    assert not out.novel and len(out.suggestions) == 3
    spaces = load_spaces()
    for s in out.suggestions:  # valid, complete configurations for the task's kind
        assert s.config == spaces[s.config.learner].complete(s.config, "binary")
        assert 0.0 <= s.predicted <= 1.0 and s.uncertainty >= 0.0 and s.reason


def test_regression_gets_regression_parameters(experience: Experience) -> None:
    rec = Recommender("knn").fit(experience)
    out = rec.recommend(metafeatures("A", np.random.default_rng(5), "regression"), "regression", 2)
    linear = [s.config for s in out.suggestions if s.config.learner == "linear"]
    assert linear and "alpha" in linear[0].params and "C" not in linear[0].params


def test_learner_filter_and_diversity(experience: Experience) -> None:
    rec = Recommender("surrogate").fit(experience)
    query = metafeatures("B", np.random.default_rng(1), "binary")
    out = rec.recommend(query, "binary", 6, learners=["random_forest", "knn", "lightgbm"])
    learners = [s.config.learner for s in out.suggestions]
    assert set(learners) <= {"random_forest", "knn", "lightgbm"}
    assert learners.count("lightgbm") <= 2  # ceil(6 / 3) per family while others remain
    assert len(set(learners)) == 3


def test_diversify_keeps_order_within_the_cap(experience: Experience) -> None:
    from autometa.meta.strategies import Ranked

    keys = ["lightgbm/000", "lightgbm/001", "lightgbm/002", "linear/000"]
    ranked = [Ranked(k, 1.0 - i / 10, 0.0, "") for i, k in enumerate(keys)]
    out = [r.key for r in diversify(ranked, experience.candidates, 3)][:3]
    assert out == ["lightgbm/000", "linear/000", "lightgbm/001"]


def test_a_task_unlike_the_past_falls_back(experience: Experience) -> None:
    rec = Recommender("knn").fit(experience)
    far = {n: 40.0 for n in NAMES} | {"is_binary": 1.0, "is_regression": 0.0}
    out = rec.recommend(far, "binary", 10)
    assert out.novel and out.novelty > 1 and out.strategy == "static" and "unlike" in out.note
    assert len(out.suggestions) == 5  # fewer: the rest of the budget goes to the cold search
    raw = rec.recommend(far, "binary", 10, fallback=False)
    assert raw.strategy == "knn" and len(raw.suggestions) == 10


def test_the_blend_keeps_its_guess_on_a_task_unlike_the_past(experience: Experience) -> None:
    rec = Recommender("knn+static").fit(experience)
    far = {n: 40.0 for n in NAMES} | {"is_binary": 1.0, "is_regression": 0.0}
    out = rec.recommend(far, "binary", 10)
    raw = rec.recommend(far, "binary", 10, fallback=False)
    assert out.novel and out.strategy == "knn+static" and "nearest tasks' best guess" in out.note
    assert len(out.suggestions) == 5 and len(raw.suggestions) == 10
    assert [s.key for s in out.suggestions] == [s.key for s in raw.suggestions][:5]


def test_no_experience_gives_the_learners_defaults(tmp_path: Path) -> None:
    rec = Recommender("surrogate").fit(Experience.from_db(MetaDB(tmp_path / "empty.sqlite")))
    out = rec.recommend({n: 0.0 for n in NAMES}, "regression", 3)
    assert out.strategy == "defaults" and out.novel
    spaces = load_spaces()
    assert out.configs() == [spaces[n].default_config("regression")
                             for n in ("lightgbm", "hist_gradient_boosting", "random_forest")]


def test_unknown_strategy_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown recommender strategy 'magic'.*use one of"):
        Recommender("magic")


def test_recommender_is_retrained_only_when_the_database_changes(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "m.sqlite")
    fill(db, n_groups=6)
    first = recommender_for(db, "static")
    assert recommender_for(db, "static") is first
    fill(db, n_groups=7, seed=1)  # a seventh group (and re-adds of the others' runs)
    again = recommender_for(db, "static")
    assert again is not first and "group6" in again.training_groups


def test_a_new_process_loads_the_recommender_trained_on_the_same_database(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import autometa.meta.recommend as recommend

    db = MetaDB(tmp_path / "m.sqlite")
    fill(db, n_groups=6)
    first = recommender_for(db, "static")
    query = first.experience.tasks[list(NAMES)].iloc[0].to_dict()
    monkeypatch.setattr(recommend, "_CACHE", {})  # as a new process starts
    monkeypatch.setattr(Recommender, "fit", lambda *a, **k: pytest.fail("retrained"))
    loaded = recommender_for(db, "static")
    assert loaded is not first and loaded.training_groups == first.training_groups
    assert loaded.recommend(query, "binary", 4).configs() == first.recommend(query, "binary", 4).configs()


def test_the_stored_recommender_is_not_used_once_the_database_changes(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import autometa.meta.recommend as recommend

    db = MetaDB(tmp_path / "m.sqlite")
    fill(db, n_groups=6)
    recommender_for(db, "static")
    fill(db, n_groups=7, seed=1)
    monkeypatch.setattr(recommend, "_CACHE", {})
    assert "group6" in recommender_for(db, "static").training_groups


def test_a_stored_recommender_serves_until_the_database_grows_by_a_tenth(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import autometa.meta.recommend as recommend

    db = MetaDB(tmp_path / "m.sqlite")
    fill(db, n_groups=12)
    recommender_for(db, "static")
    fill(db, n_groups=13, seed=1, first=12)  # two tasks more: a twelfth of 24
    monkeypatch.setattr(recommend, "_CACHE", {})
    stale = recommender_for(db, "static", digest="g5-t0")
    assert "group12" not in stale.training_groups  # the stored one, trained before the two tasks
    monkeypatch.setattr(recommend, "_CACHE", {})
    fresh = recommender_for(db, "static", digest="g12-t0")  # data among the fits it has not seen
    assert "group12" in fresh.training_groups
    fill(db, n_groups=16, seed=2, first=13)  # six more: a quarter of the 26 the stored one saw
    monkeypatch.setattr(recommend, "_CACHE", {})
    assert recommender_for(db, "static")._static is not fresh._static
    assert "group15" in recommender_for(db, "static").training_groups


def test_a_damaged_or_unwritable_cache_only_costs_a_retraining(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import autometa.meta.recommend as recommend
    from autometa.meta import stored

    folder = stored.cache_dir()
    assert folder is not None
    db = MetaDB(tmp_path / "m.sqlite")
    fill(db, n_groups=6)
    recommender_for(db, "static")
    [entry] = folder.glob("recommender-*.pkl")
    entry.write_bytes(b"not a pickle")
    monkeypatch.setattr(recommend, "_CACHE", {})
    assert recommender_for(db, "static").training_groups  # retrained, and written again
    assert stored.load("recommender", repr((db.url, "static", 0))) is not None
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("AUTOMETA_CACHE_DIR", str(blocker / "cache"))  # a folder that cannot be made
    monkeypatch.setattr(recommend, "_CACHE", {})
    assert recommender_for(db, "static").training_groups
    monkeypatch.setenv("AUTOMETA_CACHE_DIR", "")  # no cache on disk
    assert stored.cache_dir() is None


def test_grouped_folds_never_split_a_group(experience: Experience) -> None:
    folds = grouped_folds(experience.tasks, 5)
    assert len(folds) == 5 and set().union(*folds) == set(experience.groups)
    assert sum(len(f) for f in folds) == len(experience.groups)  # each group in exactly one fold


def test_leakage_is_refused(experience: Experience) -> None:
    rec = Recommender("static").fit(experience)
    with pytest.raises(LeakageError, match="group0"):
        check_unseen(rec, {"group0"})
    check_unseen(Recommender("static").fit(experience.without_groups({"group0"})), {"group0"})


def test_simulation_scores_strategies_against_the_matrix(experience: Experience) -> None:
    df = simulate(experience, ks=(1, 3), n_folds=4, n_random=20)
    means = df.pivot_table(index="method", columns="k", values="norm", aggfunc="mean")
    assert set(means.index) >= {"knn", "surrogate", "static", "random", "lightgbm-default", "knn-no-fallback"}
    # learned strategies find the winning family first; random mostly does not
    assert means.loc["knn", 1] > 0.6 and means.loc["surrogate", 1] > 0.6, means
    assert means.loc["random", 1] < means.loc["knn", 1]
    assert ((df["regret"] - (1 - df["norm"])).abs() < 1e-12).all()
    assert isinstance(df, pd.DataFrame) and df["task"].nunique() == 24


def test_simulation_within_one_family(experience: Experience) -> None:
    df = simulate(experience, strategies=("knn", "static"), ks=(1, 3), n_folds=4, n_random=20, learners=("linear",))
    first = df[df["method"] != "random"]["first"]
    assert first.str.startswith("linear/").all() and set(df["method"]) >= {"linear-default", "knn"}
    # within the family every configuration of cluster A's winner is near the top: knn finds one
    a = df[df["name"].str.endswith("A") & (df["method"] == "knn") & (df["k"] == 1)]
    assert (a["norm"] > 0.5).all()


# ---------------------------------------------------------------------------- in the product


def test_fit_tries_the_recommendation_first_and_no_meta_does_not(tmp_path: Path) -> None:
    from autometa.data import make_task
    from autometa.flow import FitOptions, fit_task
    from tests.conftest import mixed_frame

    db = MetaDB(tmp_path / "m.sqlite")
    fill(db, n_groups=6)
    task = make_task(mixed_frame(kind="binary"), "target", name="mixed")
    result = fit_task(task, FitOptions(n_trials=4, ensemble=False, n_jobs=1, record=False, meta_top_k=3), db=db)
    rec = result.recommendation
    assert rec is not None and 1 <= len(rec.suggestions) <= 3
    first = [r for r in sorted(result.records, key=lambda r: r.number)][: len(rec.suggestions)]
    assert [r.config for r in first] == rec.configs() and {r.source for r in first} == {"meta"}
    assert result.summary()["recommendation"]["strategy"] == rec.strategy
    assert db.stats()["runs_by_origin"] == {"corpus": 6 * 2 * 18}  # record=False: nothing written
    cold = fit_task(task, FitOptions(n_trials=2, ensemble=False, n_jobs=1, record=False, use_meta=False), db=db)
    # the sampler's first trial may be followed by the same with twice its rounds (search.grown_leader)
    assert cold.recommendation is None and cold.records[0].source == "sampler"
    assert {r.source for r in cold.records} <= {"sampler", "grown"}


def test_cli_recommend_and_fit_no_meta(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from tests.conftest import EXAMPLE
    from tests.test_cli import run_cli

    db = MetaDB(tmp_path / "m.sqlite")
    fill(db, n_groups=6)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(["recommend", str(EXAMPLE), "--target", "survived", "--top-k", "4", "--json",
                            "--meta-db", str(tmp_path / "m.sqlite"), "--recommender", "knn"], capsys, monkeypatch)
    doc = json.loads(out)
    assert code == 0 and len(doc["suggestions"]) in (2, 4) and doc["nearest_tasks"]
    assert doc["strategy"] in ("knn", "static") and doc["past_tasks"] == 6
    assert {"learner", "params", "predicted_percentile", "uncertainty", "reason"} <= set(doc["suggestions"][0])
    code, out, _ = run_cli(["recommend", str(EXAMPLE), "--target", "survived", "--top-k", "3",
                            "--meta-db", str(tmp_path / "m.sqlite")], capsys, monkeypatch)
    assert code == 0 and "Recommended" in out and "nearest past tasks" in out
    code, _, err = run_cli(["recommend", str(EXAMPLE), "--top-k", "0"], capsys, monkeypatch)
    assert code == 2 and "--top-k must be at least 1" in err
    base = ["fit", str(EXAMPLE), "--target", "survived", "--trials", "2", "--learners", "linear,knn",
            "--no-tracking", "--meta-db", str(tmp_path / "m.sqlite"), "--json", "--output", "o"]
    code, out, _ = run_cli([*base, "--no-meta"], capsys, monkeypatch)
    assert code == 0 and json.loads(out)["recommendation"] is None
    code, out, _ = run_cli(base, capsys, monkeypatch)
    rec = json.loads(out)["recommendation"]
    assert code == 0 and {s["learner"] for s in rec["suggestions"]} <= {"linear", "knn"}
    assert (tmp_path / "o" / "recommendation.json").exists()


def test_a_recorded_fit_improves_the_next_recommendation(tmp_path: Path) -> None:
    from autometa.data import make_task
    from autometa.flow import FitOptions, fit_task
    from autometa.metafeatures import compute_metafeatures
    from tests.conftest import mixed_frame

    db = MetaDB(tmp_path / "m.sqlite")
    fill(db, n_groups=6)
    task = make_task(mixed_frame(kind="regression"), "target", name="mine")
    before = recommender_for(db, "static").recommend(compute_metafeatures(task), task.kind, 4)
    result = fit_task(task, FitOptions(n_trials=5, ensemble=False, n_jobs=1, learners=("linear", "knn")), db=db)
    after = recommender_for(db, "static", digest=task.digest).recommend(compute_metafeatures(task), task.kind, 4)
    assert after.suggestions[0].config == result.best_config != before.suggestions[0].config
    assert "earlier fit of the same data (mine)" in after.suggestions[0].reason and "fitted before" in after.note
    assert len(after.suggestions) == 4 and after.neighbours[0].distance == 0.0
