"""Train and evaluate K networks of one shape as one "wide" network.

K physically pruned copies of a model are stacked into one module: each Conv2d becomes a grouped conv
(groups = K), each Linear a batched matmul, each BatchNorm2d one BN over K*C channels. Activations are laid
out model-major along the channel axis ([B, K*C, H, W]), so model k sees only its own channels and its
own images: every model keeps its own data order, its own gradients, momentum and weight decay, exactly as
if it were trained alone (up to float round-off). K = 1 runs the plain module: the reference path.

The engine knows tensors, shapes and recipes only; it knows nothing of files, masks or dataset names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import fused
from .mixing import mix
from .native_step import NativeStep, native_metrics
from .recipe import Recipe
from .stacking import KERNELS, can_stack, default_group_size, resolve_kernel, stack, unstack

__all__ = ["KERNELS", "PRECISIONS", "Metrics", "TrainResult", "can_stack", "default_group_size", "evaluate", "numerics",
           "pretrain", "resolve_kernel", "stack", "train", "unstack"]


PRECISIONS = ("fp32", "tf32", "bf16")
@contextmanager
def numerics(precision: str, device: torch.device) -> Iterator[None]:
    """The arithmetic of a training forward pass. fp32: true float32, also on CUDA where cuDNN convs default to
    TF32; tf32: CUDA matmuls and convs on TF32 tensor cores (10-bit mantissa; on a CPU this is fp32); bf16:
    autocast to bfloat16 (weights, gradients and optimizer state stay float32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if precision == "bf16":
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@dataclass
class Metrics:
    """Per-model mean cross-entropy and accuracy over one dataset."""

    loss: list[float]
    acc: list[float]


def per_model_sum(v: torch.Tensor) -> torch.Tensor:
    """[B, K] -> [K]: each model's sum over its batch as one contiguous row, so in the same order whatever K is
    (``v.sum(0)`` over a [B, K] tensor sums a column in another order at K = 1 than at K > 1: measured)."""
    return v.t().contiguous().sum(1)


@torch.no_grad()
def evaluate(model: nn.Module, k: int, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> Metrics:
    """Eval-mode mean loss and accuracy of each of the ``k`` models in ``model`` (stacked or plain)."""
    in_c = native_metrics(model, k, x, y)  # the fused LeNet stack: forward, loss and argmax in one C call
    if in_c is not None:
        n = max(len(y), 1)
        return Metrics((in_c[0] / n).tolist(), (in_c[1] / n).tolist())
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros(k, dtype=torch.float64, device=x.device)
    correct = torch.zeros(k, dtype=torch.float64, device=x.device)
    for s in range(0, len(y), batch_size):
        xb, yb = x[s:s + batch_size], y[s:s + batch_size]
        b = len(yb)
        with numerics("fp32", x.device):  # the oracle's pruned loss and the test metrics: never TF32 on CUDA
            once = k == 1 or getattr(model, "shares_input", False)  # fused: one copy of the batch for all k
            out = model(xb if once else xb.repeat(1, k, 1, 1)).reshape(b, k, -1)
        yk = yb.unsqueeze(1).expand(b, k)
        per_sample = F.cross_entropy(out.reshape(b * k, -1), yk.reshape(-1), reduction="none").reshape(b, k)
        loss_sum += per_model_sum(per_sample).double()
        correct += per_model_sum((out.argmax(-1) == yk).double())
    model.train(was_training)
    n = len(y)
    return Metrics((loss_sum / n).tolist(), (correct / n).tolist())


@dataclass
class TrainResult:
    """One model's retraining: per-epoch curves and the values at its best (highest test accuracy) epoch."""

    test_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # mean minibatch loss during the epoch (train mode)
    step_loss: list[float] = field(default_factory=list)  # every step's batch-mean loss, if asked for

    @property
    def best_epoch(self) -> int:
        return max(range(len(self.test_acc)), key=lambda e: (self.test_acc[e], -e))

    @property
    def final(self) -> dict[str, float]:
        e = self.best_epoch
        return {"final_test_acc": self.test_acc[e], "final_test_loss": self.test_loss[e],
                "final_train_loss": self.train_loss[e], "best_epoch": e + 1}


@torch.no_grad()
def clip_per_model(model: nn.Module, k: int, max_norm: float) -> None:
    """clip_grad_norm_ applied to each of the k stacked models separately: every stacked parameter is
    model-major along its first axis, so model i's gradient is row i of grad.reshape(k, -1)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    sq = per_model_sum(torch.stack([g.reshape(k, -1).pow(2).sum(1) for g in grads]))  # [k] squared norms
    scale = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.reshape(k, -1).mul_(scale.unsqueeze(1))


def _orders(n: int, seeds: Sequence[int], device: torch.device) -> torch.Tensor:
    """[K, n] permutations, one per seed (each from its own generator)."""
    return torch.stack([torch.randperm(n, generator=torch.Generator().manual_seed(int(s))) for s in seeds]).to(device)


def train(
    models: Sequence[nn.Module],
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    recipe: Recipe,
    order_seeds: Sequence[int],
    on_step: Callable[[int], None] | None = None,
    eval_batch: int = 512,
    record_steps: bool = False,
    grad_clip: float | None = None,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    precision: str = "fp32",
    channels_last: bool = False,
    kernel: str = "auto",
) -> tuple[list[TrainResult], nn.Module]:
    """Retrain ``models`` (trained in place when K = 1) with ``recipe``; each model k draws its epoch orders
    from a generator seeded ``order_seeds[k]`` (equal seeds = a shared order). Returns per-model results and
    the trained (possibly stacked) module. ``on_step(images)`` reports progress in model-images. ``augment(batch,
    generator)`` (e.g. augment.CropFlip) transforms each model's training batch with that model's own generator
    (seeded ``order_seeds[k] + 1``), so a model's augmentations do not depend on which models share its stack.
    ``precision`` (see ``numerics``) sets the forward pass's arithmetic; evaluation stays fp32. ``channels_last``
    stores conv activations NHWC (same values up to float round-off; faster on tensor cores). ``kernel``
    (``resolve_kernel``): "auto" uses the fused CPU kernels wherever they apply; the trained weights are then
    copied back into ``models`` so that K = 1 still trains its model in place."""
    k = len(models)
    if len(order_seeds) != k:
        raise ValueError("one order seed per model")
    kernel = resolve_kernel(kernel, models, train_x.device, precision, channels_last)
    model = stack(models, kernel)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    if recipe.optimizer == "adamw":  # elementwise, so stacked models stay independent
        opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr_at_step(0, 1), weight_decay=recipe.weight_decay,
                                foreach=True)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=recipe.lr_at(0), momentum=recipe.momentum,
                              weight_decay=recipe.weight_decay, foreach=True)  # = the per-parameter loop, bit for bit
    grad_clip = grad_clip or recipe.grad_clip
    mixing = recipe.mixup_alpha > 0 or recipe.cutmix_alpha > 0
    mix_rngs = [np.random.default_rng(int(s) + 2) for s in order_seeds] if mixing else []
    steps_per_epoch, step = -(-len(train_y) // recipe.batch_size), 0
    gens = [torch.Generator().manual_seed(int(s)) for s in order_seeds]
    shared = len(set(order_seeds)) == 1
    aug_gens = [torch.Generator().manual_seed(int(s) + 1) for s in order_seeds] if augment is not None else []
    n, bs = len(train_y), recipe.batch_size
    results = [TrainResult() for _ in range(k)]
    c, h, w = train_x.shape[1:]
    native_step = NativeStep.create(model, train_x, train_y, recipe, grad_clip=grad_clip, augment=augment,
                                          mixing=mixing, precision=precision, channels_last=channels_last)
    for epoch in range(recipe.epochs):
        if recipe.schedule == "step":
            for group in opt.param_groups:
                group["lr"] = recipe.lr_at(epoch)
        if shared:  # equal seeds: one order serves every model
            perm = torch.randperm(n, generator=gens[0]).to(train_x.device)
        else:
            perms = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(train_x.device)
        loss_sum = torch.zeros(k, dtype=torch.float64, device=train_x.device)
        for s in range(0, n, bs):
            if native_step is not None:  # the whole step in one C call (fused.NativeStep)
                if recipe.schedule == "cosine":
                    for group in opt.param_groups:
                        group["lr"] = recipe.lr_at_step(step, steps_per_epoch)
                step += 1
                rows = perm[s:s + bs] if shared else perms[:, s:s + bs]
                b = rows.shape[-1]
                per_model = native_step.step(rows, opt.param_groups[0]["lr"])
                loss_sum += per_model
                if record_steps:
                    for i, v in enumerate((per_model / b).tolist()):
                        results[i].step_loss.append(v)
                if on_step is not None:
                    on_step(b * k)
                continue
            if shared:
                idx = perm[s:s + bs]
                xb = train_x[idx]
                b = len(idx)
                once = k == 1 or (getattr(model, "shares_input", False) and augment is None and not mixing)
                xb = xb if once else xb.repeat(1, k, 1, 1)
                yb = train_y[idx].unsqueeze(1).expand(b, k)
            else:
                idx = perms[:, s:s + bs]  # [K, B]
                b = idx.shape[1]
                xb = train_x[idx].transpose(0, 1).reshape(b, k * c, h, w)
                yb = train_y[idx].transpose(0, 1)
            if augment is not None:
                xv = xb.reshape(b, k, c, h, w)
                xb = torch.cat([augment(xv[:, i], aug_gens[i]) for i in range(k)], 1)
            if mixing:
                xv = xb.reshape(b, k, c, h, w)
                mixed = [mix(xv[:, i], mix_rngs[i], recipe.mixup_alpha, recipe.cutmix_alpha) for i in range(k)]
                xb = torch.cat([m[0] for m in mixed], 1)
                lam = torch.tensor([m[1] for m in mixed], device=xb.device)
            if recipe.schedule == "cosine":
                for group in opt.param_groups:
                    group["lr"] = recipe.lr_at_step(step, steps_per_epoch)
            step += 1
            if channels_last and xb.dim() == 4:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with numerics(precision, xb.device):
                out = model(xb).reshape(b * k, -1)
                out = out.float() if out.dtype == torch.bfloat16 else out  # the loss in float32 under bf16
                ls = recipe.label_smoothing
                per_sample = F.cross_entropy(out, yb.reshape(-1), reduction="none", label_smoothing=ls).reshape(b, k)
                if mixing:
                    other = F.cross_entropy(out, yb.flip(0).reshape(-1), reduction="none",
                                            label_smoothing=ls).reshape(b, k)
                    per_sample = lam * per_sample + (1 - lam) * other
            per_model = per_model_sum(per_sample)
            loss = per_model.sum() / b  # = sum over models of each model's own batch-mean loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip:
                clip_per_model(model, k, grad_clip)
            opt.step()
            loss_sum += per_model.detach().double()
            if record_steps:
                for i, v in enumerate((per_model.detach() / b).tolist()):
                    results[i].step_loss.append(v)
            if on_step is not None:
                on_step(b * k)
        test = evaluate(model, k, test_x, test_y, eval_batch)
        for i, r in enumerate(results):
            r.test_acc.append(test.acc[i])
            r.test_loss.append(test.loss[i])
            r.train_loss.append(float(loss_sum[i]) / n)
        model.train()
    if isinstance(model, fused.FusedLeNet) and k == 1:  # K = 1 trains its model in place, whatever the kernel
        models[0].load_state_dict(unstack(model, models[0], 1, 0))
    return results, model


def pretrain(model: nn.Module, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
             test_y: torch.Tensor, recipe: Recipe, order_seed: int,
             on_step: Callable[[int], None] | None = None, augment=None) -> TrainResult:
    """Train the dense network (in place); the model kept is the last epoch's, as the paper's code."""
    results, _ = train([model], train_x, train_y, test_x, test_y, recipe, [order_seed], on_step, augment=augment)
    return results[0]
