"""Prototypical Networks: prototypes are class means, and episodic training beats chance on
classes it never saw."""

from __future__ import annotations

import pytest
import torch

from autometa.meta.maml import MLPSpec, TaskBatch
from autometa.meta.protonet import accuracy, episode_logits, train_protonet


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_logits_are_negative_squared_distances_to_class_means() -> None:
    spec = MLPSpec(2, (), 2)  # a single linear layer: set it to the identity
    params = {"0.weight": torch.eye(2), "0.bias": torch.zeros(2)}
    xs = torch.tensor([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0], [12.0, 10.0]])
    ys = torch.tensor([0, 0, 1, 1])
    xq = torch.tensor([[1.0, 1.0]])
    logits = episode_logits(spec, params, xs, ys, xq, ways=2)
    torch.testing.assert_close(logits, torch.tensor([[-1.0, -(10.0**2 + 9.0**2)]]))


def gaussian_episodes(classes: list[torch.Tensor], shots: int, queries: int = 5, ways: int = 3):  # type: ignore[no-untyped-def]
    """Episodes over class centres in 10 dimensions: classes differ in the first two, and the other
    eight are loud noise that a useful embedding learns to ignore."""
    scale = torch.tensor([0.3, 0.3] + [3.0] * 8)

    def sample(gen: torch.Generator, n: int) -> TaskBatch:
        xs, ys, xq, yq = [], [], [], []
        for _ in range(n):
            chosen = torch.randperm(len(classes), generator=gen)[:ways].tolist()
            s, q = [], []
            for c in chosen:
                pts = classes[c] + scale * torch.randn(shots + queries, 10, generator=gen)
                s.append(pts[:shots])
                q.append(pts[shots:])
            xs.append(torch.cat(s))
            xq.append(torch.cat(q))
            ys.append(torch.arange(ways).repeat_interleave(shots))
            yq.append(torch.arange(ways).repeat_interleave(queries))
        return TaskBatch(torch.stack(xs), torch.stack(ys), torch.stack(xq), torch.stack(yq))

    return sample


def test_episodic_training_classifies_unseen_classes() -> None:
    gen = torch.Generator().manual_seed(0)
    centres = [torch.cat([2 * torch.randn(2, generator=gen), torch.zeros(8)]) for _ in range(16)]
    train, test = gaussian_episodes(centres[:10], shots=5), gaussian_episodes(centres[10:], shots=5)
    held_out = test(torch.Generator().manual_seed(1), 100)
    spec = MLPSpec(10, (32,), 16)
    untrained = float(accuracy(train_protonet(train, spec, ways=3, iterations=1), held_out, ways=3).mean())
    net = train_protonet(train, spec, ways=3, iterations=200, meta_batch=8, lr=3e-3, validation=held_out)
    acc = float(accuracy(net, held_out, ways=3).mean())
    assert acc > untrained + 0.15, (acc, untrained)  # chance is 1/3
    assert len(net.validation_curve) == 10 and net.method == "protonet"
