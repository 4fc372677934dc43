"""Meta-learned initializations: the torch.func meta-gradients against explicit autograd loops,
and real learning on Finn et al.'s sinusoid tasks."""

from __future__ import annotations

import pytest
import torch

from autometa.errors import OptionError
from autometa.meta.maml import (
    ConvSpec,
    MetaInit,
    MLPSpec,
    TaskBatch,
    adapt,
    evaluate,
    meta_gradient,
    meta_train,
    predict,
    resolve_device,
    sinusoid_sampler,
)

SPEC = MLPSpec(1, (16, 16), 1)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def batch(n_tasks: int = 4, shots: int = 5, seed: int = 0):  # type: ignore[no-untyped-def]
    return sinusoid_sampler(shots)(torch.Generator().manual_seed(seed), n_tasks)


def reference(method: str, params: dict[str, torch.Tensor], lrs: dict[str, torch.Tensor] | None, steps: int,
              lr: float) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """The same meta-gradient with a Python loop over tasks and torch.autograd (as higher does)."""
    b = batch()
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    rates = {k: v.clone().requires_grad_(True) for k, v in lrs.items()} if lrs else None
    total = torch.zeros(())
    for t in range(len(b)):
        p = dict(leaves)
        for _ in range(steps):
            out = predict(SPEC, p, b.x_support[t]).squeeze(-1)
            g = torch.autograd.grad(((out - b.y_support[t]) ** 2).mean(), list(p.values()),
                                    create_graph=method != "fomaml")
            p = {k: p[k] - (rates[k] if rates else lr) * gi for k, gi in zip(p, g, strict=True)}
        total = total + ((predict(SPEC, p, b.x_query[t]).squeeze(-1) - b.y_query[t]) ** 2).mean()
    wrt = list(leaves.values()) + (list(rates.values()) if rates else [])
    grads = torch.autograd.grad(total / len(b), wrt)
    n = len(leaves)
    return list(grads[:n]), (list(grads[n:]) if rates else None)


@pytest.mark.parametrize("method", ["maml", "fomaml", "metasgd"])
@pytest.mark.parametrize("steps", [1, 3])
def test_meta_gradient_matches_an_explicit_autograd_loop(method: str, steps: int) -> None:
    params = SPEC.init_params(seed=1)
    lrs = {k: torch.full_like(v, 0.02) + 0.01 * torch.rand_like(v) for k, v in params.items()} \
        if method == "metasgd" else None
    g, g_lr = meta_gradient(method, SPEC, params, lrs, batch(), steps, 0.02)
    ref, ref_lr = reference(method, params, lrs, steps, 0.02)
    for k, r in zip(params, ref, strict=True):
        torch.testing.assert_close(g[k], r, rtol=1e-4, atol=1e-6)
    if method == "metasgd":
        assert g_lr is not None and ref_lr is not None
        for k, r in zip(params, ref_lr, strict=True):
            torch.testing.assert_close(g_lr[k], r, rtol=1e-4, atol=1e-6)


def test_second_order_differs_from_first_order() -> None:
    params = SPEC.init_params(seed=1)
    second, _ = meta_gradient("maml", SPEC, params, None, batch(), 1, 0.05)
    first, _ = meta_gradient("fomaml", SPEC, params, None, batch(), 1, 0.05)
    assert any(not torch.allclose(second[k], first[k]) for k in params)


def test_reptile_steps_towards_the_adapted_weights() -> None:
    params = SPEC.init_params(seed=2)
    b = batch()
    g, _ = meta_gradient("reptile", SPEC, params, None, b, 3, 0.01)
    moved = []
    for t in range(len(b)):
        x = torch.cat([b.x_support[t], b.x_query[t]])
        y = torch.cat([b.y_support[t], b.y_query[t]])
        init = MetaInit(SPEC, "reptile", params, 0.01, 3)
        moved.append(adapt(init, x, y))
    for k in params:
        expected = params[k] - torch.stack([m[k] for m in moved]).mean(0)
        torch.testing.assert_close(g[k], expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", ["maml", "fomaml", "reptile", "metasgd"])
def test_meta_training_beats_a_random_initialization_on_sinusoids(method: str) -> None:
    sampler = sinusoid_sampler(10)
    init = meta_train(sampler, SPEC, method=method, iterations=400, meta_batch=10, outer_lr=3e-3,
                      inner_steps=1 if method != "reptile" else 5, seed=0)
    test = sinusoid_sampler(10, 50)(torch.Generator().manual_seed(99), 100)
    learned = evaluate(init, test, (1,))[1].mean()
    scratch = evaluate(MetaInit(SPEC, "random", SPEC.init_params(0), 0.01, 1), test, (1,))[1].mean()
    assert learned < 0.8 * scratch, (method, float(learned), float(scratch))  # measured: 0.39-0.66
    assert len(init.curve) == 10 and init.curve[-1][0] == 400


def test_meta_training_is_seeded_and_adaptation_mutates_nothing() -> None:
    a = meta_train(sinusoid_sampler(5), SPEC, method="maml", iterations=5, meta_batch=3, seed=4)
    b = meta_train(sinusoid_sampler(5), SPEC, method="maml", iterations=5, meta_batch=3, seed=4)
    assert all(torch.equal(a.params[k], b.params[k]) for k in a.params)
    before = {k: v.clone() for k, v in a.params.items()}
    adapted = adapt(a, torch.zeros(5, 1), torch.ones(5), steps=3)
    assert all(torch.equal(a.params[k], before[k]) for k in a.params)
    assert any(not torch.equal(adapted[k], before[k]) for k in a.params)


def image_tasks(ways: int = 3, shots: int = 1, queries: int = 4, size: int = 8):  # type: ignore[no-untyped-def]
    """Few-shot image tasks: each task draws ``ways`` random class templates, and its examples
    are the templates plus noise (support labels ``0..ways-1``)."""

    def sample(gen: torch.Generator, n: int) -> TaskBatch:
        templates = torch.randn(n, ways, 1, size, size, generator=gen)
        ys = torch.arange(ways).repeat(shots + queries)
        x = templates[:, ys] + 0.5 * torch.randn(n, len(ys), 1, size, size, generator=gen)
        y = ys.expand(n, -1)
        k = ways * shots
        return TaskBatch(x[:, :k], y[:, :k], x[:, k:], y[:, k:])

    return sample


CONV = ConvSpec(in_channels=1, size=8, ways=3, channels=6, blocks=2)


@pytest.mark.parametrize("method", ["maml", "fomaml"])
def test_the_conv_net_meta_gradient_matches_an_explicit_loop_with_per_task_batch_norm(method: str) -> None:
    b = image_tasks()(torch.Generator().manual_seed(0), 3)
    params = CONV.init_params(seed=1)
    g, _ = meta_gradient(method, CONV, params, None, b, 2, 0.1)
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    total = torch.zeros(())
    for t in range(len(b)):  # batch normalization sees one task's examples at a time, as under vmap
        p = dict(leaves)
        for _ in range(2):
            loss = torch.nn.functional.cross_entropy(predict(CONV, p, b.x_support[t]), b.y_support[t])
            grads = torch.autograd.grad(loss, list(p.values()), create_graph=method == "maml")
            p = {k: p[k] - 0.1 * gi for k, gi in zip(p, grads, strict=True)}
        total = total + torch.nn.functional.cross_entropy(predict(CONV, p, b.x_query[t]), b.y_query[t])
    ref = torch.autograd.grad(total / len(b), list(leaves.values()))
    for k, r in zip(params, ref, strict=True):
        torch.testing.assert_close(g[k], r, rtol=1e-4, atol=1e-5)
    assert CONV.module()(b.x_support[0]).shape == (3, 3)  # 8x8 -> 4x4 -> 2x2, then 3 classes


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_meta_training_runs_on_the_device_asked_for_and_returns_cpu_weights(device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device here (the device tool's GPU machine runs this)")
    sampler = sinusoid_sampler(5)
    validation = sinusoid_sampler(5)(torch.Generator().manual_seed(7), 6)
    cpu = meta_train(sampler, SPEC, method="metasgd", iterations=20, meta_batch=4, seed=3, validation=validation)
    there = meta_train(sampler, SPEC, method="metasgd", iterations=20, meta_batch=4, seed=3, validation=validation,
                       device=device)
    assert there.settings["device"] == device and cpu.settings["device"] == "cpu"
    assert all(v.device.type == "cpu" for v in [*there.params.values(), *(there.lrs or {}).values()])
    for k in cpu.params:  # the same tasks drawn, the same steps taken: equal up to the device's arithmetic
        torch.testing.assert_close(there.params[k], cpu.params[k], rtol=1e-3, atol=1e-4)
    assert len(there.validation_curve) == 10
    conv = meta_train(image_tasks(), CONV, method="maml", iterations=3, meta_batch=2, inner_lr=0.1, device=device)
    assert conv.params["0.weight"].device.type == "cpu" and len(conv.curve) == 3


def test_a_bad_device_is_a_one_line_error() -> None:
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu").type == "cpu"
    bad = ["tpu0", "meta"] + ([] if torch.cuda.is_available() else ["cuda"])
    for name in bad:
        with pytest.raises(OptionError) as info:
            meta_train(sinusoid_sampler(5), SPEC, iterations=1, device=name)
        assert "\n" not in str(info.value) and "device" in str(info.value)


@pytest.mark.parametrize(("kwargs", "text"), [
    ({"method": "maml2"}, "unknown meta-training method"),
    ({"iterations": 0}, "iterations must be"),
    ({"meta_batch": -1}, "meta_batch must be"),
    ({"inner_lr": 0.0}, "inner_lr must be"),
    ({"outer_lr": float("nan")}, "outer_lr must be"),
])
def test_bad_settings_are_one_line_errors(kwargs: dict[str, object], text: str) -> None:
    with pytest.raises(OptionError, match=text) as info:
        meta_train(sinusoid_sampler(5), SPEC, **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def family_frame(n_groups: int = 12, rows: int = 30, seed: int = 0):  # type: ignore[no-untyped-def]
    """Related regression tasks: each group's target is its own mix of two shared features."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    parts = []
    for g in range(n_groups):
        a, b = rng.normal(size=2)
        x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
        parts.append(pd.DataFrame({"site": f"s{g}", "x1": x1, "x2": x2, "kind": rng.choice(["u", "v"], size=rows),
                                   "y": a * x1 + b * x2 + 0.1 * rng.normal(size=rows)}))
    return pd.concat(parts, ignore_index=True)


def test_meta_train_cli_stores_safetensors_weights_in_meta_db(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    from autometa.meta.db import MetaDB
    from autometa.meta.maml import from_safetensors
    from tests.test_cli import run_cli

    path = tmp_path / "sites.csv"
    family_frame().to_csv(path, index=False)
    db_path = tmp_path / "meta.sqlite"
    args = ["meta-train", str(path), "--group-by", "site", "--target", "y", "--iterations", "60", "--shots", "5",
            "--hidden", "16", "--meta-db", str(db_path), "--json"]
    code, out, err = run_cli(args, capsys, monkeypatch)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["name"] == "sites-site-maml" and summary["tasks"] == 12 and summary["validation_groups"] == 3
    row = MetaDB(db_path).get_initialization("sites-site-maml")
    assert row.weights[:8] != b"\x80\x04\x95" and row.method == "maml"  # safetensors, not a pickle
    assert row.architecture["hidden"] == [16] and row.architecture["kind"] == "regression"
    assert [c[0] for c in row.architecture["columns"]] == ["x1", "x2", "kind"]
    assert len(row.source_tasks["train_groups"]) == 9 and len(row.validation_curve) == 10
    assert row.validation_curve[-1]["iteration"] == 60
    spec = MLPSpec(**{k: row.architecture[k] for k in ("in_features", "out_features", "loss")},
                   hidden=tuple(row.architecture["hidden"]))
    init = from_safetensors(row.weights, spec, row.method)
    assert init.params["0.weight"].shape == (16, spec.in_features)
    # the same name again is refused; --replace overwrites
    code, _, err = run_cli(args, capsys, monkeypatch)
    assert code == 2 and "exists already" in err
    code, _, _ = run_cli([*args, "--replace", "--method", "reptile", "--name", "sites-site-maml"], capsys,
                         monkeypatch)
    assert code == 0 and MetaDB(db_path).get_initialization("sites-site-maml").method == "reptile"


@pytest.mark.parametrize(("extra", "text"), [
    (["--group-by", "nope"], "no column 'nope'"),
    (["--group-by", "site", "--shots", "40"], "have more than 40 rows"),
    (["--group-by", "site", "--method", "maml3"], "unknown --method"),
    (["--group-by", "site", "--hidden", "0"], "--hidden"),
    (["--group-by", "site", "--method", "protonet"], "Prototypical Networks classify"),
])
def test_meta_train_cli_bad_input_is_one_line(tmp_path, capsys, monkeypatch, extra, text) -> None:  # type: ignore[no-untyped-def]
    from tests.test_cli import run_cli

    path = tmp_path / "sites.csv"
    family_frame().to_csv(path, index=False)
    code, _, err = run_cli(["meta-train", str(path), "--target", "y", "--iterations", "2",
                            "--meta-db", str(tmp_path / "m.sqlite"), *extra], capsys, monkeypatch)
    assert code == 2 and text in err and err.strip().count("\n") == 0, err


def test_meta_train_cli_protonet_on_a_classification_family(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    from autometa.meta.db import MetaDB
    from tests.test_cli import run_cli

    frame = family_frame()
    frame["y"] = (frame["y"] > 0).map({True: "up", False: "down"})
    path = tmp_path / "sites.csv"
    frame.to_csv(path, index=False)
    code, out, err = run_cli(["meta-train", str(path), "--group-by", "site", "--target", "y", "--method", "protonet",
                              "--iterations", "40", "--hidden", "16,8", "--meta-db", str(tmp_path / "m.sqlite"),
                              "--json"], capsys, monkeypatch)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["held_out_metric"] == "accuracy" and 0.0 <= summary["held_out_meta"] <= 1.0
    row = MetaDB(tmp_path / "m.sqlite").get_initialization("sites-site-protonet")
    assert row.architecture["out_features"] == 8 and row.architecture["hidden"] == [16]
    assert row.validation_curve[0]["metric"] == "query accuracy"


def test_fit_init_starts_the_mlp_from_a_meta_learned_initialization(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    import numpy as np

    from autometa.tracking import load_model
    from tests.test_cli import run_cli

    family = family_frame(n_groups=12)
    family.to_csv(tmp_path / "sites.csv", index=False)
    db = str(tmp_path / "meta.sqlite")
    code, _, err = run_cli(["meta-train", str(tmp_path / "sites.csv"), "--group-by", "site", "--target", "y",
                            "--iterations", "30", "--hidden", "16", "--meta-db", db, "--name", "sites"],
                           capsys, monkeypatch)
    assert code == 0, err
    new = family_frame(n_groups=1, rows=40, seed=9).drop(columns=["site"])  # a new site, same columns
    new.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "out"
    code, _, err = run_cli(["fit", str(tmp_path / "new.csv"), "--target", "y", "--learners", "mlp", "--init", "sites",
                            "--meta-db", db, "--trials", "2", "--no-tracking", "--no-record", "--no-meta",
                            "--no-ensemble", "--cv", "3", "--output", str(out), "--quiet"], capsys, monkeypatch)
    assert code == 0, err
    model = load_model(out / "model")
    assert len(model.members) == 3  # the three fold models of the best trial, bagged
    for fold in model.members:
        assert type(fold.named_steps["prep"]).__name__ == "FrozenEstimator"  # the family's encoding
        mlp = fold.named_steps["model"]
        assert [w.shape for w in mlp.coefs_] == [(16, 4), (1, 16)]  # the initialization's architecture
    assert len(model.predict(new.drop(columns=["y"]))) == 40
    # a table with other columns is refused before anything is written
    new.assign(extra=np.arange(40) % 7 * 0.5).to_csv(tmp_path / "other.csv", index=False)
    code, _, err = run_cli(["fit", str(tmp_path / "other.csv"), "--target", "y", "--learners", "mlp", "--init",
                            "sites", "--meta-db", db, "--no-tracking", "--output", str(tmp_path / "o2")],
                           capsys, monkeypatch)
    assert code == 2 and "learned on other columns" in err and "extra ['extra']" in err
    assert not (tmp_path / "o2").exists()
    # without --init, a table with the family's columns gets its initialization proposed
    code, stdout, err = run_cli(["fit", str(tmp_path / "new.csv"), "--target", "y", "--learners", "mlp,linear",
                                 "--meta-db", db, "--trials", "2", "--no-tracking", "--no-record", "--no-ensemble",
                                 "--cv", "3", "--output", str(tmp_path / "o4"), "--json"], capsys, monkeypatch)
    assert code == 0, err
    assert json.loads(stdout)["mlp_init"] == "sites"
    code, _, err = run_cli(["fit", str(tmp_path / "new.csv"), "--target", "y", "--learners", "linear", "--init",
                            "sites", "--meta-db", db, "--no-tracking", "--output", str(tmp_path / "o3")],
                           capsys, monkeypatch)
    assert code == 2 and "add mlp to --learners" in err and not (tmp_path / "o3").exists()


def test_meta_train_cli_takes_several_files_as_tasks(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    from tests.test_cli import run_cli

    frame = family_frame(n_groups=5)
    files = []
    for site, part in frame.groupby("site"):
        files.append(str(tmp_path / f"{site}.csv"))
        part.drop(columns=["site"]).to_csv(files[-1], index=False)
    db = str(tmp_path / "m.sqlite")
    code, out, err = run_cli(["meta-train", *files, "--target", "y", "--iterations", "5", "--hidden", "8",
                              "--meta-db", db, "--json"], capsys, monkeypatch)
    assert code == 0, err
    assert json.loads(out)["tasks"] == 5
    code, _, err = run_cli(["meta-train", files[0], "--target", "y", "--meta-db", db], capsys, monkeypatch)
    assert code == 2 and "--group-by" in err
    family_frame(n_groups=1).to_csv(tmp_path / "odd.csv", index=False)  # it keeps its site column
    code, _, err = run_cli(["meta-train", *files[:3], str(tmp_path / "odd.csv"), "--target", "y", "--meta-db", db],
                           capsys, monkeypatch)
    assert code == 2 and "other columns" in err
