"""Overhead benchmark: what autometa costs on top of the models it trains, and its start-up time.

(a) Per-trial overhead. On one mid-size task (``HMDA/deny``, 2,380 rows,
    binary) autometa searches LightGBM only (``learners=["lightgbm"]``, 5-fold
    CV, ``n_jobs=2``, ``random_state=0``, ``ensemble=False``: the final model
    is one refit of the best configuration) with MLflow logging ON to a fresh
    sqlite store in a temp dir. For every completed trial, the same LightGBM
    configuration is cross-validated bare: ``cross_val_score`` of an
    ``LGBMClassifier`` with the same parameters (plus autometa's own
    ``random_state=0, n_jobs=2, verbose=-1`` and ``subsample_freq=1`` when
    ``subsample < 1``) on the same folds (``StratifiedKFold(5, shuffle=True,
    random_state=0)``; checked equal to autometa's) and ROC-AUC, on data
    encoded once beforehand (numbers as float, categories as pandas
    ``category``). Reported: median seconds per trial for both, their ratio,
    and the fixed per-fit overhead: fit wall time minus the sum of the trial
    durations (search set-up, MLflow runs, final refit, leaderboard, plot,
    model logging, meta-database record). The same search is also run with
    tracking off, with and without the meta-database record (versions that
    have ``record``; a throw-away meta-database in the temp dir), to separate
    the shares.
(b) Start-up. Median of 10 runs of the installed console script
    ``.venv/bin/autometa --help`` in a subprocess (with ``python -c pass`` as
    the floor), which heavy libraries ``--help`` imports (``sys.modules``
    checked in a subprocess), and the slowest imports by ``python -X importtime``.

Writes ``benchmarks/results/overhead.json`` and prints a table.

Usage::

    python benchmarks/bench_overhead.py [--trials 10] [--task HMDA/deny] [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.pop("MLFLOW_TRACKING_URI", None)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from bench_cold import lgbm_frame  # noqa: E402
from tasks import load_task  # noqa: E402

RESULTS = HERE / "results"
OUT = RESULTS / "overhead.json"
SEED = 0
N_JOBS = 2
HEAVY = ("torch", "mlflow", "lightgbm", "optuna", "sklearn", "pandas", "numpy", "matplotlib",
         "sqlalchemy", "scipy")
SCRIPT = ROOT / ".venv" / "bin" / "autometa"


# --------------------------------------------------------------------------- (a) per-trial overhead


def fit_autometa(lt: Any, n_trials: int, tracking_uri: str | None, record: bool) -> tuple[Any, float]:
    from autometa import AutoMetaClassifier, AutoMetaRegressor

    cls = AutoMetaRegressor if lt.kind == "regression" else AutoMetaClassifier
    est = cls(n_trials=n_trials, learners=["lightgbm"], cv=5, random_state=SEED, n_jobs=N_JOBS,
              ensemble=False, tracking_uri=tracking_uri, experiment="overhead-bench")
    if "record" in est.get_params():  # versions with a meta-database record each fit by default
        est.set_params(record=record)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(lt.X, lt.y)
    return est, time.perf_counter() - start


def bare_cv(lt: Any, params: dict[str, Any], Xe: Any, y_enc: Any, folds: list[Any],
            scoring: str) -> tuple[float, float]:
    import lightgbm as lgb
    from sklearn.model_selection import cross_val_score

    params = dict(params)
    if params.get("subsample", 1.0) < 1.0:
        params["subsample_freq"] = 1
    cls = lgb.LGBMRegressor if lt.kind == "regression" else lgb.LGBMClassifier
    model = cls(random_state=SEED, n_jobs=N_JOBS, verbose=-1, **params)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_score(model, Xe, y_enc, cv=folds, scoring=scoring)
    return time.perf_counter() - start, float(np.mean(scores))


def bare_refit(lt: Any, params: dict[str, Any], Xe: Any, y_enc: Any) -> float:
    import lightgbm as lgb

    params = dict(params)
    if params.get("subsample", 1.0) < 1.0:
        params["subsample_freq"] = 1
    cls = lgb.LGBMRegressor if lt.kind == "regression" else lgb.LGBMClassifier
    start = time.perf_counter()
    cls(random_state=SEED, n_jobs=N_JOBS, verbose=-1, **params).fit(Xe, y_enc)
    return time.perf_counter() - start


def per_trial(task_name: str, n_trials: int) -> dict[str, Any]:
    import lightgbm  # noqa: F401  (imports paid before any timing)
    import matplotlib.pyplot  # noqa: F401
    import mlflow  # noqa: F401
    import optuna  # noqa: F401
    from sklearn.model_selection import KFold, StratifiedKFold

    import autometa.flow
    import autometa.plots
    import autometa.tracking  # noqa: F401
    from autometa.evaluate import encode_target, plan_cv

    lt = load_task(task_name)
    y_enc = encode_target(lt.task)
    idx = np.arange(len(lt.y))
    if lt.kind == "regression":
        folds = list(KFold(5, shuffle=True, random_state=SEED).split(idx))
        scoring = "neg_root_mean_squared_error"
    else:
        folds = list(StratifiedKFold(5, shuffle=True, random_state=SEED).split(idx, lt.y))
        scoring = "roc_auc" if lt.kind == "binary" else "neg_log_loss"
    plan = plan_cv(lt.task, 5, seed=SEED)
    same_folds = all(np.array_equal(a[1], b[1]) for a, b in zip(folds, plan.splits, strict=True))
    Xe, _ = lgbm_frame(lt.task, lt.X, lt.X.head(1))

    tmp = Path(tempfile.mkdtemp(prefix="autometa-overhead-"))
    os.environ["AUTOMETA_META_DB"] = str(tmp / "meta_db.sqlite")  # a fresh meta-database, not the user's
    try:
        uri = f"sqlite:///{tmp}/mlflow.db"
        print(f"(a) {lt.name}: {len(lt.X)} rows x {lt.X.shape[1]} features, {lt.kind}; "
              f"autometa {n_trials} lightgbm trials, MLflow on ({uri})", flush=True)
        est, wall = fit_autometa(lt, n_trials, uri, record=True)
        print(f"    fit with MLflow (+ meta-db record where the version has it): {wall:.1f}s", flush=True)
        est_off, wall_off = fit_autometa(lt, n_trials, None, record=False)
        print(f"    fit without MLflow, no meta-db record: {wall_off:.1f}s", flush=True)
        est_rec, wall_rec = fit_autometa(lt, n_trials, None, record=True)
        print(f"    fit without MLflow, meta-db record: {wall_rec:.1f}s", flush=True)
        db_bytes = (tmp / "mlflow.db").stat().st_size if (tmp / "mlflow.db").exists() else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rows = []
    for r in est.result_.records:
        row = {"trial": r.number, "state": r.state, "autometa_s": round(r.duration, 4),
               "autometa_score": r.value, "params": r.config.params}
        if r.state == "complete":
            bare_s, bare_score = bare_cv(lt, r.config.params, Xe, y_enc, folds, scoring)
            row.update(bare_s=round(bare_s, 4), bare_score=bare_score,
                       ratio=round(r.duration / bare_s, 3) if bare_s > 0 else None)
            print(f"    trial {r.number:2d}: autometa {r.duration:6.2f}s  bare {bare_s:6.2f}s  "
                  f"ratio {r.duration / bare_s:5.2f}  (n_estimators={r.config.params.get('n_estimators')}, "
                  f"score {r.value:.4f} vs {bare_score:.4f})", flush=True)
        else:
            print(f"    trial {r.number:2d}: {r.state} after {r.duration:.2f}s (not compared)", flush=True)
        rows.append(row)
    done = [x for x in rows if x["state"] == "complete"]
    med_a = statistics.median(x["autometa_s"] for x in done)
    med_b = statistics.median(x["bare_s"] for x in done)
    sum_trials = sum(r.duration for r in est.result_.records)
    sum_trials_off = sum(r.duration for r in est_off.result_.records)
    sum_trials_rec = sum(r.duration for r in est_rec.result_.records)
    refit_s = bare_refit(lt, est.best_config_.params, Xe, y_enc)
    return {
        "task": lt.name, "rows": len(lt.X), "features": int(lt.X.shape[1]), "kind": lt.kind,
        "n_trials": n_trials, "completed": len(done),
        "pruned": sum(x["state"] == "pruned" for x in rows),
        "same_folds_as_autometa": bool(same_folds),
        "median_trial_s_autometa": round(med_a, 4),
        "median_trial_s_bare_lightgbm_cv": round(med_b, 4),
        "median_ratio_of_medians": round(med_a / med_b, 3),
        "median_per_trial_ratio": round(statistics.median(x["ratio"] for x in done), 3),
        "sum_trial_ratio": round(sum(x["autometa_s"] for x in done) / sum(x["bare_s"] for x in done), 3),
        "fit_wall_s_mlflow": round(wall, 3),
        "sum_trial_durations_s_mlflow": round(sum_trials, 3),
        "fixed_overhead_s_mlflow": round(wall - sum_trials, 3),
        "fit_wall_s_no_tracking": round(wall_off, 3),
        "sum_trial_durations_s_no_tracking": round(sum_trials_off, 3),
        "fixed_overhead_s_no_tracking": round(wall_off - sum_trials_off, 3),
        "fit_wall_s_no_tracking_record": round(wall_rec, 3),
        "sum_trial_durations_s_no_tracking_record": round(sum_trials_rec, 3),
        "fixed_overhead_s_no_tracking_record": round(wall_rec - sum_trials_rec, 3),
        "autometa_has_meta_db_record": "record" in est.get_params(),
        "bare_refit_best_s": round(refit_s, 4),
        "mlflow_db_bytes": db_bytes,
        "trials": rows,
    }


# --------------------------------------------------------------------------- (b) start-up


def startup(runs: int) -> dict[str, Any]:
    py = str(ROOT / ".venv" / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}

    def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(ROOT))
        return time.perf_counter() - start, proc

    print(f"(b) start-up: {SCRIPT} --help, {runs} runs", flush=True)
    timed([str(SCRIPT), "--help"])  # warm the file cache
    help_times, rc = [], None
    for _ in range(runs):
        t, proc = timed([str(SCRIPT), "--help"])
        help_times.append(t)
        rc = proc.returncode
    floor = [timed([py, "-c", "pass"])[0] for _ in range(runs)]
    imp = [timed([py, "-c", "import autometa"])[0] for _ in range(runs)]
    probe = ("import sys, json; sys.argv=['autometa','--help']\n"
             "from autometa.cli import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             f"print('@@' + json.dumps({{m: m in sys.modules for m in {list(HEAVY)!r}}}))")
    proc = subprocess.run([py, "-c", probe], capture_output=True, text=True, env=env, cwd=str(ROOT))
    line = [x for x in proc.stdout.splitlines() if x.startswith("@@")]
    imported = json.loads(line[-1][2:]) if line else {"error": proc.stderr[-500:]}
    proc = subprocess.run([py, "-X", "importtime", "-c", probe], capture_output=True, text=True, env=env,
                          cwd=str(ROOT))
    entries = []  # (cumulative us, self us, name with its nesting indent)
    for ln in proc.stderr.splitlines():
        if not ln.startswith("import time:") or "cumulative" in ln:
            continue
        self_us, cum_us, name = ln.split(":", 1)[1].split("|", 2)
        entries.append((int(cum_us), int(self_us), name))
    top = [{"module": n.strip(), "cumulative_ms": round(c / 1000, 1)}
           for c, _, n in sorted(entries, reverse=True) if len(n) - len(n.lstrip()) <= 1][:10]
    total_ms = round(sum(s for _, s, _ in entries) / 1000, 1)
    return {
        "command": f"{SCRIPT} --help", "runs": runs, "exit_code": rc,
        "median_s": round(statistics.median(help_times), 4), "min_s": round(min(help_times), 4),
        "max_s": round(max(help_times), 4), "all_s": [round(t, 4) for t in help_times],
        "python_floor_median_s": round(statistics.median(floor), 4),
        "import_autometa_median_s": round(statistics.median(imp), 4),
        "heavy_modules_imported_by_help": imported,
        "importtime_total_self_ms": total_ms,
        "importtime_top_level_slowest": top,
    }


# --------------------------------------------------------------------------- report


def table(res: dict[str, Any]) -> str:
    a, b = res.get("per_trial"), res.get("startup")
    lines = []
    if a:
        lines += [
            f"#### (a) Per-trial overhead: {a['task']} ({a['rows']} rows, {a['kind']}), "
            f"{a['n_trials']} LightGBM trials ({a['completed']} completed, {a['pruned']} pruned), 5-fold CV, "
            "MLflow to sqlite", "",
            "| measure | value |", "|---|---:|",
            f"| median seconds per completed trial, autometa | {a['median_trial_s_autometa']:.3f} |",
            f"| median seconds, bare `cross_val_score` of the same LightGBM config | "
            f"{a['median_trial_s_bare_lightgbm_cv']:.3f} |",
            f"| overhead ratio (median / median) | {a['median_ratio_of_medians']:.2f}x |",
            f"| overhead ratio (median of per-trial ratios) | {a['median_per_trial_ratio']:.2f}x |",
            f"| overhead ratio (sum / sum over completed trials) | {a['sum_trial_ratio']:.2f}x |",
            f"| fit wall time, MLflow on | {a['fit_wall_s_mlflow']:.2f} s |",
            f"| sum of trial durations, MLflow on | {a['sum_trial_durations_s_mlflow']:.2f} s |",
            f"| fixed per-fit overhead (wall - sum of trials), MLflow on + meta-db record | "
            f"{a['fixed_overhead_s_mlflow']:.2f} s |",
            f"| fixed per-fit overhead, tracking off, meta-db record on | "
            f"{a['fixed_overhead_s_no_tracking_record']:.2f} s |",
            f"| fixed per-fit overhead, tracking off, no meta-db record | {a['fixed_overhead_s_no_tracking']:.2f} s |",
            f"| a bare refit of the best config on all rows (part of the fixed overhead) | "
            f"{a['bare_refit_best_s']:.2f} s |",
            f"| folds identical to autometa's | {a['same_folds_as_autometa']} |", "",
        ]
    if b:
        heavy = ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in b["heavy_modules_imported_by_help"].items())
        slow = ", ".join(f"{t['module']} {t['cumulative_ms']:.0f} ms" for t in b["importtime_top_level_slowest"][:5])
        lines += [
            f"#### (b) Start-up: `autometa --help` ({b['runs']} runs)", "",
            "| measure | value |", "|---|---:|",
            f"| median wall time `.venv/bin/autometa --help` | {b['median_s']:.3f} s (min {b['min_s']:.3f}, "
            f"max {b['max_s']:.3f}) |",
            f"| median `python -c pass` (floor) | {b['python_floor_median_s']:.3f} s |",
            f"| median `python -c 'import autometa'` | {b['import_autometa_median_s']:.3f} s |",
            f"| exit code | {b['exit_code']} |", "",
            f"Imported by `--help`: {heavy}.", "",
            f"Slowest top-level imports (`-X importtime`, cumulative): {slow}.", "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="HMDA/deny")
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--skip-trials", action="store_true", help="only the start-up part")
    a = p.parse_args(argv)
    res: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                           "cpus": os.cpu_count(), "load1_at_start": round(os.getloadavg()[0], 2)}
    if not a.skip_trials:
        res["per_trial"] = per_trial(a.task, a.trials)
    res["startup"] = startup(a.runs)
    res["load1_at_end"] = round(os.getloadavg()[0], 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2, default=str) + "\n")
    text = table(res)
    (RESULTS / "overhead.md").write_text(text)
    print()
    print(text)
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
