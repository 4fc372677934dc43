"""What a fit shows in the MLflow UI beyond raw numbers: the run's description, the tags that say
which trials the meta-learner recommended, and the dataset reference.

Pure functions of a fit's records; ``flow`` hands their results to the tracker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from autometa.records import GROWN

if TYPE_CHECKING:
    from autometa.data import Task
    from autometa.meta.recommend import Recommendation, Suggestion
    from autometa.records import TrialRecord
    from autometa.spaces import Config
    from autometa.tracking import DatasetRef

__all__ = ["dataset_ref", "fit_note", "nearest_summary", "result_note", "trial_tags"]

NOTE_TAG = "mlflow.note.content"  # the run's description in the MLflow UI (markdown)


def dataset_ref(task: Task, source: Mapping[str, Any] | None) -> DatasetRef:
    """The training table (features and target) with its content digest and source file."""
    from autometa.tracking import DatasetRef

    frame = task.X.assign(**{task.target: task.y})
    path = str(source["path"]) if source and source.get("path") else None
    return DatasetRef(frame=frame, name=task.name, digest=task.digest, target=task.target, source=path)


def nearest_summary(recommendation: Recommendation | None, limit: int = 5) -> str:
    """The nearest past tasks, ``name (distance)``, comma-separated."""
    if recommendation is None:
        return ""
    return ", ".join(f"{n.name} ({n.distance:.2f})" for n in recommendation.neighbours[:limit])


def fit_note(task: Task, metric: str, cv: str, learners: Sequence[str],
             recommendation: Recommendation | None, budget: str) -> str:
    """The parent run's description at the start: what is fitted, how, and what the meta-learner said."""
    lines = [f"**autometa fit** of `{task.name}`: {task.describe().split(': ', 1)[-1]}.",
             "",
             f"- metric {metric}, validation {cv}, budget {budget}",
             f"- learners: {', '.join(learners)}"]
    if recommendation is None:
        lines.append("- meta-learner: off (cold search)")
    else:
        lines.append(f"- meta-learner: `{recommendation.strategy}` over {recommendation.n_tasks} past tasks, "
                     f"{len(recommendation.suggestions)} recommended configurations tried first"
                     + (" (**novel task**: far from every past task, robust defaults)" if recommendation.novel
                        else ""))
        near = nearest_summary(recommendation)
        if near:
            lines.append(f"- nearest past tasks (distance in meta-feature space): {near}")
        if recommendation.note:
            lines.append(f"- {recommendation.note}")
    return "\n".join(lines)


# how the best trial came about, where not from the sampler
ORIGINS = {"meta": ", recommended by the meta-learner",
           GROWN: ", a leading configuration's with more rounds, as its curve still improved"}


def result_note(start_note: str, records: Sequence[TrialRecord], metric: str, best: TrialRecord,
                ensemble_score: float | None, refit: bool = True) -> str:
    """The description at the end: the start note plus the outcome; ``refit``: the best trial,
    when it is the model alone, was trained again on all rows (else its own models serve)."""
    counts = {s: sum(r.state == s for r in records) for s in ("complete", "pruned", "failed")}
    lines = [start_note, "",
             f"**Result:** best {metric} {best.value:.5g} by trial {best.number} ({best.config.learner}"
             f"{ORIGINS.get(best.source, '')}); "
             f"{counts['complete']} trials complete, {counts['pruned']} pruned, {counts['failed']} failed."]
    if ensemble_score is not None:
        lines.append(f"Final model: an ensemble of the best trials, out-of-fold {metric} {ensemble_score:.5g}.")
    else:
        lines.append("Final model: the best configuration refitted on all rows." if refit else
                     "Final model: the best trial's own cross-validation models, averaged (no refit).")
    return "\n".join(lines)


def _suggestions(recommendation: Recommendation | None) -> dict[Config, tuple[int, Suggestion]]:
    if recommendation is None:
        return {}
    return {s.config: (i + 1, s) for i, s in enumerate(recommendation.suggestions)}


def trial_tags(recommendation: Recommendation | None) -> Any:
    """A function giving a trial's tags: whether the meta-learner recommended its configuration,
    at which rank, and with what predicted percentile (among past configurations on similar tasks)."""
    known = _suggestions(recommendation)

    def tags(record: TrialRecord) -> dict[str, str]:
        hit = known.get(record.sampled or record.config)  # recommended, if perhaps cut to fit
        if hit is None:
            return {"autometa.recommended": "false"}
        rank, s = hit
        return {"autometa.recommended": "true", "autometa.recommendation_rank": str(rank),
                "autometa.predicted_percentile": f"{s.predicted:.4f}",
                "autometa.predicted_uncertainty": f"{s.uncertainty:.4f}"}

    return tags
