"""Predicting with a saved model: find it, load it, predict from raw columns."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from autometa.errors import DataError, OptionError, message

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["find_model", "predict_frame"]


def find_model(path: str | Path) -> Path:
    """The MLflow model folder at ``path`` or at ``path/model``.

    Raises:
        DataError: Neither holds an ``MLmodel`` file.
    """
    p = Path(path)
    for candidate in (p, p / "model"):
        if (candidate / "MLmodel").is_file():
            return candidate
    raise DataError(message(f"no saved model in '{p}' (no MLmodel file there or in '{p / 'model'}')",
                            "pass the folder 'autometa fit' printed after 'model:'"))


def predict_frame(model_dir: str | Path, frame: pd.DataFrame, *, proba: bool = False) -> pd.DataFrame:
    """Predictions for a raw table: a ``prediction`` column, plus ``proba_<class>`` columns.

    The model file is unpickled: load only models you trust.

    Raises:
        DataError: No model there, or the table lacks training columns.
        OptionError: ``proba`` asked of a regression model.
    """
    import pandas as pd

    from autometa.tracking import load_model

    model = load_model(find_model(model_dir))
    classes: Any = getattr(model, "classes_", None) if hasattr(model, "predict_proba") else None
    if proba and (classes is None or len(classes) == 0):
        raise OptionError(message("--proba needs a classification model, and this one is a regressor",
                                  "drop --proba"))
    out = pd.DataFrame({"prediction": model.predict(frame)})
    if proba:
        probs = model.predict_proba(frame)
        for j, c in enumerate(classes):
            out[f"proba_{c}"] = probs[:, j]
    return out
