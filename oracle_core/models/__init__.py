"""Model registry: a name -> its ModelRecord (constructor, recipe family, the paper's numbers it reproduces, its page;
models/record.py), and what its input and prunable layers are."""

from __future__ import annotations

from torch import nn

from ..base.errors import OracleError
from .catalog import RECORDS, register
from .graph import PruneLink
from .record import GridSetting, ModelRecord, PageRecord, PaperRecord

__all__ = ["MODELS", "GridSetting", "ModelInfo", "ModelRecord", "PageRecord", "PaperRecord", "PruneLink",
           "build_model", "get_model_info", "model_name", "prunable_layers", "register"]

ModelInfo = ModelRecord  # the registry's entries (the older name)
MODELS: dict[str, ModelRecord] = RECORDS  # name -> record; register() adds to it (models/catalog.py)


def get_model_info(name: str) -> ModelInfo:
    try:
        return MODELS[name]
    except KeyError:
        raise OracleError(f"unknown model {name!r}: use one of {', '.join(MODELS)}") from None


def model_name(name: str) -> str:
    """How every page names a model (ModelRecord.display); a name not in the registry is printed as given."""
    return MODELS[name].display if name in MODELS else name


def build_model(name: str, in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    return get_model_info(name).make(in_channels, num_classes)


def prunable_layers(model: nn.Module) -> dict[str, PruneLink]:
    return dict(getattr(model, "prune_links"))
