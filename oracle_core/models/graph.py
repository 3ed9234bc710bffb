"""What surgery needs to know about a model: which module consumes each prunable conv's output."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PruneLink:
    """For one prunable conv: the BatchNorm right after it (if any), the module whose *input* channels are
    the conv's output channels (a conv, or a linear after flatten with ``spatial`` features per channel)."""

    consumer: str
    bn: str | None = None
    spatial: int = 1
    kind: str = "conv"  # "conv" (filters), or a transformer's "width" / "heads" / "mlp" units (models/vit.py)
    units: int = 0  # prunable units when the name is not a module with out_channels (a ViT's embedding width)
