"""The preprocessing that every saved model carries, so ``predict`` takes raw columns.

``make_preprocessor`` returns a scikit-learn transformer: first ``ColumnCoercer``
turns raw columns (strings from a CSV, numbers, dates) into the types the task
assigned, then a ``ColumnTransformer`` encodes them for a learner family:

* ``"ordinal"`` (trees): numbers pass through with missing values kept,
  categories become integer codes (the 254 most frequent levels; rarer ones
  share a code), placed last so a learner can mark them categorical;
* ``"onehot"`` (linear models, neighbours, networks): numbers are imputed
  (median, plus missing indicators) and standardized, categories are one-hot
  encoded (the 32 most frequent levels, rarer ones grouped).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sklearn.base import BaseEstimator, TransformerMixin

from autometa import data
from autometa.data import Column
from autometa.errors import DataError, message

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ColumnCoercer", "Encoding", "Layout", "make_preprocessor"]

Encoding = Literal["ordinal", "onehot"]
DATETIME_PARTS = ("year", "month", "day", "dayofweek", "hour", "days")
MAX_ORDINAL_LEVELS = 254
MAX_ONEHOT_LEVELS = 32
TRUE_WORDS = data.TRUE_WORDS | {"1", "1.0"}  # a boolean column may also hold 0/1 at predict time
FALSE_WORDS = data.FALSE_WORDS | {"0", "0.0"}


class ColumnCoercer(TransformerMixin, BaseEstimator):
    """Cast raw columns to their task types: numbers, booleans as 0/1, dates as parts.

    Args:
        columns: The task's feature columns and their kinds.

    Output columns: numeric and boolean columns under their names, each datetime
    column as ``<name>__<part>`` for the parts in ``DATETIME_PARTS``, then the
    categorical columns as strings (missing stays missing).
    """

    def __init__(self, columns: Sequence[Column] = ()) -> None:
        self.columns = columns

    def fit(self, X: pd.DataFrame, y: Any = None) -> ColumnCoercer:
        self._check(X)
        self.numeric_names_ = [c.name for c in self.columns if c.kind in ("numeric", "boolean")]
        for c in self.columns:
            if c.kind == "datetime":
                self.numeric_names_ += [f"{c.name}__{p}" for p in DATETIME_PARTS]
        self.categorical_names_ = [c.name for c in self.columns if c.kind == "categorical"]
        return self

    def _check(self, X: Any) -> None:
        import pandas as pd

        if not isinstance(X, pd.DataFrame):
            raise DataError(message(f"expected a DataFrame with named columns, got {type(X).__name__}",
                                    "pass the table's columns by name"))
        missing = [c.name for c in self.columns if c.name not in X.columns]
        if missing:
            raise DataError(message(
                f"input lacks the column(s) {', '.join(repr(m) for m in missing[:5])} that the model was trained on",
                "pass a table with the training columns (extra columns are ignored)"))

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        self._check(X)
        out: dict[str, Any] = {}
        for c in self.columns:
            s = X[c.name]
            if c.kind == "numeric":
                out[c.name] = _to_float(s)
            elif c.kind == "boolean":
                out[c.name] = _to_bool(s)
        for c in self.columns:
            if c.kind == "datetime":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    d = pd.to_datetime(X[c.name], errors="coerce", format="mixed")
                if getattr(d.dt, "tz", None) is not None:
                    d = d.dt.tz_convert(None)
                days = (d - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
                parts: dict[str, pd.Series] = {"year": d.dt.year, "month": d.dt.month, "day": d.dt.day,
                         "dayofweek": d.dt.day_of_week, "hour": d.dt.hour, "days": days}
                for p in DATETIME_PARTS:
                    out[f"{c.name}__{p}"] = parts[p].astype("float64").to_numpy()
        for c in self.columns:
            if c.kind == "categorical":
                s = X[c.name]
                text = s.astype(str).str.strip().to_numpy(dtype=object, copy=True)
                text[s.isna().to_numpy()] = np.nan
                out[c.name] = text
        return pd.DataFrame(out, index=X.index)


def _to_float(s: pd.Series) -> Any:
    import numpy as np
    import pandas as pd

    if pd.api.types.is_bool_dtype(s):
        values = s.astype("float64").to_numpy()
    elif pd.api.types.is_numeric_dtype(s):
        values = s.to_numpy(dtype="float64", na_value=np.nan)
    else:
        values = pd.to_numeric(s.astype(str).str.strip(), errors="coerce").to_numpy(dtype="float64", copy=True)
        values[s.isna().to_numpy()] = np.nan
    values = values.copy()
    values[~np.isfinite(values)] = np.nan
    return values


def _to_bool(s: pd.Series) -> Any:
    import numpy as np

    lower = s.astype(str).str.strip().str.lower()
    values = np.where(lower.isin(TRUE_WORDS), 1.0, np.where(lower.isin(FALSE_WORDS), 0.0, np.nan))
    values[s.isna().to_numpy()] = np.nan
    return values


@dataclass(frozen=True)
class Layout:
    """Where encoded features sit: the first ``n_numeric`` are numbers, then categoricals."""

    n_numeric: int
    n_categorical: int

    @property
    def categorical_indices(self) -> list[int]:
        return list(range(self.n_numeric, self.n_numeric + self.n_categorical))


def layout_of(columns: Sequence[Column]) -> Layout:
    """The ordinal layout a task's columns produce (see ``ColumnCoercer``)."""
    n_num = sum(1 for c in columns if c.kind in ("numeric", "boolean"))
    n_num += len(DATETIME_PARTS) * sum(1 for c in columns if c.kind == "datetime")
    return Layout(n_num, sum(1 for c in columns if c.kind == "categorical"))


def make_preprocessor(columns: Sequence[Column], encoding: Encoding) -> Any:
    """The preprocessing pipeline for a task's columns and a learner's encoding.

    Example:
        >>> from autometa import data
from autometa.data import Column
        >>> make_preprocessor([Column("a", "numeric")], "onehot")  # doctest: +ELLIPSIS
        Pipeline(...)
    """
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    coercer = ColumnCoercer(tuple(columns))
    layout = layout_of(columns)
    num = list(range(layout.n_numeric))
    cat = layout.categorical_indices
    if encoding == "ordinal":
        cat_step = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                  encoded_missing_value=np.nan, max_categories=MAX_ORDINAL_LEVELS,
                                  dtype=np.float64)
        encoder = ColumnTransformer([("num", "passthrough", num), ("cat", cat_step, cat)],
                                    sparse_threshold=0.0)
    else:
        num_step = make_pipeline(SimpleImputer(strategy="median", add_indicator=True,
                                               keep_empty_features=True), StandardScaler())
        cat_step = make_pipeline(
            SimpleImputer(strategy="constant", fill_value="__missing__", keep_empty_features=True),
            OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=MAX_ONEHOT_LEVELS,
                          sparse_output=False, dtype=np.float64),
        )
        encoder = ColumnTransformer([("num", num_step, num), ("cat", cat_step, cat)],
                                    sparse_threshold=0.0)
    return Pipeline([("coerce", coercer), ("encode", encoder)])
