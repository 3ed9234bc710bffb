"""The paper's published numbers and recovered points (copied from the project's spec into reference/)."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from ..base.paths import REFERENCE_DIR

_VARIANT_PANEL = {"lenet5_mini_d6": "diff/d6", "lenet5_mini_d7": "diff/d7", "lenet5_mini_d8": "diff/d8",
                  "lenet5_mini_w20": "diff/w20", "lenet5_mini_w30": "diff/w30", "lenet5_mini_w40": "diff/w40"}
_DATASET_PANEL = {"fashion_mnist": "km-mnist/fmnist", "kmnist": "km-mnist/kmnist"}


@lru_cache(maxsize=None)
def results_table() -> pd.DataFrame:
    """reference_results.csv: one row per published setting (tau, p, anomaly %, oracle and median accuracy)."""
    return pd.read_csv(REFERENCE_DIR / "reference_results.csv", dtype={"p_value": str})


@lru_cache(maxsize=None)
def panels() -> pd.DataFrame:
    return pd.read_csv(REFERENCE_DIR / "paper_panels.csv")


@lru_cache(maxsize=None)
def points() -> pd.DataFrame:
    return pd.read_csv(REFERENCE_DIR / "paper_points.csv")


def _ratio_text(r: float) -> str:
    return f"{r:g}"


# the larger models' settings: (model, dataset, number of pruned layers) -> (panel, layers text in reference_results)
_LARGE = {("resnet56", "cifar10", 27): ("resnet56/layer*.conv1_0.5", "layer*.conv1 (27 block convs)"),
          ("vgg19", "cifar100", 13): ("vgg19/all16conv_0.5", "13 of 16 convs"),  # the released list (13 convs)
          ("resnet18", "imagenet", 8): ("resnet18/layer*.conv1_0.5", "layer*.conv1 (8 block convs)")}


def panel_name(model: str, dataset: str, layers: tuple[str, ...], ratio: float) -> str | None:
    """The paper's scatter panel for a setting, or None if it published none."""
    r = _ratio_text(ratio)
    large = _LARGE.get((model, dataset, len(layers)))
    if large is not None:
        return large[0] if abs(ratio - 0.5) < 1e-9 else None
    if model in _VARIANT_PANEL and dataset == "mnist" and layers == ("conv1",):
        name = f"{_VARIANT_PANEL[model]}_conv1_{r}"
    elif model == "lenet5_mini" and dataset in _DATASET_PANEL and layers == ("conv1",):
        name = f"{_DATASET_PANEL[dataset]}_conv1_{r}"
    elif model == "lenet5_mini" and dataset == "mnist":
        name = "lenet5/" + "+".join(f"{layer}_{r}" for layer in layers)
    else:
        return None
    return name if name in set(panels()["panel"]) else None


def paper_row(model: str, dataset: str, layers: tuple[str, ...], ratio: float) -> pd.Series | None:
    t = results_table()
    large = _LARGE.get((model, dataset, len(layers)))
    text = large[1] if large is not None else "+".join(layers)
    hit = t[(t["model"] == model) & (t["dataset"] == dataset) & (t["layers"] == text)
            & ((t["ratio"] - ratio).abs() < 1e-9)]
    return None if hit.empty else hit.iloc[0]


def paper_points(panel: str) -> pd.DataFrame:
    """The recovered per-mask points of one panel: pruned_train_loss, final_test_acc (fractions)."""
    return points()[points()["panel"] == panel].reset_index(drop=True)


def paper_panel(panel: str) -> pd.Series:
    return panels().set_index("panel").loc[panel]


@lru_cache(maxsize=None)
def short_vs_full_table() -> pd.DataFrame:
    """reference_short_vs_full.csv: the paper's tau between short-retrain and full-retrain accuracy (Fig. 6)."""
    return pd.read_csv(REFERENCE_DIR / "reference_short_vs_full.csv")
