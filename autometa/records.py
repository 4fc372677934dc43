"""Records that several components share: what a trial did.

Frozen dataclasses with named fields; the search produces them, tracking and
meta_db store them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from autometa.spaces import Config

__all__ = ["GROWN", "TrialRecord", "TrialState"]

TrialState = Literal["complete", "pruned", "failed"]
GROWN = "grown"  # the source of a leading boosting model's trial with more rounds (``search.grown_leader``)


@dataclass(frozen=True)
class TrialRecord:
    """What one trial did: its configuration, outcome and provenance. ``config`` is what ran;
    ``sampled``, where the time left cut its fidelity (``autometa.flow.trial_evaluator``), what
    the sampler or the recommendation proposed."""

    number: int
    config: Config
    state: TrialState
    value: float | None
    fold_scores: tuple[float, ...] = ()
    duration: float = 0.0
    source: str = "sampler"
    fidelity: int | None = None
    error: str | None = None
    intermediate: dict[int, float] = field(default_factory=dict)
    sampled: Config | None = None
