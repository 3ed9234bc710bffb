"""The summary page: Kendall tau against each axis of task complexity, ours beside the paper's."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd

from ..experiment.grid import GridEntry
from . import charts
from .cells import cells
from .figure import setting_table, tau_vs


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """collect.with_paper's table as the page shows it: one named setting per row, the paper's number beside ours
    for each quantity, and the verdict."""
    t = table
    name = (t["model"].str.replace("lenet5_mini", "LeNet5-Mini") + " / " + t["dataset"] + " / " + t["layers"]
            + " @ " + t["ratio"].map("{:g}".format))
    out = pd.DataFrame({"N paper": t["paper_n"], "N ours": t["n_masks"],
                        "tau paper": t["paper_tau"], "tau ours": t["our_tau"].round(2),
                        "p paper": t["paper_p"], "p ours": t["our_p"],
                        "anomaly % paper": t["paper_anomaly_%"], "anomaly % ours": t["our_anomaly_%"].round(1),
                        "median acc % paper": t["paper_median_acc_%"], "median acc % ours": t["our_median_acc_%"],
                        "verdict": t["verdict"]})
    out.index = pd.Index(name, name="setting")
    return out


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
        panels.append(tau_vs(t, "setting", name, order=list(t.index)).properties(width=250, height=180, title=name))
    return charts.grid(panels, columns=2)
