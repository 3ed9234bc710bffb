"""LeNet5-Mini and its depth (D6-D8) and width (W20-W40) variants, exactly as in PROTOCOL.md.

The forward pass reads every shape from the modules, so a physically pruned copy (fewer filters in a conv,
fewer inputs in its consumer) runs through the same code, and so does the engine's stacked "wide" copy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .graph import PruneLink
from .pool import max_pool2x2


class LeNet5Mini(nn.Module):
    """conv1 (1->w, 5x5) -> ReLU -> maxpool2 -> conv2 (w->10) -> ReLU -> maxpool2 -> conv3 (10->10) -> ReLU
    -> flatten -> fc1 (10->10) -> ReLU -> [fc2..: ReLU -> Linear(10->10)] -> output Linear(10->classes)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, conv1_filters: int = 10, extra_fc: int = 0):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, conv1_filters, 5)
        self.conv2 = nn.Conv2d(conv1_filters, 10, 5)
        self.conv3 = nn.Conv2d(10, 10, 5)
        self.n_fc = 2 + extra_fc
        for i in range(1, self.n_fc + 1):
            out = num_classes if i == self.n_fc else 10
            setattr(self, f"fc{i}", nn.Linear(10, out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = max_pool2x2(F.relu(self.conv1(x)))
        x = max_pool2x2(F.relu(self.conv2(x)))
        x = F.relu(self.conv3(x))
        x = torch.flatten(x, 1)
        for i in range(1, self.n_fc):
            x = F.relu(getattr(self, f"fc{i}")(x))
        return getattr(self, f"fc{self.n_fc}")(x)

    # conv -> (BN, consumer, features per channel in the consumer's input)
    prune_links = {
        "conv1": PruneLink(consumer="conv2"),
        "conv2": PruneLink(consumer="conv3"),
        "conv3": PruneLink(consumer="fc1", spatial=1),
    }
