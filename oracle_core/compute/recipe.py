"""A training recipe: one optimizer schedule (epochs, learning rates, batch, weight decay, augmentation),
frozen and hashable; the profiles (experiment/protocol.py) name the paper's recipes and their reductions."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    """SGD with momentum and step learning-rate decay; ``lr_steps`` is ((epoch, lr), ...)."""

    epochs: int
    lr_steps: tuple[tuple[int, float], ...]  # epoch at which the lr starts -> lr; first entry at epoch 0
    batch_size: int  # images per step
    weight_decay: float  # L2 coefficient in SGD (decoupled weight decay for AdamW)
    momentum: float = 0.9
    # fields added for the ViT recipe; at their defaults they are left out of a spec's hash (spec.recipe_dict),
    # so every earlier result keeps its folder name
    optimizer: str = "sgd"  # "sgd" (momentum) or "adamw"
    schedule: str = "step"  # "step" (lr_steps) or "cosine" (from lr_steps[0] down to 0, updated every step)
    label_smoothing: float = 0.0
    mixup_alpha: float = 0.0  # Beta(alpha, alpha) mixing of each batch with its reverse; 0 = off
    cutmix_alpha: float = 0.0  # a Beta(alpha, alpha)-sized box pasted from the reversed batch; 0 = off
    grad_clip: float = 0.0  # max global gradient norm per model; 0 = off

    def lr_at_step(self, step: int, steps_per_epoch: int) -> float:
        """Learning rate for a step (0-based over the whole run): the step schedule's epoch value, or cosine."""
        if self.schedule == "cosine":
            total = max(1, self.epochs * steps_per_epoch)
            return self.lr_steps[0][1] * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
        return self.lr_at(step // max(1, steps_per_epoch))

    def lr_at(self, epoch: int) -> float:
        """Learning rate used during ``epoch`` (0-based)."""
        lr = self.lr_steps[0][1]
        for start, value in self.lr_steps:
            if epoch >= start:
                lr = value
        return lr

    def describe(self) -> str:
        if self.epochs == 0:
            return "none: torchvision's pretrained weights"
        sched = ", ".join(f"{lr:g} from epoch {e}" if e else f"{lr:g}" for e, lr in self.lr_steps)
        if self.schedule == "cosine":
            sched = f"{self.lr_steps[0][1]:g} cosine to 0"
        opt = f"SGD momentum {self.momentum:g}" if self.optimizer == "sgd" else "AdamW"
        extra = "".join(f", {name} {v:g}" for name, v in (("label smoothing", self.label_smoothing),
                        ("mixup", self.mixup_alpha), ("cutmix", self.cutmix_alpha), ("grad clip", self.grad_clip)) if v)
        return (f"{self.epochs} epochs, {opt}, lr {sched}, batch {self.batch_size},"
                f" weight decay {self.weight_decay:g}{extra}")
