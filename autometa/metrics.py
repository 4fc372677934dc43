"""Metrics: the one place that knows each metric's direction and what it scores.

Classification metrics score a probability matrix (columns in the order of the
task's classes); regression metrics score predicted values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from autometa.errors import OptionError, message

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DEFAULT_METRIC", "METRICS", "Metric", "get_metric", "sklearn_log_loss", "sklearn_roc_auc"]

Direction = Literal["maximize", "minimize"]


@dataclass(frozen=True)
class Metric:
    """A named score with a direction and the task kinds it applies to."""

    name: str
    direction: Direction
    kinds: frozenset[str]
    _fn: Callable[[np.ndarray, np.ndarray], float]

    def __call__(self, y_true: np.ndarray, pred: np.ndarray) -> float:
        """Score predictions: a probability matrix for classification, values for regression."""
        return float(self._fn(y_true, pred))

    @property
    def greater_is_better(self) -> bool:
        return self.direction == "maximize"

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` is strictly better than ``b``."""
        return a > b if self.greater_is_better else a < b

    def worst(self) -> float:
        return float("-inf") if self.greater_is_better else float("inf")


def _class_indices(y: np.ndarray, n_classes: int) -> np.ndarray | None:
    """``y`` as integer class indices below ``n_classes``, or None when it is not that (then
    scikit-learn's checks and errors apply)."""
    import numpy as np

    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "biuf" or y.size == 0:
        return None
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        return None
    labels = y.astype(np.int64)
    if (labels != y).any() or labels.min() < 0 or labels.max() >= n_classes:
        return None
    return labels


def _auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """Binary ROC-AUC as the Mann-Whitney statistic with average ranks for ties, which equals
    the trapezoidal area scikit-learn computes; None when one class is missing."""
    from scipy.stats import rankdata

    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def sklearn_roc_auc(y: np.ndarray, proba: np.ndarray) -> float:
    """ROC-AUC by ``sklearn.metrics.roc_auc_score`` (binary, or one-vs-rest macro), with its checks."""
    from sklearn.metrics import roc_auc_score

    if proba.shape[1] == 2:
        return roc_auc_score(y, proba[:, 1])
    return roc_auc_score(y, proba, multi_class="ovr", labels=list(range(proba.shape[1])))


def sklearn_log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    """Log-loss by ``sklearn.metrics.log_loss``, with its checks."""
    from sklearn.metrics import log_loss

    return log_loss(y, proba, labels=list(range(proba.shape[1])))


def _roc_auc(y: np.ndarray, proba: np.ndarray) -> float:
    """Binary ROC-AUC, or one-vs-rest macro ROC-AUC. Ensemble selection scores thousands of
    blends: a rank statistic costs a tenth of ``roc_auc_score``'s validation on small tables, so
    valid input takes that path and anything else (a class missing, non-finite scores) gets
    scikit-learn's own answer or error (``sklearn_roc_auc``)."""
    import numpy as np

    proba = np.asarray(proba)
    labels = _class_indices(y, proba.shape[1]) if proba.ndim == 2 else None
    if labels is not None and np.isfinite(proba).all():
        if proba.shape[1] == 2:
            fast = _auc(labels == 1, proba[:, 1])
            if fast is not None:
                return fast
        elif np.allclose(1, proba.sum(axis=1)):
            aucs = [_auc(labels == k, proba[:, k]) for k in range(proba.shape[1])]
            if None not in aucs:
                return float(np.mean([a for a in aucs if a is not None]))
    return sklearn_roc_auc(y, proba)


def _log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    """Mean negative log-probability of the true class, each probability clipped to
    ``[eps, 1 - eps]`` (``eps`` of its float type), as ``sklearn.metrics.log_loss`` computes it
    without its validation (a fast path for ensemble selection; other input goes to it,
    ``sklearn_log_loss``)."""
    import numpy as np

    proba = np.asarray(proba)
    fast = proba.ndim == 2 and proba.dtype in (np.float32, np.float64)
    labels = _class_indices(y, proba.shape[1]) if fast else None
    if labels is not None and np.isfinite(proba).all():
        eps = np.finfo(proba.dtype).eps
        true = np.clip(proba[np.arange(labels.size), labels], eps, 1 - eps)
        return float(-np.mean(np.log(true)))
    return sklearn_log_loss(y, proba)


def _accuracy(y: np.ndarray, proba: np.ndarray) -> float:
    return float((proba.argmax(axis=1) == y).mean())


def _balanced_accuracy(y: np.ndarray, proba: np.ndarray) -> float:
    from sklearn.metrics import balanced_accuracy_score

    return balanced_accuracy_score(y, proba.argmax(axis=1))


def _f1_macro(y: np.ndarray, proba: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return f1_score(y, proba.argmax(axis=1), average="macro", labels=list(range(proba.shape[1])))


def _rmse(y: np.ndarray, pred: np.ndarray) -> float:
    import numpy as np

    return float(np.sqrt(np.mean((y - pred) ** 2)))


def _mae(y: np.ndarray, pred: np.ndarray) -> float:
    import numpy as np

    return float(np.mean(np.abs(y - pred)))


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    from sklearn.metrics import r2_score

    return r2_score(y, pred)


_CLS = frozenset({"binary", "multiclass"})
_REG = frozenset({"regression"})
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", "maximize", _CLS, _roc_auc),
        Metric("log_loss", "minimize", _CLS, _log_loss),
        Metric("accuracy", "maximize", _CLS, _accuracy),
        Metric("balanced_accuracy", "maximize", _CLS, _balanced_accuracy),
        Metric("f1_macro", "maximize", _CLS, _f1_macro),
        Metric("rmse", "minimize", _REG, _rmse),
        Metric("mae", "minimize", _REG, _mae),
        Metric("r2", "maximize", _REG, _r2),
    )
}
DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}


def get_metric(name: str | None, kind: str) -> Metric:
    """The metric called ``name``, or the default for the task kind when ``name`` is None.

    Raises:
        OptionError: The name is unknown or does not fit the task kind.

    Example:
        >>> get_metric(None, "binary").name
        'roc_auc'
    """
    if name is None:
        return METRICS[DEFAULT_METRIC[kind]]
    metric = METRICS.get(name)
    if metric is None:
        raise OptionError(message(f"unknown metric '{name}'", f"use one of: {', '.join(METRICS)}"))
    if kind not in metric.kinds:
        fitting = [m.name for m in METRICS.values() if kind in m.kinds]
        raise OptionError(message(f"metric '{name}' does not apply to a {kind} task",
                                  f"use one of: {', '.join(fitting)}"))
    return metric
