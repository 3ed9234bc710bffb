"""torchvision's ViT with structured pruning units, in two schemes.

``width`` (the default; the paper's released script, Torch-Pruning 1.4.2 with ``channel_groups`` = the head count):
the embedding width of the whole residual stream is pruned, the same number of dims in every head, each head's own
dims chosen independently (Torch-Pruning draws each channel group's indices on its own). The units are the dims of
each head (``width.head0`` .. ``width.head11``, 64 each in ViT-B/16); the kept channels are the same everywhere the
residual stream is read or written: conv_proj, the class token, the position embedding, every LayerNorm, q/k/v and
the attention output, fc1's inputs and fc2's outputs, the final LayerNorm and the classifier's inputs. All heads
remain, each narrower (ViT-B/16 at 0.5: width 768 -> 384, head dim 64 -> 32). Each block's MLP hidden channels are a
second kind of unit (fc1 rows, fc2 columns: 3072 -> 1536). A LayerNorm then normalises over the kept channels only,
so this is not the dense network with channels zeroed: tests compare it with a reference that slices the dense
weights, and with Torch-Pruning 1.4.2's own pruning of the same network.

``heads`` (a labelled variant, ``vit_b_16_heads``): whole attention heads (their q, k, v rows and proj columns) and
MLP channels are removed, the embedding width kept.

nn.MultiheadAttention ties the attention width to the embedding width, so each block's attention becomes
``HeadAttention`` (the same computation, with explicit q/k/v/proj weights and any number of heads), loaded from
torchvision's weights by ``convert``. Either way the pruned network is physically smaller.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import VisionTransformer, vit_b_16

from ..base.errors import OracleError
from .graph import PruneLink

UNIT_SCHEMES = ("width", "heads")
WIDTH = "width.head"  # + the head's index: the dims of one head, i.e. its share of the residual stream's width


class HeadAttention(nn.Module):
    """Multi-head self-attention with ``heads`` heads of ``head_dim`` each: [B, T, E] -> [B, T, E]."""

    def __init__(self, embed_dim: int, heads: int, head_dim: int):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.out_channels = heads  # the prunable units (surgery's layer_sizes reads this)
        self.q = nn.Linear(embed_dim, heads * head_dim)
        self.k = nn.Linear(embed_dim, heads * head_dim)
        self.v = nn.Linear(embed_dim, heads * head_dim)
        self.proj = nn.Linear(heads * head_dim, embed_dim)

    def forward(self, query, key=None, value=None, need_weights: bool = False):  # EncoderBlock's call signature
        b, t, _ = query.shape

        def split(lin):
            return lin(query).reshape(b, t, self.heads, self.head_dim).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(self.q), split(self.k), split(self.v))
        return self.proj(out.transpose(1, 2).reshape(b, t, self.heads * self.head_dim)), None


def convert(model: nn.Module, units: str = "heads") -> nn.Module:
    """Replace every block's nn.MultiheadAttention by an equal HeadAttention and mark the prunable units of
    ``units`` ('width' or 'heads'; MLP hidden channels in both)."""
    if units not in UNIT_SCHEMES:
        raise ValueError(f"unknown ViT unit scheme {units!r}: use one of {', '.join(UNIT_SCHEMES)}")
    links = {}
    for name, block in model.encoder.layers.named_children():
        mha = block.self_attention
        e, h = mha.embed_dim, mha.num_heads
        att = HeadAttention(e, h, e // h).to(mha.in_proj_weight.device, mha.in_proj_weight.dtype)
        with torch.no_grad():
            for i, lin in enumerate((att.q, att.k, att.v)):
                lin.weight.copy_(mha.in_proj_weight[i * e:(i + 1) * e])
                lin.bias.copy_(mha.in_proj_bias[i * e:(i + 1) * e])
            att.proj.weight.copy_(mha.out_proj.weight)
            att.proj.bias.copy_(mha.out_proj.bias)
        block.self_attention = att
        block.mlp.out_channels = block.mlp[0].out_features
        if units == "width" and not links:  # first: the residual stream's width, each head's dims
            links.update({f"{WIDTH}{g}": PruneLink(consumer="", kind="width", units=e // h) for g in range(h)})
        if units == "heads":
            links[f"encoder.layers.{name}.self_attention"] = PruneLink(consumer="", kind="heads")
        links[f"encoder.layers.{name}.mlp"] = PruneLink(consumer="", kind="mlp")
    model.prune_links = links
    return model


def vit(size: str, in_channels: int = 3, num_classes: int = 1000, units: str = "width") -> nn.Module:
    """'b_16': ViT-B/16 (224 px, 12 blocks x 12 heads of 64, MLP 3072); 'tiny': 2 blocks x 4 heads of 8, MLP 64
    (tests). ``units``: the pruning scheme (module docstring)."""
    if in_channels != 3:
        raise ValueError("ViT takes RGB images")
    if size == "b_16":
        model = vit_b_16(weights=None, num_classes=num_classes)
    else:
        model = VisionTransformer(image_size=224, patch_size=16, num_layers=2, num_heads=4, hidden_dim=32, mlp_dim=64,
                                  num_classes=num_classes)
    return convert(model, units)


def _linear(src: nn.Linear, rows: torch.Tensor | None, cols: torch.Tensor | None) -> nn.Linear:
    w = src.weight
    w = w if rows is None else w[rows]
    w = w if cols is None else w[:, cols]
    new = nn.Linear(w.shape[1], w.shape[0], bias=src.bias is not None).to(src.weight.device, src.weight.dtype)
    new.weight.copy_(w)
    if src.bias is not None:
        new.bias.copy_(src.bias if rows is None else src.bias[rows])
    return new


def _layer_norm(src: nn.LayerNorm, idx: torch.Tensor) -> nn.LayerNorm:
    new = nn.LayerNorm(len(idx), eps=src.eps).to(src.weight.device, src.weight.dtype)
    new.weight.copy_(src.weight[idx])
    new.bias.copy_(src.bias[idx])
    return new


def width_channels(head_dim: int, dims: dict[int, list[int]]) -> list[int]:
    """The embedding channels kept when head g keeps ``dims[g]`` (head g's dims are channels g*head_dim + p)."""
    return [g * head_dim + p for g in sorted(dims) for p in sorted(dims[g])]


def prune_width(model: nn.Module, dims: dict[int, list[int]]) -> None:
    """Keep, in place, the embedding channels ``width_channels(head_dim, dims)`` of the whole residual stream (module
    docstring): every head keeps its own ``dims[g]``, the same number in each; the MLP hidden width is left to its own
    units."""
    blocks = list(model.encoder.layers)
    heads, d = blocks[0].self_attention.heads, blocks[0].self_attention.head_dim
    if sorted(dims) != list(range(heads)) or len({len(v) for v in dims.values()}) != 1:
        raise OracleError(f"a width mask keeps the same number of dims in every one of the {heads} heads: name all "
                          f"of {WIDTH}0..{WIDTH}{heads - 1} (layers 'all' does)")
    kept = len(dims[0])
    idx = torch.tensor(width_channels(d, dims), device=model.class_token.device)
    with torch.no_grad():
        conv = model.conv_proj
        new = nn.Conv2d(conv.in_channels, len(idx), conv.kernel_size, conv.stride).to(conv.weight.device,
                                                                                     conv.weight.dtype)
        new.weight.copy_(conv.weight[idx])
        new.bias.copy_(conv.bias[idx])
        model.conv_proj = new
        model.class_token = nn.Parameter(model.class_token[..., idx].clone())
        model.encoder.pos_embedding = nn.Parameter(model.encoder.pos_embedding[..., idx].clone())
        for block in blocks:
            block.ln_1, block.ln_2 = _layer_norm(block.ln_1, idx), _layer_norm(block.ln_2, idx)
            att = block.self_attention
            narrow = HeadAttention(len(idx), heads, kept).to(att.q.weight.device, att.q.weight.dtype)
            narrow.q, narrow.k, narrow.v = (_linear(lin, idx, idx) for lin in (att.q, att.k, att.v))
            narrow.proj = _linear(att.proj, idx, idx)
            block.self_attention = narrow
            block.mlp[0] = _linear(block.mlp[0], None, idx)
            block.mlp[3] = _linear(block.mlp[3], idx, None)
        model.encoder.ln = _layer_norm(model.encoder.ln, idx)
        model.heads.head = _linear(model.heads.head, None, idx)
    model.hidden_dim = len(idx)  # VisionTransformer reshapes the patch embedding with it


def prune_unit_layer(model: nn.Module, name: str, kind: str, keep: list[int]) -> None:
    """Physically keep only units ``keep`` of one block's attention (heads) or MLP (hidden channels), in place
    (the width's units span every block: prune_width takes all heads' at once)."""
    module = model.get_submodule(name)
    with torch.no_grad():
        if kind == "heads":
            d = module.head_dim
            rows = torch.tensor([h * d + j for h in keep for j in range(d)])
            new = HeadAttention(module.q.in_features, len(keep), d).to(module.q.weight.device, module.q.weight.dtype)
            for src, dst in ((module.q, new.q), (module.k, new.k), (module.v, new.v)):
                dst.weight.copy_(src.weight[rows])
                dst.bias.copy_(src.bias[rows])
            new.proj.weight.copy_(module.proj.weight[:, rows])
            new.proj.bias.copy_(module.proj.bias)
            parent, _, leaf = name.rpartition(".")
            setattr(model.get_submodule(parent), leaf, new)
        else:
            idx = torch.tensor(keep)
            module[0], module[3] = _linear(module[0], idx, None), _linear(module[3], None, idx)
            module.out_channels = len(keep)


def zero_unit_layer(model: nn.Module, name: str, kind: str, drop: list[int]) -> None:
    """The dense equivalent of removing units: their contribution set to zero (used to prove the surgery exact).
    Embedding width has none (LayerNorm normalises over the kept channels only)."""
    if kind == "width":
        raise ValueError("embedding-width pruning has no dense equivalent (LayerNorm normalises over the kept "
                         "channels only): compare it with a reference that slices the dense weights")
    module = model.get_submodule(name)
    with torch.no_grad():
        if kind == "heads":
            d = module.head_dim
            for h in drop:
                module.proj.weight[:, h * d:(h + 1) * d] = 0
        else:
            module[0].weight[drop] = 0
            module[0].bias[drop] = 0  # GELU(0) = 0: the channel contributes nothing
