"""Shared fixtures: small generated tables and a real MLflow store in a temp folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "titanic.csv"


def workbook_zip() -> bytes:
    """An Excel workbook's bytes as far as a reader can tell: a zip of the two XML parts that name it one."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


def mixed_frame(n: int = 160, seed: int = 0, kind: str = "binary") -> pd.DataFrame:
    """Numbers with gaps, a category, a boolean, a date, and a target of the given kind."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rng.uniform(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    flag = rng.choice(["yes", "no"], size=n)
    day = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 700, size=n), unit="D")
    signal = a + (color == "red") * 1.5 + b
    if kind == "binary":
        y: np.ndarray = np.where(signal + rng.normal(scale=0.5, size=n) > 0.8, "pos", "neg")
    elif kind == "multiclass":
        y = np.digitize(signal, np.quantile(signal, [0.33, 0.66])).astype(int)
    else:
        y = signal * 3 + rng.normal(scale=0.3, size=n)
    a_gaps = a.copy()
    a_gaps[::11] = np.nan
    return pd.DataFrame({"a": a_gaps, "b": b, "color": color, "flag": flag,
                         "day": day.strftime("%Y-%m-%d"), "target": y})


@pytest.fixture
def binary_frame() -> pd.DataFrame:
    return mixed_frame(kind="binary")


@pytest.fixture
def regression_frame() -> pd.DataFrame:
    return mixed_frame(kind="regression")


@pytest.fixture
def mlflow_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def _isolated_meta_db(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own user meta_db, cache folder and an empty shipped corpus, never the real
    ones."""
    folder = tmp_path_factory.mktemp("meta")
    monkeypatch.setenv("AUTOMETA_META_DB", str(folder / "user.sqlite"))
    monkeypatch.setenv("AUTOMETA_CACHE_DIR", str(folder / "cache"))
    monkeypatch.setenv("AUTOMETA_SHIPPED_META_DB", str(folder / "shipped"))
    return folder
