"""scikit-learn learner families: forests, histogram boosting, linear models, neighbours."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from autometa.learners.base import Learner, StageCallback, WarmStartLearner
from autometa.preprocess import Layout

__all__ = ["ExtraTrees", "HistGradientBoosting", "KNearestNeighbors", "Linear", "RandomForest"]


def _classification(kind: str) -> bool:
    return kind in ("binary", "multiclass")


class _Forest(WarmStartLearner):
    """A scikit-learn forest: the subclass names its classifier and regressor classes."""

    classifier: ClassVar[str]
    regressor: ClassVar[str]

    def make_model(self, params: dict[str, Any], kind: str, layout: Layout, *,
                   seed: int, n_jobs: int) -> Any:
        import sklearn.ensemble

        cls = getattr(sklearn.ensemble, self.classifier if _classification(kind) else self.regressor)
        return cls(random_state=seed, n_jobs=n_jobs, **params)

    def thin(self, pipe: Any, share: float) -> None:
        """Keep the first ``share`` of the forest's trees: a bag of k fold forests, each cut to
        1/k, holds as many trees as one forest (a forest's trees are exchangeable)."""
        model = pipe.named_steps["model"]
        keep = max(1, round(len(model.estimators_) * share))
        model.estimators_ = model.estimators_[:keep]
        model.set_params(n_estimators=keep)


class RandomForest(_Forest):
    name = "random_forest"
    classifier, regressor = "RandomForestClassifier", "RandomForestRegressor"


class ExtraTrees(_Forest):
    name = "extra_trees"
    classifier, regressor = "ExtraTreesClassifier", "ExtraTreesRegressor"


class HistGradientBoosting(WarmStartLearner):
    name = "hist_gradient_boosting"

    def make_model(self, params: dict[str, Any], kind: str, layout: Layout, *,
                   seed: int, n_jobs: int) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingClassifier if _classification(kind) else HistGradientBoostingRegressor
        cats = layout.categorical_indices or None
        return cls(random_state=seed, early_stopping=False, categorical_features=cats, **params)


class Linear(Learner):
    name = "linear"
    encoding = "onehot"

    def make_model(self, params: dict[str, Any], kind: str, layout: Layout, *,
                   seed: int, n_jobs: int) -> Any:
        from sklearn.linear_model import LogisticRegression, Ridge

        if _classification(kind):
            return LogisticRegression(max_iter=1000, random_state=seed, **params)
        return Ridge(random_state=seed, **params)


class KNearestNeighbors(Learner):
    name = "knn"
    encoding = "onehot"

    def make_model(self, params: dict[str, Any], kind: str, layout: Layout, *,
                   seed: int, n_jobs: int) -> Any:
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

        cls = KNeighborsClassifier if _classification(kind) else KNeighborsRegressor
        return cls(n_jobs=n_jobs, **params)

    def fit_stages(self, model: Any, Xt: Any, y: Any, stages: Sequence[int],
                   on_stage: StageCallback, deadline: float | None, *, valid: tuple[Any, Any] | None = None) -> None:
        # k cannot exceed the rows a small fold has for training
        model.set_params(n_neighbors=min(model.n_neighbors, len(Xt)))
        super().fit_stages(model, Xt, y, stages, on_stage, deadline)
