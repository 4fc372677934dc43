"""Scale-out: trials per minute with 1, 2 and 4 workers on one study, by storage.

One fit of ``examples/titanic.csv`` (``--trials 40 --learners lightgbm,random_forest,linear
--no-meta --no-ensemble --n-jobs 1``, tracking and meta_db off) per (storage, workers), run
through the CLI (``fit --n-workers K``: the fit's process plus K-1 ``autometa worker``
processes). Storages: a journal file (the default), PostgreSQL (``$AUTOMETA_PG_URL`` or
``scripts/postgres.sh``), and SQLite for one worker only (Optuna advises against it for
several processes, and autometa refuses it). Reported: wall time of the search (first trial
start to last trial end), trials per minute, the share of worker time spent outside the
trials' evaluations (sampler, storage, bookkeeping), from each trial's ``evaluate_s``, and the
storage's own cost per trial (``storage_cost``: the same storage calls with an objective that
returns at once) with the share of worker time it makes.

Usage::

    python benchmarks/bench_workers.py            # prints a table, writes results/workers.md
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
TRIALS = 40


def pg_url() -> str | None:
    url = os.environ.get("AUTOMETA_PG_URL")
    if url:
        return url
    out = subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh")], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def run(storage: str, workers: int, folder: Path) -> dict[str, float | int | str]:
    import optuna

    from autometa.search import _make_storage

    study = f"bench-{uuid.uuid4().hex[:8]}"
    cmd = [sys.executable, "-m", "autometa.cli", "fit", str(ROOT / "examples" / "titanic.csv"), "--target",
           "survived", "--trials", str(TRIALS), "--learners", "lightgbm,random_forest,linear", "--no-meta",
           "--no-ensemble", "--n-jobs", "1", "--no-tracking", "--no-record", "--json", "--storage", storage,
           "--study", study, "--n-workers", str(workers), "--output", str(folder / study)]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    total = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-500:])
    trials = optuna.load_study(study_name=study, storage=_make_storage(storage)).trials
    begin = min(t.datetime_start for t in trials if t.datetime_start)
    end = max(t.datetime_complete for t in trials if t.datetime_complete)
    wall = (end - begin).total_seconds()
    evaluating = sum(float(t.user_attrs.get("evaluate_s", 0.0)) for t in trials)
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in trials)
    return {"trials": len(trials), "pruned": pruned, "evaluate s": evaluating, "search s": wall, "fit command s": total,
            "trials/min": 60 * len(trials) / wall, "outside evaluation": 1 - evaluating / (wall * workers),
            "summary_trials": json.loads(out.stdout)["n_trials"]}


def storage_cost(storage: str, n: int = 60) -> float:
    """Seconds per trial spent in the storage: a study whose objective returns at once, with the
    random sampler (no model, almost no sampling), so the trial's time is its storage round trips.
    Each trial also sets user attributes as autometa's do."""
    import optuna

    from autometa.search import _make_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(study_name=f"cost-{uuid.uuid4().hex[:8]}", storage=_make_storage(storage),
                                sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_categorical("learner", ["a", "b", "c"])
        for i in range(6):
            trial.suggest_float(f"p{i}", 0.0, 1.0)
        for step in range(3):
            trial.report(0.5, step)
        for key in ("worker", "evaluate_s", "fold_scores", "fidelity"):
            trial.set_user_attr(key, 0)
        return 0.5

    start = time.perf_counter()
    study.optimize(objective, n_trials=n)
    return (time.perf_counter() - start) / n


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    url = pg_url()
    cases = [("journal", str(folder / "study.journal"), w) for w in (1, 2, 4)]
    cases += [("sqlite", f"sqlite:///{folder / 'optuna.db'}", 1)]
    if url:
        cases += [("postgresql", url, w) for w in (1, 2, 4)]
    costs = {name: storage_cost(storage) for name, storage, _ in {(c[0], c[1], 0) for c in cases}}
    rows = []
    for name, storage, workers in cases:
        print(f"{name} x{workers} ...", end=" ", flush=True)
        r = run(storage, workers, folder)
        print(f"{r['trials/min']:.1f} trials/min", flush=True)
        rows.append((name, workers, r))
    lines = [f"{os.cpu_count()} cores; load average at the start {os.getloadavg()[0]:.2f}.", "",
             "| storage | workers | trials (pruned) | evaluation s (sum) | search s | trials/min "
             "| share of worker time outside evaluation | storage s per trial | share of worker time in the storage "
             "| fit command s |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, workers, r in rows:
        lines.append(f"| {name} | {workers} | {r['trials']} ({r['pruned']}) | {r['evaluate s']:.1f} | "
                     f"{r['search s']:.1f} | {r['trials/min']:.1f} | {r['outside evaluation']:.1%} | "
                     f"{costs[name] * 1000:.1f} ms | {costs[name] * r['trials'] / (r['search s'] * workers):.1%} | "
                     f"{r['fit command s']:.1f} |")
    text = "\n".join(lines)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "workers.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
