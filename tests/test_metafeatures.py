"""Meta-features: fixed names, finite values, sensible readings, robustness on messy data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from autometa.data import make_task
from autometa.metafeatures import NAMES, compute_metafeatures
from tests.conftest import mixed_frame

pytestmark = pytest.mark.filterwarnings("ignore::autometa.data.AutoMetaWarning")


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_vector_is_fixed_and_finite(kind: str) -> None:
    mf = compute_metafeatures(make_task(mixed_frame(kind=kind), "target"))
    assert mf.names == NAMES and len(mf.values) == len(NAMES)
    assert all(math.isfinite(v) for v in mf.values)
    d = mf.as_dict()
    assert d[f"is_{kind}"] == 1.0
    assert d["log_rows"] == pytest.approx(math.log(160))
    assert d["share_datetime"] == pytest.approx(1 / 5) and d["share_boolean"] == pytest.approx(1 / 5)
    assert 0 < d["share_missing_cells"] < 0.1


def test_landmarkers_see_signal() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=600)
    easy = make_task(pd.DataFrame({"x": x, "z": rng.normal(size=600), "y": (x > 0).astype(int)}), "y")
    noise = make_task(pd.DataFrame({"x": x, "z": rng.normal(size=600), "y": rng.integers(0, 2, 600)}), "y")
    e, n = compute_metafeatures(easy).as_dict(), compute_metafeatures(noise).as_dict()
    assert e["landmark_stump"] > 0.95 and n["landmark_stump"] < 0.6
    assert e["max_abs_target_corr"] > n["max_abs_target_corr"]


def test_reproducible_and_robust_on_degenerate_data() -> None:
    df = pd.DataFrame({"c": ["a"] * 30 + ["b"] * 30, "k": [1.0, np.nan] * 30, "y": [0, 1, 1] * 20})
    task = make_task(df, "y")
    a, b = compute_metafeatures(task), compute_metafeatures(task)
    assert a == b and all(math.isfinite(v) for v in a.values)
