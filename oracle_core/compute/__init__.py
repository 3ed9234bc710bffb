"""Compute: tensors in, tensors and numbers out. Recipes, the training engine (many masks at once, fused CPU
kernels), masks, surgery, augmentation, the criteria's picks and the correlation statistics. Knows nothing of
files, results folders, paper numbers or pages; imports only base and models."""

from . import augment, engine, fused, masks, mixing, recipe, scoring, stacking, stats, surgery

__all__ = ["augment", "engine", "fused", "masks", "mixing", "recipe", "scoring", "stacking", "stats", "surgery"]
