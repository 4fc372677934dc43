"""Plots saved as PNG artifacts (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autometa.records import TrialRecord

__all__ = ["plot_history"]


def plot_history(records: Sequence[TrialRecord], metric: str, greater_is_better: bool,
                 path: str | Path) -> Path:
    """Score of each completed trial and the best so far, against the trial number."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = sorted((r for r in records if r.state == "complete" and r.value is not None),
                  key=lambda r: r.number)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if done:
        xs = [r.number for r in done]
        ys = [float(r.value) for r in done]  # type: ignore[arg-type]
        best, running = [], ys[0]
        for v in ys:
            running = max(running, v) if greater_is_better else min(running, v)
            best.append(running)
        learners = sorted({r.config.learner for r in done})
        for name in learners:
            px = [r.number for r in done if r.config.learner == name]
            py = [float(r.value) for r in done if r.config.learner == name]  # type: ignore[arg-type]
            ax.scatter(px, py, s=18, label=name, alpha=0.8)
        ax.step(xs, best, where="post", color="black", linewidth=1.5, label="best so far")
        ax.legend(fontsize=7, loc="best")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(f"Optimization history ({metric}, {'higher' if greater_is_better else 'lower'} is better)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
