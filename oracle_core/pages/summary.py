"""The summary page: Kendall tau against each axis of task complexity, ours beside the paper's."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd

from ..analysis.trends import AXES
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
    """Tau against each axis of task complexity (analysis.trends.AXES, the axes the trend sentences read), one
    panel per axis, ours and the paper's."""
    panels = []
    for axis in AXES:
        def where(e: GridEntry, axis=axis) -> bool:  # cells() already keeps the correct wiring, no auxiliary runs
            return axis.holds(model=e.model, dataset=e.dataset, layers=e.layers, ratio=e.ratio)

        cs = sorted(cells(profile, None, results_root, where=where),
                    key=lambda c: (axis.position(getattr(c.entry, axis.vary)), c.entry.layers))
        t = setting_table(cs)
        panels.append(tau_vs(t, "setting", axis.name, order=list(t.index)).properties(width=250, height=180,
                                                                                       title=axis.name))
    return charts.grid(panels, columns=2)
