"""How every page names a model and a setting: one name per thing across tables, charts and sentences (a chart's
"lenet5_mini / mnist" beside a table's "LeNet5-Mini / mnist" read as two settings)."""

from __future__ import annotations

from ..models import model_name

__all__ = ["model_name", "setting_name", "value_name"]


def setting_name(model: str, dataset: str, layers: str, ratio: float) -> str:
    """A setting as every table and chart across figures names it: "LeNet5-Mini / mnist / conv1 @ 0.5"."""
    return f"{model_name(model)} / {dataset} / {layers} @ {float(ratio):g}"


def value_name(value) -> str:
    """A value along a complexity axis (a ratio, layers, a dataset or a model) as a page prints it."""
    return model_name(value) if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)
