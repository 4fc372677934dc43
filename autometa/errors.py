"""The errors autometa raises for bad input, and the one-line message builder.

Every error that a user can fix is one of the classes below. They subclass
``ValueError`` or ``TypeError`` so that scikit-learn and plain Python callers can
catch them as usual; the CLI turns any of them into one line on stderr and exit
code 2.
"""

from __future__ import annotations

__all__ = [
    "AutoMetaError",
    "DataError",
    "OptionError",
    "OptionTypeError",
    "SearchSpaceError",
    "TrialTimeout",
    "message",
]


class AutoMetaError(Exception):
    """Base of every error autometa raises for input that the user can fix."""


class DataError(AutoMetaError, ValueError):
    """The data (file, table, target) cannot be used as it is."""


class OptionError(AutoMetaError, ValueError):
    """An option or parameter has a value outside what is allowed."""


class OptionTypeError(AutoMetaError, TypeError):
    """An option or parameter has the wrong type."""


class SearchSpaceError(AutoMetaError, ValueError):
    """A search-space file is malformed."""


def message(problem: str, fix: str) -> str:
    """Build the one-line message every error carries: the problem, then the fix.

    Args:
        problem: What is wrong, naming the thing (file, column, parameter) and what came.
        fix: What the user should do about it.

    Returns:
        One line, ``"<problem>; <fix>"``, with any newline in the parts flattened.

    Example:
        >>> message("column 'y' not found", "pass --target with one of: a, b")
        "column 'y' not found; pass --target with one of: a, b"
    """
    text = f"{problem.rstrip('. ')}; {fix.rstrip()}"
    return " ".join(text.split())


class TrialTimeout(RuntimeError):
    """A trial ran past its deadline; raised inside training, recorded as a failed trial.

    ``projected``: where a cross-validation was cut, the seconds it would have taken in all, at
    the pace of its folds so far (at least: a fold cut midway counts as done); None elsewhere.
    """

    def __init__(self, *args: object, projected: float | None = None) -> None:
        super().__init__(*args)
        self.projected = projected
