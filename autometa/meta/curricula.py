"""Curriculum advice: which way to train a network on a new task, from how each way did on the
nearest past tasks.

The corpus runs the MLP's default architecture under each curriculum (a row ordering with a
constant rate) and each learning-rate schedule (without an ordering): the portfolio's
``VARIANTS``. On a past task, a variant's *gain* is its score minus plain training's (no
ordering, constant rate), over the task's spread (best minus median of every configuration
run on it), clipped to [-1, 1]: +1 moves a network from plain to the task's best.

The advice takes the variant with the highest mean gain on the ``N_NEIGHBOURS`` nearest past
tasks that ran both, and only when it beat plain training on most of them; otherwise it
advises plain training ("none"), with the numbers that say why. It also says the median epoch
that early stopping kept, with the advice and without: what the curriculum does to training
time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from autometa.meta.experience import Experience

__all__ = ["N_NEIGHBOURS", "PLAIN", "CurriculumAdvice", "advise_curriculum", "variant_gains"]

N_NEIGHBOURS = 15
PLAIN = ("none", "constant")  # (curriculum, lr_schedule) of plain training
TRAINING_KEYS = ("curriculum", "lr_schedule", "pace_start")


@dataclass(frozen=True)
class CurriculumAdvice:
    """How to train a network on the task: a row ordering and a learning-rate schedule."""

    curriculum: str
    lr_schedule: str
    gain: float  # mean gain over plain training on the neighbours (0 for plain)
    wins: int  # neighbours where it beat plain training
    n_tasks: int  # neighbours that ran it and plain training
    epochs: float | None  # median epoch early stopping kept with it, on those neighbours
    plain_epochs: float | None
    reason: str

    @property
    def is_plain(self) -> bool:
        return (self.curriculum, self.lr_schedule) == PLAIN

    def to_dict(self) -> dict[str, Any]:
        return {"curriculum": self.curriculum, "lr_schedule": self.lr_schedule, "gain": round(self.gain, 4),
                "wins": self.wins, "tasks": self.n_tasks, "epochs": self.epochs, "plain_epochs": self.plain_epochs,
                "reason": self.reason}


def _variants(exp: Experience) -> dict[str, tuple[str, str]]:
    """Candidate key -> (curriculum, lr_schedule), for the MLP candidates that differ from one
    plain candidate only in how they train (the corpus's ``VARIANTS``)."""
    mlp = {k: c for k, c in exp.candidates.items() if c.learner == "mlp"}

    def rest(params: Any) -> str:
        return json.dumps({k: v for k, v in params.items() if k not in TRAINING_KEYS}, sort_keys=True, default=str)

    plain = [c for c in mlp.values()
             if (c.params.get("curriculum", "none"), c.params.get("lr_schedule", "constant")) == PLAIN]
    if not plain:
        return {}
    base = rest(sorted(plain, key=lambda c: c.key)[0].params)
    return {k: (str(c.params.get("curriculum", "none")), str(c.params.get("lr_schedule", "constant")))
            for k, c in mlp.items() if rest(c.params) == base}


def variant_gains(exp: Experience) -> pd.DataFrame:
    """One row per (task, variant) with both it and plain training scored: ``task``, ``key`` (the
    variant's candidate), ``plain_key``, ``curriculum``, ``lr_schedule``, ``gain``, ``epochs`` and
    ``plain_epochs``."""
    columns = ["task", "key", "plain_key", "curriculum", "lr_schedule", "gain", "epochs", "plain_epochs"]
    variants = _variants(exp)
    if not variants:
        return pd.DataFrame(columns=columns)
    s = exp.scores
    spread = s.groupby("task")["score"].agg(lambda x: x.max() - x.median())
    mine = s[s["key"].isin(variants.keys())].assign(variant=lambda d: d["key"].map(variants))
    records = list(zip(mine["task"], mine["key"], mine["score"], mine["fidelity"], mine["variant"], strict=True))
    plain = {str(t): (str(k), float(sc), f) for t, k, sc, f, v in records if v == PLAIN}
    rows = []
    for task, key, score, fidelity, variant in records:
        task = str(task)
        if variant == PLAIN or task not in plain or not float(spread.get(task, 0.0)) > 0:
            continue
        plain_key, plain_score, plain_fidelity = plain[task]
        if not (np.isfinite(score) and np.isfinite(plain_score)):
            continue
        gain = float(np.clip((float(score) - plain_score) / float(spread[task]), -1.0, 1.0))
        rows.append({"task": task, "key": key, "plain_key": plain_key, "curriculum": variant[0],
                     "lr_schedule": variant[1], "gain": gain, "epochs": fidelity, "plain_epochs": plain_fidelity})
    return pd.DataFrame(rows, columns=columns)


def advise_curriculum(gains: pd.DataFrame, neighbours: Sequence[str],
                      n_neighbours: int = N_NEIGHBOURS) -> CurriculumAdvice | None:
    """The advice from the variants' gains (``variant_gains``) on the nearest past tasks
    (``neighbours``: task digests, nearest first). None: no neighbour ran the variants."""
    ran = set(gains["task"])
    near = [d for d in neighbours if d in ran][:n_neighbours]
    if not near:
        return None
    part = gains[gains["task"].isin(near)]
    table = (part.groupby(["curriculum", "lr_schedule"])
             .agg(gain=("gain", "mean"), wins=("gain", lambda g: int((g > 0).sum())), n=("gain", "size"),
                  epochs=("epochs", "median"), plain_epochs=("plain_epochs", "median"))
             .sort_values("gain", ascending=False))
    curriculum, schedule = (str(v) for v in table.index[0])
    best = table.iloc[0]
    plain_epochs = _num(part["plain_epochs"].median())
    label = _label(curriculum, schedule)
    where = f"on the {len(near)} nearest past tasks"
    if best["gain"] > 0 and best["wins"] > best["n"] / 2:
        return CurriculumAdvice(curriculum, schedule, float(best["gain"]), int(best["wins"]), int(best["n"]),
                                _num(best["epochs"]), plain_epochs,
                                f"{label} beat plain training on {int(best['wins'])} of the {int(best['n'])} "
                                f"nearest past tasks (mean gain {best['gain']:+.2f} of the tasks' spread)")
    return CurriculumAdvice(*PLAIN, 0.0, 0, len(near), plain_epochs, plain_epochs,
                            f"no curriculum or schedule helps {where}: the best, {label}, beat plain training "
                            f"on {int(best['wins'])} of {int(best['n'])} (mean gain {best['gain']:+.2f})")


def _label(curriculum: str, schedule: str) -> str:
    return f"the {schedule} rate schedule" if curriculum == "none" else f"the {curriculum} curriculum"


def _num(value: Any) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)
