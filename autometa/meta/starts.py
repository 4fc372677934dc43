"""Starting a fit's MLP from a meta-learned initialization (``autometa fit --init NAME``).

``load_start`` reads an initialization from the meta-database and checks that it fits the task:
the same feature columns with the same types, the same kind of target, and for classification the
same classes. It returns the weights as NumPy arrays and the fitted encoding the initialization was
learned with, so that the MLP sees the inputs it was meta-trained on. No torch is needed here.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from autometa.errors import OptionError, message
from autometa.trust import loads_trusted

if TYPE_CHECKING:
    import numpy as np

    from autometa.data import Task
    from autometa.meta.db import InitRow, MetaDB

__all__ = ["MLPStart", "check_start", "find_start", "load_start"]


@dataclass(frozen=True)
class MLPStart:
    """Weights to start an MLP from, layer by layer, and the encoding that feeds them."""

    name: str
    method: str
    coefs: tuple[np.ndarray, ...]
    intercepts: tuple[np.ndarray, ...]
    encoder: Any

    @property
    def hidden(self) -> tuple[int, ...]:
        return tuple(int(w.shape[0]) for w in self.coefs[:-1])


def load_start(db: MetaDB, name: str, task: Task) -> MLPStart:
    """The initialization ``name``, checked against ``task``.

    Raises:
        DataError: No such initialization in ``db``.
        OptionError: It does not fit ``task`` (see ``check_start``).
    """
    from safetensors.numpy import load

    row = db.get_initialization(name)
    check_start(row, task)
    encoder = loads_trusted(base64.b64decode(row.architecture["encoder_skops"]), f"initialization '{name}'")
    tensors = {k: v for k, v in load(row.weights).items() if not k.startswith("inner_lr.")}
    layers = sorted({int(k.split(".")[0]) for k in tensors})
    return MLPStart(name=name, method=row.method, coefs=tuple(tensors[f"{i}.weight"] for i in layers),
                    intercepts=tuple(tensors[f"{i}.bias"] for i in layers), encoder=encoder)


def check_start(row: InitRow, task: Task) -> None:
    """Whether a stored initialization can start ``task``'s MLP (it reads nothing heavy).

    Raises:
        OptionError: It was learned on other columns, another kind of target or other classes, it
            has no stored encoding, or it is a Prototypical Network's embedding (which classifies
            by prototypes, not by a head).
    """
    name, arch = row.name, row.architecture
    fix = "meta-train an initialization on a table with these columns, or drop --init"
    if row.method == "protonet":
        raise OptionError(message(f"'{name}' is a Prototypical Network's embedding, not an MLP to fine-tune",
                                  "pass an initialization learned with maml, fomaml, reptile or metasgd"))
    stored = [tuple(c) for c in arch.get("columns", [])]
    here = [(c.name, c.kind) for c in task.columns]
    if stored != here:
        missing = [c for c, _ in stored if c not in dict(here)]
        extra = [c for c, _ in here if c not in dict(stored)]
        detail = (f"missing {missing[:4]}" if missing else "") + (f" extra {extra[:4]}" if extra else "")
        detail = detail.strip() or "same names, other types or order"
        raise OptionError(message(f"initialization '{name}' was learned on other columns ({detail})", fix))
    if (arch.get("kind") == "regression") != (task.kind == "regression"):
        raise OptionError(message(f"initialization '{name}' was learned for a {arch.get('kind')} target; "
                                  f"this one is {task.kind}", fix))
    if task.kind != "regression" and [str(c) for c in task.classes] != list(arch.get("classes", [])):
        raise OptionError(message(f"initialization '{name}' was learned for the classes {arch.get('classes')}; "
                                  f"this target has {[str(c) for c in task.classes]}", fix))
    if not arch.get("encoder_skops"):
        raise OptionError(message(f"initialization '{name}' has no stored encoding (an older meta-train)",
                                  "meta-train it again"))


def find_start(db: MetaDB, task: Task) -> str | None:
    """The newest stored initialization that fits ``task`` (same columns, target kind and classes),
    for the recommender to propose on its own; None when there is none."""
    for row in reversed(db.initializations()):
        try:
            check_start(row, task)
        except OptionError:
            continue
        return row.name
    return None
