"""Model registry: a name -> a constructor, and what its input and prunable layers are."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ..base.errors import OracleError
from .graph import PruneLink
from .lenet import LeNet5Mini
from .resnet_cifar import ResNetCifar
from .resnet_imagenet import resnet18
from .vgg_cifar import VGG19_CFG, VGG_TINY_CFG, VGGCifar
from .vit import vit

__all__ = ["MODELS", "ModelInfo", "PruneLink", "build_model", "get_model_info", "prunable_layers"]


@dataclass(frozen=True)
class ModelInfo:
    name: str
    make: Callable[[int, int], nn.Module]  # (in_channels, num_classes) -> module
    family: str  # selects the recipe family in experiment/protocol.py
    description: str


MODELS: dict[str, ModelInfo] = {
    "lenet5_mini": ModelInfo("lenet5_mini", lambda c, k: LeNet5Mini(c, k), "lenet", "LeNet5-Mini (D5/W10)"),
    **{f"lenet5_mini_d{d}": ModelInfo(f"lenet5_mini_d{d}", (lambda e: lambda c, k: LeNet5Mini(c, k, extra_fc=e))(d - 5),
                                      "lenet", f"LeNet5-Mini-D{d}: {d - 5} extra ReLU->Linear(10,10)")
       for d in (6, 7, 8)},
    **{f"lenet5_mini_w{w}": ModelInfo(f"lenet5_mini_w{w}",
                                      (lambda f: lambda c, k: LeNet5Mini(c, k, conv1_filters=f))(w),
                                      "lenet", f"LeNet5-Mini-W{w}: conv1 has {w} filters")
       for w in (20, 30, 40)},
    "resnet56": ModelInfo("resnet56", lambda c, k: ResNetCifar(56, c, k), "resnet_cifar",
                          "ResNet56 for CIFAR (option-A shortcuts)"),
    "resnet8": ModelInfo("resnet8", lambda c, k: ResNetCifar(8, c, k), "resnet_cifar",
                         "ResNet8 for CIFAR (1 block per stage): a small ResNet for tests"),
    "resnet18": ModelInfo("resnet18", lambda c, k: resnet18(c, k), "resnet_imagenet",
                          "torchvision ResNet18 with its pretrained ImageNet weights"),
    "vit_b_16": ModelInfo("vit_b_16", lambda c, k: vit("b_16", c, k), "vit_imagenet",
                          "torchvision ViT-B/16 with its pretrained weights; embedding width (every head's dims) and "
                          "MLP channels prunable, as the paper's script prunes it"),
    "vit_b_16_heads": ModelInfo("vit_b_16_heads", lambda c, k: vit("b_16", c, k, "heads"), "vit_imagenet",
                                "ViT-B/16 with whole heads and MLP channels prunable (a variant, not the paper's)"),
    "vit_tiny": ModelInfo("vit_tiny", lambda c, k: vit("tiny", c, k), "vit_imagenet",
                          "a 2-block ViT of the same structure (224 px, 16 px patches): for tests"),
    "vit_tiny_heads": ModelInfo("vit_tiny_heads", lambda c, k: vit("tiny", c, k, "heads"), "vit_imagenet",
                                "vit_tiny with whole heads and MLP channels prunable: for tests"),
    "vgg19": ModelInfo("vgg19", lambda c, k: VGGCifar(VGG19_CFG, c, k), "vgg_cifar",
                       "VGG19 for CIFAR (BN, global average pool, one linear)"),
    "vgg_tiny": ModelInfo("vgg_tiny", lambda c, k: VGGCifar(VGG_TINY_CFG, c, k), "vgg_cifar",
                          "a 3-conv VGG of the same structure: for tests"),
}


def get_model_info(name: str) -> ModelInfo:
    try:
        return MODELS[name]
    except KeyError:
        raise OracleError(f"unknown model {name!r}: use one of {', '.join(MODELS)}") from None


def build_model(name: str, in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    return get_model_info(name).make(in_channels, num_classes)


def prunable_layers(model: nn.Module) -> dict[str, PruneLink]:
    return dict(getattr(model, "prune_links"))
