"""The masks the data-light criteria pick from a dense network: L1-norm magnitude (keep the largest mean |w|
filters, the paper's baseline) and first-order Taylor (Molchanov et al. 2017: keep the filters with the largest
mean |activation x gradient| on training data). The runner retrains these picks beside a sampled setting;
analysis/criteria.py compares every criterion on the same masks."""

from __future__ import annotations

import copy

import torch
from torch import nn

from .engine import numerics
from .masks import Mask, n_removed


def l1_mask(dense: nn.Module, layers: tuple[str, ...], ratio: float) -> Mask:
    """Keep, in each layer, the n - int(n * ratio) filters with the largest mean |w| (bias excluded)."""
    kept = []
    for name in layers:
        conv = dense.get_submodule(name)
        n = conv.out_channels
        score = conv.weight.detach().abs().reshape(n, -1).mean(1)
        order = torch.argsort(score, descending=True, stable=True).tolist()
        kept.append((name, tuple(sorted(order[: n - n_removed(n, ratio)]))))
    return Mask(tuple(kept))


def taylor_scores(dense: nn.Module, layers: tuple[str, ...], x: torch.Tensor, y: torch.Tensor,
                  batch_size: int = 256) -> dict[str, torch.Tensor]:
    """First-order Taylor importance per filter: the batch mean of |mean over the feature map of a * dL/da|,
    averaged over batches (Molchanov et al. 2017, without their per-layer l2 normalisation: we rank within a layer)."""
    dense = dense.eval()
    acts: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(module, inputs, output):  # returns None: the output is left unchanged
            output.retain_grad()
            acts[name] = output
        return hook

    hooks = [dense.get_submodule(n).register_forward_hook(keep(n)) for n in layers]
    total = {n: torch.zeros(dense.get_submodule(n).out_channels, dtype=torch.float64) for n in layers}
    batches = 0
    try:
        for s in range(0, len(y), batch_size):
            dense.zero_grad(set_to_none=True)
            with numerics("fp32", x.device):  # like the oracle's pruned loss: no TF32 on CUDA
                loss = nn.functional.cross_entropy(dense(x[s:s + batch_size]), y[s:s + batch_size])
                loss.backward()
            for n in layers:
                a = acts[n]
                total[n] += (a * a.grad).mean(dim=(2, 3)).abs().mean(0).double().cpu()
            batches += 1
    finally:
        for h in hooks:
            h.remove()
    return {n: t / batches for n, t in total.items()}


def taylor_mask(scores: dict[str, torch.Tensor], ratio: float) -> Mask:
    kept = []
    for name, sc in scores.items():
        n = len(sc)
        order = torch.argsort(sc, descending=True, stable=True).tolist()
        kept.append((name, tuple(sorted(order[: n - n_removed(n, ratio)]))))
    return Mask(tuple(kept))


TAYLOR_IMAGES = 2048  # the first training images, for the Taylor scores (forward + backward, dense network)


def criterion_picks(dense: nn.Module, layers: tuple[str, ...], ratio: float, x: torch.Tensor,
                    y: torch.Tensor) -> dict[str, Mask]:
    """The masks the two data-light criteria pick: L1 magnitude (weights only) and first-order Taylor (on x, y).
    The runner retrains them beside a sampled setting, so ``compare`` can read their outcome."""
    picks = {"L1": l1_mask(dense, layers, ratio),
             "Taylor": taylor_mask(taylor_scores(copy.deepcopy(dense), layers, x, y), ratio)}
    return picks
