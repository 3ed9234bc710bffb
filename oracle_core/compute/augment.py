"""Training-time augmentation on whole batches, on the device: CIFAR's RandomCrop(32, padding=4) + horizontal flip.

Works on the already-normalized float batch, so the zero padding of torchvision's RandomCrop (black pixels, padded
before Normalize) becomes the per-channel value (0 - mean) / std here: the same images torchvision would give.
Every draw comes from the generator passed in, so a model's augmentations are reproducible from its seed.
"""

from __future__ import annotations

import torch


def pad_value(mean: float | tuple[float, ...], std: float | tuple[float, ...], channels: int) -> torch.Tensor:
    """What a black pixel becomes after Normalize, per channel."""
    m = torch.as_tensor(mean, dtype=torch.float32).reshape(-1).expand(channels)
    s = torch.as_tensor(std, dtype=torch.float32).reshape(-1).expand(channels)
    return -m / s


def crop_flip(x: torch.Tensor, gen: torch.Generator, fill: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """A random ``pad``-padded crop and a coin-flip horizontal flip of every image of ``x`` [N, C, H, W]."""
    n, c, h, w = x.shape
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=gen)
    flips = torch.rand(n, generator=gen) < 0.5
    padded = fill.to(x.device, x.dtype).reshape(1, c, 1, 1).expand(n, c, h + 2 * pad, w + 2 * pad).clone()
    padded[:, :, pad:pad + h, pad:pad + w] = x
    offsets, flips = offsets.to(x.device), flips.to(x.device)
    rows = offsets[:, 0:1] + torch.arange(h, device=x.device)  # [N, H]
    cols = offsets[:, 1:2] + torch.arange(w, device=x.device)  # [N, W]
    cols = torch.where(flips.unsqueeze(1), cols.flip(1), cols)
    n_idx = torch.arange(n, device=x.device).reshape(n, 1, 1)
    out = padded.permute(0, 2, 3, 1)[n_idx, rows.unsqueeze(2), cols.unsqueeze(1)]  # [N, H, W, C]
    return out.permute(0, 3, 1, 2).contiguous()


class CropFlip:
    """The engine's augmentation hook for one dataset: ``(batch, generator) -> batch``."""

    def __init__(self, mean, std, channels: int, pad: int = 4):
        self.fill, self.pad = pad_value(mean, std, channels), pad

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return crop_flip(x, gen, self.fill, self.pad)
