"""Structured filter masks: which filters of each named conv layer are kept.

A mask is written ``conv1:0,2,4,6,8`` (kept filters, ascending), layers joined by ``|`` in model order;
that readable form is its identity, and ``mask_id`` is a short hash of it, stable across runs, machines
and enumeration orders.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass

import numpy as np

from ..base.errors import OracleError


@dataclass(frozen=True)
class Mask:
    kept: tuple[tuple[str, tuple[int, ...]], ...]  # ((layer, kept filter indices), ...) in model order

    @property
    def text(self) -> str:
        return "|".join(f"{layer}:{','.join(map(str, idx))}" for layer, idx in self.kept)

    @property
    def mask_id(self) -> str:
        return hashlib.sha1(self.text.encode()).hexdigest()[:12]

    def as_dict(self) -> dict[str, tuple[int, ...]]:
        return dict(self.kept)

    @classmethod
    def parse(cls, text: str) -> "Mask":
        """Inverse of ``text``: ``conv1:0,2,4|conv2:1,3`` -> Mask."""
        try:
            parts = []
            for chunk in text.split("|"):
                layer, idx = chunk.split(":")
                parts.append((layer, tuple(int(i) for i in idx.split(","))))
            return cls(tuple(parts))
        except ValueError:
            raise OracleError(f"cannot read mask {text!r}: write it as 'conv1:0,2,4|conv2:1,3'") from None


def n_removed(n_filters: int, ratio: float) -> int:
    """Filters removed from a layer of ``n_filters`` at ``ratio``: int(n * ratio), as the paper."""
    return int(n_filters * ratio)


def check_ratio(layer: str, n_filters: int, ratio: float) -> int:
    if not 0.0 < ratio < 1.0:
        raise OracleError(f"ratio {ratio} is outside (0, 1): give the fraction of filters to remove, e.g. 0.5")
    k = n_removed(n_filters, ratio)
    if k == 0:
        raise OracleError(f"ratio {ratio} removes no filter of {layer} ({n_filters} filters): use a ratio >= "
                          f"{1 / n_filters:.3g}")
    if k >= n_filters:
        raise OracleError(f"ratio {ratio} removes every filter of {layer} ({n_filters} filters): use a smaller ratio")
    if abs(n_filters * ratio - round(n_filters * ratio)) > 1e-6:  # int() would round it down: an alias of k / n
        raise OracleError(f"ratio {ratio:g} removes {n_filters * ratio:g} of the {n_filters} filters of {layer}, "
                          f"rounded down to {k}: the same masks as ratio {k / n_filters:g}, so give that "
                          "(a ratio must remove a whole number of filters from every named layer)")
    return k


def count_masks(layer_sizes: dict[str, int], ratio: float) -> int:
    return math.prod(math.comb(n, n - n_removed(n, ratio)) for n in layer_sizes.values())


def enumerate_masks(layer_sizes: dict[str, int], ratio: float) -> list[Mask]:
    """Every mask, in itertools order (product over layers of combinations of kept filters)."""
    per_layer = []
    for layer, n in layer_sizes.items():
        k = check_ratio(layer, n, ratio)
        per_layer.append([(layer, c) for c in itertools.combinations(range(n), n - k)])
    return [Mask(tuple(combo)) for combo in itertools.product(*per_layer)]


def sample_masks(layer_sizes: dict[str, int], ratio: float, n_masks: int, seed: int) -> list[Mask]:
    """``n_masks`` distinct masks drawn uniformly from a seeded generator (all masks if there are fewer)."""
    total = count_masks(layer_sizes, ratio)
    if n_masks >= total:
        return enumerate_masks(layer_sizes, ratio)
    keep = {layer: n - check_ratio(layer, n, ratio) for layer, n in layer_sizes.items()}
    rng = np.random.default_rng(seed)
    seen: set[Mask] = set()
    out: list[Mask] = []
    while len(out) < n_masks:
        mask = Mask(tuple((layer, tuple(sorted(int(i) for i in rng.choice(n, keep[layer], replace=False))))
                          for layer, n in layer_sizes.items()))
        if mask not in seen:
            seen.add(mask)
            out.append(mask)
    return out


def make_masks(layer_sizes: dict[str, int], ratio: float, n_masks: int, seed: int) -> list[Mask]:
    """n_masks = 0: exhaustive; otherwise sampled without duplicates."""
    for layer, n in layer_sizes.items():
        check_ratio(layer, n, ratio)
    if n_masks < 0:
        raise OracleError(f"n_masks {n_masks} is negative: use 0 for every mask or a positive sample size")
    return enumerate_masks(layer_sizes, ratio) if n_masks == 0 else sample_masks(layer_sizes, ratio, n_masks, seed)
