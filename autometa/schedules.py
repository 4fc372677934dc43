"""Fidelity schedules: how the search spends a learner family's fidelity (boosting rounds, trees,
epochs) before it decides whether a trial goes on.

A schedule is successive halving along the fidelity: the first fold of a trial reports its
validation score at ``min_resource`` of the configured fidelity, then at ``min_resource *
reduction_factor`` and so on up to all of it (the *rungs*); at each rung, a trial that is not
among the best ``keep`` share of its family's earlier trials there is pruned (once
``n_startup`` of them exist). Every schedule has at most three stages, so that the steps a
trial reports stay those of ``autometa.evaluate``. After the first fold the running mean of
the folds is compared with the median, whatever the schedule.

* ``median``: rungs at 1/9 and 1/3, keeping the better half: the default, as before schedules;
* ``none``: no rung before the full fidelity;
* ``MIN:ETA`` (``1/9:3``, ``1/3:3``, ``1/4:2``, ``1/16:4``): successive halving, keeping 1/ETA;
* ``hyperband``: Optuna's ``HyperbandPruner`` with its defaults over the steps the trials
  report (rungs of ``median``), for comparison.

A fit's schedules are written as one string (``FitOptions.fidelity``): a schedule for every
family (``median``, ``1/9:3``), or one per family (``lightgbm=1/9:3,mlp=none``; families not
named get ``median``), or ``auto``: per family, the schedule that did best on the learning
curves of the nearest past tasks (``autometa.meta.fidelity``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from autometa.errors import OptionError, message

__all__ = ["CANDIDATES", "CURVE_FRACTIONS", "HYPERBAND", "MEDIAN", "NONE", "FidelitySchedule", "format_schedules",
           "parse_schedules", "successive_halving"]

MAX_STAGES = 3
HYPERBAND = "hyperband"
# the stages a learning curve in the meta_db records: every rung of every candidate schedule
CURVE_FRACTIONS = (1 / 16, 1 / 9, 1 / 4, 1 / 3, 1 / 2, 1.0)


@dataclass(frozen=True)
class FidelitySchedule:
    """Rungs at ``min_resource``, ``min_resource * reduction_factor``, ... of the fidelity; the best
    ``keep`` share of a family's trials go on at each."""

    name: str
    min_resource: float
    reduction_factor: int
    keep: float

    @property
    def fractions(self) -> tuple[float, ...]:
        """The stages, as fractions of the configured fidelity (the last is 1).

        Example:
            >>> [round(f, 3) for f in successive_halving(1 / 16, 4).fractions]
            [0.062, 0.25, 1.0]
        """
        out: list[float] = []
        r = self.min_resource
        while r < 1 - 1e-9 and self.reduction_factor > 1:
            out.append(r)
            r *= self.reduction_factor
        return (*out, 1.0)


def successive_halving(min_resource: float, reduction_factor: int) -> FidelitySchedule:
    name = f"{Fraction(min_resource).limit_denominator(64)}:{reduction_factor}"
    return FidelitySchedule(name, min_resource, reduction_factor, 1.0 / reduction_factor)


MEDIAN = FidelitySchedule("median", 1 / 9, 3, 0.5)
NONE = FidelitySchedule("none", 1.0, 1, 1.0)
# what ``auto`` chooses from
CANDIDATES: dict[str, FidelitySchedule] = {s.name: s for s in (
    NONE, MEDIAN, successive_halving(1 / 9, 3), successive_halving(1 / 3, 3), successive_halving(1 / 4, 2),
    successive_halving(1 / 16, 4))}


def _one(text: str) -> FidelitySchedule:
    text = text.strip()
    if text in CANDIDATES:
        return CANDIDATES[text]
    try:
        low, eta = text.split(":")
        schedule = successive_halving(float(Fraction(low)), int(eta))
    except (ValueError, ZeroDivisionError):
        raise OptionError(message(f"unknown fidelity schedule '{text}'",
                                  "use auto, median, none, hyperband or MIN:ETA such as 1/9:3")) from None
    if not (0 < schedule.min_resource < 1 and schedule.reduction_factor >= 2) or len(schedule.fractions) > MAX_STAGES:
        raise OptionError(message(f"fidelity schedule '{text}' needs 0 < MIN < 1, ETA >= 2 and at most "
                                  f"{MAX_STAGES} stages", "for example 1/9:3, 1/3:3, 1/4:2 or 1/16:4"))
    return schedule


def parse_schedules(spec: str, learners: Iterable[str]) -> dict[str, FidelitySchedule] | str:
    """Each learner's schedule from a spec (see the module docstring); ``"hyperband"`` and
    ``"auto"`` are returned as they are.

    Raises:
        OptionError: The spec names an unknown schedule or learner.

    Example:
        >>> parse_schedules("lightgbm=1/9:3", ["lightgbm", "mlp"])["mlp"].name
        'median'
    """
    spec = spec.strip()
    learners = list(learners)
    if spec in (HYPERBAND, "auto"):
        return spec
    if "=" not in spec:
        one = _one(spec)
        return {n: one for n in learners}
    out = {n: MEDIAN for n in learners}
    for part in spec.split(","):
        name, _, text = part.partition("=")
        if name.strip() not in out:
            raise OptionError(message(f"fidelity schedule for '{name.strip()}', which this fit does not search",
                                      f"name one of: {', '.join(learners)}"))
        out[name.strip()] = _one(text)
    return out


def format_schedules(schedules: dict[str, FidelitySchedule]) -> str:
    """The spec that ``parse_schedules`` reads back (what workers are given)."""
    return ",".join(f"{n}={s.name}" for n, s in sorted(schedules.items()))
