"""torchvision's ViT with structured pruning units: the attention heads and the MLP hidden channels of every
encoder block (PROTOCOL.md: ViT-B/16, heads and MLP channels at the ratio, one random structured mask per seed).

nn.MultiheadAttention ties the attention width to the embedding width, so a network with pruned heads cannot be
one; each block's attention becomes ``HeadAttention`` (the same computation, with explicit q/k/v/proj weights and
any number of heads), loaded from torchvision's weights by ``convert``. Surgery removes whole heads (their q, k, v
rows and their proj columns) and MLP channels (fc1 rows, fc2 columns): the pruned network is physically smaller.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import VisionTransformer, vit_b_16

from .graph import PruneLink


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


def convert(model: nn.Module) -> nn.Module:
    """Replace every block's nn.MultiheadAttention by an equal HeadAttention and mark the prunable units."""
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
        links[f"encoder.layers.{name}.self_attention"] = PruneLink(consumer="", kind="heads")
        links[f"encoder.layers.{name}.mlp"] = PruneLink(consumer="", kind="mlp")
    model.prune_links = links
    return model


def vit(size: str, in_channels: int = 3, num_classes: int = 1000) -> nn.Module:
    """'b_16': ViT-B/16 (224 px, 12 blocks x 12 heads, MLP 3072); 'tiny': 2 blocks x 4 heads of 8, MLP 64 (tests)."""
    if in_channels != 3:
        raise ValueError("ViT takes RGB images")
    if size == "b_16":
        model = vit_b_16(weights=None, num_classes=num_classes)
    else:
        model = VisionTransformer(image_size=224, patch_size=16, num_layers=2, num_heads=4, hidden_dim=32, mlp_dim=64,
                                  num_classes=num_classes)
    return convert(model)


def prune_unit_layer(model: nn.Module, name: str, kind: str, keep: list[int]) -> None:
    """Physically keep only units ``keep`` of one block's attention (heads) or MLP (hidden channels), in place."""
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
            fc1, fc2 = module[0], module[3]
            idx = torch.tensor(keep)
            n1 = nn.Linear(fc1.in_features, len(keep)).to(fc1.weight.device, fc1.weight.dtype)
            n2 = nn.Linear(len(keep), fc2.out_features).to(fc2.weight.device, fc2.weight.dtype)
            n1.weight.copy_(fc1.weight[idx])
            n1.bias.copy_(fc1.bias[idx])
            n2.weight.copy_(fc2.weight[:, idx])
            n2.bias.copy_(fc2.bias)
            module[0], module[3] = n1, n2
            module.out_channels = len(keep)


def zero_unit_layer(model: nn.Module, name: str, kind: str, drop: list[int]) -> None:
    """The dense equivalent of removing units: their contribution set to zero (used to prove the surgery exact)."""
    module = model.get_submodule(name)
    with torch.no_grad():
        if kind == "heads":
            d = module.head_dim
            for h in drop:
                module.proj.weight[:, h * d:(h + 1) * d] = 0
        else:
            module[0].weight[drop] = 0
            module[0].bias[drop] = 0  # GELU(0) = 0: the channel contributes nothing
