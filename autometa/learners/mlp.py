"""A PyTorch multilayer perceptron as a scikit-learn estimator, and its ``Learner``.

Training uses CUDA with bf16 autocast when a GPU is there, and the CPU otherwise: the same code
path, only the device and the autocast differ. The fitted estimator keeps its weights as NumPy
arrays and predicts with NumPy, so a saved model loads and predicts without torch (and skops
stores it without trusting torch types).

Epochs are the fidelity: ``fit_stages`` trains to each stage in turn and the search may prune in
between. Early stopping holds out 10% of the rows (when there are at least 50) and restores the
weights of the best epoch after ``patience`` epochs without improvement.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier

from autometa.learners.base import Learner, StageCallback, check_deadline
from autometa.preprocess import Layout

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from autometa.data import Column
    from autometa.spaces import Config

__all__ = ["MLP", "MLPClassifier", "MLPRegressor", "device_name"]

MIN_ROWS_FOR_VALIDATION = 50
# importing torch, which the first network trained in a process pays (CPU build, 2 cores: 1.8-2.5 s)
TORCH_IMPORT_SECONDS = 2.0


def device_name() -> str:
    """``"cuda"`` when PyTorch sees a GPU, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class _TorchMLP(BaseEstimator):
    """Shared training loop; subclasses set the loss and the output."""

    def __init__(self, depth: int = 2, width: int = 128, dropout: float = 0.1, learning_rate: float = 1e-3,
                 weight_decay: float = 1e-4, batch_size: int = 128, epochs: int = 54, patience: int = 10,
                 random_state: int = 0, device: str = "auto", n_jobs: int = 1, lr_schedule: str = "constant",
                 curriculum: str = "none", pace_start: float = 0.3,
                 init_coefs: Sequence[np.ndarray] | None = None,
                 init_intercepts: Sequence[np.ndarray] | None = None) -> None:
        self.depth = depth
        self.width = width
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.random_state = random_state
        self.device = device
        self.n_jobs = n_jobs
        self.lr_schedule = lr_schedule
        self.curriculum = curriculum
        self.pace_start = pace_start
        self.init_coefs = init_coefs
        self.init_intercepts = init_intercepts

    # ---------------------------------------------------------------- subclass hooks
    def _targets(self, y: Any) -> np.ndarray:
        raise NotImplementedError

    def _n_outputs(self) -> int:
        raise NotImplementedError

    def _row_loss(self, out: Any, target: Any) -> Any:
        """Each row's loss (the curricula rank rows by it)."""
        raise NotImplementedError

    def _loss(self, out: Any, target: Any) -> Any:
        return self._row_loss(out, target).mean()

    # ---------------------------------------------------------------- training
    def fit(self, X: Any, y: Any) -> _TorchMLP:
        """Train for ``epochs`` (or until early stopping)."""
        self._start(X, y)
        self._train_to(self.epochs, None)
        return self._finish()

    def _start(self, X: Any, y: Any) -> None:
        import torch

        X = np.asarray(X, dtype=np.float32)
        t = self._targets(y)
        self.n_features_in_ = X.shape[1]
        self.device_ = device_name() if self.device == "auto" else self.device
        gen = torch.Generator().manual_seed(self.random_state)
        order = torch.randperm(len(X), generator=gen).numpy()
        n_val = len(X) // 10 if len(X) >= MIN_ROWS_FOR_VALIDATION else 0
        val, train = order[:n_val], order[n_val:]
        dev = torch.device(self.device_)
        self._order: Any = None  # rows ranked easiest first, for a curriculum
        if self.curriculum in ("easy_to_hard", "anti"):
            from autometa.learners.curriculum import teacher_difficulty

            hard = teacher_difficulty(X[train], t[train].ravel(), is_classifier(self), self.random_state)
            ranked = np.argsort(hard, kind="stable")
            self._order = torch.from_numpy(ranked[::-1].copy() if self.curriculum == "anti" else ranked).to(dev)
        self._data = {"x": torch.from_numpy(X[train]).to(dev), "y": torch.from_numpy(t[train]).to(dev),
                      "xv": torch.from_numpy(X[val]).to(dev), "yv": torch.from_numpy(t[val]).to(dev)}
        hidden = [self.width] * self.depth
        if self.init_coefs is not None:  # a meta-learned start fixes the architecture
            hidden = [int(w.shape[0]) for w in self.init_coefs[:-1]]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            layers: list[torch.nn.Module] = []
            width = self.n_features_in_
            for h in hidden:
                layers += [torch.nn.Linear(width, h), torch.nn.ReLU(), torch.nn.Dropout(self.dropout)]
                width = h
            layers.append(torch.nn.Linear(width, self._n_outputs()))
            self._net = torch.nn.Sequential(*layers).to(dev)
        if self.init_coefs is not None and self.init_intercepts is not None:
            self._load_start(torch)
        self._opt = torch.optim.AdamW(self._net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        self._gen = gen
        with torch.random.fork_rng(devices=[]):  # dropout draws from its own seeded stream
            torch.manual_seed(self.random_state + 1)
            self._rng = torch.get_rng_state()
        self._done, self._best, self._stale, self._best_epoch = 0, float("inf"), 0, 0
        self._best_state: dict[str, Any] | None = None
        self.stopped_early_ = False

    def _load_start(self, torch: Any) -> None:
        """Copy the meta-learned weights in; their shapes must fit this data."""
        from autometa.errors import DataError, message

        linears = [m for m in self._net if isinstance(m, torch.nn.Linear)]
        assert self.init_coefs is not None and self.init_intercepts is not None
        for m, w, b in zip(linears, self.init_coefs, self.init_intercepts, strict=True):
            if tuple(m.weight.shape) != tuple(w.shape):
                raise DataError(message(f"the initialization's layer of shape {tuple(w.shape)} does not fit "
                                        f"{tuple(m.weight.shape)} here", "meta-train it on a table like this one"))
            with torch.no_grad():
                m.weight.copy_(torch.as_tensor(np.asarray(w), dtype=m.weight.dtype))
                m.bias.copy_(torch.as_tensor(np.asarray(b), dtype=m.bias.dtype))

    def _train_to(self, epochs: int, deadline: float | None) -> None:
        """Continue training up to ``epochs`` epochs in total (no more once early stopping fired)."""
        import torch

        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.device_ == "cuda" else nullcontext()
        threads = torch.get_num_threads()
        # CPU threads for this model only (small networks run fastest on one; oversubscribed cores
        # made a 1,000-row fit 15x slower with two threads than with one)
        torch.set_num_threads(self.n_jobs if self.n_jobs > 0 else (os.cpu_count() or 1))
        try:
            with torch.random.fork_rng(devices=[]):  # the global generator is left as it was
                torch.set_rng_state(self._rng)
                try:
                    self._epochs(epochs, deadline, autocast)
                finally:
                    self._rng = torch.get_rng_state()
        finally:
            torch.set_num_threads(threads)

    def _epochs(self, epochs: int, deadline: float | None, autocast: Any) -> None:
        import torch

        from autometa.learners.curriculum import lr_factor, pace

        d = self._data
        while self._done < epochs and not self.stopped_early_:
            for group in self._opt.param_groups:  # the schedule spans the configured epochs
                group["lr"] = self.learning_rate * lr_factor(self.lr_schedule, self._done, self.epochs)
            share = pace(self._done, self.epochs, self.pace_start) if self.curriculum != "none" else 1.0
            rows = self._rows(share, autocast)
            self._net.train()
            n = len(rows)
            perm = rows[torch.randperm(n, generator=self._gen).to(rows.device)]
            for i in range(0, n, self.batch_size):
                idx = perm[i:i + self.batch_size]
                if len(idx) < 2 and n >= 2:
                    continue  # a lone last row: skip (and keep batch statistics sane)
                with autocast:
                    loss = self._loss(self._net(d["x"][idx]), d["y"][idx])
                self._opt.zero_grad(set_to_none=True)
                loss.backward()
                self._opt.step()
            self._done += 1
            check_deadline(deadline)
            if len(d["xv"]):
                self._net.eval()
                with torch.no_grad(), autocast:
                    val = float(self._loss(self._net(d["xv"]), d["yv"]))
                if val < self._best - 1e-7:
                    self._best, self._stale, self._best_epoch = val, 0, self._done
                    self._best_state = {k: v.detach().clone() for k, v in self._net.state_dict().items()}
                elif share >= 1.0:  # patience runs once the curriculum shows every row
                    self._stale += 1
                    if self._stale >= self.patience:
                        self.stopped_early_ = True

    def _rows(self, share: float, autocast: Any) -> Any:
        """The training rows of this epoch: all of them, or the first ``share`` of the ranking."""
        import torch

        d = self._data
        n = len(d["x"])
        if self.curriculum == "none" or share >= 1.0:
            return torch.arange(n, device=d["x"].device)
        order = self._order
        if self.curriculum == "self_paced":  # the network's own loss, now
            self._net.eval()
            with torch.no_grad(), autocast:
                order = torch.argsort(self._row_loss(self._net(d["x"]), d["y"]).float())
        keep = max(self.batch_size, int(share * n), 2)
        return order[:keep]

    def _finish(self) -> _TorchMLP:
        """Keep the best epoch's weights as NumPy arrays and drop the torch objects."""
        if self._best_state is not None:
            self._net.load_state_dict(self._best_state)
        _publish(self)
        self.n_epochs_ = self._done
        self.best_epoch_ = self._best_epoch if self._best_state is not None else self._done
        for attr in ("_net", "_opt", "_data", "_gen", "_best_state", "_rng", "_order"):
            delattr(self, attr)
        return self

    def _forward(self, X: Any) -> np.ndarray:
        h = np.asarray(X, dtype=np.float32)
        for i, (w, b) in enumerate(zip(self.coefs_, self.intercepts_, strict=True)):
            h = h @ w.T + b
            if i < len(self.coefs_) - 1:
                h = np.maximum(h, 0.0)
        return h


class MLPClassifier(ClassifierMixin, _TorchMLP):
    """The MLP for classification (cross-entropy); ``predict_proba`` gives softmax probabilities."""

    def _targets(self, y: Any) -> np.ndarray:
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        return codes.astype(np.int64)

    def _n_outputs(self) -> int:
        return len(self.classes_)

    def _row_loss(self, out: Any, target: Any) -> Any:
        import torch

        return torch.nn.functional.cross_entropy(out.float(), target, reduction="none")

    def predict_proba(self, X: Any) -> np.ndarray:
        z = self._forward(X).astype(np.float64)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self._forward(X), axis=1)]


class MLPRegressor(RegressorMixin, _TorchMLP):
    """The MLP for regression (squared error on a standardized target)."""

    def _targets(self, y: Any) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        self.y_mean_, self.y_scale_ = float(y.mean()), float(y.std()) or 1.0
        return ((y - self.y_mean_) / self.y_scale_).astype(np.float32)[:, None]

    def _n_outputs(self) -> int:
        return 1

    def _row_loss(self, out: Any, target: Any) -> Any:
        return ((out.float() - target) ** 2)[:, 0]

    def predict(self, X: Any) -> np.ndarray:
        return self._forward(X)[:, 0].astype(np.float64) * self.y_scale_ + self.y_mean_


class MLP(Learner):
    """The ``mlp`` search space's learner: epochs are its fidelity, trained in stages."""

    name = "mlp"
    encoding = "onehot"

    def make_model(self, params: dict[str, Any], kind: str, layout: Layout, *, seed: int, n_jobs: int) -> Any:
        cls = MLPRegressor if kind == "regression" else MLPClassifier
        start = self.space.start
        if start is not None:
            params = {**params, "init_coefs": list(start.coefs), "init_intercepts": list(start.intercepts)}
        return cls(random_state=seed, n_jobs=n_jobs, **params)

    def startup_seconds(self) -> float:
        """Importing torch, until it is imported."""
        return 0.0 if "torch" in sys.modules else TORCH_IMPORT_SECONDS

    def start_up(self) -> None:
        import torch  # noqa: F401

    def reached(self, pipe: Pipeline) -> int | None:
        """The epoch whose weights early stopping kept."""
        return int(pipe[-1].best_epoch_)

    def pipeline(self, config: Config, columns: Sequence[Column], kind: str, *, seed: int = 0,
                 n_jobs: int = 1) -> Pipeline:
        """As every learner's, but a meta-learned start brings its own fitted encoding, frozen, so
        that the network sees the inputs it was meta-trained on."""
        pipe = super().pipeline(config, columns, kind, seed=seed, n_jobs=n_jobs)
        if self.space.start is not None:
            from sklearn.frozen import FrozenEstimator

            pipe.steps[0] = ("prep", FrozenEstimator(self.space.start.encoder))
        return pipe

    def fit_stages(self, model: Any, Xt: Any, y: Any, stages: Sequence[int], on_stage: StageCallback,
                   deadline: float | None, *, valid: tuple[Any, Any] | None = None) -> None:
        # the network early-stops on rows it holds out of ``Xt`` itself
        model._start(Xt, y)
        try:
            for value in stages:
                model._train_to(value, deadline)
                if value != stages[-1]:
                    _publish(model)
                    on_stage(value)  # the search predicts with the weights so far, and may prune
        finally:
            if hasattr(model, "_net"):
                model._finish()
        on_stage(stages[-1])


def _publish(model: Any) -> None:
    """Expose the weights so far as NumPy arrays, for a prediction in the middle of training."""
    import torch

    linears = [m for m in model._net if isinstance(m, torch.nn.Linear)]
    model.coefs_ = [m.weight.detach().float().cpu().numpy().copy() for m in linears]
    model.intercepts_ = [m.bias.detach().float().cpu().numpy().copy() for m in linears]
