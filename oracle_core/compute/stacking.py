"""Many pruned models as one module: stacked convolutions (grouped), linears (batched matmul) and batch norms, or
the fused CPU kernels (fused.py) for the LeNet5-Mini family. Each model keeps its own parameters and gradients:
stacking changes how they are computed, never what."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from . import fused

KERNELS = ("auto", "torch", "fused")  # fused: oracle_core/compute/fused.py (LeNet5-Mini family, CPU, fp32)


def resolve_kernel(kernel: str, models: Sequence[nn.Module], device: torch.device, precision: str = "fp32",
                   channels_last: bool = False) -> str:
    """Which implementation computes the models: "fused" (fused.py's kernels) where it applies (every model a
    LeNet5-Mini, on the CPU, in fp32), else "torch" (PyTorch's modules, stacked as grouped convs)."""
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}: use one of {', '.join(KERNELS)}")
    fits = (device.type == "cpu" and precision == "fp32" and not channels_last
            and all(fused.supports(m) for m in models))
    if kernel == "fused" and not fits:
        raise ValueError("the fused kernels compute LeNet5-Mini models on the CPU in fp32 only: use kernel='torch'")
    return "fused" if kernel == "fused" or (kernel == "auto" and fits) else "torch"


class StackedLinear(nn.Module):
    """K independent Linear layers applied to a [B, K*in] input (model-major features) -> [B, K*out]."""

    def __init__(self, k: int, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.k, self.in_features, self.out_features = k, in_features, out_features
        self.weight = nn.Parameter(torch.empty(k, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(k, out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        xk = x.reshape(b, self.k, self.in_features).transpose(0, 1)  # [K, B, in]
        if self.bias is not None:
            y = torch.baddbmm(self.bias.unsqueeze(1), xk, self.weight.transpose(1, 2))
        else:
            y = torch.bmm(xk, self.weight.transpose(1, 2))
        return y.transpose(0, 1).reshape(b, self.k * self.out_features)


def _stack_leaf(mods: Sequence[nn.Module]) -> nn.Module:
    first, k = mods[0], len(mods)
    if isinstance(first, nn.Conv2d):
        new = nn.Conv2d(k * first.in_channels, k * first.out_channels, first.kernel_size, first.stride,
                        first.padding, first.dilation, groups=k * first.groups, bias=first.bias is not None,
                        padding_mode=first.padding_mode)
        with torch.no_grad():
            new.weight.copy_(torch.cat([m.weight for m in mods]))
            if first.bias is not None:
                new.bias.copy_(torch.cat([m.bias for m in mods]))
    elif isinstance(first, nn.Linear):
        new = StackedLinear(k, first.in_features, first.out_features, first.bias is not None)
        with torch.no_grad():
            new.weight.copy_(torch.stack([m.weight for m in mods]))
            if first.bias is not None:
                new.bias.copy_(torch.stack([m.bias for m in mods]))
    elif isinstance(first, nn.BatchNorm2d):
        new = nn.BatchNorm2d(k * first.num_features, first.eps, first.momentum, first.affine, first.track_running_stats)
        with torch.no_grad():
            if first.affine:
                new.weight.copy_(torch.cat([m.weight for m in mods]))
                new.bias.copy_(torch.cat([m.bias for m in mods]))
            if first.track_running_stats:
                new.running_mean.copy_(torch.cat([m.running_mean for m in mods]))
                new.running_var.copy_(torch.cat([m.running_var for m in mods]))
                new.num_batches_tracked.copy_(first.num_batches_tracked)
    else:
        raise TypeError(f"the engine cannot stack {type(first).__name__}: add a stacked form for it")
    ref = next(first.parameters(), None)
    if ref is None:
        ref = next(first.buffers())
    return new.to(ref.device, ref.dtype)


def stack(models: Sequence[nn.Module], kernel: str = "torch") -> nn.Module:
    """One module computing all ``models`` (same architecture and shapes) at once; see the module doc.
    ``kernel`` "fused"/"auto": a fused.FusedLeNet where it applies (then also for K = 1)."""
    k = len(models)
    ref = next(models[0].parameters())
    if resolve_kernel(kernel, models, ref.device, "fp32" if ref.dtype != torch.bfloat16 else "bf16") == "fused":
        return fused.FusedLeNet(models)
    if k == 1:
        return models[0]
    wide = copy.deepcopy(models[0])
    named = [dict(m.named_modules()) for m in models]
    for name, module in list(models[0].named_modules()):
        if any(True for _ in module.children()):
            continue
        has_params = (any(True for _ in module.parameters(recurse=False))
                      or any(True for _ in module.buffers(recurse=False)))
        if hasattr(module, "set_stack"):  # parameter-free modules that mix channels (e.g. option-A shortcuts)
            wide.get_submodule(name).set_stack(k)
        if not has_params:
            continue
        mods = [n[name] for n in named]
        shapes = {tuple(p.shape for p in m.parameters()) for m in mods}
        if len(shapes) != 1:
            raise ValueError(f"cannot stack models whose {name} shapes differ: {shapes}")
        parent, _, leaf = name.rpartition(".")
        setattr(wide.get_submodule(parent) if parent else wide, leaf, _stack_leaf(mods))
    return wide


def unstack(wide: nn.Module, template: nn.Module, k: int, index: int) -> dict[str, torch.Tensor]:
    """The state_dict of model ``index`` of ``k`` inside ``wide``, in ``template``'s names and shapes."""
    if k == 1 and not isinstance(wide, fused.FusedLeNet):
        return {n: t.detach().clone() for n, t in wide.state_dict().items()}
    out = {}
    wide_sd = wide.state_dict()
    for name, ref in template.state_dict().items():
        t = wide_sd[name]
        if name.endswith("num_batches_tracked"):
            out[name] = t.clone()
        else:
            out[name] = t.detach().reshape(k, *ref.shape)[index].clone()
    return out


def can_stack(model: nn.Module) -> bool:
    """Whether ``stack`` can fuse copies of this model: every parameter lives in a Conv2d, Linear or BatchNorm2d
    (a transformer's LayerNorm, attention and free embeddings cannot, so it trains one mask at a time)."""
    for m in model.modules():
        own = list(m.parameters(recurse=False))
        if own and not isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
            return False
    return True


def default_group_size(device: torch.device) -> int:
    """Masks per wide model. On a 2-core CPU with the whole step in C, two concurrent one-thread workers trained
    as fast at K = 1 as at K = 2 or 4 within the measurements' spread (bench/RESULTS.md, "Group size under the grid's
    load"), so K = 1 there (a kill loses at most one mask's retraining); on a GPU, every mask of a setting in one
    group (an H200 trained 4.7x as many model-images/s at K = 8 as at K = 1: bench/RESULTS.md)."""
    if device.type == "cuda":
        return 256
    return 1
