"""Meta-features: autometa's own implementation against pymfe, time and robustness.

Times ``compute_metafeatures`` (autometa; median of 3 after a warm-up call) and ``pymfe.mfe.MFE`` (groups general,
statistical, info-theory, landmarking: the closest match to autometa's set) on
1k, 10k and 100k rows x 100 numeric columns, and checks both on a messy table
(missing values and text categories). pymfe runs in a subprocess with a time
limit, since it can take very long on large tables; a run that hits the limit
is reported as stopped, not extrapolated.

    python benchmarks/bench_metafeatures.py [--sizes 1000,10000,100000] [--limit 600]

Writes benchmarks/results/metafeatures.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"


def table(n: int, p: int = 100, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{i}" for i in range(p)])
    X["y"] = (X["f0"] + X["f1"] * X["f2"] + rng.normal(size=n) > 0).astype(int)
    return X


def messy(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = table(n, 20, seed)
    df.loc[rng.random(n) < 0.2, "f3"] = np.nan
    df["city"] = rng.choice(["a", "b", "c", None], n)
    df["grade"] = rng.choice(["low", "mid", "high"], n)
    return df


def time_autometa(df: pd.DataFrame) -> tuple[float, int, int]:
    from autometa.data import make_task
    from autometa.metafeatures import compute_metafeatures

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task = make_task(df, "y")
        compute_metafeatures(make_task(df.head(200), "y"))  # warm-up: first-call imports are not timed
        times = []
        for _ in range(3):
            start = time.perf_counter()
            mf = compute_metafeatures(task)
            times.append(time.perf_counter() - start)
        seconds = float(np.median(times))
    values = np.asarray(mf.values)
    return seconds, len(values), int((~np.isfinite(values)).sum())


PYMFE_CHILD = """
import sys, time, json, warnings
import numpy as np, pandas as pd
warnings.simplefilter("ignore")
from pymfe.mfe import MFE
df = pd.read_parquet(sys.argv[1])
y = df.pop("y").to_numpy()
X = df.to_numpy(dtype=object) if (df.dtypes == object).any() else df.to_numpy(dtype=float)
cat = [i for i, c in enumerate(df.columns) if df[c].dtype == object] or None
start = time.perf_counter()
mfe = MFE(groups=["general", "statistical", "info-theory", "landmarking"], random_state=0, suppress_warnings=True)
mfe.fit(X, y, cat_cols=cat, suppress_warnings=True)
names, values = mfe.extract(suppress_warnings=True)
values = np.asarray([v if isinstance(v, (int, float)) else np.nan for v in values], dtype=float)
print(json.dumps({"seconds": time.perf_counter() - start, "n": len(values), "nan": int((~np.isfinite(values)).sum())}))
"""


def time_pymfe(df: pd.DataFrame, limit: float, tmp: Path) -> dict[str, object]:
    path = tmp / "pymfe_input.parquet"
    df.to_parquet(path)
    try:
        proc = subprocess.run([sys.executable, "-c", PYMFE_CHILD, str(path)], capture_output=True, text=True,
                              timeout=limit)
    except subprocess.TimeoutExpired:
        return {"status": f"stopped after {limit:.0f} s"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1][:200]
        return {"status": f"error: {last}"}
    return {"status": "ok", **json.loads(proc.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--limit", type=float, default=600.0, help="seconds pymfe may take per table")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    rows = []
    cases = [(f"{int(n):,} x 100", table(int(n))) for n in args.sizes.split(",")] + [("messy 2,000 x 22", messy())]
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="bench-mf-"))
    for name, df in cases:
        ours = time_autometa(df)
        theirs = time_pymfe(df, args.limit, scratch)
        row = {"table": name, "autometa_s": round(ours[0], 3), "autometa_values": ours[1],
               "autometa_nonfinite": ours[2], "pymfe": theirs}
        rows.append(row)
        print(json.dumps(row), flush=True)
    (RESULTS / "metafeatures.json").write_text(json.dumps(rows, indent=1) + "\n")
    print("\n| table | autometa (s) | values (non-finite) | pymfe (s) | values (non-finite) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        p = r["pymfe"]
        ps = f"{p['seconds']:.2f}" if p.get("status") == "ok" else p["status"]
        pv = f"{p['n']} ({p['nan']})" if p.get("status") == "ok" else "-"
        ours = f"{r['autometa_values']} ({r['autometa_nonfinite']})"
        print(f"| {r['table']} | {r['autometa_s']:.2f} | {ours} | {ps} | {pv} |")


if __name__ == "__main__":
    main()
