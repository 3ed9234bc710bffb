"""Published torchvision checkpoints (ResNet18, ViT-B/16) read from the torch hub cache: never downloaded silently,
checked against the sha256 prefix in their file name, and never unpickled (weights_only). ViT weights are converted
to our attention module's names (models/vit.py)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torchvision.models import vit_b_16

from ..base.errors import OracleError
from .vit import convert

WEIGHTS = {"resnet18": ("resnet18-f37072fd.pth", "https://download.pytorch.org/models/resnet18-f37072fd.pth"),
           "vit_b_16": ("vit_b_16-c867db91.pth", "https://download.pytorch.org/models/vit_b_16-c867db91.pth")}


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
