"""The summary page: Kendall tau against each axis of task complexity, ours beside the paper's."""

from __future__ import annotations

from pathlib import Path

import altair as alt

from ..experiment.grid import GridEntry
from . import charts
from .cells import cells
from .figure import setting_table, tau_vs


def complexity_chart(profile: str, results_root: Path | None = None) -> alt.VConcatChart:
    """Tau against each axis of task complexity, one panel per axis, ours and the paper's."""
    def base(e: GridEntry) -> bool:
        return e.model == "lenet5_mini" and e.dataset == "mnist" and e.layers == "conv1" and e.ratio == 0.5

    axes = [
        ("dataset", lambda e: base(e) or (e.experiment == "mnist_variants")),
        ("depth", lambda e: base(e) or e.model[-2:] in ("d6", "d7", "d8")),
        ("width", lambda e: base(e) or e.model[-3:] in ("w20", "w30", "w40")),
        ("pruned layers", lambda e: e.model == "lenet5_mini" and e.dataset == "mnist" and e.ratio == 0.5),
        ("conv1 ratio", lambda e: e.model == "lenet5_mini" and e.dataset == "mnist" and e.layers == "conv1"),
    ]
    panels = []
    for name, where in axes:
        cs = cells(profile, None, results_root, where=where)
        if name == "pruned layers":
            cs = sorted(cs, key=lambda c: (c.entry.layers.count("+"), c.entry.layers))
        t = setting_table(cs)
        panels.append(tau_vs(t, "setting", name, order=list(t.index)).properties(width=200, height=180, title=name))
    return charts.grid(panels, columns=3)
