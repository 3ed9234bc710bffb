"""Mask -> a physically smaller network that is exactly the sub-network the mask names.

``wiring="correct"`` (default): a pruned conv keeps the mask's filters, a BatchNorm right after it keeps
the same entries, and its consumer (next conv, or linear after flatten) keeps the input channels of those
filters. ``wiring="released_code"`` reproduces the paper's released code: the pruned conv follows the
mask, but its BN and consumer keep the entries of the filters an L1-norm ranking keeps (PROTOCOL.md,
"Masks"), so every mask but the L1 one yields a mis-wired network.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from ..base.errors import OracleError
from ..models import prunable_layers
from ..models.vit import WIDTH, prune_unit_layer, prune_width, zero_unit_layer
from .masks import Mask

WIRINGS = ("correct", "released_code")


def layer_sizes(model: nn.Module, layers: tuple[str, ...]) -> dict[str, int]:
    """Filters per named layer, validating the names against the model's prunable layers (model order)."""
    links = prunable_layers(model)
    unknown = [name for name in layers if name not in links]
    if unknown:
        raise OracleError(f"layer {unknown[0]!r} is not a prunable layer of {type(model).__name__}: "
                          f"use one of {', '.join(links)}")
    if len(set(layers)) != len(layers):
        raise OracleError(f"layers {'+'.join(layers)} name a layer twice: name each layer once")
    ordered = [name for name in links if name in layers]
    return {name: links[name].units or model.get_submodule(name).out_channels for name in ordered}


def l1_kept(conv: nn.Conv2d, ratio: float) -> tuple[int, ...]:
    """The released code's L1 rule: score = mean |w| per filter (bias excluded), drop the ceil(ratio*n) lowest."""
    n = conv.out_channels
    scores = conv.weight.detach().abs().reshape(n, -1).mean(dim=1)
    order = torch.argsort(scores, stable=True).tolist()
    return tuple(sorted(order[math.ceil(ratio * n):]))


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def _slice_conv(conv: nn.Conv2d, out_idx: list[int] | None, in_idx: list[int] | None) -> nn.Conv2d:
    if conv.groups != 1:
        raise OracleError(f"cannot prune a grouped conv ({conv}): only groups=1 convs are supported")
    w = conv.weight.detach()
    out_idx = out_idx if out_idx is not None else list(range(conv.out_channels))
    in_idx = in_idx if in_idx is not None else list(range(conv.in_channels))
    new = nn.Conv2d(len(in_idx), len(out_idx), conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                    bias=conv.bias is not None, padding_mode=conv.padding_mode).to(w.device, w.dtype)
    with torch.no_grad():
        new.weight.copy_(w[out_idx][:, in_idx])
        if conv.bias is not None:
            new.bias.copy_(conv.bias.detach()[out_idx])
    return new


def _slice_linear(lin: nn.Linear, in_idx: list[int]) -> nn.Linear:
    w = lin.weight.detach()
    new = nn.Linear(len(in_idx), lin.out_features, bias=lin.bias is not None).to(w.device, w.dtype)
    with torch.no_grad():
        new.weight.copy_(w[:, in_idx])
        if lin.bias is not None:
            new.bias.copy_(lin.bias.detach())
    return new


def _slice_bn(bn: nn.BatchNorm2d, idx: list[int]) -> nn.BatchNorm2d:
    ref = bn.weight if bn.affine else bn.running_mean
    new = nn.BatchNorm2d(len(idx), bn.eps, bn.momentum, bn.affine, bn.track_running_stats).to(ref.device, ref.dtype)
    with torch.no_grad():
        if bn.affine:
            new.weight.copy_(bn.weight.detach()[idx])
            new.bias.copy_(bn.bias.detach()[idx])
        if bn.track_running_stats:
            new.running_mean.copy_(bn.running_mean[idx])
            new.running_var.copy_(bn.running_var[idx])
            new.num_batches_tracked.copy_(bn.num_batches_tracked)
    return new


def prune(model: nn.Module, mask: Mask, wiring: str = "correct", ratio: float | None = None) -> nn.Module:
    """A new, physically smaller copy of ``model`` with the mask applied; ``model`` is left unchanged.

    ``ratio`` is needed only for ``wiring="released_code"`` (its L1 rule removes ceil(ratio * n) filters).
    """
    if wiring not in WIRINGS:
        raise OracleError(f"unknown wiring {wiring!r}: use one of {', '.join(WIRINGS)}")
    links = prunable_layers(model)
    kept = mask.as_dict()
    layer_sizes(model, tuple(kept))  # validates names
    if any(links[name].kind != "conv" for name in kept):
        return _prune_units(model, mask, wiring)
    out_keep: dict[str, list[int]] = {}
    in_keep: dict[str, list[int]] = {}
    bn_keep: dict[str, list[int]] = {}
    spatial: dict[str, int] = {}
    for layer, idx in kept.items():
        conv = model.get_submodule(layer)
        if max(idx) >= conv.out_channels or len(set(idx)) != len(idx):
            raise OracleError(f"mask {mask.text!r} names filters {layer} does not have ({conv.out_channels} filters)")
        out_keep[layer] = list(idx)
        if wiring == "correct":
            downstream = list(idx)
        else:
            if ratio is None:
                raise OracleError("wiring='released_code' needs the pruning ratio")
            downstream = list(l1_kept(conv, ratio))
            if len(downstream) != len(idx):
                raise OracleError(f"released-code wiring keeps {len(downstream)} filters of {layer} by L1 "
                                  f"(ceil rule) but the mask keeps {len(idx)}: the released code fails here too")
        link = links[layer]
        if link.bn:
            bn_keep[link.bn] = downstream
        in_keep[link.consumer] = downstream
        spatial[link.consumer] = link.spatial
    pruned = copy.deepcopy(model)
    for name in set(out_keep) | set(in_keep):
        module = model.get_submodule(name)
        if isinstance(module, nn.Conv2d):
            new = _slice_conv(module, out_keep.get(name), in_keep.get(name))
        elif isinstance(module, nn.Linear):
            s = spatial[name]
            new = _slice_linear(module, [c * s + j for c in in_keep[name] for j in range(s)])
        else:
            raise OracleError(f"cannot prune into {name} ({type(module).__name__}): only Conv2d/Linear consumers")
        _set_module(pruned, name, new)
    for name, idx in bn_keep.items():
        _set_module(pruned, name, _slice_bn(model.get_submodule(name), idx))
    return pruned


def _prune_units(model: nn.Module, mask: Mask, wiring: str) -> nn.Module:
    """Transformer units (embedding width, heads, MLP channels): models/vit.py does the surgery."""
    if wiring != "correct":
        raise OracleError("wiring='released_code' reproduces a conv-network bug: transformers only take 'correct'")
    links = prunable_layers(model)
    pruned = copy.deepcopy(model)
    kept = mask.as_dict()
    width = {int(layer.removeprefix(WIDTH)): list(idx) for layer, idx in kept.items() if links[layer].kind == "width"}
    if width:  # every head's dims at once: they are one residual stream
        prune_width(pruned, width)
    for layer, idx in kept.items():
        if links[layer].kind != "width":
            prune_unit_layer(pruned, layer, links[layer].kind, list(idx))
    return pruned


def zeroed(model: nn.Module, mask: Mask) -> nn.Module:
    """The dense model with the removed filters' weights, biases (and BN affine entries) set to zero: what the
    mask means in the dense network's coordinates. Used to prove ``prune`` exact."""
    links = prunable_layers(model)
    dense = copy.deepcopy(model)
    if any(links[name].kind == "width" for name in mask.as_dict()):
        raise OracleError("a ViT's embedding-width mask has no dense equivalent (LayerNorm normalises over the kept "
                          "channels only): compare the pruned network with a reference that slices the dense weights")
    if any(links[name].kind != "conv" for name in mask.as_dict()):
        for layer, idx in mask.as_dict().items():
            n = dense.get_submodule(layer).out_channels
            zero_unit_layer(dense, layer, links[layer].kind, [i for i in range(n) if i not in set(idx)])
        return dense
    with torch.no_grad():
        for layer, idx in mask.as_dict().items():
            conv = dense.get_submodule(layer)
            drop = [i for i in range(conv.out_channels) if i not in set(idx)]
            conv.weight[drop] = 0
            if conv.bias is not None:
                conv.bias[drop] = 0
            if links[layer].bn:
                bn = dense.get_submodule(links[layer].bn)
                bn.weight[drop] = 0
                bn.bias[drop] = 0
    return dense
