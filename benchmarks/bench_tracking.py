"""Tracking benchmark: what MLflow tracking adds per trial, and how fast the UI shows a big fit.

(a) Per-trial cost. A fit's parent run is opened with ``MlflowTracker.start_fit`` (params,
    meta-features, the dataset reference), then ``--trials`` trial records are written with
    ``log_trial`` exactly as ``autometa fit`` writes them: a child run with the learner's
    parameters (8), fold scores (5), 5 intermediate values, duration, fidelity and the
    meta-learner's tags. Timed per trial, against two stores:
      - ``sqlite``: a local SQLite file (the default store of ``autometa fit``);
      - ``server``: ``mlflow server`` on loopback (``autometa.ui.UiServer``, one worker) backed by
        its own SQLite file, written over HTTP.
    Reported: median, 95th percentile and mean milliseconds per trial, and ``start_fit``.
(b) UI load. The ``sqlite`` store of (a) holds a fit with ``--trials`` trial runs (1,000 by
    default). ``autometa ui`` serves it; headless Chromium (Debian's, driven by Playwright) opens the
    experiment's runs page ``--loads`` times; timed from navigation until the parent run's row is
    visible, and until the "N matching runs" counter shows (the UI loads runs in pages, so N is what
    it has loaded); then the parent row is expanded and the time until its newest trial row
    (``trial-<N-1>``, listed first) is visible is taken too.

Writes ``benchmarks/results/tracking.json`` and ``tracking.md`` and prints the table.

Usage::

    python benchmarks/bench_tracking.py [--trials 1000] [--server-trials 200] [--loads 3]
"""

from __future__ import annotations

import argparse
import json
import os
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
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from autometa.records import TrialRecord  # noqa: E402
from autometa.spaces import Config  # noqa: E402
from autometa.tracking import MlflowTracker  # noqa: E402
from autometa.ui import UiServer  # noqa: E402

RESULTS = HERE / "results"
CHROMIUM = "/usr/bin/chromium"


def records(n: int, seed: int = 0) -> list[TrialRecord]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        params = {"learning_rate": float(rng.uniform(0.01, 0.3)), "num_leaves": int(rng.integers(8, 256)),
                  "min_child_samples": int(rng.integers(5, 100)), "subsample": float(rng.uniform(0.5, 1)),
                  "colsample_bytree": float(rng.uniform(0.5, 1)), "reg_alpha": float(rng.uniform(0, 1)),
                  "reg_lambda": float(rng.uniform(0, 1)), "n_estimators": 500}
        folds = tuple(float(x) for x in rng.uniform(0.8, 0.9, size=5))
        out.append(TrialRecord(number=i, config=Config("lightgbm", params), state="complete",
                               value=float(np.mean(folds)), fold_scores=folds, duration=float(rng.uniform(0.1, 2)),
                               source="meta" if i < 10 else "sampler", fidelity=500,
                               intermediate={s: float(np.mean(folds)) for s in (50, 100, 200, 350, 500)}))
    return out


def tags(record: TrialRecord) -> dict[str, str]:
    if record.source != "meta":
        return {"autometa.recommended": "false"}
    return {"autometa.recommended": "true", "autometa.recommendation_rank": str(record.number + 1),
            "autometa.predicted_percentile": "0.9123", "autometa.predicted_uncertainty": "0.0456"}


def log_fit(uri: str, n: int, name: str) -> dict[str, Any]:
    """Write one fit with ``n`` trials; returns the timings and the ids."""
    tracker = MlflowTracker(uri)
    mf = {f"mf.feature_{i}": float(i) for i in range(40)}
    t0 = time.perf_counter()
    tracker.start_fit(experiment=name, run_name=f"fit {name} bench", tags={"autometa.kind": "fit"},
                      params={"dataset": name, "metric": "roc_auc", "rows": 10_000, "features": 20}, metrics=mf)
    start = time.perf_counter() - t0
    per: list[float] = []
    for r in records(n):
        t = time.perf_counter()
        tracker.log_trial(r, "roc_auc", tags(r))
        per.append(time.perf_counter() - t)
    tracker.finish_fit(metrics={"best_roc_auc": 0.9, "n_trials": n}, artifacts={})
    ms = sorted(1000 * x for x in per)
    return {"store": uri.split(":")[0], "trials": n, "start_fit_ms": round(1000 * start, 1),
            "median_ms": round(statistics.median(ms), 2), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2),
            "mean_ms": round(statistics.fmean(ms), 2), "run_id": tracker.run_id,
            "experiment_id": tracker.experiment_id}


def ui_loads(uri: str, experiment_id: str, run_name: str, n: int, loads: int, work: Path) -> list[dict[str, float]]:
    from playwright.sync_api import expect, sync_playwright

    out = []
    exe = Path(sys.executable).parent / "autometa"
    proc = subprocess.Popen([str(exe), "ui", "--tracking-uri", uri, "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    assert proc.stdout is not None
    t_start = time.perf_counter()
    base = ""
    for line in proc.stdout:
        if line.startswith("MLflow UI: "):
            base = line.split(": ", 1)[1].strip()
            break
    server_start = time.perf_counter() - t_start
    page_url = f"{base}/#/experiments/{experiment_id}/runs"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM,
                                        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            for i in range(loads):
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                t = time.perf_counter()
                page.goto(page_url)
                expect(page.get_by_text(run_name).first).to_be_visible(timeout=180_000)
                parent = time.perf_counter() - t
                count = page.get_by_text("matching runs").first
                expect(count).to_be_visible(timeout=180_000)
                counted = time.perf_counter() - t
                shown = count.locator("xpath=..").inner_text().split("matching")[0].strip()
                row = page.locator("[role=row]").filter(has_text=run_name).first
                t2 = time.perf_counter()
                row.locator("[col-id*='Run Name'] button").first.click()
                expect(page.get_by_text(f"trial-{n - 1}", exact=True).first).to_be_visible(timeout=180_000)
                expand = time.perf_counter() - t2
                page.screenshot(path=str(work / f"load{i}.png"))
                page.close()
                out.append({"load": i + 1, "parent_visible_s": round(parent, 2),
                            "count_visible_s": round(counted, 2), "runs_counted": shown,
                            "expand_s": round(expand, 2),
                            "server_start_s": round(server_start, 1)})
                print(f"  load {i + 1}: parent row {parent:.2f} s, '{shown} matching runs' {counted:.2f} s, "
                      f"expand {expand:.2f} s", flush=True)
            browser.close()
    finally:
        import signal

        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=1000, help="trial runs in the local fit (and the UI test)")
    ap.add_argument("--server-trials", type=int, default=200, help="trial runs written to the loopback server")
    ap.add_argument("--loads", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    RESULTS.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    rows = []
    print(f"(a) {args.trials} trials into a local SQLite store ...", flush=True)
    local_uri = f"sqlite:///{work / 'mlflow.db'}"
    local = log_fit(local_uri, args.trials, "bench")
    rows.append(local)
    print(f"    {local}", flush=True)
    print(f"(a) {args.server_trials} trials into mlflow server on loopback ...", flush=True)
    with UiServer(f"sqlite:///{work / 'server.db'}", port=0) as server:
        remote = log_fit(server.url, args.server_trials, "bench-server")
        remote["store"] = "server (loopback HTTP)"
        rows.append(remote)
        print(f"    {remote}", flush=True)
    print(f"(b) the MLflow UI on a fit with {args.trials} trial runs ...", flush=True)
    loads = ui_loads(local_uri, str(local["experiment_id"]), "fit bench bench", args.trials, args.loads, work)
    result = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
              "python": sys.version.split()[0], "cpus": os.cpu_count(), "logging": rows, "ui": loads,
              "screenshots": str(work)}
    (RESULTS / "tracking.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["| store | trials | start_fit ms | median ms/trial | p95 ms/trial | mean ms/trial |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['store']} | {r['trials']} | {r['start_fit_ms']} | {r['median_ms']} | {r['p95_ms']} | "
              f"{r['mean_ms']} |" for r in rows]
    lines += ["", f"UI, runs page of a fit with {args.trials} trial runs (`autometa ui` started in "
              f"{loads[0]['server_start_s'] if loads else '?'} s):", "",
              "| load | parent row visible s | run count visible s (count shown) | expand to newest trial s |",
              "|---:|---:|---:|---:|"]
    lines += [f"| {x['load']} | {x['parent_visible_s']} | {x['count_visible_s']} ({x['runs_counted']}) | "
              f"{x['expand_s']} |" for x in loads]
    table = "\n".join(lines)
    (RESULTS / "tracking.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
