"""Meta-learned initializations: MAML, first-order MAML, Reptile and Meta-SGD, written with
``torch.func``.

A network is a plain ``nn.Module`` used as a template: its weights live in a parameter dict
that ``functional_call`` runs it with, so adapting to a task never mutates anything, and
``vmap`` runs the inner loops of all the tasks in a meta-batch at once.

- **MAML** (Finn et al. 2017): the initialization minimizes the query loss after a few SGD
  steps on each task's support set; the meta-gradient goes through the inner steps
  (second order).
- **First-order MAML**: the same, with the inner gradients treated as constants (the
  meta-gradient is the query-loss gradient at the adapted weights).
- **Reptile** (Nichol et al. 2018): adapt with a few SGD steps on the task's data and move the
  initialization towards the adapted weights; the difference is the outer optimizer's gradient.
- **Meta-SGD** (Li et al. 2017): MAML that also learns one inner learning rate per weight.

Example:
    >>> import torch
    >>> spec = MLPSpec(1, (40, 40), 1)
    >>> init = meta_train(sinusoid_sampler(shots=5), spec, method="fomaml", iterations=3, meta_batch=4)
    >>> adapted = adapt(init, torch.zeros(5, 1), torch.zeros(5), steps=2)
    >>> predict(init.spec, adapted, torch.zeros(3, 1)).shape
    torch.Size([3, 1])
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from autometa.errors import OptionError, message

__all__ = ["METHODS", "ConvSpec", "MLPSpec", "MetaInit", "NetSpec", "TaskBatch", "adapt", "copy_to", "evaluate",
           "from_safetensors", "meta_train", "predict", "resolve_device", "sinusoid_sampler", "template",
           "to_safetensors"]

Method = Literal["maml", "fomaml", "reptile", "metasgd"]
METHODS: tuple[str, ...] = ("maml", "fomaml", "reptile", "metasgd")
Params = dict[str, Tensor]


class NetSpec:
    """What meta-training needs of a network: its template module, seeded fresh weights, and the
    loss (``"mse"`` for regression, ``"cross_entropy"`` for classification). The subclasses are
    frozen dataclasses, hashable, so that ``template`` builds each network once."""

    loss: Literal["mse", "cross_entropy"]

    def module(self) -> nn.Module:
        raise NotImplementedError

    def init_params(self, seed: int = 0) -> Params:
        """Freshly initialized weights (PyTorch's default initialization), seeded."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return {k: v.detach().clone() for k, v in self.module().named_parameters()}

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class MLPSpec(NetSpec):
    """A multilayer perceptron: input width, hidden widths (ReLU), output width, and the loss."""

    in_features: int
    hidden: tuple[int, ...]
    out_features: int
    loss: Literal["mse", "cross_entropy"] = "mse"

    def module(self) -> nn.Module:
        """The template network (its own weights are never used by ``predict``)."""
        layers: list[nn.Module] = []
        width = self.in_features
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, self.out_features))
        return nn.Sequential(*layers)

    def to_dict(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "hidden": list(self.hidden),
                "out_features": self.out_features, "loss": self.loss}


@dataclass(frozen=True)
class ConvSpec(NetSpec):
    """Finn et al. 2017's few-shot image network: ``blocks`` of 3x3 convolution (``channels``
    filters), batch normalization, ReLU and 2x2 max-pooling, then a linear layer to ``ways``
    classes. Batch normalization uses the statistics of the batch it sees (no running averages),
    as in the paper, which is also what lets ``vmap`` run it per task."""

    in_channels: int
    size: int  # images are size x size
    ways: int
    channels: int = 64
    blocks: int = 4
    loss: Literal["mse", "cross_entropy"] = "cross_entropy"

    def module(self) -> nn.Module:
        layers: list[nn.Module] = []
        width, side = self.in_channels, self.size
        for _ in range(self.blocks):
            layers += [nn.Conv2d(width, self.channels, 3, padding=1),
                       nn.BatchNorm2d(self.channels, track_running_stats=False), nn.ReLU(), nn.MaxPool2d(2)]
            width, side = self.channels, side // 2
        layers += [nn.Flatten(), nn.Linear(self.channels * max(side, 1) ** 2, self.ways)]
        return nn.Sequential(*layers)

    def to_dict(self) -> dict[str, Any]:
        return {"in_channels": self.in_channels, "size": self.size, "ways": self.ways, "channels": self.channels,
                "blocks": self.blocks, "loss": self.loss}


@dataclass(frozen=True)
class TaskBatch:
    """A meta-batch: support and query sets of ``T`` tasks (leading dimension ``T``)."""

    x_support: Tensor  # (T, K, in_features), or (T, K, channels, height, width) for a ConvSpec
    y_support: Tensor  # (T, K) float targets, or class indices
    x_query: Tensor
    y_query: Tensor

    def __len__(self) -> int:
        return int(self.x_support.shape[0])

    def to(self, device: torch.device | str) -> TaskBatch:
        """The same tasks on ``device`` (itself when they are there already)."""
        if self.x_support.device == torch.device(device):
            return self
        return TaskBatch(*(t.to(device, non_blocking=True) for t in
                           (self.x_support, self.y_support, self.x_query, self.y_query)))


Sampler = Callable[[torch.Generator, int], TaskBatch]


@dataclass(frozen=True)
class MetaInit:
    """A meta-learned initialization: the weights, how to adapt them, and how it was learned."""

    spec: NetSpec
    method: str
    params: Params
    inner_lr: float
    inner_steps: int
    lrs: Params | None = None  # Meta-SGD's learned per-weight inner learning rates
    curve: tuple[tuple[int, float], ...] = ()  # (iteration, mean query loss after adaptation)
    validation_curve: tuple[tuple[int, float], ...] = ()  # the same on held-out tasks, when given
    settings: dict[str, Any] = field(default_factory=dict)


def predict(spec: NetSpec, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
    """The network's output for ``x`` with the weights ``params``."""
    return functional_call(template(spec), dict(params), (x,))


_MODULES: dict[NetSpec, nn.Module] = {}


def template(spec: NetSpec) -> nn.Module:
    """The network's module on the ``meta`` device: shapes only, ``functional_call`` supplies the weights."""
    if spec not in _MODULES:
        _MODULES[spec] = spec.module().to("meta")  # shapes only: functional_call supplies the weights
    return _MODULES[spec]


def _loss_fn(spec: NetSpec) -> Callable[[Params, Tensor, Tensor], Tensor]:
    module = template(spec)

    def loss(params: Params, x: Tensor, y: Tensor) -> Tensor:
        out = functional_call(module, params, (x,))
        if spec.loss == "mse":
            return ((out.squeeze(-1) - y) ** 2).mean()
        return nn.functional.cross_entropy(out, y)

    return loss


def _inner(loss: Callable[[Params, Tensor, Tensor], Tensor], params: Params, lrs: Mapping[str, Tensor | float],
           x: Tensor, y: Tensor, steps: int, first_order: bool) -> Params:
    """``steps`` SGD steps on one task, differentiable through the steps unless ``first_order``."""
    step = grad(loss)
    for _ in range(steps):
        g = step(params, x, y)
        if first_order:
            g = {k: v.detach() for k, v in g.items()}
        params = {k: params[k] - lrs[k] * g[k] for k in params}
    return params


def adapt(init: MetaInit, x: Tensor, y: Tensor, steps: int | None = None, lr: float | None = None) -> Params:
    """Adapt the initialization to one task's examples with SGD (Meta-SGD: its learned rates).

    Args:
        init: The initialization.
        x, y: The task's examples (``(K, in_features)`` and ``(K,)``).
        steps: SGD steps (default: the number it was meta-trained with).
        lr: Inner learning rate (default: the meta-training one; ignored for Meta-SGD).

    Returns:
        The adapted weights.
    """
    loss = _loss_fn(init.spec)
    adapted = _inner(loss, init.params, _rates(init, lr), x, y, init.inner_steps if steps is None else steps, True)
    return {k: v.detach() for k, v in adapted.items()}


def _rates(init: MetaInit, lr: float | None) -> Mapping[str, Tensor | float]:
    """The inner learning rates to adapt with: Meta-SGD's learned ones, else ``lr`` (default: the
    meta-training rate) for every weight."""
    if init.lrs is not None:
        return init.lrs
    return dict.fromkeys(init.params, lr if lr is not None else init.inner_lr)


def _check(method: str, iterations: int, meta_batch: int, inner_steps: int, inner_lr: float, outer_lr: float) -> None:
    if method not in METHODS:
        raise OptionError(message(f"unknown meta-training method '{method}'", f"use one of: {', '.join(METHODS)}"))
    for name, value in (("iterations", iterations), ("meta_batch", meta_batch), ("inner_steps", inner_steps)):
        if not isinstance(value, int) or value < 1:
            raise OptionError(message(f"{name} must be a whole number >= 1; got {value!r}", f"pass a positive {name}"))
    for name, rate in (("inner_lr", inner_lr), ("outer_lr", outer_lr)):
        if not (isinstance(rate, float | int) and math.isfinite(rate) and rate > 0):
            raise OptionError(message(f"{name} must be a number > 0; got {rate!r}", f"pass for example {name}=0.01"))


def meta_gradient(method: str, spec: NetSpec, params: Params, lrs: Params | None, batch: TaskBatch,
                  inner_steps: int, inner_lr: float) -> tuple[Params, Params | None]:
    """One meta-batch's gradient for the initialization (and Meta-SGD's rates); ``vmap`` runs all
    the tasks' inner loops at once.

    The per-task gradients are taken inside ``vmap`` and averaged (``vmap(grad(...))``), rather
    than the gradient of the vmapped mean (``grad(vmap(...))``): the two are as fast, and with
    batch normalization in the network (``ConvSpec``) the second form gave second-order gradients
    off by up to 50% in torch 2.13, which the tests check against an explicit autograd loop."""
    loss = _loss_fn(spec)
    tasks = (batch.x_support, batch.y_support, batch.x_query, batch.y_query)
    if method in ("maml", "fomaml"):
        first_order = method == "fomaml"
        rates = dict.fromkeys(params, inner_lr)

        def query_loss(p: Params, xs: Tensor, ys: Tensor, xq: Tensor, yq: Tensor) -> Tensor:
            return loss(_inner(loss, p, rates, xs, ys, inner_steps, first_order), xq, yq)

        per_task = vmap(grad(query_loss), in_dims=(None, 0, 0, 0, 0))(params, *tasks)
        return _mean(per_task), None
    if method == "metasgd":
        assert lrs is not None

        def query_loss_sgd(p: Params, a: Params, xs: Tensor, ys: Tensor, xq: Tensor, yq: Tensor) -> Tensor:
            return loss(_inner(loss, p, a, xs, ys, inner_steps, False), xq, yq)

        g, g_lr = vmap(grad(query_loss_sgd, argnums=(0, 1)), in_dims=(None, None, 0, 0, 0, 0))(params, lrs, *tasks)
        return _mean(g), _mean(g_lr)
    # Reptile: adapt on each task's support and query data, step towards the adapted weights
    rates = dict.fromkeys(params, inner_lr)
    x_all = torch.cat([batch.x_support, batch.x_query], dim=1)
    y_all = torch.cat([batch.y_support, batch.y_query], dim=1)
    adapted = vmap(lambda x, y: _inner(loss, params, rates, x, y, inner_steps, True))(x_all, y_all)
    return {k: params[k] - adapted[k].mean(0) for k in params}, None


def resolve_device(device: str | None) -> torch.device:
    """``"auto"`` (or ``None``): CUDA when PyTorch sees a GPU, else the CPU; otherwise the device
    named, checked.

    Raises:
        OptionError: CUDA asked for where there is none, or a name PyTorch does not know.
    """
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise OptionError(message(f"unknown device '{device}'", "use auto, cpu or cuda")) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise OptionError(message("device 'cuda' asked for, but PyTorch sees no GPU here", "use auto or cpu"))
    if resolved.type not in ("cpu", "cuda"):
        raise OptionError(message(f"unsupported device '{device}'", "use auto, cpu or cuda"))
    return resolved


def _mean(per_task: Params) -> Params:
    """The mean over the tasks (leading dimension) of per-task gradients."""
    return {k: v.mean(0) for k, v in per_task.items()}


def meta_train(sampler: Sampler, spec: NetSpec, *, method: str = "maml", iterations: int = 1000,
               meta_batch: int = 25, inner_steps: int = 1, inner_lr: float = 0.01, outer_lr: float = 1e-3,
               seed: int = 0, log_every: int = 0, on_log: Callable[[int, float], None] | None = None,
               init: Params | None = None, validation: TaskBatch | None = None,
               device: str | None = "cpu") -> MetaInit:
    """Meta-train an initialization over the tasks ``sampler`` draws.

    Args:
        sampler: ``sampler(generator, T)`` returns a ``TaskBatch`` of ``T`` tasks.
        spec: The network.
        method: ``maml``, ``fomaml``, ``reptile`` or ``metasgd``.
        iterations: Outer steps (meta-batches).
        meta_batch: Tasks per outer step.
        inner_steps: SGD steps of the inner loop.
        inner_lr: Inner learning rate (Meta-SGD: the rates' starting value; Reptile: its SGD rate).
        outer_lr: Adam's learning rate for the outer loop.
        seed: Seeds the weights and the task draws.
        log_every: Record the meta-batch's mean query loss after ``inner_steps`` steps on its
            support sets every this many iterations (0: 10 points over the run).
        on_log: Called with ``(iteration, loss)`` at each record (progress display).
        init: Starting weights (default: a seeded fresh initialization).
        validation: Held-out tasks; at each record, their mean query loss after ``inner_steps``
            steps goes to ``validation_curve`` (and to ``on_log`` instead of the training loss).
        device: Where to train: ``"cpu"``, ``"cuda"``, or ``"auto"`` (CUDA when there is a GPU).
            The sampler draws on the CPU (the same tasks for a seed on either device); each
            meta-batch is then moved to the device. The result's weights are on the CPU.

    Returns:
        The learned ``MetaInit`` with its training curve.

    Raises:
        OptionError: An unknown method or device, or a non-positive setting.
    """
    _check(method, iterations, meta_batch, inner_steps, inner_lr, outer_lr)
    where = resolve_device(device)
    gen = torch.Generator().manual_seed(seed)
    params = copy_to(init or spec.init_params(seed), where)
    validation = validation.to(where) if validation is not None else None
    lrs = {k: torch.full_like(v, inner_lr) for k, v in params.items()} if method == "metasgd" else None
    leaves = list(params.values()) + (list(lrs.values()) if lrs else [])
    opt = torch.optim.Adam(leaves, lr=outer_lr)
    every = log_every or max(1, iterations // 10)
    curve: list[tuple[int, float]] = []
    held_out: list[tuple[int, float]] = []
    started = time.perf_counter()
    for it in range(1, iterations + 1):
        batch = sampler(gen, meta_batch).to(where)
        g, g_lr = meta_gradient(method, spec, params, lrs, batch, inner_steps, inner_lr)
        for k, p in params.items():
            p.grad = g[k]
        if lrs is not None and g_lr is not None:
            for k, a in lrs.items():
                a.grad = g_lr[k]
        opt.step()
        if it % every == 0 or it == iterations:
            now = MetaInit(spec, method, params, inner_lr, inner_steps, lrs)
            value = float(evaluate(now, batch, (inner_steps,))[inner_steps].mean())
            curve.append((it, value))
            if validation is not None:
                value = float(evaluate(now, validation, (inner_steps,))[inner_steps].mean())
                held_out.append((it, value))
            if on_log is not None:
                on_log(it, value)
    return MetaInit(spec=spec, method=method, params=copy_to(params, "cpu"), inner_lr=inner_lr,
                    inner_steps=inner_steps, lrs=copy_to(lrs, "cpu") if lrs else None, curve=tuple(curve),
                    validation_curve=tuple(held_out),
                    settings={"iterations": iterations, "meta_batch": meta_batch, "outer_lr": outer_lr,
                              "seed": seed, "device": where.type,
                              "seconds": round(time.perf_counter() - started, 2)})


def copy_to(params: Mapping[str, Tensor], device: torch.device | str) -> Params:
    """Detached copies of the weights on ``device``: the trained leaves at the start, and on the
    CPU what is returned and stored, wherever training ran."""
    return {k: v.detach().to(device, copy=True) for k, v in params.items()}


def evaluate(init: MetaInit, batch: TaskBatch, steps: tuple[int, ...] = (1, 10), lr: float | None = None,
             metric: Literal["loss", "accuracy"] = "loss") -> dict[int, Tensor]:
    """Per-task query loss (or accuracy, for classification) after each number of adaptation
    ``steps`` on the support set."""
    loss = _loss_fn(init.spec)
    module = template(init.spec)

    def score(p: Params, xq: Tensor, yq: Tensor) -> Tensor:
        if metric == "loss":
            return loss(p, xq, yq)
        return (functional_call(module, p, (xq,)).argmax(-1) == yq).float().mean()

    rates = _rates(init, lr)
    out: dict[int, Tensor] = {}
    for n in steps:
        per_task = vmap(lambda xs, ys, xq, yq, n=n: score(_inner(loss, init.params, rates, xs, ys, n, True), xq, yq))
        out[n] = per_task(batch.x_support, batch.y_support, batch.x_query, batch.y_query).detach()
    return out


def sinusoid_sampler(shots: int, queries: int | None = None) -> Sampler:
    """Finn et al. 2017's sinusoid tasks: ``y = A sin(x - phase)``, ``A ~ U[0.1, 5]``,
    ``phase ~ U[0, pi]``, ``x ~ U[-5, 5]``; ``shots`` support and ``queries`` (default ``shots``)
    query points per task."""
    q = shots if queries is None else queries

    def sample(gen: torch.Generator, n_tasks: int) -> TaskBatch:
        amp = torch.empty(n_tasks, 1).uniform_(0.1, 5.0, generator=gen)
        phase = torch.empty(n_tasks, 1).uniform_(0.0, math.pi, generator=gen)
        x = torch.empty(n_tasks, shots + q, 1).uniform_(-5.0, 5.0, generator=gen)
        y = amp * torch.sin(x.squeeze(-1) - phase)
        return TaskBatch(x[:, :shots], y[:, :shots], x[:, shots:], y[:, shots:])

    return sample


_LR_PREFIX = "inner_lr."  # Meta-SGD's per-weight rates sit beside the weights under this prefix


def to_safetensors(init: MetaInit) -> bytes:
    """The weights (and Meta-SGD's rates) as safetensors bytes: tensors only, never pickle."""
    from safetensors.torch import save

    tensors = {k: v.contiguous() for k, v in init.params.items()}
    if init.lrs is not None:
        tensors.update({_LR_PREFIX + k: v.contiguous() for k, v in init.lrs.items()})
    return save(tensors, metadata={"method": init.method, "inner_lr": repr(init.inner_lr),
                                   "inner_steps": str(init.inner_steps)})


def from_safetensors(data: bytes, spec: NetSpec, method: str, curve: tuple[tuple[int, float], ...] = (),
                     settings: dict[str, Any] | None = None) -> MetaInit:
    """An initialization back from ``to_safetensors`` bytes, checked against ``spec``.

    Raises:
        DataError: The weights do not fit the architecture.
    """
    import json

    from safetensors.torch import load

    from autometa.errors import DataError

    tensors = load(data)
    size = int.from_bytes(data[:8], "little")  # the format: an 8-byte header length, then a JSON header
    header = json.loads(data[8:8 + size]).get("__metadata__", {})
    params = {k: v for k, v in tensors.items() if not k.startswith(_LR_PREFIX)}
    lrs = {k[len(_LR_PREFIX):]: v for k, v in tensors.items() if k.startswith(_LR_PREFIX)} or None
    expected = {k: tuple(v.shape) for k, v in spec.init_params().items()}
    if {k: tuple(v.shape) for k, v in params.items()} != expected:
        raise DataError(message("the stored weights do not fit the stored architecture",
                                "meta-train the initialization again"))
    return MetaInit(spec=spec, method=method, params=params, inner_lr=float(header.get("inner_lr", "0.01")),
                    inner_steps=int(header.get("inner_steps", "1")), lrs=lrs, curve=curve, settings=settings or {})
