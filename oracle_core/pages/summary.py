"""The summary page: Kendall tau against each axis of task complexity, ours beside the paper's."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd

from ..analysis.answer import Answer
from ..analysis.names import setting_name, value_name
from ..analysis.stored import GridEntry, stored_settings
from ..analysis.trends import AXES
from . import charts
from .figure import setting_table, tau_vs
from .setting import collapse_text


def readable(table: pd.DataFrame, twins: pd.DataFrame) -> pd.DataFrame:
    """collect.with_paper's table as the page shows it: one named setting per row, the paper's number beside ours
    for each quantity, and the verdict. ``twins`` (with_paper at the released code's wiring) puts our released-code
    twin's numbers between the paper's and the correctly wired run's: the verdict compares the paper's with the
    twin, so the number it judges stands next to it; the correct wiring is the study the paper intended (a setting
    whose twin is not stored has empty twin cells). Our N (the profile's sample), the p values and the correct
    wiring's anomaly ratio stay on the figure pages: more columns would not fit the page's."""
    t = table
    name = [setting_name(*k) for k in zip(t["model"], t["dataset"], t["layers"], t["ratio"])]
    key = ["model", "dataset", "layers", "ratio"]
    tw = t[key].merge(twins[key + ["our_tau", "our_anomaly_%", "our_median_acc_%"]], on=key, how="left")
    tw.index = t.index
    out = pd.DataFrame({"N paper": t["paper_n"],
                        "tau paper": t["paper_tau"], "tau ours twin": tw["our_tau"],
                        "tau ours correct": t["our_tau"],
                        "anomaly % paper": t["paper_anomaly_%"], "anomaly % ours twin": tw["our_anomaly_%"],
                        "median acc % paper": t["paper_median_acc_%"],
                        "median acc % ours twin": tw["our_median_acc_%"],
                        "median acc % ours correct": t["our_median_acc_%"], "verdict": t["verdict"]})
    out.index = pd.Index(name, name="setting")
    return out


def like_for_like_view(lfl: pd.DataFrame) -> pd.DataFrame:
    """like_for_like's table as the summary shows it: every tau named as one (so it prints as every tau in the book
    does, tables.formatter), the compared run in two words, its median final accuracy beside the paper's (the
    compared run: the released-code twin, or the correct wiring while the twin is not stored), the verdict."""
    t = lfl.set_index("setting")
    out = pd.DataFrame({"tau paper": t["paper tau"], "tau ours correct": t["ours correct"],
                        "tau ours released": t["ours released"],
                        "compared": t["compared"].map({"released-code twin": "released twin"}).fillna(
                            "none (no twin yet)"),
                        "tau difference": t["difference"], "interval ± (tau)": t["interval ±"],
                        "median acc % paper": t["paper median acc %"],
                        "median acc % ours compared": t["compared median acc %"], "verdict": t["verdict"]})
    return out


def complexity_chart(profile: str, results_root: Path | None = None) -> alt.VConcatChart:
    """Tau against each axis of task complexity (analysis.trends.AXES, the axes the trend sentences read), one
    panel per axis: the paper's, our released-code twins' where stored, our correctly wired runs' (tau_vs)."""
    panels = []
    for axis in AXES:
        def where(e: GridEntry, axis=axis) -> bool:  # stored_settings keeps the correct wiring, no checks
            return axis.holds(model=e.model, dataset=e.dataset, layers=e.layers, ratio=e.ratio)

        cs = sorted(stored_settings(profile, None, results_root, where=where),
                    key=lambda c: (axis.position(getattr(c.entry, axis.vary)), c.entry.layers))
        t = setting_table(cs)
        # each tick names the value that varies (the shared base setting reads mnist / LeNet5-Mini / 0.5 on its
        # axes, not conv1 @ 0.5 on every one)
        t.index = pd.Index([value_name(getattr(c.entry, axis.vary)) for c in cs], name="setting")
        panels.append(tau_vs(t, "setting", axis.name, order=list(t.index)).properties(width=250, height=180,
                                                                                       title=axis.name))
    return charts.grid(panels, columns=2)


def answer_markdown(a: Answer, profile: str) -> str:
    """The study's answer in two to four computed sentences (front page and summary)."""
    plural = len(a.waiting) > 1
    waiting = (f"Not compared yet: {len(a.waiting)} setting{'s' if plural else ''} with only the correctly wired run "
               f"stored ({', '.join(a.waiting)}); the grid queues {'their twins' if plural else 'its twin'} (the "
               "paper's code's wiring on the same network and masks)." if a.waiting else "")
    left_out = []
    if a.twin_short:
        names = ", ".join(f"{t.setting} (median {t.median_gap_pp:+.1f} pp)" for t in a.twin_short)
        left_out.append(f"Left out of that comparison: in {len(a.twin_short)} setting(s), {names}, our released-code "
                        "twin's networks end far below the paper's accuracy, so that twin is not the run the paper "
                        "measured.")
        for t in a.twin_short:
            reason = collapse_text(t.collapse, "the twin's" if len(a.twin_short) == 1 else f"the {t.setting} twin's",
                                   t.networks)
            if reason:
                left_out.append(reason)
    if not a.n_compared:
        return " ".join([f"No published setting has its released-code twin (the protocol the paper's code ran) "
                         f"converged at the `{profile}` profile yet, so none is compared with the paper's.",
                         *([waiting] if waiting else []), *left_out])
    against = "our run of the protocol its code ran (the released-code twin: same network and masks, its wiring)"
    nets = (f"a between-network standard deviation of {a.network_sd:.2f} estimated from {a.networks} pretrained "
            f"networks on {a.network_settings} setting(s)" if a.network_settings else
            "no between-network term yet (no setting has two pretrained networks stored)")
    text = [f"**Compared like with like**, the paper's tau against {against}, ours lies inside the interval that "
            f"the masks and the pretrained network give (on average ±{a.mean_halfwidth:.2f}: bootstrap over each "
            f"side's masks plus {nets}) in **{a.n_agree} of {a.n_compared}** converged settings"
            + (f" and outside it in {a.n_differ} ({', '.join(a.differing)})." if a.n_differ else ".")]
    if waiting:
        text.append(waiting)
    text += left_out
    oracle = "its own definition of the oracle (the lowest pruned loss over every candidate) and its own flags"
    if a.n_fail_twin_of:
        text.append(f"With {oracle}, **the oracle fails in {a.n_fail_twin} of our {a.n_fail_twin_of} converged "
                    f"released-code twins**; the paper's numbers flag {a.n_fail_paper_twin_same} of the same "
                    f"settings. In the study the paper intended (correct wiring) it fails in {a.n_fail_ours} of our "
                    f"{a.n_fail_of or a.n_compared} converged settings (the paper's numbers flag "
                    f"{a.n_fail_paper_same} of those).")
    else:
        text.append(f"In the study the paper intended (correct wiring), with {oracle}, **the oracle fails in "
                    f"{a.n_fail_ours} of our {a.n_fail_of or a.n_compared} converged settings**; the paper's numbers "
                    f"flag {a.n_fail_paper_same} of the same settings.")
    if a.network_settings:
        text.append(f"The pretrained network alone moves tau by a standard deviation of about {a.network_sd:.2f}, so "
                    "a single network's tau, the paper's or ours, is one draw: a fixed threshold on the difference "
                    "cannot decide agreement.")
    text.append(f"Which sub-networks the paper scored: of the {a.n_protocol_both} setting(s) with both twins stored, "
                f"the paper's pruned losses resemble the released code's wiring in {a.n_protocol_released}"
                f" ({a.n_protocol_settled} by more than the networks move the distance)."
                if a.n_protocol_both else
                "Which sub-networks the paper scored is not measured at this profile yet: no setting has both its "
                "correct and its released-code twin stored (the grid runs them first).")
    return " ".join(text)
