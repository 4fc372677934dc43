"""Bad input at scale: how many generated messy tables ``autometa fit`` was given, and what it said.

The tables come from ``tests/test_fuzz.py``'s hypothesis strategy (random column
types, NaN and inf, unicode and duplicate column names, constant columns, huge
categoricals, 0 to 60 rows, sometimes an absent target). Each goes through the
CLI in this process (``fit --trials 1 --learners linear --no-ensemble``). The
outcome is exit 0 (a model), exit 2 with one line (bad input, counted by the
line's problem), or anything else (a failure of this benchmark's target).

Usage::

    python benchmarks/bench_fuzz.py --examples 500
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ["AUTOMETA_META_DB"] = os.path.join(tempfile.mkdtemp(prefix="bench-fuzz-"), "meta_db.sqlite")
os.environ.pop("MLFLOW_TRACKING_URI", None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=500)
    args = ap.parse_args()

    from hypothesis import HealthCheck, given, settings

    from autometa.cli import main as cli_main
    from tests.test_fuzz import messy_tables

    outcomes: Counter[str] = Counter()
    problems: Counter[str] = Counter()
    bad: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))

    @settings(max_examples=args.examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(table=messy_tables())
    def one(table: tuple) -> None:
        frame, target = table
        path = folder / "messy.csv"
        frame.to_csv(path, index=False)
        argv = ["autometa", "fit", str(path), "--target", target, "--trials", "1", "--learners", "linear",
                "--no-ensemble", "--no-tracking", "--no-record", "--no-meta", "-q", "--output", str(folder / "out")]
        err = io.StringIO()
        sys.argv = argv
        code = 0
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                cli_main()
            except SystemExit as exc:
                code = int(exc.code or 0)
        text = err.getvalue()
        lines = [x for x in text.strip().splitlines() if not x.startswith("warning:")]
        if code == 0:
            outcomes["exit 0: fitted"] += 1
        elif code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in text:
            outcomes["exit 2: one-line error"] += 1
            problems[re.sub(r"'[^']*'|\d+", "…", lines[0][7:].split(";")[0])[:70]] += 1
        else:
            outcomes[f"exit {code}: NOT one line"] += 1
            bad.append(text[-500:])

    start = time.perf_counter()
    one()
    seconds = time.perf_counter() - start
    total = sum(outcomes.values())
    print(f"{total} generated tables in {seconds:.0f} s\n")
    print("| outcome | tables |\n|---|---:|")
    for k, v in outcomes.most_common():
        print(f"| {k} | {v} |")
    print("\n| one-line error (problem, values elided) | tables |\n|---|---:|")
    for k, v in problems.most_common():
        print(f"| {k} | {v} |")
    for text in bad[:5]:
        print("---\n" + text)


if __name__ == "__main__":
    main()
