"""The whole training step of the fused LeNet5-Mini stack in one C call (native_step.c through native.Step): the
engine's fast path for SGD retraining on the CPU, with the per-block kernels under autograd (fused.py) as the
reference and the fallback."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from . import native
from .fused import FusedLeNet


class NativeStep:
    """The whole training step of a FusedLeNet in one C call (native_step.c): forward, cross-entropy, backward and
    torch.optim.SGD's update (momentum, weight decay), no autograd. ``step(rows, lr)`` trains model k on
    ``train_x[rows[k]]`` (rows [B] when the models share an order) and returns each model's summed loss [K].

    Why: the per-block kernels under autograd spent half a step outside the convolutions (bench/RESULTS.md); in C a
    chunk of 16 images goes through every layer while it is in cache. ``create`` returns None where the step does
    not apply (then the autograd path trains, the reference): another optimizer, clipping, augmentation, mixing,
    label smoothing, precision or layout, or no C compiler."""

    def __init__(self, model: FusedLeNet, train_x: torch.Tensor, train_y: torch.Tensor, recipe):
        self.model, self.recipe = model, recipe
        self.x, self.y = train_x.numpy(), train_y.numpy()
        self.dims = model.native_dims(train_x.shape[2], train_x.shape[3])
        self.params = model.native_params()
        self.bufs = [np.zeros_like(p) for p in self.params]
        self.first = True
        self._step = native.Step(self.dims, self.params, self.bufs, self.x, self.y)

    @classmethod
    def create(cls, model: nn.Module, train_x: torch.Tensor, train_y: torch.Tensor, recipe, *, grad_clip: float,
               augment, mixing: bool, precision: str, channels_last: bool) -> NativeStep | None:
        if not (isinstance(model, FusedLeNet) and native.step_applies() and recipe.optimizer == "sgd"
                and not grad_clip and augment is None and not mixing and recipe.label_smoothing == 0
                and precision == "fp32" and not channels_last and train_x.device.type == "cpu"
                and train_x.dtype == torch.float32 and train_x.is_contiguous() and train_y.dtype == torch.int64
                and train_x.shape[1] == model.conv1.weight.shape[2] and model.n_fc <= 8):
            return None
        classes = model.get_submodule(f"fc{model.n_fc}").weight.shape[1]
        if len(train_y) and not (0 <= int(train_y.min()) and int(train_y.max()) < classes):
            raise ValueError(f"labels outside 0..{classes - 1}")
        return cls(model, train_x, train_y, recipe)

    def step(self, rows: torch.Tensor, lr: float) -> torch.Tensor:
        r = self.recipe
        loss = self._step(np.ascontiguousarray(rows.numpy(), dtype=np.int64), lr, r.momentum, r.weight_decay,
                          self.first)
        self.first = False
        return torch.from_numpy(loss)


def native_metrics(model: nn.Module, k: int, x: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray] | None:
    """Each model's summed eval-mode loss and correct count [K] over (x, y), computed in C (forward, cross-entropy
    and argmax: the same bytes on every CPU kind), or None where the C path does not apply (then engine.evaluate
    computes them with torch)."""
    if not (isinstance(model, FusedLeNet) and model.k == k and len(y) and native.step_applies()
            and x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 4
            and x.shape[1] == model.conv1.weight.shape[2] and y.dtype == torch.int64):
        return None
    loss, correct = np.zeros(k), np.zeros(k)
    xn = x.contiguous().numpy()
    native.metrics(model.native_dims(x.shape[2], x.shape[3]), model.native_params(), xn, y.contiguous().numpy(), True,
                   loss, correct)
    return loss, correct
