"""Ensemble selection (Caruana et al., 2004) over out-of-fold predictions.

Greedy forward selection with replacement: start from nothing, repeatedly add
the member (possibly one already chosen) whose addition makes the averaged
out-of-fold predictions score best, for ``max_rounds`` rounds. The weights are
the selection counts, normalized. ``WeightedEnsemble`` is the fitted result: a
scikit-learn estimator that averages its members' probabilities (or values).

``fit_stacker`` is the optional alternative to selection: a one-level stacker, a
linear model trained on the members' out-of-fold predictions (non-negative least
squares for regression; a logistic regression on the members' log-odds for
classification), scored by cross-validation on those same predictions.
``StackedEnsemble`` applies it to the members' predictions on new rows.

``FoldBag`` is one member made without refitting: the models that a trial's
cross-validation fitted, one per fold, averaged (bagging). Each saw a
different 80% of the rows, and together they cost no further training.
Under a holdout split a bag holds one model, and only the holdout's rows have
out-of-fold predictions (the others are NaN): the combiners choose and score on
those rows (``validated``), as AutoGluon's weighted ensemble does without bagging.

``LevelTwo`` is a member of a second stack level (``autometa.stacking``): a bag of fold
models trained on the columns plus first-level members' out-of-fold predictions, which on
new rows reads those members' predictions.

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

__all__ = ["FoldBag", "LevelTwo", "StackedEnsemble", "WeightedEnsemble", "apply_stacker", "combine_seconds",
           "combiner_folds", "ensemble_selection", "fit_stacker", "selection_cv_score", "stack_columns",
           "validated", "with_predictions"]

SELECTION_ROUNDS = 50
# the rows the combiners choose on, at most: a holdout of 1.4 million rows validates 283,000, on which
# selection's 1,250 scorings of ROC AUC took 8 s of a 60 s fit, and 4 s on 51,000 (k-fold
# cross-validation, up to 100,000 rows, is never sampled)
SELECTION_ROWS = 20_000
STACK_PROBE = 10  # members in the timed probe of the stacker (selection keeps fewer, in practice)


def ensemble_selection(
    predictions: Sequence[np.ndarray],
    y: np.ndarray,
    metric: Metric,
    *,
    max_rounds: int = SELECTION_ROUNDS,
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

    predictions, y = validated(predictions, y)
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


def validated(predictions: Sequence[np.ndarray], y: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The out-of-fold predictions and targets of the rows that were validated: where a holdout
    split left its training rows NaN (``evaluate.Evaluation.oof``), only its validation rows (a
    fixed sample of ``SELECTION_ROWS`` of them when there are more); all rows after k-fold
    cross-validation.

    Example:
        >>> import numpy as np
        >>> p, y = validated([np.array([np.nan, 1.0, 2.0])], np.array([0.0, 1.0, 2.0]))
        >>> p[0].tolist(), y.tolist()
        ([1.0, 2.0], [1.0, 2.0])
    """
    import numpy as np

    first = np.asarray(predictions[0])
    rows = ~np.isnan(first.reshape(len(first), -1)).any(axis=1)
    if rows.all():
        return list(predictions), y
    index = np.flatnonzero(rows)
    if len(index) > SELECTION_ROWS:
        index = np.sort(np.random.default_rng(0).choice(index, SELECTION_ROWS, replace=False))
    return [np.asarray(p)[index] for p in predictions], y[index]


def combiner_folds(y: np.ndarray, classification: bool, *, seed: int = 0, folds: int = 5) -> Any:
    """The row folds on which a combiner of out-of-fold predictions is itself cross-validated
    (stratified for classification): the same for ensemble selection and the stacker, so that
    their scores compare."""
    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold

    if classification:  # no more folds than the smallest class has rows (a tiny table: fewer folds)
        smallest = int(np.unique(y, return_counts=True)[1].min())
        return StratifiedKFold(max(2, min(folds, smallest)), shuffle=True, random_state=seed)
    return KFold(max(2, min(folds, len(y))), shuffle=True, random_state=seed)


def selection_cv_score(predictions: Sequence[np.ndarray], y: np.ndarray, metric: Metric, *, seed: int = 0,
                       folds: int = 5, max_rounds: int = SELECTION_ROUNDS) -> float:
    """Ensemble selection's score on rows it did not choose its weights on: the weights are
    chosen on the out-of-fold predictions of all but one fold of rows and applied to that fold,
    for each fold (``ensemble_selection``'s own score is measured on the rows it chose on, so it
    is optimistic, the more so with many candidates and few rows)."""
    import numpy as np

    predictions, y = validated(predictions, y)
    classification = predictions[0].ndim == 2
    stacked = np.stack(predictions)  # (members, n[, K])
    held = np.zeros_like(predictions[0], dtype="float64")
    for train, test in combiner_folds(y, classification, seed=seed, folds=folds).split(stacked[0], y):
        weights, _ = ensemble_selection([p[train] for p in stacked], y[train], metric, max_rounds=max_rounds)
        held[test] = np.tensordot(np.asarray(weights), stacked[:, test], axes=1)
    return float(metric(y, held))


def combine_seconds(y: np.ndarray, metric: Metric, n_classes: int, *, members: int, stack: bool = False,
                    folds: int = 5, seed: int = 0) -> float:
    """Predicted seconds of ensemble selection over ``members`` candidates' out-of-fold
    predictions of the target ``y`` (and, with ``stack``, of the regression stacker over them):
    the metric, and one non-negative least-squares fit, timed once on random predictions of that
    shape and multiplied by the calls each makes. What a time budget keeps for the final model
    (``autometa.flow``); the classification stacker is not predicted (it raises ValueError).

    Example:
        >>> import numpy as np
        >>> from autometa.metrics import get_metric
        >>> y = np.arange(100.0)
        >>> combine_seconds(y, get_metric("rmse", "regression"), 0, members=25) < 1.0
        True
    """
    import time

    import numpy as np

    rng = np.random.default_rng(seed)
    n = len(y)
    guess = rng.dirichlet(np.ones(n_classes), n) if n_classes else rng.normal(size=n)
    start = time.perf_counter()
    metric(y, guess)
    seconds = (time.perf_counter() - start) * members * SELECTION_ROUNDS
    if stack:
        if n_classes:
            raise ValueError("the classification stacker's time is not predicted")
        from sklearn.linear_model import LinearRegression

        X = rng.normal(size=(n, STACK_PROBE))
        start = time.perf_counter()
        LinearRegression(positive=True).fit(X, y)
        seconds += (time.perf_counter() - start) * 2 * (folds + 1)  # cross-validated, and maybe refitted once
    return seconds


class _Combination(BaseEstimator):
    """Fitted members combined into one estimator: ``fit`` refits every member, and ``predict``
    is the most probable class or the combined value. Subclasses set ``members`` and ``classes``
    and implement ``predict_proba`` and ``_values``."""

    members: Sequence[Any]
    classes: Sequence[Any]
    values_dtype = "float64"  # a regressor's ``predict``: one value per row, of this type

    def fit(self, X: Any, y: Any) -> Any:
        """Refit every member on ``(X, y)``."""
        for m in self.members:
            m.fit(X, y)
        return self

    @property
    def classes_(self) -> Any:
        import numpy as np

        return np.asarray(self.classes)

    def predict_proba(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def _values(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def predict(self, X: Any) -> np.ndarray:
        import numpy as np

        if len(self.classes):
            return np.asarray(self.classes)[self.predict_proba(X).argmax(axis=1)]
        return self._values(X)


class _SharedInputs(_Combination):
    """An ensemble whose second-level members (``LevelTwo``) read first-level models that other
    members hold too: in memory they are one object, and saved they stay one.

    skops, unlike pickle, keeps no memo of the objects it has written: a bag that three members
    reference was written three times (a 50 MB stack became a 250 MB file, written in 50 s, and
    loaded as three copies). Its state therefore holds each first-level model once, in
    ``members`` or in ``shared_inputs`` (those only second-level members read), and a
    ``LevelTwo`` refers to its inputs by their index in ``members + shared_inputs``.
    """

    def __getstate__(self) -> dict[str, Any]:
        import copy

        state = dict(super().__getstate__())  # a copy: Python's default state is the live __dict__
        index = {id(m): i for i, m in enumerate(self.members)}
        only: list[Any] = []
        members = []
        for m in self.members:
            if isinstance(m, LevelTwo):
                refs = []
                for x in m.inputs:
                    if id(x) not in index:
                        index[id(x)] = len(self.members) + len(only)
                        only.append(x)
                    refs.append(index[id(x)])
                m = copy.copy(m)
                m.inputs = refs
            members.append(m)
        state["members"], state["shared_inputs"] = members, only
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        only = state.pop("shared_inputs", [])
        super().__setstate__(state)
        models = [*self.members, *only]
        for m in self.members:
            if isinstance(m, LevelTwo) and all(isinstance(i, int) for i in m.inputs):
                m.inputs = [models[i] for i in m.inputs]


class WeightedEnsemble(_SharedInputs):
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

    def _average(self, X: Any) -> np.ndarray:
        total = None
        cache: dict[int, np.ndarray] = {}
        for m, w in zip(self.members, self.weights, strict=True):
            if w == 0:
                continue
            p = _predict(m, X, self.classes, cache)
            total = w * p if total is None else total + w * p
        assert total is not None
        return total / sum(self.weights)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._average(X)

    def _values(self, X: Any) -> np.ndarray:
        return self._average(X)


class FoldBag(_Combination):
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

    def predict_proba(self, X: Any) -> np.ndarray:
        import numpy as np

        from autometa.evaluate import align_proba

        return np.mean([align_proba(m, X, self.classes) for m in self.members], axis=0)

    def _values(self, X: Any) -> np.ndarray:
        import numpy as np

        return np.mean([np.asarray(m.predict(X), dtype="float64") for m in self.members], axis=0)


def _stack_features(predictions: Sequence[np.ndarray], classification: bool) -> np.ndarray:
    """The stacker's input: each member's values, or its log-odds per class (binary: the
    positive class only)."""
    import numpy as np

    if not classification:
        return np.column_stack(predictions)
    cols = []
    for p in predictions:
        q = np.clip(p, 1e-6, 1 - 1e-6)
        logit = np.log(q / (1 - q))
        cols.append(logit[:, 1:] if q.shape[1] == 2 else logit)
    return np.hstack(cols)


def fit_stacker(predictions: Sequence[np.ndarray], y: np.ndarray, metric: Metric, *, seed: int = 0,
                folds: int = 5) -> tuple[Any, float]:
    """A one-level stacker on the members' out-of-fold predictions, and its cross-validated score.

    Args:
        predictions: One out-of-fold array per member: probabilities (n, K) or values (n,).
        y: Targets (class indices for classification).
        metric: The score reported.
        seed: Seed of the stacker's own cross-validation.
        folds: Its folds.

    Returns:
        The fitted combiner (trained on all rows) and its cross-validated score.
    """
    import numpy as np
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.model_selection import cross_val_predict

    predictions, y = validated(predictions, y)
    classification = predictions[0].ndim == 2
    X = _stack_features(predictions, classification)
    cv = combiner_folds(y, classification, seed=seed, folds=folds)
    if classification:
        combiner: Any = LogisticRegression(C=1.0, max_iter=1000)
        oof = cross_val_predict(combiner, X, y, cv=cv, method="predict_proba")
        full = np.zeros((len(y), predictions[0].shape[1]))
        full[:, np.unique(y)] = oof  # a class absent from y never gets probability
        score = metric(y, full)
    else:
        combiner = LinearRegression(positive=True)
        score = metric(y, cross_val_predict(combiner, X, y, cv=cv))
    return combiner.fit(X, y), float(score)


def apply_stacker(combiner: Any, predictions: Sequence[np.ndarray], n_classes: int) -> np.ndarray:
    """A fitted stacker (``fit_stacker``) applied to its members' predictions, in the form it was
    trained on: probabilities over ``n_classes`` columns (a class the stacker never saw gets 0),
    or values when ``n_classes`` is 0."""
    import numpy as np

    X = _stack_features(predictions, n_classes > 0)
    if not n_classes:
        return np.asarray(combiner.predict(X), dtype="float64")
    proba = combiner.predict_proba(X)
    out = np.zeros((len(proba), n_classes))
    out[:, np.asarray(combiner.classes_, dtype=int)] = proba
    return out


class StackedEnsemble(_SharedInputs):
    """Members' predictions combined by a fitted linear stacker (``fit_stacker``).

    Args:
        members: Fitted estimators taking the same raw columns.
        combiner: The fitted stacker.
        classes: Class labels in probability-column order; empty for regression.

    ``fit`` refits the members; the combiner stays as it was learnt.
    """

    def __init__(self, members: Sequence[Any] = (), combiner: Any = None, classes: Sequence[Any] = ()) -> None:
        self.members = members
        self.combiner = combiner
        self.classes = classes

    def _combined(self, X: Any) -> np.ndarray:
        cache: dict[int, np.ndarray] = {}
        predictions = [_predict(m, X, self.classes, cache) for m in self.members]
        return apply_stacker(self.combiner, predictions, len(self.classes))

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._combined(X)

    def _values(self, X: Any) -> np.ndarray:
        return self._combined(X)


def stack_columns(prefix: str, n_inputs: int, n_classes: int) -> list[str]:
    """The names of the columns that ``n_inputs`` members' predictions add: one per member
    (regression, and a binary task's positive class), or one per member and class."""
    per = n_classes if n_classes > 2 else 1
    return [f"{prefix}{i}" if per == 1 else f"{prefix}{i}_{k}" for i in range(n_inputs) for k in range(per)]


def with_predictions(X: Any, predictions: Sequence[np.ndarray], names: Sequence[str]) -> Any:
    """The rows ``X`` with members' predictions as more numeric columns ``names``
    (``stack_columns``): values, a binary task's positive-class probability, or every class's."""
    import numpy as np
    import pandas as pd

    cols = [p[:, 1:] if p.ndim == 2 and p.shape[1] == 2 else p.reshape(len(p), -1) for p in predictions]
    extra = pd.DataFrame(np.hstack(cols) if cols else np.empty((len(X), 0)), columns=list(names), index=X.index)
    return pd.concat([X, extra], axis=1)


class LevelTwo(_Combination):
    """A bag of fold models trained on the columns plus first-level members' out-of-fold
    predictions (a second stack level); on new rows those members predict first.

    Args:
        inputs: The fitted first-level members whose predictions are columns, in column order.
        bag: The second level's ``FoldBag``, trained on the columns plus ``names``.
        names: The added columns' names (``stack_columns``).
        classes: Class labels in probability-column order; empty for regression.

    ``fit`` trains the whole stack on ``(X, y)``: each input's out-of-fold predictions on
    ``len(bag.members)`` folds, then the inputs refitted on all rows, and the bag on the rows
    with those predictions.
    """

    def __init__(self, inputs: Sequence[Any] = (), bag: Any = None, names: Sequence[str] = (),
                 classes: Sequence[Any] = ()) -> None:
        self.inputs = inputs
        self.bag = bag
        self.names = names
        self.classes = classes

    @property
    def members(self) -> Sequence[Any]:  # type: ignore[override]
        return [*self.inputs, self.bag]

    def fit(self, X: Any, y: Any) -> Any:
        import numpy as np
        from sklearn.base import clone
        from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

        k = max(2, len(self.bag.members))
        cv = StratifiedKFold(k, shuffle=True, random_state=0) if len(self.classes) else KFold(k, shuffle=True,
                                                                                              random_state=0)
        method = "predict_proba" if len(self.classes) else "predict"
        oof = [np.asarray(cross_val_predict(clone(m), X, y, cv=cv, method=method), dtype="float64")
               for m in self.inputs]
        for m in self.inputs:
            m.fit(X, y)
        self.bag.fit(with_predictions(X, oof, self.names), y)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._cached(X, {})

    def _values(self, X: Any) -> np.ndarray:
        return self._cached(X, {})

    def _cached(self, X: Any, cache: dict[int, np.ndarray]) -> np.ndarray:
        """Its prediction, reading (and filling) ``cache``: its inputs' predictions on these rows
        by ``id``, which the ensemble's other members share."""
        X_up = with_predictions(X, [_predict(m, X, self.classes, cache) for m in self.inputs], self.names)
        return self.bag.predict_proba(X_up) if len(self.classes) else self.bag._values(X_up)


def _predict(model: Any, X: Any, classes: Sequence[Any], cache: dict[int, np.ndarray]) -> np.ndarray:
    """A member's probabilities in ``classes`` order (or values) on the rows ``X``, computed once
    per member for one prediction of an ensemble (``cache``, by ``id``): second-level members read
    the same first-level members' predictions as their columns."""
    import numpy as np

    from autometa.evaluate import align_proba

    key = id(model)
    if key not in cache:
        if isinstance(model, LevelTwo):
            cache[key] = model._cached(X, cache)
        elif len(classes):
            cache[key] = align_proba(model, X, classes)
        else:
            cache[key] = np.asarray(model.predict(X), dtype="float64")
    return cache[key]
