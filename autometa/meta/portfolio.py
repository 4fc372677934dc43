"""The build portfolio: one fixed list of configurations evaluated on every corpus task.

Each learner contributes its default configuration, then its *variants* (the default with one
training option changed: the MLP's curricula and learning-rate schedules, so that the corpus says
where each helps), then distinct space-filling samples of its space (``spaces.sample_configs``; repeats, common in small
spaces such as kNN's, are skipped), so the task x configuration matrix is dense.
A slot (``lightgbm/003``) names a portfolio entry across task kinds:
on a task, the slot's parameters are completed for that kind
(``SearchSpace.complete``), so a linear slot becomes ``C`` for classification
and ``alpha`` for regression.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from autometa.spaces import Config, SearchSpace, sample_configs

__all__ = ["CORPUS_LEARNERS", "CORPUS_SLOTS", "Slot", "build_portfolio", "signatures"]

# the families the shipped corpus is built with, and their slots per family: a new learner joins
# the product at once, but the corpus portfolio only when the build is extended on purpose (a new
# family means new runs on every task, to keep the task x configuration matrix dense). CatBoost
# costs about ten times LightGBM per evaluation, and XGBoost overlaps LightGBM: both have fewer slots.
# The MLP's first 7 are its default under each curriculum and rate schedule (``VARIANTS``); the
# other 4 are Sobol points of depth, width and the rest, from which its architecture is recommended.
CORPUS_SLOTS = {"catboost": 8, "extra_trees": 25, "hist_gradient_boosting": 25, "knn": 25, "lightgbm": 25,
                "linear": 25, "mlp": 11, "random_forest": 25, "xgboost": 8}
CORPUS_LEARNERS = tuple(CORPUS_SLOTS)
# the default with one option changed: each curriculum with a constant rate, each rate schedule
# without a curriculum (the MLP's corpus slots are these 7, so its outcomes compare like with like)
VARIANTS: dict[str, tuple[dict[str, Any], ...]] = {
    "mlp": ({"curriculum": "easy_to_hard"}, {"curriculum": "anti"}, {"curriculum": "self_paced"},
            {"lr_schedule": "cosine"}, {"lr_schedule": "onecycle"}, {"lr_schedule": "warmup"}),
}


@dataclass(frozen=True)
class Slot:
    """A portfolio entry: a name, a learner, and parameters for every task kind."""

    name: str
    learner: str
    params: dict[str, Any]
    space_version: int

    def config(self, space: SearchSpace, kind: str) -> Config:
        """The slot's configuration for a task kind."""
        active = {}
        chosen: dict[str, Any] = {}
        for p in space.params:
            if p.applies(kind, chosen):
                chosen[p.name] = self.params.get(p.name, p.default)
                active[p.name] = chosen[p.name]
        return space.complete(Config(self.learner, active), kind)


def build_portfolio(spaces: Mapping[str, SearchSpace], per_learner: int | Mapping[str, int], *,
                    seed: int = 0) -> list[Slot]:
    """``per_learner`` slots per learner (one count, or a count per learner): its default, its
    ``VARIANTS``, then Sobol samples.

    Example:
        >>> from autometa.spaces import load_spaces
        >>> slots = build_portfolio(load_spaces(), 3)
        >>> slots[0].name
        'extra_trees/000'
    """
    import json

    out = []
    for name in sorted(spaces):
        space = spaces[name]
        count = per_learner if isinstance(per_learner, int) else per_learner[name]
        default = {p.name: p.default for p in space.params}
        chosen: list[dict[str, Any]] = [default, *({**default, **v} for v in VARIANTS.get(name, ()))][:count]
        seen = {json.dumps(c, sort_keys=True) for c in chosen}
        draw = count
        while len(chosen) < count and draw <= 64 * count:
            draw *= 2  # small spaces repeat points: draw more until enough are distinct
            for params in sample_configs(space, draw, seed=seed):
                key = json.dumps(params, sort_keys=True)
                if key not in seen and len(chosen) < count:
                    seen.add(key)
                    chosen.append(params)
        for i, params in enumerate(chosen):
            out.append(Slot(f"{name}/{i:03d}", name, params, space.version))
    return out


def signatures(slots: list[Slot]) -> dict[str, str]:
    """A hash of each learner's slots: a build resumes a family only on the slots it started with,
    and a new family can join a built portfolio."""
    import hashlib
    import json

    out = {}
    for learner in sorted({s.learner for s in slots}):
        mine = [[s.name, s.learner, s.space_version, s.params] for s in slots if s.learner == learner]
        out[learner] = hashlib.sha256(json.dumps(mine, sort_keys=True).encode()).hexdigest()[:16]
    return out
