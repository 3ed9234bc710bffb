"""torchvision's ResNet18 with the paper's prunable layers (conv1 of each of the 8 BasicBlocks); its pretrained
ImageNet weights come from models/pretrained.py."""

from __future__ import annotations

from torch import nn
from torchvision.models import resnet18 as tv_resnet18

from ..base.errors import OracleError
from .graph import PruneLink


def resnet18(in_channels: int = 3, num_classes: int = 1000) -> nn.Module:
    if in_channels != 3:
        raise OracleError("resnet18 takes RGB images: use an RGB dataset (imagenet)")
    model = tv_resnet18(weights=None, num_classes=num_classes)
    model.prune_links = {f"layer{s}.{b}.conv1": PruneLink(consumer=f"layer{s}.{b}.conv2", bn=f"layer{s}.{b}.bn1")
                         for s in (1, 2, 3, 4) for b in (0, 1)}
    return model
