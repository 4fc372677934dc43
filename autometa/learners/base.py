"""The ``Learner`` contract: turn a ``Config`` into a scikit-learn pipeline and fit it in stages.

A learner is its search space (``search_spaces/<name>.yaml``) plus one class
that says how to build the model from a parameter dict. Every learner:

* builds a ``Pipeline([("prep", ...), ("model", ...)])`` whose first step takes
  raw columns, so a saved model predicts from a raw table;
* fits the model in stages along its fidelity parameter (boosting rounds,
  trees), calling ``on_stage(value)`` each time the model can predict at that
  fidelity: the search reports intermediate scores there and may prune;
* stops with ``TrialTimeout`` when it passes ``deadline`` (``time.monotonic()``).

Learners without a fidelity fit once and report once. The contract is tested
for every registered learner in ``tests/test_learners.py``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from autometa.errors import TrialTimeout
from autometa.preprocess import Encoding, Layout, layout_of, make_preprocessor

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from autometa.data import Column
    from autometa.spaces import Config, SearchSpace

__all__ = ["Learner", "StageCallback", "check_deadline", "patience", "stage_values"]

StageCallback = Callable[[int], None]
STAGE_FRACTIONS = (1 / 9, 1 / 3, 1.0)
PATIENCE_ROUNDS, PATIENCE_ROWS, PATIENCE_MIN = 150, 10_000, 10  # early stopping's patience (AutoGluon's rule)


def patience(n_rows: int) -> int:
    """Rounds without improvement on the validation rows after which boosting stops, for a model
    trained on ``n_rows``: 150 up to 10,000 rows, then fewer in proportion (at least 10), as
    AutoGluon's boosting models do. A small table's validation loss is noisy: a short patience
    stops it on a blip.

    Example:
        >>> patience(900), patience(50_000), patience(10**7)
        (150, 30, 10)
    """
    return int(max(PATIENCE_MIN, round(PATIENCE_ROUNDS * min(1.0, PATIENCE_ROWS / max(n_rows, 1)))))


def check_deadline(deadline: float | None) -> None:
    """Raise ``TrialTimeout`` once ``time.monotonic()`` has passed ``deadline``."""
    if deadline is not None and time.monotonic() > deadline:
        raise TrialTimeout("the trial ran past its time limit")


def stage_values(full: int, fractions: Sequence[float] = STAGE_FRACTIONS) -> list[int]:
    """Fidelity values at which a staged fit reports: fractions of ``full``, increasing.

    Example:
        >>> stage_values(270)
        [30, 90, 270]
        >>> stage_values(10)
        [10]
    """
    values = sorted({max(1, round(full * f)) for f in fractions})
    if full < 27:
        return [full]
    return values


class Learner(ABC):
    """Turns a configuration into a fitted scikit-learn pipeline.

    Subclasses set ``name`` (the search space's name) and ``encoding``, and
    implement ``make_model``. Learners that can grow a fitted model (warm
    start, continued boosting) override ``fit_stages``.
    """

    name: ClassVar[str]
    encoding: ClassVar[Encoding] = "ordinal"
    early_stops: ClassVar[bool] = False  # True: ``fit`` may stop on validation rows (``valid``)

    def __init__(self, space: SearchSpace) -> None:
        self.space = space

    @abstractmethod
    def make_model(self, params: dict[str, Any], kind: str, layout: Layout, *,
                   seed: int, n_jobs: int) -> Any:
        """The unfitted model (the pipeline's last step) for these parameters."""

    def pipeline(self, config: Config, columns: Sequence[Column], kind: str, *,
                 seed: int = 0, n_jobs: int = 1) -> Pipeline:
        """The unfitted pipeline, preprocessing included."""
        from sklearn.pipeline import Pipeline

        model = self.make_model(dict(config.params), kind, layout_of(columns), seed=seed, n_jobs=n_jobs)
        return Pipeline([("prep", make_preprocessor(columns, self.encoding)), ("model", model)])

    def startup_seconds(self) -> float:
        """Seconds that this learner's first fit in the process spends before it trains
        (importing its library), which past runs' costs leave out; 0 once paid."""
        return 0.0

    def start_up(self) -> None:  # noqa: B027 (a hook; most learners' libraries are already imported)
        """Pay what ``startup_seconds`` predicts, before a trial's folds are timed: the first
        fold's pace then measures training alone."""

    def thin(self, pipe: Pipeline, share: float) -> None:  # noqa: B027 (a hook; most learners keep all)
        """Make a fitted pipeline smaller when it is one of ``1 / share`` fold models that are
        averaged (a bag): forests keep that share of their trees. Others stay as they are."""

    def fidelity(self, config: Config) -> int | None:
        """The configured value of the fidelity parameter, if the learner has one."""
        if self.space.fidelity is None:
            return None
        return int(config.params[self.space.fidelity])

    def reached(self, pipe: Pipeline) -> int | None:
        """The fidelity a fitted pipeline's model ended at, where it can stop early (the epoch a
        network's early stopping kept); None: the configured fidelity."""
        return None

    def fit(self, pipe: Pipeline, X: Any, y: Any, *, on_stage: StageCallback | None = None,
            deadline: float | None = None, staged: bool = True,
            fractions: Sequence[float] = STAGE_FRACTIONS, valid: tuple[Any, Any] | None = None) -> Pipeline:
        """Fit preprocessing, then the model in stages; returns ``pipe``, fitted.

        Args:
            pipe: A pipeline from ``pipeline``.
            X: Raw feature columns.
            y: Target.
            on_stage: Called with the fidelity reached whenever the pipeline can predict.
            deadline: A ``time.monotonic()`` value past which training stops.
            staged: Grow the model through intermediate stages (only useful with ``on_stage``).
            fractions: The stages, as fractions of the configured fidelity.
            valid: Raw validation columns and target. A learner that ``early_stops`` stops growing
                once its loss on them has not improved for ``patience`` rounds, and predicts with
                the best round; the configured fidelity is then an upper bound. Others ignore it.
        """
        prep = pipe.named_steps["prep"]
        # a frozen (already fitted) encoding only transforms
        Xt = prep.fit_transform(X, y) if hasattr(prep, "fit_transform") else prep.fit(X, y).transform(X)
        check_deadline(deadline)
        model = pipe.named_steps["model"]
        full = self._full_fidelity(model)
        stages = stage_values(full, fractions) if staged and full is not None else [full or 0]
        Xv = None if valid is None or not self.early_stops else (prep.transform(valid[0]), valid[1])
        self.fit_stages(model, Xt, y, stages, on_stage or (lambda _: None), deadline, valid=Xv)
        return pipe

    def _full_fidelity(self, model: Any) -> int | None:
        if self.space.fidelity is None:
            return None
        return int(model.get_params()[self.model_fidelity_param])

    @property
    def model_fidelity_param(self) -> str:
        """The model's own name for the fidelity parameter (the YAML name by default)."""
        assert self.space.fidelity is not None
        return self.space.fidelity

    def fit_stages(self, model: Any, Xt: Any, y: Any, stages: Sequence[int],
                   on_stage: StageCallback, deadline: float | None, *, valid: tuple[Any, Any] | None = None) -> None:
        """Fit ``model`` on encoded data; the default fits once at full fidelity. ``valid``: the
        encoded validation rows, for a learner that ``early_stops``."""
        model.fit(Xt, y)
        check_deadline(deadline)
        on_stage(stages[-1])


class WarmStartLearner(Learner):
    """A learner whose model grows with ``warm_start=True`` (forests, histogram boosting)."""

    def fit_stages(self, model: Any, Xt: Any, y: Any, stages: Sequence[int],
                   on_stage: StageCallback, deadline: float | None, *, valid: tuple[Any, Any] | None = None) -> None:
        param = self.model_fidelity_param
        if len(stages) == 1:
            model.fit(Xt, y)
            check_deadline(deadline)
            on_stage(stages[0])
            return
        model.set_params(warm_start=True)
        try:
            for value in stages:
                model.set_params(**{param: value})
                model.fit(Xt, y)
                check_deadline(deadline)
                on_stage(value)
        finally:
            model.set_params(warm_start=False)
