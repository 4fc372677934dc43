"""What autometa loads from disk: only types from its allowlist, checked before skops loads them."""

from __future__ import annotations

from autometa.errors import DataError, message

__all__ = ["TRUSTED_NAMES", "TRUSTED_PREFIXES", "check_trusted", "loads_trusted"]

TRUSTED_PREFIXES = ("autometa.", "sklearn.", "lightgbm.", "numpy.", "scipy.")
TRUSTED_NAMES = frozenset({
    "collections.OrderedDict", "functools.partial", "builtins.slice",
    # boosting models whose state is the library's own binary model format, not a pickle
    "catboost.core.CatBoostClassifier", "catboost.core.CatBoostRegressor",
    "xgboost.core.Booster", "xgboost.sklearn.XGBClassifier", "xgboost.sklearn.XGBRegressor",
})


def check_trusted(types: list[str], where: str) -> list[str]:
    """The types, sorted, when every one is on the allowlist.

    Raises:
        DataError: Some type is not.
    """
    bad = [t for t in types if not (t.startswith(TRUSTED_PREFIXES) or t in TRUSTED_NAMES)]
    if bad:
        raise DataError(message(f"{where} holds types autometa does not load: {', '.join(bad[:5])}",
                                "load only what autometa saved"))
    return sorted(types)


def loads_trusted(data: bytes, where: str) -> object:
    """A skops-serialized object, loaded after checking its types against the allowlist."""
    from autometa.skops_io import import_skops, untrusted_types

    sio = import_skops()

    return sio.loads(data, trusted=check_trusted(untrusted_types(data), where))
