"""autometa: AutoML that learns from past runs what to train.

The estimators are imported lazily, so ``import autometa`` (and the CLI) stay fast::

    from autometa import AutoMetaClassifier
    model = AutoMetaClassifier(n_trials=20).fit(X, y)
"""

from __future__ import annotations

import os
from typing import Any

# OpenMP threads (LightGBM, scikit-learn) that spin while they wait make a busy machine crawl
# (a 10 s fit took over 60 s next to one other busy process); sleeping costs little. It only
# takes effect when set before those libraries load, hence here. A value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["AutoMetaClassifier", "AutoMetaRegressor", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("AutoMetaClassifier", "AutoMetaRegressor"):
        from autometa import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'autometa' has no attribute {name!r}")
