"""skops, the saved models' format: imported without torch; each first-level model written once, at linear cost."""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Ridge

from autometa.ensemble import FoldBag, LevelTwo, StackedEnsemble, WeightedEnsemble, stack_columns
from autometa.skops_io import linear_dumps, untrusted_types


def _stack(kind: type = WeightedEnsemble) -> tuple[object, pd.DataFrame]:
    """Two first-level bags and two second-level members reading both, as a fit makes them: the
    forest only the second level reads, the boosting bag a member of its own too."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 3)), columns=["a", "b", "c"])
    y = X["a"] * 2 + rng.normal(size=120)
    boost = FoldBag([HistGradientBoostingRegressor(max_iter=20).fit(X, y) for _ in range(2)])
    forest = FoldBag([RandomForestRegressor(n_estimators=5, random_state=i).fit(X, y) for i in range(2)])
    names = stack_columns("__level1_", 2, 0)
    X_up = X.assign(**{names[0]: boost.predict(X), names[1]: forest.predict(X)})
    uppers = [LevelTwo([boost, forest], FoldBag([Ridge(alpha=a).fit(X_up, y)]), names) for a in (0.1, 10.0)]
    if kind is StackedEnsemble:
        from sklearn.linear_model import LinearRegression

        columns = np.column_stack([boost.predict(X), *[u.predict(X) for u in uppers]])
        combiner = LinearRegression(positive=True).fit(columns, y)
        return StackedEnsemble([boost, *uppers], combiner), X
    return WeightedEnsemble([boost, *uppers], [0.5, 0.25, 0.25]), X


@pytest.mark.parametrize("kind", [WeightedEnsemble, StackedEnsemble])
def test_a_saved_stack_writes_each_first_level_bag_once_and_loads_it_shared(kind: type) -> None:
    model, X = _stack(kind)
    boost, upper, other = model.members
    data = sio.dumps(model)
    alone = sum(len(sio.dumps(m)) for m in (boost, upper.inputs[1], upper.bag, other.bag))
    assert len(data) < 1.2 * alone  # skops keeps no memo: without the shared state, 3 boosts and 2 forests

    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    l_boost, l_upper, l_other = loaded.members
    assert l_upper.inputs[0] is l_boost and l_other.inputs[0] is l_boost
    assert l_upper.inputs[1] is l_other.inputs[1] and isinstance(l_upper.inputs[1], FoldBag)
    assert not hasattr(loaded, "shared_inputs")
    assert np.allclose(loaded.predict(X), model.predict(X))
    assert upper.inputs[0] is boost  # saving left the live model as it was
    again = pickle.loads(pickle.dumps(model))
    assert again.members[1].inputs[0] is again.members[0] and np.allclose(again.predict(X), model.predict(X))


def test_linear_dumps_write_what_skops_loads_and_leave_skops_as_it_was() -> None:
    from skops.io import _persist

    model, X = _stack()
    with linear_dumps():
        assert _persist.ZipFile is not zipfile.ZipFile
        with linear_dumps():  # nested: the outer context's change stays
            data = sio.dumps(model)
        assert _persist.ZipFile is not zipfile.ZipFile
    assert _persist.ZipFile is zipfile.ZipFile and _persist.json is json
    plain = sio.dumps(model)
    with zipfile.ZipFile(io.BytesIO(data)) as fast, zipfile.ZipFile(io.BytesIO(plain)) as slow:
        assert len(fast.namelist()) == len(slow.namelist())  # every array written once, none lost
        assert json.loads(fast.read("schema.json")).keys() == json.loads(slow.read("schema.json")).keys()
    assert sorted(sio.get_untrusted_types(data=data)) == sorted(sio.get_untrusted_types(data=plain))
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_types_listed_without_reading_the_arrays_are_skops_own_list() -> None:
    from functools import partial

    from scipy import sparse

    model, _ = _stack(StackedEnsemble)
    others = {"sparse": sparse.random(20, 5, density=0.3, format="csr", random_state=0),
              "objects": np.array(["a", 1, None], dtype=object), "function": partial(np.round, decimals=2),
              "dtype": np.dtype("float32"), "generator": np.random.default_rng(0)}
    for obj in (model, others):
        data = sio.dumps(obj)
        listed = untrusted_types(data)
        assert listed == sorted(sio.get_untrusted_types(data=data)) and listed
    assert "autometa.ensemble.StackedEnsemble" in untrusted_types(sio.dumps(model))


def test_types_are_listed_by_skops_own_where_its_tree_needs_the_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    import skops.io._audit as audit

    model, _ = _stack()
    data = sio.dumps(model)

    def reads_bytes(*args: object, **kwargs: object) -> object:
        raise ValueError("a node that parses its entry")

    monkeypatch.setattr(audit, "get_tree", reads_bytes)  # the fast listing's tree, not skops' own
    assert untrusted_types(data) == sorted(sio.get_untrusted_types(data=data))


def test_skops_is_imported_without_torch_and_trusts_the_same_estimators() -> None:
    code = """
import sys
from autometa.skops_io import _TORCH_NAMESPACE, import_skops
sio = import_skops()
assert "torch" not in sys.modules, "torch was imported"
assert _TORCH_NAMESPACE not in sys.modules, "the placeholder was left behind"
from skops.io._trusted_types import SKLEARN_ESTIMATOR_TYPE_NAMES
from skops.io._utils import get_type_name
from sklearn.utils import all_estimators
listed = [get_type_name(c) for _, c in all_estimators() if get_type_name(c).startswith("sklearn.")]
assert sorted(SKLEARN_ESTIMATOR_TYPE_NAMES) == sorted(listed), "skops trusts other estimators"
assert import_skops() is sio
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1:]
