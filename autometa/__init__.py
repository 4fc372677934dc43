"""autometa: AutoML that learns from past runs what to train.

The estimators are imported lazily, so ``import autometa`` (and the CLI) stay fast::

    from autometa import AutoMetaClassifier
    model = AutoMetaClassifier(n_trials=20).fit(X, y)
"""

from __future__ import annotations

from typing import Any

__all__ = ["AutoMetaClassifier", "AutoMetaRegressor", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("AutoMetaClassifier", "AutoMetaRegressor"):
        from autometa import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'autometa' has no attribute {name!r}")
