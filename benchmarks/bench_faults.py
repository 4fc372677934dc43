"""Faults injected, how often, and what was lost: each fault test run N times in a fresh pytest.

Every test injects its fault for real and asserts that nothing is lost (every trial
accounted for as complete, pruned or failed; runs, study and meta_db consistent):
a pass means nothing was lost that time.

Usage::

    python benchmarks/bench_faults.py --repeat 3     # prints a table, writes results/faults.md
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

FAULTS = [
    ("SIGKILL of a worker in the middle of a trial (PostgreSQL, heartbeat 1 s)",
     "tests/test_distributed.py::test_sigkill_of_a_worker_mid_trial_fails_and_retries_its_trial"),
    ("SIGKILL of a local worker in the middle of a trial (journal file)",
     "tests/test_distributed.py::test_sigkill_of_a_local_worker_on_a_journal_fails_its_trial"),
    ("Ctrl-C (SIGINT) of autometa fit, then --resume",
     "tests/test_cli.py::test_ctrl_c_leaves_study_and_runs_consistent"),
    ("PostgreSQL server restarted mid-study",
     "tests/test_distributed.py::test_postgresql_restarted_mid_study"),
    ("MLflow store unreachable, then back",
     "tests/test_tracking_faults.py::test_runs_wait_for_the_store_and_are_written_when_it_answers"),
    ("MLflow tracking server down for the whole fit",
     "tests/test_tracking_faults.py::test_a_fit_goes_on_when_the_tracking_server_is_down"),
    ("two processes writing one SQLite meta_db at once",
     "tests/test_meta_db_concurrency.py::test_two_processes_write_one_sqlite_file"),
    ("a learner that raises, returns NaN, or runs past its timeout",
     "tests/test_search.py::test_failures_are_recorded_and_the_search_goes_on"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from bench_workers import pg_url

    env = dict(os.environ)
    url = pg_url()
    if url:
        env["AUTOMETA_PG_URL"] = url
    lines = ["| fault | injected | nothing lost (passed) | skipped | mean s per run |", "|---|---:|---:|---:|---:|"]
    for name, test in FAULTS:
        passed = skipped = 0
        seconds = 0.0
        for _ in range(args.repeat):
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test, "-rs"],
                                 capture_output=True, text=True, cwd=ROOT, env=env)
            seconds += time.perf_counter() - start
            tail = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
            passed += "passed" in tail and "failed" not in tail
            skipped += "skipped" in tail
            print(f"{name}: {tail}", flush=True)
        lines.append(f"| {name} | {args.repeat} | {passed} | {skipped} | {seconds / args.repeat:.1f} |")
    text = "\n".join(lines)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "faults.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
