"""What every benchmark script sets up before its other imports (``import _setup`` first).

* The repository root goes first on ``sys.path``: the checkout's autometa, even beside an
  installed one.
* Nothing is logged to MLflow (``MLFLOW_TRACKING_URI`` is unset).
* One OpenMP/BLAS thread unless the environment says otherwise; this must happen before numpy
  loads its BLAS.
* ``isolate_meta_db``: a throw-away meta_db (seeded from the shipped corpus when first opened), so
  that a benchmark neither records into nor reads the user's.
* ``write_results``: a run's rows as ``results/<stem>.csv`` and its table as ``results/<stem>.md``.
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.setdefault("OMP_NUM_THREADS", "1")


def isolate_meta_db(prefix: str) -> None:
    os.environ["AUTOMETA_META_DB"] = os.path.join(tempfile.mkdtemp(prefix=prefix), "meta_db.sqlite")


def write_results(stem: str, rows: Sequence[Mapping[str, Any]], table: Sequence[str]) -> None:
    """Write ``rows`` to ``results/<stem>.csv`` and the markdown ``table`` lines to
    ``results/<stem>.md``, and print the table."""
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / f"{stem}.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (RESULTS / f"{stem}.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))
