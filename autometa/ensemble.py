"""Ensemble selection (Caruana et al., 2004) over out-of-fold predictions.

Greedy forward selection with replacement: start from nothing, repeatedly add
the member (possibly one already chosen) whose addition makes the averaged
out-of-fold predictions score best, for ``max_rounds`` rounds. The weights are
the selection counts, normalized. ``WeightedEnsemble`` is the fitted result: a
scikit-learn estimator that averages its members' probabilities (or values).

``FoldBag`` is one member made without refitting: the models that a trial's
cross-validation fitted, one per fold, averaged (bagging). Each saw a
different 80% of the rows, and together they cost no further training.

Reference: R. Caruana, A. Niculescu-Mizil, G. Crew, A. Ksikes. "Ensemble
selection from libraries of models." ICML 2004.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sklearn.base import BaseEstimator

if TYPE_CHECKING:
    import numpy as np

    from autometa.metrics import Metric

__all__ = ["FoldBag", "WeightedEnsemble", "ensemble_selection"]


def ensemble_selection(
    predictions: Sequence[np.ndarray],
    y: np.ndarray,
    metric: Metric,
    *,
    max_rounds: int = 50,
) -> tuple[list[float], float]:
    """Choose weights for members from their out-of-fold predictions.

    Args:
        predictions: One array per candidate: probabilities (n, K) or values (n,).
        y: Targets (class indices for classification).
        metric: The score to optimize.
        max_rounds: Selection rounds (members added, with replacement).

    Returns:
        The weights (summing to 1, zero for members never chosen) and the
        ensemble's out-of-fold score.

    Example:
        >>> import numpy as np
        >>> from autometa.metrics import get_metric
        >>> y = np.array([0.0, 1.0, 2.0])
        >>> w, s = ensemble_selection([y + 1, y - 1], y, get_metric("rmse", "regression"))
        >>> w
        [0.5, 0.5]
    """
    import numpy as np

    counts = np.zeros(len(predictions))
    total = np.zeros_like(predictions[0], dtype="float64")
    best_score = metric.worst()
    best_counts = counts.copy()
    for round_ in range(1, max_rounds + 1):
        scores = [metric(y, (total + p) / round_) for p in predictions]
        pick = int(np.argmax(scores) if metric.greater_is_better else np.argmin(scores))
        counts[pick] += 1
        total += predictions[pick]
        if metric.better(scores[pick], best_score):
            best_score, best_counts = scores[pick], counts.copy()
    weights = best_counts / best_counts.sum()
    return [float(w) for w in weights], float(best_score)


class WeightedEnsemble(BaseEstimator):
    """A weighted average of fitted pipelines' probabilities (classification) or values.

    Args:
        members: Fitted estimators taking the same raw columns.
        weights: One non-negative weight per member.
        classes: Class labels in probability-column order; empty for regression.
    """

    def __init__(self, members: Sequence[Any] = (), weights: Sequence[float] = (),
                 classes: Sequence[Any] = ()) -> None:
        self.members = members
        self.weights = weights
        self.classes = classes

    def fit(self, X: Any, y: Any) -> WeightedEnsemble:
        """Refit every member on ``(X, y)``."""
        for m in self.members:
            m.fit(X, y)
        return self

    @property
    def classes_(self) -> Any:
        import numpy as np

        return np.asarray(self.classes)

    def _average(self, X: Any) -> np.ndarray:
        from autometa.evaluate import align_proba

        total = None
        for m, w in zip(self.members, self.weights, strict=True):
            if w == 0:
                continue
            p = align_proba(m, X, self.classes) if len(self.classes) else m.predict(X)
            total = w * p if total is None else total + w * p
        assert total is not None
        return total / sum(self.weights)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._average(X)

    def predict(self, X: Any) -> np.ndarray:
        import numpy as np

        if len(self.classes):
            return np.asarray(self.classes)[self._average(X).argmax(axis=1)]
        return self._average(X)


class FoldBag(BaseEstimator):
    """The average of one configuration's cross-validation fold models (bagging, no refit).

    Args:
        members: The fitted pipelines of the folds, taking raw columns.
        classes: Class labels in probability-column order; empty for regression. A class that
            a fold model never saw gets probability 0 from it.

    ``fit`` refits every member on all rows it is given (they then agree up to their seeds);
    a fit builds a bag from its trials instead.
    """

    def __init__(self, members: Sequence[Any] = (), classes: Sequence[Any] = ()) -> None:
        self.members = members
        self.classes = classes

    def fit(self, X: Any, y: Any) -> FoldBag:
        for m in self.members:
            m.fit(X, y)
        return self

    @property
    def classes_(self) -> Any:
        import numpy as np

        return np.asarray(self.classes)

    def predict_proba(self, X: Any) -> np.ndarray:
        import numpy as np

        from autometa.evaluate import align_proba

        return np.mean([align_proba(m, X, self.classes) for m in self.members], axis=0)

    def predict(self, X: Any) -> np.ndarray:
        import numpy as np

        if len(self.classes):
            return np.asarray(self.classes)[self.predict_proba(X).argmax(axis=1)]
        return np.mean([np.asarray(m.predict(X), dtype="float64") for m in self.members], axis=0)
