"""A family of related tabular tasks for meta-training: one table split by a group column (one
task per school, state, country ...), encoded once with autometa's preprocessing contract
(standardized numbers with missing-value indicators, one-hot categoricals), and drawn as few-shot
tasks: ``K`` support rows and ``Q`` query rows from each of ``T`` groups.

``meta_train_family`` learns an initialization over the family's training groups, keeps a
validation curve on held-out groups, and returns what ``MetaDB.add_initialization`` stores.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from autometa.errors import DataError, OptionError, message
from autometa.meta.maml import METHODS, MetaInit, MLPSpec, TaskBatch, evaluate, meta_train, to_safetensors

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from autometa.meta.db import InitRow

__all__ = ["TRAIN_METHODS", "TableFamily", "held_out_metric", "meta_train_family"]

MIN_GROUPS = 4
TRAIN_METHODS = (*METHODS, "protonet")
FILE_GROUP = "__task__"  # the group column of a family stacked from several files


def held_out_metric(method: str) -> str:
    """What the held-out figures of a method measure: ``accuracy`` (protonet) or ``loss``."""
    return "accuracy" if method == "protonet" else "loss"


@dataclass(frozen=True)
class TableFamily:
    """One table's groups as tasks, encoded: ``X[g]`` and ``y[g]`` for group ``names[g]``."""

    names: tuple[str, ...]
    X: tuple[Tensor, ...]
    y: tuple[Tensor, ...]
    columns: tuple[tuple[str, str], ...]  # the feature columns (name, kind) the encoding is built from
    n_features: int  # encoded width: the network's inputs
    kind: str  # binary, multiclass or regression
    classes: tuple[Any, ...]
    target: str
    group_by: str
    y_center: float = 0.0  # regression targets are standardized over the family
    y_scale: float = 1.0
    encoder: Any = field(default=None, compare=False, repr=False)  # the fitted encoding (raw columns -> X)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, group_by: str, target: str | None) -> TableFamily:
        """Split ``frame`` by ``group_by``; the group column is not a feature.

        Raises:
            DataError: No such column, or fewer than 4 groups.
        """
        import numpy as np

        from autometa.data import make_task
        from autometa.preprocess import make_preprocessor

        if group_by not in frame.columns:
            raise DataError(message(f"no column '{group_by}' to group by (columns: "
                                    f"{', '.join(map(str, frame.columns[:8]))}...)", "pass --group-by with a column"))
        groups = frame[group_by].astype(str).where(frame[group_by].notna(), "(missing)")
        task = make_task(frame.drop(columns=[group_by]), target, name="family")
        pre = make_preprocessor(task.columns, "onehot")
        X = np.asarray(pre.fit_transform(task.X), dtype=np.float32)
        kept = groups.loc[task.X.index].to_numpy()
        if task.is_classification:
            y = task.encoded_y().astype(np.int64)
            center, scale = 0.0, 1.0
        else:
            center, scale = float(np.mean(task.y)), float(np.std(task.y)) or 1.0
            y = ((task.y - center) / scale).astype(np.float32)
        names = tuple(sorted(set(kept)))
        if len(names) < MIN_GROUPS:
            raise DataError(message(f"'{group_by}' splits the table into {len(names)} groups; meta-training needs "
                                    f"at least {MIN_GROUPS}", "group by a column with more distinct values"))
        idx = {n: np.flatnonzero(kept == n) for n in names}
        return cls(names=names, X=tuple(torch.from_numpy(X[idx[n]]) for n in names),
                   y=tuple(torch.from_numpy(y[idx[n]]) for n in names),
                   columns=tuple((c.name, c.kind) for c in task.columns), n_features=X.shape[1], kind=task.kind,
                   classes=tuple(task.classes), target=task.target, group_by=group_by, y_center=center,
                   y_scale=scale, encoder=pre)

    @classmethod
    def from_files(cls, frames: Sequence[tuple[Path, pd.DataFrame]], target: str | None) -> TableFamily:
        """One task per ``(file, table)``, named by the file's stem; the tables must have the same
        columns.

        Raises:
            DataError: A table's columns differ from the first's.
        """
        import pandas as pd

        first_path, first = frames[0]
        for path, frame in frames[1:]:
            if list(frame.columns) != list(first.columns):
                raise DataError(message(f"'{path}' has other columns than '{first_path}'",
                                        "pass files with the same columns, in the same order"))
        stacked = pd.concat([f.assign(**{FILE_GROUP: path.stem}) for path, f in frames], ignore_index=True)
        return cls.from_frame(stacked, FILE_GROUP, target)

    def check(self, method: str, shots: int) -> list[int]:
        """The groups a method can train on with ``shots`` support rows (see ``eligible``).

        Raises:
            OptionError: An unknown method, Prototypical Networks on a numeric target, or too few
                groups with more than ``shots`` rows.
        """
        if method not in TRAIN_METHODS:
            raise OptionError(message(f"unknown meta-training method '{method}'",
                                      f"use one of: {', '.join(TRAIN_METHODS)}"))
        if method == "protonet" and self.kind == "regression":
            raise OptionError(message("Prototypical Networks classify; the target is numeric (regression)",
                                      "use --method maml, fomaml, reptile or metasgd, or a categorical --target"))
        return self.eligible(shots)

    def spec(self, hidden: tuple[int, ...], method: str = "maml") -> MLPSpec:
        if method == "protonet":  # an embedding: the last hidden width is its size
            return MLPSpec(self.n_features, hidden[:-1], hidden[-1], "cross_entropy")
        out = len(self.classes) if self.kind != "regression" else 1
        return MLPSpec(self.n_features, hidden, out, "mse" if self.kind == "regression" else "cross_entropy")

    def eligible(self, shots: int) -> list[int]:
        """The groups with more than ``shots`` rows (a support set and a query row).

        Raises:
            OptionError: ``shots`` below 1, or fewer than 4 such groups.
        """
        if shots < 1:
            raise OptionError(message(f"--shots must be at least 1; got {shots}", "pass for example --shots 5"))
        found = [i for i, x in enumerate(self.X) if len(x) > shots]
        if len(found) < MIN_GROUPS:
            raise OptionError(message(f"only {len(found)} groups of '{self.group_by}' have more than {shots} rows; "
                                      f"meta-training needs {MIN_GROUPS}", "lower --shots, or group by another column"))
        return found

    def sampler(self, groups: list[int], shots: int, queries: int) -> Callable[[torch.Generator, int], TaskBatch]:
        """Draws ``T`` groups (with replacement) and ``shots`` + ``queries`` distinct rows of each."""

        def sample(gen: torch.Generator, n_tasks: int) -> TaskBatch:
            picks = torch.randint(len(groups), (n_tasks,), generator=gen).tolist()
            xs, ys = [], []
            for p in picks:
                g = groups[p]
                rows = torch.randperm(len(self.X[g]), generator=gen)[: shots + queries]
                xs.append(self.X[g][rows])
                ys.append(self.y[g][rows])
            x, y = torch.stack(xs), torch.stack(ys)
            return TaskBatch(x[:, :shots], y[:, :shots], x[:, shots:], y[:, shots:])

        return sample


def meta_train_family(family: TableFamily, *, name: str, method: str = "maml", shots: int = 5,
                      hidden: tuple[int, ...] = (64, 64), iterations: int = 2000, meta_batch: int = 16,
                      inner_steps: int = 1, inner_lr: float = 0.01, outer_lr: float = 1e-3, seed: int = 0,
                      holdout: float = 0.2, source: str = "", on_log: Callable[[int, float], None] | None = None,
                      device: str | None = "auto") -> tuple[MetaInit, InitRow, dict[str, float]]:
    """Meta-train an initialization over a family's groups, validated on held-out groups.

    Args:
        family: The tasks.
        name: The name it is stored under.
        method: ``maml``, ``fomaml``, ``reptile`` or ``metasgd``.
        shots: Support rows per task (K).
        hidden: Hidden layer widths of the MLP.
        iterations, meta_batch, inner_steps, inner_lr, outer_lr, seed: See ``meta_train``.
        holdout: Share of the groups held out for the validation curve (at least one group).
        source: Where the table came from (a path), stored with the initialization.
        on_log: Progress: ``(iteration, validation loss)``.
        device: Where to train: ``"auto"`` (CUDA when there is a GPU), ``"cpu"`` or ``"cuda"``.

    Returns:
        The initialization, the row to store, and the held-out groups' query loss after
        ``inner_steps`` steps from it and from a random initialization (``meta``, ``random``);
        for ``protonet``, their query accuracy with the trained and an untrained embedding.

    Raises:
        OptionError: See ``TableFamily.check``.
    """
    eligible = family.check(method, shots)
    gen = torch.Generator().manual_seed(seed)
    order = [eligible[i] for i in torch.randperm(len(eligible), generator=gen).tolist()]
    n_val = max(1, math.ceil(holdout * len(order)))
    val, train = order[:n_val], order[n_val:]
    queries = max(1, min(shots, min(len(family.X[g]) for g in eligible) - shots))
    spec = family.spec(hidden, method)
    validation = family.sampler(val, shots, queries)(torch.Generator().manual_seed(seed + 1), 200)
    sampler = family.sampler(train, shots, queries)
    if method == "protonet":
        from autometa.meta.protonet import accuracy, train_protonet

        ways = len(family.classes)
        init = train_protonet(sampler, spec, ways=ways, iterations=iterations, meta_batch=meta_batch, lr=outer_lr,
                              seed=seed, on_log=on_log, validation=validation, device=device)
        untrained = MetaInit(spec, "random", spec.init_params(seed), 0.0, 0)
        losses = {"meta": float(accuracy(init, validation, ways).mean()),
                  "random": float(accuracy(untrained, validation, ways).mean())}
    else:
        init = meta_train(sampler, spec, method=method, iterations=iterations, meta_batch=meta_batch,
                          inner_steps=inner_steps, inner_lr=inner_lr, outer_lr=outer_lr, seed=seed, on_log=on_log,
                          validation=validation, device=device)
        scratch = MetaInit(spec, "random", spec.init_params(seed), inner_lr, inner_steps)
        losses = {"meta": float(evaluate(init, validation, (inner_steps,))[inner_steps].mean()),
                  "random": float(evaluate(scratch, validation, (inner_steps,))[inner_steps].mean())}
    from autometa.meta.db import InitRow

    row = InitRow(
        name=name, method=method,
        architecture={**spec.to_dict(), "columns": [list(c) for c in family.columns], "kind": family.kind,
                      "classes": [str(c) for c in family.classes], "target": family.target,
                      "y_center": family.y_center, "y_scale": family.y_scale, "shots": shots,
                      "inner_steps": inner_steps, "inner_lr": inner_lr,
                      # the fitted encoding, so that a fit started from these weights feeds them the same inputs
                      "encoder_skops": _encoder_bytes(family.encoder)},
        weights=to_safetensors(init),
        source_tasks={"source": source, "group_by": family.group_by, "train_groups": [family.names[g] for g in train],
                      "validation_groups": [family.names[g] for g in val]},
        validation_curve=[{"iteration": it, "train": tr, "validation": va, "metric": _curve_label(method)}
                          for (it, tr), (_, va) in zip(init.curve, init.validation_curve, strict=True)],
    )
    return init, row, losses


def _curve_label(method: str) -> str:
    return "query accuracy" if method == "protonet" else "query loss after adaptation"


def _encoder_bytes(encoder: Any) -> str | None:
    """The fitted encoding as base64 skops bytes (a safe format: loading checks every type)."""
    if encoder is None:
        return None
    import base64

    from autometa.skops_io import import_skops

    sio = import_skops()

    return base64.b64encode(sio.dumps(encoder)).decode("ascii")
