"""Search spaces as data: every shipped file loads; broken files are refused by name and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from autometa.errors import OptionError, SearchSpaceError
from autometa.learners import LEARNER_NAMES, learner_classes
from autometa.spaces import Config, load_space, load_spaces

GOOD = """learner: demo
version: 1
fidelity: rounds
params:
  rounds: {type: int, low: 10, high: 100, log: true, default: 20}
  penalty: {type: categorical, choices: [l2, elasticnet], default: l2}
  ratio: {type: float, low: 0.0, high: 1.0, default: 0.5, when: {penalty: [elasticnet]}}
  alpha: {type: float, low: 0.001, high: 1.0, log: true, default: 0.1, kinds: [regression]}
"""


def test_every_shipped_space_loads_and_has_a_learner() -> None:
    spaces = load_spaces()
    assert set(spaces) == set(LEARNER_NAMES) == set(learner_classes())
    for space in spaces.values():
        assert space.version >= 1
        for kind in ("binary", "multiclass", "regression"):
            config = space.default_config(kind)
            assert space.complete(config, kind) == config


def test_conditions_and_kinds(tmp_path: Path) -> None:
    (tmp_path / "demo.yaml").write_text(GOOD)
    space = load_space(tmp_path / "demo.yaml")
    assert space.fidelity == "rounds"
    assert space.default_config("binary").params == {"penalty": "l2", "rounds": 20}
    assert "alpha" in space.default_config("regression").params
    net = space.complete(Config("demo", {"penalty": "elasticnet"}), "binary")
    assert net.params["ratio"] == 0.5
    with pytest.raises(OptionError, match="must be in"):
        space.complete(Config("demo", {"rounds": 1000}), "binary")
    with pytest.raises(OptionError, match="unknown parameter"):
        space.complete(Config("demo", {"nope": 1}), "binary")


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (("learner: demo", "learner: other"), "learner"),
        (("version: 1", "version: zero"), "version"),
        (("type: int", "type: integer"), "params.rounds.type"),
        (("default: 20", "default: 1000"), "params.rounds.default"),
        (("low: 10", "low: -5"), "params.rounds.low"),
        (("choices: [l2, elasticnet], default: l2", "choices: [], default: l2"), "params.penalty.choices"),
        (("when: {penalty: [elasticnet]}", "when: {later: [1]}"), "params.ratio.when"),
        (("fidelity: rounds", "fidelity: missing"), "fidelity"),
        (("fidelity: rounds", "fidelity: penalty"), "fidelity"),
        (("fidelity: rounds", "fidelity: rounds\nrate: penalty"), "rate"),  # not a number
        (("fidelity: rounds", "fidelity: rounds\nrate: ratio"), "rate"),  # conditional
        (("fidelity: rounds", "rate: alpha"), "rate"),  # nothing to make up for
        (("version: 1", "version: 1\nextra: 2"), "extra"),
        (("params:", "params: [\n"), "<file>"),
    ],
)
def test_broken_files_name_file_and_key(tmp_path: Path, change: tuple[str, str], key: str) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(SearchSpaceError) as info:
        load_space(path)
    text = str(info.value)
    assert "demo.yaml" in text and f"key '{key}'" in text and "\n" not in text


def test_a_cut_fidelity_raises_the_rate_by_as_much_within_its_bounds() -> None:
    spaces = load_spaces()
    boost = spaces["lightgbm"]
    assert (boost.fidelity, boost.rate) == ("n_estimators", "learning_rate")
    config = boost.complete(Config("lightgbm", {"n_estimators": 400, "learning_rate": 0.02}), "binary")
    cut = boost.shrunk(config, 0.25)
    assert cut is not None and cut.params["n_estimators"] == 100
    assert cut.params["learning_rate"] == pytest.approx(0.08)  # the same sum of steps
    assert {k: v for k, v in cut.params.items() if k not in ("n_estimators", "learning_rate")} == \
        {k: v for k, v in config.params.items() if k not in ("n_estimators", "learning_rate")}
    assert boost.shrunk(config, 0.05) is None  # 20 rounds would need a rate of 0.4, past its bound
    assert boost.shrunk(config, 0.01) is None  # 4 rounds: below the space's 16, too
    assert boost.shrunk(config, 1.0) is None  # nothing to cut
    trees = spaces["random_forest"].default_config("binary")  # a fidelity, no rate to make up for it
    assert spaces["random_forest"].shrunk(trees, 0.5) is None
    assert spaces["linear"].shrunk(spaces["linear"].default_config("binary"), 0.5) is None  # no fidelity


def test_config_is_canonical_and_hashable() -> None:
    import numpy as np

    a = Config("lightgbm", {"b": np.int64(3), "a": np.float64(0.5)})
    b = Config("lightgbm", {"a": 0.5, "b": 3})
    assert a == b and hash(a) == hash(b) and a.digest == b.digest
    assert Config.from_json(a.to_json()) == a
    assert {a, b} == {a}


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SearchSpaceError, match="no search spaces"):
        load_spaces(tmp_path)
