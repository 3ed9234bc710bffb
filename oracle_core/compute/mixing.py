"""Mixup and CutMix for one model's batch (the ViT recipe's regularisers), drawn from that model's own generator.

Both mix a batch with its reverse (image i with image B-1-i, as timm's mixup does with ``flip(0)``): mixup blends
whole images with weight lam ~ Beta(alpha, alpha); cutmix pastes a box of area (1 - lam) and then sets lam to the
area actually kept. With both on, each batch picks one of them with probability 1/2. The loss is
lam * CE(out, y) + (1 - lam) * CE(out, y reversed).
"""

from __future__ import annotations

import math

import numpy as np
import torch


def mix(x: torch.Tensor, rng: np.random.Generator, mixup_alpha: float,
        cutmix_alpha: float) -> tuple[torch.Tensor, float]:
    """(mixed batch, lam) for a batch x [B, C, H, W]; the partner of image i is image B-1-i."""
    use_cutmix = cutmix_alpha > 0 and (mixup_alpha <= 0 or rng.random() < 0.5)
    alpha = cutmix_alpha if use_cutmix else mixup_alpha
    if alpha <= 0:
        return x, 1.0
    lam = float(rng.beta(alpha, alpha))
    partner = x.flip(0)
    if not use_cutmix:
        return lam * x + (1 - lam) * partner, lam
    h, w = x.shape[-2:]
    cut = math.sqrt(1 - lam)
    ch, cw = int(h * cut), int(w * cut)
    cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    out = x.clone()
    out[..., y0:y1, x0:x1] = partner[..., y0:y1, x0:x1]
    return out, 1 - (y1 - y0) * (x1 - x0) / (h * w)
