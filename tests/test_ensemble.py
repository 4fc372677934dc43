"""Ensemble selection and metrics."""

from __future__ import annotations

import numpy as np
import pytest

from autometa.ensemble import ensemble_selection
from autometa.errors import OptionError
from autometa.metrics import METRICS, get_metric


def test_selection_prefers_the_better_member_and_mixes_complementary_ones() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=500)
    good = y + rng.normal(scale=0.1, size=500)
    bad = y + rng.normal(scale=2.0, size=500)
    weights, score = ensemble_selection([bad, good], y, get_metric("rmse", "regression"))
    assert weights[1] > 0.9
    assert score <= np.sqrt(np.mean((good - y) ** 2)) + 1e-12
    over, under = y + 1.0, y - 1.0
    weights, score = ensemble_selection([over, under], y, get_metric("rmse", "regression"))
    assert weights == [0.5, 0.5] and score == pytest.approx(0.0)


def test_metrics_directions_and_defaults() -> None:
    assert get_metric(None, "binary").name == "roc_auc"
    assert get_metric(None, "multiclass").name == "log_loss"
    assert get_metric(None, "regression").name == "rmse"
    y = np.array([0, 1, 1, 0])
    perfect = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    for name in ("roc_auc", "accuracy", "balanced_accuracy", "f1_macro"):
        assert METRICS[name](y, perfect) == pytest.approx(1.0)
    assert METRICS["log_loss"](y, perfect) < 1e-6
    assert METRICS["log_loss"].better(0.1, 0.2) and METRICS["roc_auc"].better(0.9, 0.8)
    with pytest.raises(OptionError, match="unknown metric"):
        get_metric("auc", "binary")


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_fast_roc_auc_and_log_loss_are_scikit_learns(n_classes: int, dtype: str) -> None:
    from sklearn.metrics import log_loss, roc_auc_score

    rng = np.random.default_rng(n_classes)
    y = rng.integers(0, n_classes, size=300)
    proba = rng.dirichlet(np.ones(n_classes), size=300).astype(dtype)
    proba[:40] = np.round(proba[:40], 1)  # ties in the scores
    proba[:40] /= proba[:40].sum(axis=1, keepdims=True)
    proba[0] = np.eye(n_classes)[(y[0] + 1) % n_classes]  # a true class of probability 0: clipped
    labels = list(range(n_classes))
    auc = roc_auc_score(y, proba[:, 1]) if n_classes == 2 else roc_auc_score(y, proba, multi_class="ovr",
                                                                             labels=labels)
    assert METRICS["roc_auc"](y, proba) == pytest.approx(auc, abs=1e-12)
    assert METRICS["log_loss"](y, proba) == pytest.approx(log_loss(y, proba, labels=labels), rel=1e-6)
    assert METRICS["log_loss"](y.astype(float), proba) == METRICS["log_loss"](y, proba)  # indices as floats


def test_invalid_input_gets_scikit_learns_answer_or_error_not_a_fast_one() -> None:
    y, proba = np.zeros(4, dtype=int), np.tile([0.7, 0.3], (4, 1))
    with pytest.warns(UserWarning, match="Only one class"):  # scikit-learn's answer: undefined
        assert np.isnan(METRICS["roc_auc"](y, proba))
    proba_nan = np.array([[0.5, 0.5], [0.5, np.nan], [0.2, 0.8], [0.9, 0.1]])
    with pytest.raises(ValueError, match="NaN"):
        METRICS["roc_auc"](np.array([0, 1, 1, 0]), proba_nan)
    with pytest.raises(ValueError, match="NaN"):
        METRICS["log_loss"](np.array([0, 1, 1, 0]), proba_nan)
    with pytest.raises(ValueError, match="nan"):  # a missing target is scikit-learn's to refuse
        METRICS["log_loss"](np.array([0.0, np.nan, 1.0, 0.0]), np.tile([0.5, 0.5], (4, 1)))
    with pytest.raises(ValueError, match="probabilities"):  # one-vs-rest needs rows that sum to 1
        METRICS["roc_auc"](np.array([0, 1, 2, 0]), np.full((4, 3), 0.5))


def test_stacker_learns_a_non_negative_combination_for_regression() -> None:
    from autometa.ensemble import fit_stacker

    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    good, noisy = y + rng.normal(scale=0.3, size=400), y + rng.normal(scale=1.0, size=400)
    useless = rng.normal(size=400)
    combiner, score = fit_stacker([good, noisy, useless], y, get_metric("rmse", "regression"))
    assert (combiner.coef_ >= 0).all() and combiner.coef_[0] > combiner.coef_[1] > combiner.coef_[2]
    assert score < float(np.sqrt(np.mean((good - y) ** 2)))  # better than the best member alone


def test_stacker_for_classes_returns_probabilities_for_every_class() -> None:
    from autometa.ensemble import fit_stacker

    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, size=300)
    sharp = np.full((300, 3), 0.1)
    sharp[np.arange(300), y] = 0.8
    flat = np.full((300, 3), 1 / 3)
    combiner, score = fit_stacker([sharp, flat], y, get_metric("log_loss", "multiclass"))
    assert score < 0.3  # it trusts the sharp member
    assert combiner.predict_proba(np.hstack([np.log(sharp / (1 - sharp)), np.log(flat / (1 - flat))])).shape == (300, 3)


def test_selection_cv_score_is_measured_on_rows_the_weights_were_not_chosen_on() -> None:
    from autometa.ensemble import selection_cv_score

    rng = np.random.default_rng(2)
    y = rng.normal(size=120)
    noise = [rng.normal(size=120) for _ in range(30)]  # 30 members that know nothing
    rmse = get_metric("rmse", "regression")
    _, in_sample = ensemble_selection(noise, y, rmse)
    held = selection_cv_score(noise, y, rmse)
    assert held > in_sample  # chosen on the same rows, selection flatters itself; held-out rows do not
    good = y + rng.normal(scale=0.1, size=120)
    assert selection_cv_score([*noise, good], y, rmse) < 0.2  # a member that knows is found on every fold


def test_combiners_cross_validate_tiny_tables_with_fewer_folds() -> None:
    from autometa.ensemble import combiner_folds, fit_stacker

    y = np.array([1.0, 2.0, 3.0])
    _, score = fit_stacker([y + 0.1, y - 0.2], y, get_metric("rmse", "regression"))  # 3 rows: 3 folds, not 5
    assert np.isfinite(score)
    assert combiner_folds(np.array([0, 0, 0, 1, 1, 1, 1]), True).get_n_splits() == 3  # the smallest class's rows


def test_combiners_choose_and_score_on_the_validated_rows_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A holdout split's trials have predictions on its validation rows only (NaN elsewhere):
    selection, its cross-validated score and the stacker use those rows, as if given them alone."""
    from autometa.ensemble import fit_stacker, selection_cv_score, validated

    rng = np.random.default_rng(3)
    y = rng.normal(size=200)
    members = [y + rng.normal(scale=s, size=200) for s in (0.3, 0.6, 1.0)]
    held = np.arange(200) % 5 == 0
    partial = [np.where(held, m, np.nan) for m in members]
    rmse = get_metric("rmse", "regression")
    assert ensemble_selection(partial, y, rmse) == ensemble_selection([m[held] for m in members], y[held], rmse)
    assert selection_cv_score(partial, y, rmse) == selection_cv_score([m[held] for m in members], y[held], rmse)
    assert fit_stacker(partial, y, rmse)[1] == fit_stacker([m[held] for m in members], y[held], rmse)[1]
    proba = np.full((6, 2), 0.5)
    proba[:2] = np.nan  # a class's rows of probabilities: NaN across the row
    kept, labels = validated([proba], np.arange(6))
    assert kept[0].shape == (4, 2) and labels.tolist() == [2, 3, 4, 5]
    assert validated(members, y)[0][0] is members[0]  # k-fold: every row, nothing copied
    import autometa.ensemble as ensemble

    big = np.where(np.arange(20) % 2 == 0, np.arange(20.0), np.nan)
    monkeypatch.setattr(ensemble, "SELECTION_ROWS", 4)  # a large holdout: a fixed sample of its rows
    first, second = validated([big], np.arange(20.0)), validated([big], np.arange(20.0))
    assert len(first[1]) == 4 and first[1].tolist() == second[1].tolist() == first[0][0].tolist()
    assert set(first[1].tolist()) <= set(range(0, 20, 2))
