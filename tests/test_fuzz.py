"""Bad input at scale: generated messy tables through ``autometa fit``.

Every generated table (random column types, NaN and inf, unicode and duplicate
column names, constant columns, huge categoricals, tiny row counts) must either
fit (exit 0) or end with one line on stderr and exit code 2: never a traceback,
never an internal error (exit 1). ``AUTOMETA_FUZZ_EXAMPLES`` sets how many
tables are tried (30 here; ``benchmarks/bench_fuzz.py`` tries more and counts
the outcomes).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_cli import run_cli

EXAMPLES = int(os.environ.get("AUTOMETA_FUZZ_EXAMPLES", "30"))

WEIRD_NAMES = ["target", "y", "Größe", "名前", "col 1", "", " ", "NaN", "1", "a"]
KINDS = ("int", "float", "float_bad", "text", "bool", "constant", "unique", "date", "mixed", "empty")


@st.composite
def messy_tables(draw: st.DrawFn) -> tuple[pd.DataFrame, str]:
    """A table and a target name: mostly plausible, sometimes degenerate."""
    n_rows = draw(st.one_of(st.integers(min_value=0, max_value=6), st.integers(min_value=7, max_value=150)))
    n_cols = draw(st.integers(min_value=1, max_value=8))
    seed = draw(st.integers(min_value=0, max_value=2**31 - 1))
    rng = np.random.default_rng(seed)
    names, columns = [], {}
    for i in range(n_cols):
        weird = draw(st.integers(min_value=0, max_value=9)) == 0  # one column in ten: an odd or repeated name
        names.append(draw(st.sampled_from(WEIRD_NAMES)) if weird else f"c{i}")
        columns[i] = _column(draw(st.sampled_from(KINDS)), n_rows, rng)
    frame = pd.DataFrame(columns)
    frame.columns = names  # duplicates allowed on purpose
    absent = draw(st.integers(min_value=0, max_value=19)) == 0
    target = "missing_column" if absent else draw(st.sampled_from(names))
    return frame, target


def _column(kind: str, n: int, rng: np.random.Generator) -> list[object]:
    if kind == "int":
        return list(rng.integers(0, 4, size=n))
    if kind == "float":
        return list(rng.normal(size=n))
    if kind == "float_bad":
        v = rng.normal(size=n).astype(object)
        for i in range(n):
            if rng.uniform() < 0.3:
                v[i] = rng.choice([np.nan, np.inf, -np.inf])
        return list(v)
    if kind == "text":
        return list(rng.choice(["red", "grün", "青", "", "NA", "n/a", "1.5"], size=n))
    if kind == "bool":
        return list(rng.choice(["yes", "no", "TRUE", "false"], size=n))
    if kind == "constant":
        return ["same"] * n
    if kind == "unique":
        return [f"id-{i}-{rng.integers(1 << 30)}" for i in range(n)]
    if kind == "date":
        return list((pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, size=n), unit="D"))
                    .strftime("%Y-%m-%d"))
    if kind == "mixed":
        return list(rng.choice(["1", "2.5", "x", "", "3"], size=n))
    return [None] * n  # empty


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(table=messy_tables())
def test_messy_tables_fit_or_fail_in_one_line(table: tuple[pd.DataFrame, str], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    frame, target = table
    path = tmp_path / "messy.csv"
    frame.to_csv(path, index=False)
    code, _, err = run_cli(["fit", str(path), "--target", target, "--trials", "1", "--learners", "linear",
                            "--no-ensemble", "--no-tracking", "--no-record", "--no-meta", "-q",
                            "--output", str(tmp_path / "out")], capsys, monkeypatch)
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        lines = [line for line in err.strip().splitlines() if not line.startswith("warning:")]
        assert len(lines) == 1 and lines[0].startswith("error: "), err
