"""Curricula benchmark: does the recommended way to train a network beat plain training, and the
single best fixed curriculum, on tasks the recommender has not seen?

The corpus runs the MLP's default architecture (5-fold CV, the product's validation) under each
curriculum with a constant rate (``easy_to_hard``, ``anti``, ``self_paced``) and each rate schedule
without one (``cosine``, ``onecycle``, ``warmup``), and plainly (neither): the portfolio's
``VARIANTS``. Grouped cross-validation over the corpus tasks (5 folds by source data frame, as in
bench_meta; ``check_unseen`` enforces it). For each held-out task:

* ``recommended``: ``Recommender.advise_curriculum`` trained on the other folds (the variant that
  did best on the 15 nearest past tasks, if it beat plain training on most of them, else plain);
* ``plain``: no curriculum, constant rate;
* ``best-fixed``: the variant with the highest mean gain on the training folds, on every task;
* ``oracle``: the held-out task's best variant (an upper bound, not a method).

Reported: the mean *gain* over plain training (in units of the task's spread: the best minus
the median score of every corpus configuration on it), the tasks where each is better / worse
than plain, the mean ``norm`` (1 = the task's best configuration, 0 = its median), and the
median epoch early stopping kept (the epochs to reach the score). Also each variant on all tasks.

Usage::

    python benchmarks/bench_curricula.py --meta-db /path/to/build.sqlite

Results: ``benchmarks/results/curricula.{csv,md}``.
"""

from __future__ import annotations

from _setup import RESULTS

import argparse

import pandas as pd


def run(meta_db: str) -> None:
    from bench_meta import table

    from autometa.meta.curricula import variant_gains
    from autometa.meta.db import MetaDB
    from autometa.meta.evaluation import check_unseen, grouped_folds
    from autometa.meta.experience import Experience
    from autometa.meta.recommend import Recommender
    from autometa.metafeatures import NAMES

    exp = Experience.from_db(MetaDB(meta_db))
    gains = variant_gains(exp)
    if gains.empty:
        raise SystemExit(f"{meta_db} has no MLP curriculum runs: build them with "
                         "'autometa meta-db build --learners mlp'")
    norm = exp.scores.set_index(["task", "key"])["norm"]
    label = {v: (v[1] if v[0] == "none" else v[0]) for v in set(zip(gains["curriculum"], gains["lr_schedule"],
                                                                  strict=True))}
    gains = gains.assign(variant=[label[(c, s)] for c, s in zip(gains["curriculum"], gains["lr_schedule"],
                                                                 strict=True)])
    by_task = {t: part.set_index("variant") for t, part in gains.groupby("task")}
    tasks = exp.tasks.loc[list(by_task)]
    rows = []
    for fold, held in enumerate(grouped_folds(tasks, 5, seed=0)):
        train = exp.without_groups(held)
        rec = Recommender("knn").fit(train)
        check_unseen(rec, held)
        train_gains = gains[gains["task"].isin(train.tasks.index)]
        best_fixed = str(train_gains.groupby("variant")["gain"].mean().idxmax())
        for digest in tasks.index[tasks["group_key"].isin(held)]:
            part = by_task[digest]
            mf = tasks.loc[digest, list(NAMES)].to_dict()
            advice = rec.advise_curriculum(mf, str(tasks.loc[digest, "kind"]))
            advised = "plain" if advice is None or advice.is_plain else label[(advice.curriculum, advice.lr_schedule)]
            chosen = {"recommended": advised, "plain": "plain", "best-fixed": best_fixed,
                      "oracle": str(part["gain"].idxmax()) if part["gain"].max() > 0 else "plain"}
            for method, variant in chosen.items():
                rows.append({"fold": fold, "task": digest, "name": tasks.loc[digest, "name"],
                             "kind": tasks.loc[digest, "kind"], "method": method, "variant": variant,
                             **_outcome(part, variant, norm, digest)})
    df = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    df.to_csv(RESULTS / "curricula.csv", index=False)
    summary = df.groupby("method", sort=False).agg(
        tasks=("gain", "count"), gain=("gain", "mean"), better=("gain", lambda g: int((g > 1e-9).sum())),
        worse=("gain", lambda g: int((g < -1e-9).sum())), norm=("norm", "mean"), epochs=("epochs", "median"))
    chosen = df[df["method"] == "recommended"]["variant"].value_counts()
    overall = gains.groupby("variant").agg(
        tasks=("gain", "size"), gain=("gain", "mean"), better=("gain", lambda g: int((g > 1e-9).sum())),
        worse=("gain", lambda g: int((g < -1e-9).sum())), epochs=("epochs", "median"),
        plain_epochs=("plain_epochs", "median")).sort_values("gain", ascending=False)
    text = "\n\n".join([
        f"# Curricula on held-out corpus tasks\n\nmeta_db: `{meta_db}`; {len(tasks)} tasks with the MLP "
        f"variants, 5 grouped folds. Gain: over plain training, in units of the task's spread "
        f"(best minus median of every corpus configuration); norm: 1 = the task's best configuration, "
        f"0 = its median; epochs: the median epoch early stopping kept.",
        table(summary), "What the recommendation chose: " + ", ".join(f"{k} {v}" for k, v in chosen.items()),
        "## Each variant on every task (against plain training)", table(overall)])
    (RESULTS / "curricula.md").write_text(text + "\n")
    print(text)


def _outcome(part: pd.DataFrame, variant: str, norm: pd.Series, task: str) -> dict[str, float]:
    if variant == "plain":
        first = part.iloc[0]
        return {"gain": 0.0, "norm": float(norm[(task, first["plain_key"])]), "epochs": float(first["plain_epochs"])}
    if variant not in part.index:  # the variant failed or timed out on this task
        return {"gain": float("nan"), "norm": float("nan"), "epochs": float("nan")}
    row = part.loc[variant]
    return {"gain": float(row["gain"]), "norm": float(norm[(task, row["key"])]), "epochs": float(row["epochs"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meta-db", required=True, help="A meta_db with the MLP's corpus variants.")
    args = parser.parse_args()
    run(args.meta_db)


if __name__ == "__main__":
    main()
