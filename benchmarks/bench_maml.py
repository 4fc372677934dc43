"""Meta-learned initializations: sinusoid regression accuracy and meta-training speed, autometa's
torch.func implementation side by side with the public implementations that install here
(higher 0.2.1 and TorchOpt 0.7.3; learn2learn does not build for Python 3.11).

--part sinusoid
    Finn et al. 2017's protocol: amplitude U[0.1, 5], phase U[0, pi], x U[-5, 5], an MLP
    1-40-40-1 (ReLU), K = 5 and 10 shots, meta-batch 25, one inner SGD step of 0.01 during
    meta-training, Adam 1e-3 outside. Each method is meta-trained for ``--iterations`` outer steps
    (the paper: 70,000) and then adapted on the K support points of the same 600 new tasks, with
    plain SGD at 0.01 (Meta-SGD: its learned per-weight rates) for 1 and 10 steps; the mean squared
    error is measured on 100 query points per task, with a 95% confidence interval over the tasks.
    Methods: random initialization; pretraining on all tasks (one network regressing every task's
    points, the paper's baseline); autometa's MAML, first-order MAML, Reptile (5 inner steps on
    the task's support and query points, outer Adam on the difference) and Meta-SGD; and MAML
    written with higher and with TorchOpt, with the same network, data and settings. One row per
    (K, method) is appended to ``results/maml_sinusoid.csv`` as soon as it is done; a rerun skips
    the rows already there.
--part speed
    Second-order MAML on the same MLP (K = 10): meta-training tasks per second and peak memory
    (resident set growth of a fresh process) at meta-batch 25, 100 and 400 with 1 and 5 inner steps,
    autometa (vmap over the tasks) against higher and TorchOpt (a Python loop over the tasks, as
    their MAML examples do), one thread, each configuration in its own process.
    ``--device cuda`` runs the same on the GPU (one process per implementation, timed between
    CUDA synchronizations; peak memory is the GPU's peak allocation), and ``--model conv``
    replaces the MLP by Finn et al.'s 4-block convolutional network on Omniglot-shaped synthetic
    batches (5-way 1-shot, 15 queries per class, 1x28x28 images, meta-batch 32).

Usage::

    python benchmarks/bench_maml.py --part sinusoid [--iterations 70000] [--shots 5,10]
    python benchmarks/bench_maml.py --part speed [--seconds 5] [--device cuda] [--model conv]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
from bench_cold import append_row  # noqa: E402

from autometa.meta.maml import (  # noqa: E402
    ConvSpec,
    MetaInit,
    MLPSpec,
    NetSpec,
    TaskBatch,
    evaluate,
    meta_gradient,
    meta_train,
    sinusoid_sampler,
)

RESULTS = HERE / "results"
SPEC = MLPSpec(1, (40, 40), 1)
INNER_LR, OUTER_LR, META_BATCH = 0.01, 1e-3, 25
METHODS = ("random", "pretrained", "maml", "fomaml", "reptile", "metasgd", "maml-higher", "maml-torchopt")


# ------------------------------------------------------------------ the peers' MAML, as their examples write it


def peer_loss(spec: NetSpec, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if spec.loss == "mse":
        return ((out.squeeze(-1) - y) ** 2).mean()
    return torch.nn.functional.cross_entropy(out, y)


def higher_step(model: torch.nn.Module, opt: torch.optim.Optimizer, b: TaskBatch, steps: int,
                spec: NetSpec = SPEC) -> None:
    import higher

    inner = torch.optim.SGD(model.parameters(), lr=INNER_LR)
    opt.zero_grad()
    for t in range(len(b)):
        with higher.innerloop_ctx(model, inner, copy_initial_weights=False) as (fmodel, diffopt):
            for _ in range(steps):
                diffopt.step(peer_loss(spec, fmodel(b.x_support[t]), b.y_support[t]))
            (peer_loss(spec, fmodel(b.x_query[t]), b.y_query[t]) / len(b)).backward()
    opt.step()


def torchopt_step(model: torch.nn.Module, opt: torch.optim.Optimizer, b: TaskBatch, steps: int,
                  spec: NetSpec = SPEC) -> None:
    import torchopt

    inner = torchopt.MetaSGD(model, lr=INNER_LR)
    opt.zero_grad()
    for t in range(len(b)):
        state = torchopt.extract_state_dict(model)
        for _ in range(steps):
            inner.step(peer_loss(spec, model(b.x_support[t]), b.y_support[t]))
        (peer_loss(spec, model(b.x_query[t]), b.y_query[t]) / len(b)).backward()
        torchopt.recover_state_dict(model, state)
    opt.step()


def peer_train(kind: str, shots: int, iterations: int, seed: int = 0) -> MetaInit:
    torch.manual_seed(seed)
    model = SPEC.module()
    model.load_state_dict(SPEC.init_params(seed))
    opt = torch.optim.Adam(model.parameters(), lr=OUTER_LR)
    gen = torch.Generator().manual_seed(seed)
    sampler = sinusoid_sampler(shots)
    step = higher_step if kind == "maml-higher" else torchopt_step
    for _ in range(iterations):
        step(model, opt, sampler(gen, META_BATCH), 1)
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    return MetaInit(SPEC, kind, params, INNER_LR, 1)


def pretrain(shots: int, iterations: int, seed: int = 0) -> MetaInit:
    """One network fitted to every task's points at once (no adaptation in training)."""
    params = {k: v.clone().requires_grad_(True) for k, v in SPEC.init_params(seed).items()}
    opt = torch.optim.Adam(params.values(), lr=OUTER_LR)
    gen = torch.Generator().manual_seed(seed)
    sampler = sinusoid_sampler(shots)
    module = SPEC.module()
    for _ in range(iterations):
        b = sampler(gen, META_BATCH)
        x = torch.cat([b.x_support, b.x_query], 1).reshape(-1, 1)
        y = torch.cat([b.y_support, b.y_query], 1).reshape(-1)
        loss = ((torch.func.functional_call(module, params, (x,)).squeeze(-1) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return MetaInit(SPEC, "pretrained", {k: v.detach() for k, v in params.items()}, INNER_LR, 1)


def train(method: str, shots: int, iterations: int) -> MetaInit:
    if method == "random":
        return MetaInit(SPEC, "random", SPEC.init_params(0), INNER_LR, 1)
    if method == "pretrained":
        return pretrain(shots, iterations)
    if method.startswith("maml-"):
        return peer_train(method, shots, iterations)
    return meta_train(sinusoid_sampler(shots), SPEC, method=method, iterations=iterations, meta_batch=META_BATCH,
                      inner_steps=5 if method == "reptile" else 1, inner_lr=INNER_LR, outer_lr=OUTER_LR, seed=0)


def sinusoid(args: argparse.Namespace) -> None:
    path = RESULTS / "maml_sinusoid.csv"
    done = set()
    if path.exists():
        with path.open() as f:
            done = {(int(r["shots"]), r["method"], int(r["iterations"])) for r in csv.DictReader(f)}
    fields = ["shots", "method", "iterations", "mse_1", "ci_1", "mse_10", "ci_10", "train_s", "date"]
    methods = [m for m in args.methods.split(",") if m]
    for shots in [int(s) for s in args.shots.split(",")]:
        test = sinusoid_sampler(shots, 100)(torch.Generator().manual_seed(2017), 600)
        for method in methods:
            if (shots, method, args.iterations) in done:
                continue
            t = time.perf_counter()
            init = train(method, shots, args.iterations)
            seconds = time.perf_counter() - t
            # Meta-SGD's learned rates are for one step; the 10-step figure uses them as they are
            errs = evaluate(init, test, (1, 10), lr=INNER_LR)
            row: dict[str, Any] = {"shots": shots, "method": method, "iterations": args.iterations,
                                   "train_s": round(seconds, 1),
                                   "date": datetime.now(UTC).isoformat(timespec="seconds")}
            for n, e in errs.items():
                row[f"mse_{n}"] = round(float(e.mean()), 4)
                row[f"ci_{n}"] = round(1.96 * float(e.std()) / math.sqrt(len(e)), 4)
            append_row(row, path, fields)
            print(f"K={shots} {method:14s} 1 step {row['mse_1']:.3f} ± {row['ci_1']:.3f}   "
                  f"10 steps {row['mse_10']:.3f} ± {row['ci_10']:.3f}   ({seconds:.0f} s)", flush=True)
    report_sinusoid(path)


def report_sinusoid(path: Path) -> None:
    with path.open() as f:
        rows = list(csv.DictReader(f))
    lines = ["| K | method | iterations | MSE after 1 step | MSE after 10 steps | train s |",
             "|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['shots']} | {r['method']} | {r['iterations']} | "
                     f"{float(r['mse_1']):.3f} ± {float(r['ci_1']):.3f} | "
                     f"{float(r['mse_10']):.3f} ± {float(r['ci_10']):.3f} | {r['train_s']} |")
    (RESULTS / "maml_sinusoid.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


# ------------------------------------------------------------------ speed


CONV = ConvSpec(in_channels=1, size=28, ways=5)  # Finn et al.'s Omniglot network: 4 x (conv 64, BN, ReLU, pool)
CONV_META_BATCH = 32


def omniglot_shaped(ways: int = 5, shots: int = 1, queries: int = 15) -> Callable[[torch.Generator, int], TaskBatch]:
    """Synthetic 5-way 1-shot batches of 1x28x28 images: the shapes of Omniglot, random pixels
    (this measures speed, not accuracy)."""

    def sample(gen: torch.Generator, n: int) -> TaskBatch:
        xs = torch.randn(n, ways * shots, 1, 28, 28, generator=gen)
        xq = torch.randn(n, ways * queries, 1, 28, 28, generator=gen)
        ys = torch.arange(ways).repeat(shots).expand(n, -1)
        yq = torch.arange(ways).repeat(queries).expand(n, -1)
        return TaskBatch(xs, ys, xq, yq)

    return sample


def stepper(impl: str, spec: NetSpec, device: str, steps: int) -> Callable[[TaskBatch], None]:
    """One outer step of second-order MAML with ``impl``, on fresh weights and a fresh Adam."""
    if impl == "autometa":
        params = {k: v.to(device) for k, v in spec.init_params(0).items()}
        opt = torch.optim.Adam(list(params.values()), lr=OUTER_LR)

        def step(b: TaskBatch) -> None:
            g, _ = meta_gradient("maml", spec, params, None, b, steps, INNER_LR)
            for k, p in params.items():
                p.grad = g[k]
            opt.step()

        return step
    net = spec.module().to(device)
    peer_opt = torch.optim.Adam(net.parameters(), lr=OUTER_LR)
    peer = higher_step if impl == "higher" else torchopt_step
    return lambda b: peer(net, peer_opt, b, steps, spec)


def speed_many(impl: str, configs: list[tuple[int, int]], seconds: float, device: str = "cpu",
               model: str = "mlp") -> list[dict[str, Any]]:
    """Tasks per second and peak memory of second-order MAML for each (meta-batch, inner steps):
    the CPU's resident-set growth (one configuration per fresh process), or the GPU's peak
    allocation (reset between configurations)."""
    torch.set_num_threads(1)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    spec = CONV if model == "conv" else SPEC
    sampler = omniglot_shaped() if model == "conv" else sinusoid_sampler(10)
    cuda = device == "cuda"
    rows = []
    for meta_batch, steps in configs:
        gen = torch.Generator().manual_seed(0)
        batches = [sampler(gen, meta_batch).to(device) for _ in range(4)]
        step = stepper(impl, spec, device, steps)
        step(batches[0])  # warm-up
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds or n < 2:
            step(batches[n % len(batches)])
            n += 1
            if cuda and n % 8 == 0:
                torch.cuda.synchronize()  # the clock reads finished work, not queued launches
        if cuda:
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - t0
        peak = (torch.cuda.max_memory_allocated() / 2**20 if cuda
                else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
        rows.append({"impl": impl, "device": device, "model": model, "meta_batch": meta_batch, "steps": steps,
                     "tasks_per_s": round(n * meta_batch / elapsed, 1),
                     "ms_per_iteration": round(1000 * elapsed / n, 2), "peak_mb": round(peak, 1)})
        del batches, step
    return rows


def speed(args: argparse.Namespace) -> None:
    sizes = [int(m) for m in args.meta_batches.split(",")] if args.meta_batches else (
        [CONV_META_BATCH] if args.model == "conv" else [25, 100, 400])
    configs = [(m, s) for m in sizes for s in (int(x) for x in args.steps.split(","))]
    impls = ("autometa", "higher", "torchopt")
    # the CPU: each configuration in a fresh process (its resident set); the GPU: one process per
    # implementation (CUDA's start-up is paid once; the peak allocation is reset per configuration)
    jobs = ([(impl, [c]) for c in configs for impl in impls] if args.device == "cpu"
            else [(impl, configs) for impl in impls])
    rows = []
    for impl, chunk in jobs:
        code = (f"import json,sys; sys.path.insert(0, {str(HERE)!r}); import bench_maml as b; "
                f"print(json.dumps(b.speed_many({impl!r}, {chunk!r}, {args.seconds}, {args.device!r}, "
                f"{args.model!r})))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
        for row in json.loads(out.stdout.strip().splitlines()[-1]):
            rows.append(row)
            print(row, flush=True)
    where = "GPU" if args.device == "cuda" else "CPU"
    lines = [f"| meta-batch | inner steps | autometa tasks/s | higher tasks/s | TorchOpt tasks/s | vs higher | "
             f"vs TorchOpt | peak MB ({where}) autometa / higher / TorchOpt |",
             "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for meta_batch, steps in configs:
        r = {x["impl"]: x for x in rows if x["meta_batch"] == meta_batch and x["steps"] == steps}
        a, h, o = (r[k]["tasks_per_s"] for k in impls)
        mem = " / ".join(str(r[k]["peak_mb"]) for k in impls)
        lines.append(f"| {meta_batch} | {steps} | {a} | {h} | {o} | {a / h:.1f}x | {a / o:.1f}x | {mem} |")
    suffix = "" if (args.device, args.model) == ("cpu", "mlp") else f"_{args.device}_{args.model}"
    meta: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
                            "torch": torch.__version__, "rows": rows}
    if args.device == "cuda":
        meta["gpu"] = torch.cuda.get_device_name(0)
    out_dir = Path(args.out) if args.out else RESULTS
    (out_dir / f"maml_speed{suffix}.json").write_text(json.dumps(meta, indent=2) + "\n")
    (out_dir / f"maml_speed{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=["sinusoid", "speed"], required=True)
    ap.add_argument("--iterations", type=int, default=70_000)
    ap.add_argument("--shots", default="5,10")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seconds", type=float, default=5.0, help="timing window per speed configuration")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where --part speed runs")
    ap.add_argument("--model", choices=["mlp", "conv"], default="mlp",
                    help="--part speed: the sinusoid MLP, or the 4-block conv net on Omniglot-shaped batches")
    ap.add_argument("--meta-batches", default="", help="--part speed: meta-batch sizes (default: 25,100,400; conv: 32)")
    ap.add_argument("--steps", default="1,5", help="--part speed: inner steps")
    ap.add_argument("--out", default="", help="folder for --part speed's results (default: benchmarks/results)")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: PyTorch sees no GPU here")
    torch.set_num_threads(1)
    RESULTS.mkdir(exist_ok=True)
    sinusoid(args) if args.part == "sinusoid" else speed(args)


if __name__ == "__main__":
    main()
