"""The seconds a fit's hyperparameter importances take, against the number of trials.

Every fit draws fANOVA importances per learner into its outputs (``search.param_importances``),
while a time-budgeted fit writes. This script runs a seeded TPE search on a synthetic objective of
two learners (3 parameters each) and times the importances two ways on the same trials:
``all, 64 trees`` (Optuna's default on every trial, autometa before session 23) and
``sampled, 16 trees`` (``IMPORTANCE_TRIALS`` per learner, ``IMPORTANCE_TREES``, the default). It
also prints each learner's leading parameter under both.

    python benchmarks/bench_importances.py [--trials 100 300 1000]

Writes benchmarks/results/importances.csv and importances.md.
"""

from __future__ import annotations

from _setup import write_results

import argparse
import random
import time

import optuna

from autometa import search


def study_of(n_trials: int, seed: int = 0) -> optuna.Study:
    """A seeded TPE search of two learners; in each, ``x`` matters most and ``y`` a little."""
    rng = random.Random(seed)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))

    def objective(trial: optuna.Trial) -> float:
        learner = trial.suggest_categorical(search.LEARNER_PARAM, ["a", "b"])
        x = trial.suggest_float(f"{learner}.x", 0, 1)
        y = trial.suggest_int(f"{learner}.y", 1, 100)
        trial.suggest_float(f"{learner}.z", 1e-3, 1, log=True)
        return 3 * x + y / 100 + rng.random() * 0.3

    study.optimize(objective, n_trials=n_trials)
    return study


def timed(study: optuna.Study, max_trials: int, trees: int) -> tuple[float, dict[str, str]]:
    """Seconds of ``param_importances`` and each learner's leading parameter."""
    start = time.perf_counter()
    found = search.param_importances(study, max_trials=max_trials, trees=trees)
    seconds = time.perf_counter() - start
    return seconds, {learner: max(imp, key=imp.__getitem__) for learner, imp in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[100, 300, 1000])
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    for n in args.trials:
        study = study_of(n)
        full, full_lead = timed(study, 10**9, 64)
        sampled, sampled_lead = timed(study, search.IMPORTANCE_TRIALS, search.IMPORTANCE_TREES)
        rows.append({"trials": n, "all_64_s": f"{full:.2f}", "sampled_16_s": f"{sampled:.2f}",
                     "same_leader": all(full_lead[k] == sampled_lead.get(k) for k in full_lead)})
        print(rows[-1], flush=True)
    lines = ["| trials (2 learners) | all trials, 64 trees s | sampled, 16 trees s | same leading parameter |",
             "|---:|---:|---:|---|"]
    lines += [f"| {r['trials']} | {r['all_64_s']} | {r['sampled_16_s']} | {'yes' if r['same_leader'] else 'no'} |"
              for r in rows]
    write_results("importances", rows, lines)


if __name__ == "__main__":
    main()
