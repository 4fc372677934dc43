"""Few-shot classification on scikit-learn's digits (shipped with scikit-learn; no download), with
disjoint training and test classes.

Digits 0-4 are the training digits and 5-9 the test digits. Five training classes are too few for
an embedding or an initialization to generalize (a first run showed it: Prototypical Networks
reached 1.0 on the training digits and 0.36 on the test digits, below nearest-prototype on raw
pixels, 0.73), so, as is done with Omniglot's rotations, each training digit under each of the 8
symmetries of the square (rotations and flips of the 8x8 image) is its own class: 40 training
classes. The test classes are digits 5-9 as they are. An episode is 5-way: its 5 classes in
a random order labelled 0-4, K support images per class (K = 1 or 5) and 15 query images per class;
an image is the 64 pixel values scaled to [0, 1]. Every method is trained on training-class episodes
only and scored on the same 600 test-class episodes: mean query accuracy with a 95% confidence
interval (1.96 standard errors over the episodes).

- ``protonet``: Prototypical Networks, an MLP embedding 64-128-128-64.
- ``maml``: second-order MAML, an MLP classifier 64-128-128-5, one inner step of 0.4 in training,
  and 1 or 10 steps at test time.
- ``reptile``: Reptile, the same network, 5 inner steps of 0.1 on the episode's images.
- ``scratch``: the same network from a random initialization, 10 SGD steps of 0.4 on the support set.
- ``nearest prototype, raw pixels``: Prototypical Networks' rule with no learned embedding.

All use Adam 1e-3 outside, meta-batch 16 and ``--iterations`` steps, one thread. Writes
``results/fewshot.csv`` / ``fewshot.md`` and prints the table.

Usage::

    python benchmarks/bench_fewshot.py [--iterations 3000] [--episodes 600]
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import torch  # noqa: E402

from autometa.meta.maml import MetaInit, MLPSpec, TaskBatch, evaluate, meta_train  # noqa: E402
from autometa.meta.protonet import accuracy, train_protonet  # noqa: E402

RESULTS = HERE / "results"
WAYS, QUERIES = 5, 15


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return torch.tensor(d.data / 16.0, dtype=torch.float32), torch.tensor(d.target, dtype=torch.int64)


def symmetries(X: torch.Tensor, y: torch.Tensor, digits: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Each digit under each of the 8 symmetries of the square as its own class (labels d * 8 + s)."""
    images = X.reshape(-1, 8, 8)
    xs, ys = [], []
    for s in range(8):
        moved = torch.rot90(images, s % 4, dims=(1, 2))
        if s >= 4:
            moved = moved.transpose(1, 2)
        keep = torch.isin(y, torch.tensor(digits))
        xs.append(moved[keep].reshape(-1, 64))
        ys.append(y[keep] * 8 + s)
    return torch.cat(xs), torch.cat(ys)


def episodes(X: torch.Tensor, y: torch.Tensor, classes: list[int], shots: int):  # type: ignore[no-untyped-def]
    by_class = {c: torch.nonzero(y == c).squeeze(1) for c in classes}

    def sample(gen: torch.Generator, n: int) -> TaskBatch:
        xs, ys, xq, yq = [], [], [], []
        for _ in range(n):
            chosen = [classes[i] for i in torch.randperm(len(classes), generator=gen)[:WAYS].tolist()]
            s_x, s_y, q_x, q_y = [], [], [], []
            for label, c in enumerate(chosen):
                rows = by_class[c][torch.randperm(len(by_class[c]), generator=gen)[: shots + QUERIES]]
                s_x.append(X[rows[:shots]])
                q_x.append(X[rows[shots:]])
                s_y += [label] * shots
                q_y += [label] * QUERIES
            xs.append(torch.cat(s_x))
            xq.append(torch.cat(q_x))
            ys.append(torch.tensor(s_y))
            yq.append(torch.tensor(q_y))
        return TaskBatch(torch.stack(xs), torch.stack(ys), torch.stack(xq), torch.stack(yq))

    return sample


def query_accuracy(init: MetaInit, batch: TaskBatch, steps: int, lr: float) -> torch.Tensor:
    """Per-episode query accuracy after ``steps`` SGD steps of ``lr`` on the support set."""
    return evaluate(init, batch, (steps,), lr=lr, metric="accuracy")[steps]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--episodes", type=int, default=600)
    args = ap.parse_args()
    torch.set_num_threads(1)
    RESULTS.mkdir(exist_ok=True)
    X, y = digits()
    rows = []
    for shots in (1, 5):
        Xa, ya = symmetries(X, y, [0, 1, 2, 3, 4])
        train = episodes(Xa, ya, sorted(set(ya.tolist())), shots)
        test = episodes(X, y, [5, 6, 7, 8, 9], shots)(torch.Generator().manual_seed(2017), args.episodes)
        head = MLPSpec(64, (128, 128), WAYS, "cross_entropy")
        results: dict[str, tuple[torch.Tensor, float]] = {}
        t = time.perf_counter()
        net = train_protonet(train, MLPSpec(64, (128, 128), 64), ways=WAYS, iterations=args.iterations, meta_batch=16)
        results["protonet"] = (accuracy(net, test, WAYS), time.perf_counter() - t)
        t = time.perf_counter()
        maml = meta_train(train, head, method="maml", iterations=args.iterations, meta_batch=16, inner_steps=1,
                          inner_lr=0.4, outer_lr=1e-3)
        seconds = time.perf_counter() - t
        results["maml (1 step)"] = (query_accuracy(maml, test, 1, 0.4), seconds)
        results["maml (10 steps)"] = (query_accuracy(maml, test, 10, 0.4), seconds)
        t = time.perf_counter()
        reptile = meta_train(train, head, method="reptile", iterations=args.iterations, meta_batch=16,
                             inner_steps=5, inner_lr=0.1, outer_lr=1e-3)
        seconds = time.perf_counter() - t
        results["reptile (10 steps)"] = (query_accuracy(reptile, test, 10, 0.1), seconds)
        scratch = MetaInit(head, "random", head.init_params(0), 0.4, 10)
        results["scratch (10 steps)"] = (query_accuracy(scratch, test, 10, 0.4), 0.0)
        pixels = MetaInit(MLPSpec(64, (), 64), "pixels", {"0.weight": torch.eye(64), "0.bias": torch.zeros(64)}, 0, 0)
        results["nearest prototype, raw pixels"] = (accuracy(pixels, test, WAYS), 0.0)
        for name, (acc, seconds) in results.items():
            ci = 1.96 * float(acc.std()) / math.sqrt(len(acc))
            rows.append({"shots": shots, "method": name, "accuracy": round(float(acc.mean()), 4),
                         "ci95": round(ci, 4), "train_s": round(seconds, 1), "iterations": args.iterations,
                         "episodes": args.episodes})
            print(f"{shots}-shot {name:20s} {float(acc.mean()):.3f} ± {ci:.3f} ({seconds:.0f} s)", flush=True)
    with (RESULTS / "fewshot.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = [f"5-way digits, train classes: digits 0-4 under 8 symmetries (40), test classes: digits 5-9; "
             f"{args.episodes} test episodes, "
             f"{args.iterations} training iterations ({datetime.now(UTC).isoformat(timespec='minutes')})", "",
             "| shots | method | accuracy | 95% CI | train s |", "|---:|---|---:|---:|---:|"]
    lines += [f"| {r['shots']} | {r['method']} | {r['accuracy']:.3f} | ± {r['ci95']:.3f} | {r['train_s']} |"
              for r in rows]
    (RESULTS / "fewshot.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
