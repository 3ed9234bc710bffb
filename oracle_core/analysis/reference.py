"""The paper's published numbers and recovered points (copied from the project's spec into reference/)."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from ..base.paths import REFERENCE_DIR
from ..models import MODELS, PaperRecord

# LeNet5-Mini's own panels (Fig. 2 and the dataset axis, Fig. 4); every other model's are in its record
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


def layer_names(layers: str | tuple[str, ...]) -> tuple[str, ...]:
    """The pruned layers as a tuple, from a grid entry's "conv1+conv3" or a spec's tuple."""
    return tuple(layers.split("+")) if isinstance(layers, str) else tuple(layers)


def paper_record(model: str, dataset: str, layers: str | tuple[str, ...], ratio: float) -> PaperRecord | None:
    """The paper's numbers a model's record says it reproduces, when this setting is one of them."""
    layers = layer_names(layers)
    rec = MODELS.get(model)
    paper = rec.paper if rec is not None else None
    return paper if paper is not None and paper.matches(dataset, tuple(layers), ratio) else None


def panel_name(model: str, dataset: str, layers: str | tuple[str, ...], ratio: float) -> str | None:
    """The paper's scatter panel for a setting, or None if it published none."""
    r, layers = _ratio_text(ratio), layer_names(layers)
    rec = paper_record(model, dataset, layers, ratio)
    if rec is not None:
        name = rec.panel_for(ratio)
    elif model == "lenet5_mini" and dataset in _DATASET_PANEL and layers == ("conv1",):
        name = f"{_DATASET_PANEL[dataset]}_conv1_{r}"
    elif model == "lenet5_mini" and dataset == "mnist":
        name = "lenet5/" + "+".join(f"{layer}_{r}" for layer in layers)
    else:
        return None
    return name if name in set(panels()["panel"]) else None


def paper_row(model: str, dataset: str, layers: str | tuple[str, ...], ratio: float) -> pd.Series | None:
    """The paper's published row for a setting (reference_results.csv), or None."""
    t, layers = results_table(), layer_names(layers)
    rec = paper_record(model, dataset, layers, ratio)
    name, text = (rec.model, rec.layers_text or "+".join(layers)) if rec is not None else (model, "+".join(layers))
    hit = t[(t["model"] == name) & (t["dataset"] == dataset) & (t["layers"] == text)
            & ((t["ratio"] - ratio).abs() < 1e-9)]
    return None if hit.empty else hit.iloc[0]


def model_row(model: str, dataset: str) -> pd.Series:
    """The paper's one published row of a model it shows at a single setting (Figure 3's large models)."""
    t = results_table()
    hit = t[(t["model"] == model) & (t["dataset"] == dataset)]
    if len(hit) != 1:
        raise ValueError(f"the paper publishes {len(hit)} rows for {model} / {dataset}, not one: use paper_row")
    return hit.iloc[0]


def figure_records(figure: int) -> list[tuple[str, PaperRecord]]:
    """(model, its PaperRecord) of every registered model the paper shows in ``figure`` (3: the large models)."""
    return [(name, r.paper) for name, r in MODELS.items() if r.paper is not None and r.paper.figure == figure]


def paper_points(panel: str) -> pd.DataFrame:
    """The recovered per-mask points of one panel: pruned_train_loss, final_test_acc (fractions)."""
    return points()[points()["panel"] == panel].reset_index(drop=True)


def paper_panel(panel: str) -> pd.Series:
    return panels().set_index("panel").loc[panel]


@lru_cache(maxsize=None)
def short_vs_full_table() -> pd.DataFrame:
    """reference_short_vs_full.csv: the paper's tau between short-retrain and full-retrain accuracy (Fig. 6)."""
    return pd.read_csv(REFERENCE_DIR / "reference_short_vs_full.csv")
