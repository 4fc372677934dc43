"""The build portfolio: one fixed list of configurations evaluated on every corpus task.

Each learner contributes its default configuration plus distinct space-filling
samples of its space (``spaces.sample_configs``; repeats, common in small
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

__all__ = ["CORPUS_LEARNERS", "Slot", "build_portfolio", "signature"]

# the families the shipped corpus is built with: a new learner joins the product at once, but the
# corpus portfolio only when the build is extended on purpose (a new family means new runs on
# every task, to keep the task x configuration matrix dense)
CORPUS_LEARNERS = ("extra_trees", "hist_gradient_boosting", "knn", "lightgbm", "linear", "random_forest")


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


def build_portfolio(spaces: Mapping[str, SearchSpace], per_learner: int, *, seed: int = 0) -> list[Slot]:
    """``per_learner`` slots per learner: its default, then Sobol samples.

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
        chosen: list[dict[str, Any]] = [{p.name: p.default for p in space.params}]
        seen = {json.dumps(chosen[0], sort_keys=True)}
        draw = per_learner
        while len(chosen) < per_learner and draw <= 64 * per_learner:
            draw *= 2  # small spaces repeat points: draw more until enough are distinct
            for params in sample_configs(space, draw, seed=seed):
                key = json.dumps(params, sort_keys=True)
                if key not in seen and len(chosen) < per_learner:
                    seen.add(key)
                    chosen.append(params)
        for i, params in enumerate(chosen):
            out.append(Slot(f"{name}/{i:03d}", name, params, space.version))
    return out


def signature(slots: list[Slot]) -> str:
    """A hash of the whole portfolio: a build only resumes on the portfolio it started with."""
    import hashlib
    import json

    text = json.dumps([[s.name, s.learner, s.space_version, s.params] for s in slots], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
