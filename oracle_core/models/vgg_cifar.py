"""VGG for CIFAR (PROTOCOL.md): 3x3 convs without bias, each followed by BatchNorm and ReLU, max-pools between
stages, global average pool, one Linear. VGG19 = 16 convs (64,64,M,128,128,M,256x4,M,512x4,M,512x4).

Convs are named conv1..conv16 and their BNs bn1..bn16, so a layer list reads like the paper's ("all 16 convs").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .graph import PruneLink

VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)
VGG_TINY_CFG = (8, "M", 16, "M", 16)  # for tests: the same structure in miniature

# The paper's released VGG19 script (pruning/DEV_sicheng/scripts_pruning/pruning-vgg19-lr2.sh in
# fscdc/Oracle-Pruning-Sanity-Check) names its layers by index into an nn.Sequential of conv, BN, ReLU triples
# and max-pools. Three of its sixteen indices (24, 34, 37) land on BatchNorm modules, which its pruner skips.
RELEASED_FEATURE_INDICES = (0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40, 43, 46, 49)


def sequential_names(cfg: tuple) -> list[str]:
    """Our name for each module of the released code's ``features`` Sequential (conv_i, bn_i, relu, pool)."""
    out: list[str] = []
    i = 0
    for v in cfg:
        if v == "M":
            out.append("pool")
        else:
            i += 1
            out += [f"conv{i}", f"bn{i}", "relu"]
    return out


def released_layers(cfg: tuple = VGG19_CFG) -> tuple[str, ...]:
    """The convs the released layer list actually prunes: the indices that point at a conv (13 for VGG19)."""
    names = sequential_names(cfg)
    return tuple(names[i] for i in RELEASED_FEATURE_INDICES if i < len(names) and names[i].startswith("conv"))


class VGGCifar(nn.Module):
    def __init__(self, cfg: tuple = VGG19_CFG, in_channels: int = 3, num_classes: int = 100):
        super().__init__()
        self.plan: list[str] = []  # forward order: conv names and "M"
        c, i = in_channels, 0
        for v in cfg:
            if v == "M":
                self.plan.append("M")
                continue
            i += 1
            setattr(self, f"conv{i}", nn.Conv2d(c, int(v), 3, 1, 1, bias=False))
            setattr(self, f"bn{i}", nn.BatchNorm2d(int(v)))
            self.plan.append(f"conv{i}")
            c = int(v)
        self.classifier = nn.Linear(c, num_classes)
        convs = [p for p in self.plan if p != "M"]
        self.prune_links = {name: PruneLink(consumer=(convs[j + 1] if j + 1 < len(convs) else "classifier"),
                                            bn=name.replace("conv", "bn"))
                            for j, name in enumerate(convs)}
        self.layer_aliases = {"released": released_layers(cfg)}  # layers="released": the paper script's list

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for step in self.plan:
            if step == "M":
                x = F.max_pool2d(x, 2)
            else:
                x = F.relu(getattr(self, step.replace("conv", "bn"))(getattr(self, step)(x)))
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))
