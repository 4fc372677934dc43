"""Prototypical Networks (Snell et al. 2017): metric-based few-shot classification.

An MLP embeds the examples; each class's prototype is the mean embedding of its support
examples, and a query belongs to the class of the nearest prototype (softmax over negative squared
Euclidean distances). Training is episodic, with ``vmap`` over the episodes of a meta-batch, on the
same ``TaskBatch`` layout as ``autometa.meta.maml``: support labels are ``0..N-1`` within each
episode, so an episode's classes may be any N of the family's. A class with no support example in
an episode (tabular families draw rows, not classes) gets no prototype and ranks last.

Example:
    >>> import torch
    >>> batch = TaskBatch(torch.randn(2, 6, 4), torch.tensor([[0, 0, 1, 1, 2, 2]] * 2),
    ...                   torch.randn(2, 3, 4), torch.tensor([[0, 1, 2]] * 2))
    >>> net = train_protonet(lambda g, t: batch, MLPSpec(4, (8,), 8), ways=3, iterations=2, meta_batch=2)
    >>> accuracy(net, batch, ways=3).shape
    torch.Size([2])
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.func import functional_call, grad, vmap

from autometa.meta.maml import MetaInit, NetSpec, Params, Sampler, TaskBatch, copy_to, resolve_device, template

__all__ = ["accuracy", "episode_logits", "train_protonet"]


def episode_logits(spec: NetSpec, params: Params, xs: Tensor, ys: Tensor, xq: Tensor, ways: int) -> Tensor:
    """Query logits of one episode: minus the squared distance to each class's prototype."""
    module = template(spec)
    support = functional_call(module, params, (xs,))
    query = functional_call(module, params, (xq,))
    onehot = torch.nn.functional.one_hot(ys, ways).to(support.dtype)  # (K*N, N)
    counts = onehot.sum(0)
    prototypes = (onehot.T @ support) / counts.clamp_min(1.0)[:, None]
    logits = -((query[:, None, :] - prototypes[None, :, :]) ** 2).sum(-1)
    # a class with no support example has no prototype: it ranks below every class that has one
    floor = logits.min(-1, keepdim=True).values - 10.0
    return torch.where(counts > 0, logits, floor)


def train_protonet(sampler: Sampler, spec: NetSpec, *, ways: int, iterations: int = 1000, meta_batch: int = 16,
                   lr: float = 1e-3, seed: int = 0, on_log: Callable[[int, float], None] | None = None,
                   validation: TaskBatch | None = None, device: str | None = "cpu") -> MetaInit:
    """Train the embedding episodically; returns it as a ``MetaInit`` (method ``protonet``).

    Args:
        sampler: ``sampler(generator, T)`` returns ``T`` episodes of ``ways`` classes.
        spec: The embedding network (its output width is the embedding size).
        ways: Classes per episode (N).
        iterations: Adam steps, one meta-batch of episodes each.
        meta_batch: Episodes per step.
        lr: Adam's learning rate.
        seed: Seeds the weights and the episodes.
        on_log: Called with ``(iteration, query accuracy)`` ten times over the run (held-out
            episodes when ``validation`` is given, else the current meta-batch).
        validation: Held-out episodes for the validation curve.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``, as in ``meta_train``; the result is on the CPU.
    """
    template(spec)  # built and cached outside vmap: building a module draws random numbers
    where = resolve_device(device)
    gen = torch.Generator().manual_seed(seed)
    params = copy_to(spec.init_params(seed), where)
    validation = validation.to(where) if validation is not None else None
    opt = torch.optim.Adam(list(params.values()), lr=lr)

    def loss(p: Params, xs: Tensor, ys: Tensor, xq: Tensor, yq: Tensor) -> Tensor:
        return torch.nn.functional.cross_entropy(episode_logits(spec, p, xs, ys, xq, ways), yq)

    def meta_loss(p: Params, b: TaskBatch) -> Tensor:
        return vmap(loss, in_dims=(None, 0, 0, 0, 0))(p, b.x_support, b.y_support, b.x_query, b.y_query).mean()

    every = max(1, iterations // 10)
    started = time.perf_counter()
    curve: list[tuple[int, float]] = []
    held_out: list[tuple[int, float]] = []
    for it in range(1, iterations + 1):
        batch = sampler(gen, meta_batch).to(where)
        g = grad(meta_loss)(params, batch)
        for k, v in params.items():
            v.grad = g[k]
        opt.step()
        if it % every == 0 or it == iterations:
            now = MetaInit(spec, "protonet", params, 0.0, 0)
            curve.append((it, float(accuracy(now, batch, ways).mean())))
            value = curve[-1][1]
            if validation is not None:
                value = float(accuracy(now, validation, ways).mean())
                held_out.append((it, value))
            if on_log is not None:
                on_log(it, value)
    settings: dict[str, Any] = {"iterations": iterations, "meta_batch": meta_batch, "lr": lr, "seed": seed,
                                "ways": ways, "device": where.type, "seconds": round(time.perf_counter() - started, 2)}
    return MetaInit(spec=spec, method="protonet", params=copy_to(params, "cpu"),
                    inner_lr=0.0, inner_steps=0, curve=tuple(curve), validation_curve=tuple(held_out),
                    settings=settings)


def accuracy(net: MetaInit, batch: TaskBatch, ways: int) -> Tensor:
    """Per-episode query accuracy of nearest-prototype classification."""
    template(net.spec)  # built outside vmap
    with torch.no_grad():
        logits = vmap(lambda xs, ys, xq: episode_logits(net.spec, net.params, xs, ys, xq, ways))(
            batch.x_support, batch.y_support, batch.x_query)
        return (logits.argmax(-1) == batch.y_query).float().mean(-1)
