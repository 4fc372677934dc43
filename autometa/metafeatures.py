"""Meta-features: a fixed, named vector that describes a task, computed fast on a sample.

Groups (names in ``NAMES``, in order):

* size: log rows, log features, log(features/rows);
* column types: shares of numeric, categorical, boolean and datetime columns;
* missingness: share of missing cells, of rows and of columns with any;
* categoricals: log mean and log max number of levels;
* target: task kind (one-hot), log classes, class entropy (normalized), minority
  and majority class shares; for regression the target's skewness and kurtosis;
* statistics of numeric features: mean |skewness|, mean kurtosis, mean and max
  |correlation| between features, max |correlation| with the target, share of
  variance in the first principal component, share of components needed for
  95% of the variance;
* landmarkers: 3-fold cross-validated scores of cheap models (a decision stump,
  a depth-3 tree, a linear model, 1-nearest-neighbour, naive Bayes), as
  balanced accuracy for classification and R^2 (clipped at -1) for regression.

Statistics use at most ``STAT_ROWS`` sampled rows and landmarkers at most
``LANDMARK_ROWS``; everything is seeded, so the vector is reproducible.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from autometa.data import Task

if TYPE_CHECKING:
    import numpy as np

__all__ = ["NAMES", "VERSION", "MetaFeatures", "compute_metafeatures"]

VERSION = 1
STAT_ROWS = 5_000
LANDMARK_ROWS = 1_000
NAMES: tuple[str, ...] = (
    "log_rows", "log_features", "log_features_per_row",
    "share_numeric", "share_categorical", "share_boolean", "share_datetime",
    "share_missing_cells", "share_rows_missing", "share_columns_missing",
    "log_mean_levels", "log_max_levels",
    "is_binary", "is_multiclass", "is_regression",
    "log_classes", "class_entropy", "minority_share", "majority_share", "target_skew", "target_kurtosis",
    "mean_abs_skew", "mean_kurtosis", "mean_abs_corr", "max_abs_corr", "max_abs_target_corr",
    "pca_first_share", "pca_95_share",
    "landmark_stump", "landmark_tree3", "landmark_linear", "landmark_1nn", "landmark_nb",
)


@dataclass(frozen=True)
class MetaFeatures:
    """A task's meta-feature vector with its names and version."""

    values: tuple[float, ...]
    names: tuple[str, ...] = NAMES
    version: int = VERSION

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.names, self.values, strict=True))

    def array(self) -> np.ndarray:
        import numpy as np

        return np.asarray(self.values, dtype="float64")

    @classmethod
    def from_dict(cls, values: dict[str, float], version: int = VERSION) -> MetaFeatures:
        return cls(tuple(float(values.get(n, 0.0)) for n in NAMES), NAMES, version)


def _finite(x: float, default: float = 0.0) -> float:
    return float(x) if x is not None and math.isfinite(x) else default


def compute_metafeatures(task: Task, *, seed: int = 0) -> MetaFeatures:
    """Describe a task as a fixed vector (see the module docstring).

    Example:
        >>> import pandas as pd
        >>> from autometa.data import make_task
        >>> t = make_task(pd.DataFrame({"a": range(40), "b": [1.0, 2.5] * 20, "y": [0, 1] * 20}), "y")
        >>> mf = compute_metafeatures(t)
        >>> round(mf.as_dict()["is_binary"])
        1
    """
    import numpy as np

    from autometa.preprocess import make_preprocessor

    rng = np.random.default_rng(seed)
    n, p = task.n_rows, len(task.columns)
    out: dict[str, float] = {"log_rows": math.log(n), "log_features": math.log(p),
                             "log_features_per_row": math.log(p / n)}
    kinds = [c.kind for c in task.columns]
    for k in ("numeric", "categorical", "boolean", "datetime"):
        out[f"share_{k}"] = kinds.count(k) / p

    rows = rng.choice(n, size=min(n, STAT_ROWS), replace=False) if n > STAT_ROWS else np.arange(n)
    X = task.X.iloc[rows]
    y = task.encoded_y()[rows]
    missing = X.isna().to_numpy()
    out["share_missing_cells"] = float(missing.mean())
    out["share_rows_missing"] = float(missing.any(axis=1).mean())
    out["share_columns_missing"] = float(missing.any(axis=0).mean())
    levels = [X[c.name].nunique() for c in task.columns if c.kind == "categorical"]
    out["log_mean_levels"] = math.log1p(float(np.mean(levels))) if levels else 0.0
    out["log_max_levels"] = math.log1p(float(max(levels))) if levels else 0.0

    for k in ("binary", "multiclass", "regression"):
        out[f"is_{k}"] = float(task.kind == k)
    out.update(_target_features(task, y))

    prep = make_preprocessor(task.columns, "onehot")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Z = np.asarray(prep.fit_transform(X), dtype="float64")
        num = _numeric_block(task, X)
        out.update(_statistics(num, y, task))
        out.update(_pca(Z))
        lm = rng.choice(len(rows), size=min(len(rows), LANDMARK_ROWS), replace=False)
        out.update(_landmarkers(Z[lm], y[lm], task, seed))
    return MetaFeatures(tuple(_finite(out[name]) for name in NAMES))


def _target_features(task: Task, y: np.ndarray) -> dict[str, float]:
    import numpy as np
    from scipy import stats

    out = {k: 0.0 for k in ("log_classes", "class_entropy", "minority_share", "majority_share",
                            "target_skew", "target_kurtosis")}
    if task.is_classification:
        counts = np.bincount(y.astype(int), minlength=len(task.classes)).astype(float)
        share = counts / counts.sum()
        nz = share[share > 0]
        out["log_classes"] = math.log(len(task.classes))
        out["class_entropy"] = float(-(nz * np.log(nz)).sum() / math.log(len(task.classes)))
        out["minority_share"] = float(share.min())
        out["majority_share"] = float(share.max())
    else:
        out["target_skew"] = float(np.clip(stats.skew(y), -50, 50))
        out["target_kurtosis"] = float(np.clip(stats.kurtosis(y), -50, 500))
    return out


def _numeric_block(task: Task, X: Any) -> np.ndarray:
    import numpy as np

    from autometa.preprocess import ColumnCoercer

    numeric = [c for c in task.columns if c.kind in ("numeric", "boolean")]
    if not numeric:
        return np.empty((len(X), 0))
    values = ColumnCoercer(tuple(numeric)).fit_transform(X).to_numpy(dtype="float64")
    medians = np.nanmedian(np.where(np.isnan(values).all(axis=0), 0.0, values), axis=0)
    return np.where(np.isnan(values), medians, values)


def _statistics(num: np.ndarray, y: np.ndarray, task: Task) -> dict[str, float]:
    import numpy as np
    from scipy import stats

    out = {"mean_abs_skew": 0.0, "mean_kurtosis": 0.0, "mean_abs_corr": 0.0, "max_abs_corr": 0.0,
           "max_abs_target_corr": 0.0}
    varying = num[:, num.std(axis=0) > 0] if num.size else num
    if varying.shape[1] == 0:
        return out
    out["mean_abs_skew"] = float(np.mean(np.clip(np.abs(stats.skew(varying)), 0, 50)))
    out["mean_kurtosis"] = float(np.mean(np.clip(stats.kurtosis(varying), -50, 500)))
    cols = varying[:, :50]  # correlations on at most 50 columns keep this fast
    if cols.shape[1] > 1:
        corr = np.abs(np.corrcoef(cols, rowvar=False))
        upper = corr[np.triu_indices_from(corr, k=1)]
        out["mean_abs_corr"] = float(np.nanmean(upper))
        out["max_abs_corr"] = float(np.nanmax(upper))
    target = y.astype(float)
    if task.kind == "multiclass":
        return out  # class indices are not ordered; no linear correlation
    if target.std() > 0:
        zc = (cols - cols.mean(axis=0)) / cols.std(axis=0)
        zt = (target - target.mean()) / target.std()
        out["max_abs_target_corr"] = float(np.nanmax(np.abs(zc.T @ zt) / len(zt)))
    return out


def _pca(Z: np.ndarray) -> dict[str, float]:
    import numpy as np

    if Z.shape[1] < 2:
        return {"pca_first_share": 1.0, "pca_95_share": 1.0}
    Zc = Z[:, Z.std(axis=0) > 0]
    if Zc.shape[1] < 2:
        return {"pca_first_share": 1.0, "pca_95_share": 1.0}
    Zc = Zc[:LANDMARK_ROWS]
    Zc = (Zc - Zc.mean(axis=0)) / np.where(Zc.std(axis=0) > 0, Zc.std(axis=0), 1.0)
    eig = np.clip(np.linalg.eigvalsh(Zc.T @ Zc), 0, None)[::-1]  # covariance spectrum, largest first
    var = eig / eig.sum()
    k95 = int(np.searchsorted(np.cumsum(var), 0.95) + 1)
    return {"pca_first_share": float(var[0]), "pca_95_share": k95 / Zc.shape[1]}


def _landmarkers(Z: np.ndarray, y: np.ndarray, task: Task, seed: int) -> dict[str, float]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    names = ("landmark_stump", "landmark_tree3", "landmark_linear", "landmark_1nn", "landmark_nb")
    out = dict.fromkeys(names, 0.0)
    if task.is_classification:
        counts = np.bincount(y.astype(int))
        folds = int(min(3, counts[counts > 0].min()))
        if folds < 2 or (counts > 0).sum() < 2:
            return out
        cv: Any = StratifiedKFold(folds, shuffle=True, random_state=seed)
        models = [DecisionTreeClassifier(max_depth=1, random_state=seed),
                  DecisionTreeClassifier(max_depth=3, random_state=seed),
                  LogisticRegression(max_iter=200), KNeighborsClassifier(1), GaussianNB()]
        scoring = "balanced_accuracy"
    else:
        if len(y) < 6:
            return out
        cv = KFold(3, shuffle=True, random_state=seed)
        models = [DecisionTreeRegressor(max_depth=1, random_state=seed),
                  DecisionTreeRegressor(max_depth=3, random_state=seed), Ridge(), KNeighborsRegressor(1), None]
        scoring = "r2"
    for name, model in zip(names, models, strict=True):
        if model is None:
            continue
        try:
            score = float(np.mean(cross_val_score(model, Z, y, cv=cv, scoring=scoring)))
        except ValueError:  # a degenerate fold; the landmark stays 0
            continue
        out[name] = max(score, -1.0) if math.isfinite(score) else 0.0
    return out
