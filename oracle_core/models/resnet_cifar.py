"""ResNet for CIFAR (He et al. 2016, option-A shortcuts): ResNet56 = 3 stages x 9 BasicBlocks (16/32/64).

The option-A shortcut (stride-2 subsampling + zero channel padding) mixes the channel axis, so it knows how
many stacked models share that axis (``set_stack``): the engine's wide layout pads each model's own channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .graph import PruneLink


class ShortcutA(nn.Module):
    """Identity, or x[:, :, ::2, ::2] with planes // 4 zero channels on each side (per stacked model)."""

    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.stride, self.pad = stride, (planes - in_planes) // 2
        self.k = 1

    def set_stack(self, k: int) -> None:
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1 and self.pad == 0:
            return x
        x = x[:, :, :: self.stride, :: self.stride]
        b, kc, h, w = x.shape
        x = x.reshape(b, self.k, kc // self.k, h, w)
        x = F.pad(x, (0, 0, 0, 0, self.pad, self.pad))
        return x.reshape(b, -1, h, w)


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = ShortcutA(in_planes, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetCifar(nn.Module):
    """16-channel stem, 3 stages of ``n`` BasicBlocks (16/32/64), global average pool, Linear(64 -> classes)."""

    def __init__(self, depth: int = 56, in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError("ResNet depth must be 6n + 2")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        planes, layers = 16, []
        for stage, width in enumerate((16, 32, 64)):
            blocks = []
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(planes, width, stride))
                planes = width
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
        self.prune_links = {f"layer{s}.{i}.conv1": PruneLink(consumer=f"layer{s}.{i}.conv2", bn=f"layer{s}.{i}.bn1")
                            for s in (1, 2, 3) for i in range(n)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)
