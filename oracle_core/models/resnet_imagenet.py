"""Published torchvision checkpoints (ResNet18, ViT-B/16) from the hub cache; torchvision's ResNet18 with the
paper's prunable layers (conv1 of each of the 8 BasicBlocks) and its pretrained ImageNet weights read from the
torch hub cache, never downloaded silently and never unpickled (weights_only)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet18 as tv_resnet18
from torchvision.models import vit_b_16

from ..base.errors import OracleError
from .graph import PruneLink
from .vit import convert

WEIGHTS = {"resnet18": ("resnet18-f37072fd.pth", "https://download.pytorch.org/models/resnet18-f37072fd.pth"),
           "vit_b_16": ("vit_b_16-c867db91.pth", "https://download.pytorch.org/models/vit_b_16-c867db91.pth")}


def resnet18(in_channels: int = 3, num_classes: int = 1000) -> nn.Module:
    if in_channels != 3:
        raise OracleError("resnet18 takes RGB images: use an RGB dataset (imagenet)")
    model = tv_resnet18(weights=None, num_classes=num_classes)
    model.prune_links = {f"layer{s}.{b}.conv1": PruneLink(consumer=f"layer{s}.{b}.conv2", bn=f"layer{s}.{b}.bn1")
                         for s in (1, 2, 3, 4) for b in (0, 1)}
    return model


def weights_path(name: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS[name][0]


def pretrained_state(name: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The hub cache's pretrained weights of ``name`` and a record of them (file, sha256). torchvision names the
    file after its sha256's first 8 hex digits: a mismatch is refused (or, with ORACLE_FABRICATED_DATA=1, accepted
    and recorded as fabricated: tests only)."""
    name = name.removesuffix("_heads")  # a pruning scheme of the same network: the same weights
    file, url = WEIGHTS[name]
    path = weights_path(name)
    if not path.is_file():
        raise OracleError(f"the pretrained {name} weights are missing: put {file} in {path.parent}/ (from {url}; on a "
                          f"networked machine `python -c \"import torchvision; "
                          f"torchvision.models.{name}(weights='DEFAULT')\"` "
                          "puts it there)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    prefix = file.rsplit("-", 1)[1].split(".")[0]
    record = {"weights": file, "sha256": digest}
    if not digest.startswith(prefix):
        if os.environ.get("ORACLE_FABRICATED_DATA") != "1":
            raise OracleError(f"{path} is corrupted (sha256 {digest[:8]}..., expected {prefix}...): delete it and "
                              f"fetch "
                              f"it again from {url}")
        record["fabricated"] = "true"
    state = torch.load(path, map_location="cpu", weights_only=True)
    if name.startswith("vit"):  # torchvision's names -> ours (its attention becomes HeadAttention: models/vit.py)
        original = vit_b_16(weights=None)
        original.load_state_dict(state)
        state = convert(original).state_dict()
    return state, record
