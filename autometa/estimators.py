"""``AutoMetaClassifier`` and ``AutoMetaRegressor``: scikit-learn estimators whose ``fit`` runs a search.

They keep scikit-learn's contract (``__init__`` stores arguments, fitted
attributes end in ``_``, ``fit`` returns ``self``) and pass
``sklearn.utils.estimator_checks`` (see ``tests/test_estimators.py``), so they
work in ``Pipeline``, ``cross_val_score``, ``GridSearchCV`` and ``clone``.

Tracking: a fit is recorded in MLflow when ``tracking_uri`` is given or the
``MLFLOW_TRACKING_URI`` environment variable is set; otherwise nothing is logged.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from typing import Any, ClassVar

from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from autometa.errors import OptionError, OptionTypeError, message

__all__ = ["AutoMetaClassifier", "AutoMetaRegressor"]

_TARGET = "__autometa_target__"


class _AutoMetaBase(BaseEstimator):
    _task_kind: ClassVar[str]

    def __init__(
        self,
        *,
        n_trials: int | str | None = "auto",
        time_budget: float | None = None,
        metric: str | None = None,
        cv: int | str = "auto",
        learners: Sequence[str] | None = None,
        ensemble: bool = True,
        stack: bool | None = None,
        final: str = "bag",
        repeats: int = 0,
        level2: bool = True,
        random_state: int | None = None,
        tracking_uri: str | None = None,
        experiment: str | None = None,
        meta_db: str | None = None,
        record: bool = True,
        use_meta: bool = True,
        n_jobs: int = -1,
        fidelity: str = "median",
    ) -> None:
        self.n_trials = n_trials
        self.time_budget = time_budget
        self.metric = metric
        self.cv = cv
        self.learners = learners
        self.ensemble = ensemble
        self.stack = stack
        self.final = final
        self.repeats = repeats
        self.level2 = level2
        self.random_state = random_state
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.meta_db = meta_db
        self.record = record
        self.use_meta = use_meta
        self.n_jobs = n_jobs
        self.fidelity = fidelity

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.non_deterministic = False
        return tags

    def _options(self) -> Any:
        from autometa.flow import FitOptions, default_trials

        name = type(self).__name__
        n_trials = self.n_trials
        auto = isinstance(n_trials, str) and n_trials == "auto"
        if n_trials is not None and not auto and (isinstance(n_trials, bool)
                                                  or not isinstance(n_trials, numbers.Integral)):
            raise OptionTypeError(message(f"The 'n_trials' parameter of {name} must be an int, 'auto' or None; "
                                          f"got {n_trials!r}", "pass for example n_trials=30"))
        budget = self.time_budget
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, numbers.Real)):
            raise OptionTypeError(message(f"The 'time_budget' parameter of {name} must be a number of "
                                          f"seconds or None; got {budget!r}", "pass for example time_budget=60"))
        if budget is not None and not budget > 0:
            raise OptionError(message(f"The 'time_budget' parameter of {name} must be a number of "
                                      f"seconds > 0. Got {budget!r} instead", "pass a positive number"))
        if isinstance(self.learners, str):
            raise OptionTypeError(message(f"The 'learners' parameter of {name} must be a list of names; "
                                          f"got the string {self.learners!r}",
                                          f"pass learners=[{self.learners!r}]"))
        seed = self.random_state
        if seed is None:
            seed = 0
        elif isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise OptionTypeError(message(f"The 'random_state' parameter of {name} must be an int or None; "
                                          f"got {type(seed).__name__}", "pass for example random_state=0"))
        n_trials = default_trials(n_trials, None if budget is None else float(budget))
        return FitOptions(metric=self.metric, learners=tuple(self.learners) if self.learners else None,
                          n_trials=None if n_trials is None else int(n_trials),
                          time_budget=None if budget is None else float(budget), cv=self.cv,
                          seed=int(seed), ensemble=bool(self.ensemble), stack=self.stack, final=self.final,
                          repeats=self.repeats, level2=self.level2,
                          n_jobs=self.n_jobs,
                          experiment=self.experiment, use_meta=bool(self.use_meta), record=bool(self.record),
                          fidelity=self.fidelity)

    def _frame(self, X: Any, *, reset: bool) -> Any:
        import pandas as pd
        from sklearn.utils.validation import check_array, validate_data

        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, skip_check_array=True)
            if X.shape[0] == 0:
                raise OptionError(message("X has 0 samples", "pass at least one row"))
            return X.rename(columns=str) if any(not isinstance(c, str) for c in X.columns) else X
        array = check_array(X, dtype=None, ensure_all_finite=False, accept_sparse=False)
        validate_data(self, X, reset=reset, skip_check_array=True)
        return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])

    def fit(self, X: Any, y: Any = None) -> Any:
        """Search for a model of ``y`` given ``X``; returns ``self``.

        Raises:
            ValueError: The data or a parameter cannot be used (one line says why).
        """
        import numpy as np
        from sklearn.utils.validation import column_or_1d

        from autometa.data import make_task
        from autometa.flow import fit_task

        options = self._options()
        if y is None:
            raise OptionError(message(f"{type(self).__name__} requires y to be passed, but the target y is None",
                                      "pass the target to fit(X, y)"))
        frame = self._frame(X, reset=True)
        target = column_or_1d(y, warn=True)
        if len(target) != len(frame):
            raise OptionError(message(f"X has {len(frame)} rows but y has {len(target)}",
                                      "pass X and y with the same number of rows"))
        if target.dtype.kind in "fc" and not np.isfinite(target).all():
            what = "NaN" if np.isnan(target).any() else "infinity"
            raise OptionError(message(f"Input y contains {what}", "drop those rows or fill the target"))
        self._check_target(target)
        df = frame.reset_index(drop=True).copy()
        df[_TARGET] = target
        task = make_task(df, _TARGET, kind=self._task_kind, name=self.experiment or type(self).__name__)
        tracker = None
        if self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"):
            from autometa.tracking import MlflowTracker

            tracker = MlflowTracker(self.tracking_uri)
        from autometa.meta.history import meta_db_for_fit

        db = meta_db_for_fit(self.meta_db, record=bool(self.record), use_meta=bool(self.use_meta))
        result = fit_task(task, options, tracker=tracker, db=db)
        self.model_ = result.model
        self.best_config_ = result.best_config
        self.best_score_ = result.best_score
        self.leaderboard_ = result.leaderboard
        self.study_ = result.study
        self.result_ = result
        self._after_fit(task)
        return self

    def _check_target(self, y: Any) -> None:
        return None

    def _after_fit(self, task: Any) -> None:
        return None

    def predict(self, X: Any) -> Any:
        """Predict with the fitted model (class labels or values)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "model_")
        return self.model_.predict(self._frame(X, reset=False))


class AutoMetaClassifier(ClassifierMixin, _AutoMetaBase):
    """A classifier found by autometa's search.

    Args:
        n_trials: Trials to run; ``"auto"``: 30, or no limit under ``time_budget``
            (None: until ``time_budget``).
        time_budget: Seconds for the whole fit, final model included (None: until ``n_trials``).
        metric: ``roc_auc``, ``log_loss``, ``accuracy``, ``balanced_accuracy`` or
            ``f1_macro``; None: ROC-AUC for two classes, log-loss for more.
        cv: Folds, ``"holdout"``, or ``"auto"``.
        learners: Learner families to search (None: all).
        ensemble: Ensemble selection over the best trials (default); False keeps the single best.
        stack: Combine the trials that ensemble selection chose with a linear stacker on their
            out-of-fold predictions; None (default): for regression only, where it measured better.
        final: ``"bag"`` (default): each chosen trial's cross-validation fold models, averaged,
            with no refit; ``"refit"``: the chosen configurations trained again on all rows.
        repeats: After the search, cross-validate the leading trials again on up to this many
            new splits, within a quarter of the search's time (0, the default: never).
        level2: After the search, a second stack level (``autometa.stacking``): the best
            configuration of each of the best families trained again on the columns plus the
            chosen trials' out-of-fold predictions; the final ensemble chooses among both levels
            (True, the default; False: the first level only).
        random_state: Seed (None: 0, so fits are repeatable).
        tracking_uri: MLflow store to record the fit in (see the module docstring).
        experiment: MLflow experiment name.
        meta_db: Meta-database URL or file that the recommender learns from and that records
            the fit (None: the user's, see ``autometa.meta.db.default_user_db``).
        record: Record the task's meta-features and the trials in the meta-database.
        use_meta: Start the search with the configurations recommended from past runs
            (False: a cold search).
        n_jobs: Threads per model (-1: one below 5,000 rows, else all cores).
        fidelity: The learners' fidelity schedules (``autometa.schedules``): ``"median"``,
            ``"none"``, ``"hyperband"``, ``"MIN:ETA"`` such as ``"1/9:3"``, one per learner, or
            ``"auto"`` (chosen from the learning curves of the nearest past tasks).

    Attributes:
        model_: The fitted pipeline (or ensemble), taking raw columns.
        best_config_: The best configuration found.
        best_score_: Its cross-validated score.
        leaderboard_: One row per trial, best first.
        study_: The Optuna study.
        classes_: Class labels.

    Example:
        >>> from sklearn.datasets import load_breast_cancer
        >>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
        >>> clf = AutoMetaClassifier(n_trials=5).fit(X, y)  # doctest: +SKIP
        >>> clf.predict(X.head(2))  # doctest: +SKIP
    """

    _task_kind = "classification"

    def _check_target(self, y: Any) -> None:
        from sklearn.utils.multiclass import check_classification_targets

        check_classification_targets(y)

    def _after_fit(self, task: Any) -> None:
        import numpy as np

        self.classes_ = np.asarray(task.classes)

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities, columns in the order of ``classes_``."""
        from sklearn.utils.validation import check_is_fitted

        from autometa.evaluate import align_proba

        check_is_fitted(self, "model_")
        return align_proba(self.model_, self._frame(X, reset=False), list(self.classes_))


class AutoMetaRegressor(RegressorMixin, _AutoMetaBase):
    """A regressor found by autometa's search.

    Takes the same arguments as ``AutoMetaClassifier``; ``metric`` is ``rmse``
    (default), ``mae`` or ``r2``.

    Example:
        >>> from sklearn.datasets import load_diabetes
        >>> X, y = load_diabetes(return_X_y=True, as_frame=True)
        >>> reg = AutoMetaRegressor(n_trials=5).fit(X, y)  # doctest: +SKIP
    """

    _task_kind = "regression"
