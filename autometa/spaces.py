"""Search spaces as data, and ``Config``, the unit every component speaks.

A search space lives in ``search_spaces/<learner>.yaml``::

    learner: lightgbm          # must match the file name
    version: 1                 # bump when a distribution or default changes
    kinds: [binary, multiclass, regression]
    fidelity: n_estimators     # the parameter grown in stages (optional)
    rate: learning_rate        # the step size that makes up for a cut fidelity (optional)
    params:
      n_estimators: {type: int, low: 16, high: 1024, log: true, default: 128}
      learning_rate: {type: float, low: 0.01, high: 0.3, log: true, default: 0.1}
      penalty: {type: categorical, choices: [l2, l1], default: l2, kinds: [binary, multiclass]}
      l1_ratio: {type: float, low: 0.0, high: 1.0, default: 0.5, when: {penalty: [elasticnet]}}

``type`` is ``int``, ``float`` or ``categorical``; ``log`` and ``step`` apply to
numbers; ``kinds`` restricts a parameter to some task kinds; ``when`` makes it
conditional on other parameters' values. The loader rejects a broken file with
a message that names the file and the key. Turning a space into Optuna
distributions is the search module's job (only it imports optuna).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from autometa.errors import OptionError, SearchSpaceError, message

__all__ = ["Config", "Param", "SearchSpace", "default_spaces_dir", "load_space", "load_spaces"]

ParamType = Literal["int", "float", "categorical"]
_PARAM_KEYS = frozenset({"type", "low", "high", "log", "step", "choices", "default", "kinds", "when", "help"})
_TOP_KEYS = frozenset({"learner", "version", "kinds", "fidelity", "rate", "params", "description"})
_KINDS = frozenset({"binary", "multiclass", "regression"})


def _canonical(value: Any) -> Any:
    """Plain JSON-able Python value (numpy scalars become int/float/bool)."""
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict, str)):
        value = value.item()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return value  # keep floats as floats: 1.0 stays 1.0
    return value


@dataclass(frozen=True, eq=False)
class Config:
    """A learner name and its parameters; canonical JSON, hashable, comparable.

    Example:
        >>> a = Config("lightgbm", {"num_leaves": 31, "learning_rate": 0.1})
        >>> a == Config("lightgbm", {"learning_rate": 0.1, "num_leaves": 31})
        True
        >>> a.to_json()
        '{"learner":"lightgbm","params":{"learning_rate":0.1,"num_leaves":31}}'
    """

    learner: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        canonical = {str(k): _canonical(v) for k, v in sorted(dict(self.params).items())}
        object.__setattr__(self, "params", canonical)

    def to_json(self) -> str:
        return json.dumps({"learner": self.learner, "params": self.params},
                          sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Config:
        data = json.loads(text)
        return cls(data["learner"], data.get("params", {}))

    @property
    def digest(self) -> str:
        """A short stable hash of the canonical JSON."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __repr__(self) -> str:
        return f"Config({self.learner!r}, {self.params!r})"


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its distribution, default and applicability."""

    name: str
    type: ParamType
    default: Any
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    kinds: frozenset[str] = _KINDS
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def applies(self, kind: str, chosen: Mapping[str, Any]) -> bool:
        """Whether the parameter exists for this task kind, given the values chosen so far."""
        if kind not in self.kinds:
            return False
        return all(name in chosen and chosen[name] in allowed for name, allowed in self.when)

    def contains(self, value: Any) -> bool:
        if self.type == "categorical":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.type == "int" and not float(value).is_integer():
            return False
        assert self.low is not None and self.high is not None  # set by the loader
        return self.low <= value <= self.high


@dataclass(frozen=True)
class SearchSpace:
    """One learner's hyperparameters, as read from its YAML file."""

    learner: str
    version: int
    params: tuple[Param, ...]
    kinds: frozenset[str] = _KINDS
    fidelity: str | None = None
    rate: str | None = None  # the step size scaled up by as much as a cut fidelity (``shrunk``)
    description: str = ""
    source: str = ""
    # where the learner's model starts (a meta-learned initialization for the MLP); set by a fit
    start: Any = field(default=None, compare=False, repr=False)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def active(self, kind: str, chosen: Mapping[str, Any]) -> list[Param]:
        """The parameters that apply, in file order, given the values chosen so far."""
        out = []
        for p in self.params:
            if p.applies(kind, chosen):
                out.append(p)
        return out

    def default_config(self, kind: str) -> Config:
        """The learner's default configuration for a task kind."""
        chosen: dict[str, Any] = {}
        for p in self.params:
            if p.applies(kind, chosen):
                chosen[p.name] = p.default
        return Config(self.learner, chosen)

    def complete(self, config: Config, kind: str) -> Config:
        """Fill missing parameters with defaults, drop inactive ones, check values.

        Raises:
            OptionError: A value is outside its distribution or a name is unknown.
        """
        known = {p.name for p in self.params}
        unknown = sorted(set(config.params) - known)
        if unknown:
            raise OptionError(message(
                f"unknown parameter(s) {', '.join(unknown)} for learner '{self.learner}'",
                f"use only: {', '.join(sorted(known))}"))
        chosen: dict[str, Any] = {}
        for p in self.params:
            if not p.applies(kind, chosen):
                continue
            value = config.params.get(p.name, p.default)
            if not p.contains(value):
                raise OptionError(message(
                    f"parameter '{p.name}' of learner '{self.learner}' must be in "
                    f"{list(p.choices) if p.type == 'categorical' else [p.low, p.high]}; got {value!r}",
                    "pass a value inside the search space"))
            chosen[p.name] = int(value) if p.type == "int" else value
        return Config(self.learner, chosen)

    def shrunk(self, config: Config, factor: float) -> Config | None:
        """``config`` with its fidelity cut to ``factor`` of it (rounded down) and its ``rate``
        raised by as much: the same sum of steps in fewer of them, as boosting's shrinkage trades
        rounds for learning rate (Friedman, "Greedy Function Approximation", 2001). None where
        the space has no ``rate``, ``factor`` cuts nothing, or the rate would pass its upper
        bound (fewer, capped steps underfit: a 26-class CatBoost cut from 93 rounds to 19 at the
        bound's 0.3 scored a log loss of 1.89, against 1.49 for a cut histogram boosting)."""
        if self.fidelity is None or self.rate is None or factor >= 1.0 or self.fidelity not in config.params \
                or self.rate not in config.params:
            return None
        old, step = int(config.params[self.fidelity]), float(config.params[self.rate])
        new = int(old * max(factor, 0.0))
        low, high = self.param(self.fidelity).low, self.param(self.rate).high
        if new < max(1.0, low or 1.0) or new >= old or (high is not None and step * old / new > high):
            return None
        return Config(self.learner, {**config.params, self.fidelity: new, self.rate: step * old / new})

    def grown(self, config: Config, factor: float) -> Config | None:
        """``config`` with its fidelity multiplied by ``factor`` (up to the space's upper bound)
        and its ``rate`` kept: more steps of the same size, for a boosting model still improving
        at its last round. None where the space has no ``rate`` (more trees of a forest or more
        epochs of a network add no capacity) or the bound leaves no room.

        Example:
            >>> rounds, lr = Param("rounds", "int", 100, 16, 1000), Param("lr", "float", 0.1, 0.01, 0.3)
            >>> space = SearchSpace("gbm", 1, (rounds, lr), fidelity="rounds", rate="lr")
            >>> space.grown(Config("gbm", {"rounds": 600, "lr": 0.1}), 2.0).params
            {'lr': 0.1, 'rounds': 1000}
            >>> space.grown(Config("gbm", {"rounds": 1000, "lr": 0.1}), 2.0) is None
            True
        """
        if self.fidelity is None or self.rate is None or self.fidelity not in config.params:
            return None
        old, high = int(config.params[self.fidelity]), self.param(self.fidelity).high
        new = int(old * factor) if high is None else int(min(old * factor, high))
        return Config(self.learner, {**config.params, self.fidelity: new}) if new > old else None

    @property
    def meta(self) -> dict[str, Any]:
        """What identifies this space in logs and meta_db."""
        return {"learner": self.learner, "version": self.version}


def default_spaces_dir() -> Path:
    """``$AUTOMETA_SEARCH_SPACES`` if set, else the project's ``search_spaces/``."""
    env = os.environ.get("AUTOMETA_SEARCH_SPACES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "search_spaces"


def load_spaces(directory: str | Path | None = None) -> dict[str, SearchSpace]:
    """Load every ``*.yaml`` search space in a directory, keyed by learner name.

    Raises:
        SearchSpaceError: The directory has no spaces, or a file is malformed.
    """
    folder = Path(directory) if directory is not None else default_spaces_dir()
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise SearchSpaceError(message(f"no search spaces (*.yaml) in '{folder}'",
                                       "set AUTOMETA_SEARCH_SPACES to the search_spaces folder"))
    spaces = {}
    for f in files:
        space = load_space(f)
        spaces[space.learner] = space
    return spaces


def load_space(path: str | Path) -> SearchSpace:
    """Load and validate one search-space file.

    Raises:
        SearchSpaceError: The file is malformed; the message names the file and the key.
    """
    import yaml

    p = Path(path)

    def fail(key: str, problem: str) -> SearchSpaceError:
        return SearchSpaceError(message(f"search space '{p.name}', key '{key}': {problem}",
                                        "fix the file (see the format in autometa/spaces.py)"))

    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise fail("<file>", f"cannot be read as YAML ({first})") from exc
    if not isinstance(doc, dict):
        raise fail("<file>", "must be a mapping")
    extra = sorted(set(doc) - _TOP_KEYS)
    if extra:
        raise fail(extra[0], f"unknown key (allowed: {', '.join(sorted(_TOP_KEYS))})")
    learner = doc.get("learner")
    if not isinstance(learner, str) or learner != p.stem:
        raise fail("learner", f"must be the file's name '{p.stem}', got {learner!r}")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise fail("version", f"must be an integer >= 1, got {version!r}")
    kinds = _read_kinds(doc.get("kinds", sorted(_KINDS)), "kinds", fail)
    raw_params = doc.get("params")
    if not isinstance(raw_params, dict) or not raw_params:
        raise fail("params", "must be a non-empty mapping of parameter names")
    params = [_read_param(str(name), spec, kinds, fail) for name, spec in raw_params.items()]
    names = [q.name for q in params]
    for q in params:
        for dep, _ in q.when:
            if dep not in names or names.index(dep) >= names.index(q.name):
                raise fail(f"params.{q.name}.when", f"'{dep}' must be a parameter defined above it")
    fidelity = doc.get("fidelity")
    if fidelity is not None:
        if fidelity not in names:
            raise fail("fidelity", f"'{fidelity}' is not one of the parameters")
        fp = params[names.index(fidelity)]
        if fp.type != "int" or fp.when:
            raise fail("fidelity", "must be an unconditional int parameter")
    rate = doc.get("rate")
    if rate is not None:
        if fidelity is None:
            raise fail("rate", "makes up for a cut fidelity: the space needs a 'fidelity' too")
        if rate not in names:
            raise fail("rate", f"'{rate}' is not one of the parameters")
        rp = params[names.index(rate)]
        if rp.type != "float" or rp.when:
            raise fail("rate", "must be an unconditional float parameter")
    return SearchSpace(learner=learner, version=version, params=tuple(params), kinds=kinds,
                       fidelity=fidelity, rate=rate, description=str(doc.get("description", "")),
                       source=str(p))


def _read_kinds(value: Any, key: str, fail: Any) -> frozenset[str]:
    if not isinstance(value, list) or not value or not set(value) <= _KINDS:
        raise fail(key, f"must be a list drawn from {sorted(_KINDS)}, got {value!r}")
    return frozenset(value)


def _read_param(name: str, spec: Any, kinds: frozenset[str], fail: Any) -> Param:
    key = f"params.{name}"
    if not isinstance(spec, dict):
        raise fail(key, "must be a mapping with at least 'type' and 'default'")
    extra = sorted(set(spec) - _PARAM_KEYS)
    if extra:
        raise fail(f"{key}.{extra[0]}", f"unknown key (allowed: {', '.join(sorted(_PARAM_KEYS))})")
    ptype = spec.get("type")
    if ptype not in ("int", "float", "categorical"):
        raise fail(f"{key}.type", f"must be int, float or categorical, got {ptype!r}")
    if "default" not in spec:
        raise fail(f"{key}.default", "is required")
    p_kinds = _read_kinds(spec.get("kinds", sorted(kinds)), f"{key}.kinds", fail)
    when_raw = spec.get("when", {})
    if not isinstance(when_raw, dict):
        raise fail(f"{key}.when", "must map parameter names to lists of values")
    when = tuple((str(k), tuple(v if isinstance(v, list) else [v])) for k, v in when_raw.items())
    default = spec["default"]
    if ptype == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise fail(f"{key}.choices", "must be a non-empty list")
        for c in choices:
            if not (c is None or isinstance(c, (bool, int, float, str))):
                raise fail(f"{key}.choices", f"values must be null, bool, number or string, got {c!r}")
        if default not in choices:
            raise fail(f"{key}.default", f"{default!r} is not one of the choices")
        return Param(name, "categorical", default, choices=tuple(choices), kinds=p_kinds, when=when)
    low, high = spec.get("low"), spec.get("high")
    for bound, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise fail(f"{key}.{bound}", f"must be a finite number, got {v!r}")
    assert isinstance(low, (int, float)) and isinstance(high, (int, float))
    if low >= high:
        raise fail(f"{key}.low", f"must be below high ({low} >= {high})")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise fail(f"{key}.log", f"must be true or false, got {log!r}")
    if log and low <= 0:
        raise fail(f"{key}.low", "must be > 0 on a log scale")
    step = spec.get("step")
    if step is not None and (log or isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0):
        raise fail(f"{key}.step", "must be a positive number and cannot be combined with log")
    if ptype == "int" and not all(float(v).is_integer() for v in (low, high)):
        raise fail(f"{key}.low", "int bounds must be integers")
    param = Param(name, ptype, default, low=low, high=high, log=log, step=step, kinds=p_kinds, when=when)
    if not param.contains(default):
        raise fail(f"{key}.default", f"{default!r} is outside [{low}, {high}]")
    return param


def iter_learner_names(spaces: Mapping[str, SearchSpace], kind: str) -> Iterable[str]:
    """Learners whose space supports this task kind, sorted."""
    return sorted(name for name, s in spaces.items() if kind in s.kinds)


def sample_configs(space: SearchSpace, n: int, *, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` space-filling parameter sets (scrambled Sobol points), for every task kind at once.

    Each set holds a value for every parameter of the space; ``SearchSpace.complete``
    keeps the ones active for a task. The same ``seed`` gives the same sets, so a
    portfolio is identical on every task.
    """
    from scipy.stats import qmc

    if n <= 0:
        return []
    m = max(0, math.ceil(math.log2(n)))  # Sobol points balance in powers of two; keep the first n
    points = qmc.Sobol(d=len(space.params), scramble=True, seed=seed).random_base2(m)[:n]
    out = []
    for u in points:
        values: dict[str, Any] = {}
        for p, x in zip(space.params, u, strict=True):
            values[p.name] = _from_unit(p, float(x))
        out.append(values)
    return out


def _from_unit(p: Param, x: float) -> Any:
    if p.type == "categorical":
        return p.choices[min(int(x * len(p.choices)), len(p.choices) - 1)]
    assert p.low is not None and p.high is not None
    if p.log:
        value = math.exp(math.log(p.low) + x * (math.log(p.high) - math.log(p.low)))
    else:
        value = p.low + x * (p.high - p.low)
    if p.step:
        value = p.low + round((value - p.low) / p.step) * p.step
    if p.type == "int":
        return int(min(max(round(value), p.low), p.high))
    return float(min(max(value, p.low), p.high))
