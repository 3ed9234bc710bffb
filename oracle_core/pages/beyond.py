"""The 'beyond the paper' chapter, worded: criteria compared on the same masks, bootstrap intervals, the noise
ceiling, and the same setting from other pretrained networks. Every number comes from analysis (criteria, panel,
noise, networks); this module only charts, formats and words it."""

from __future__ import annotations

import altair as alt
import pandas as pd

from ..analysis.agreement import UNDERTRAINED_PP
from ..analysis.criteria import RegretReading
from ..analysis.networks import NetworkReading
from ..analysis.noise import (
    AT_CEILING,
    INDISTINGUISHABLE,
    NOT_RUN,
    SMALL_ATTENUATION,
    UNDER_HALF,
    UNDER_TRAINED,
    CeilingReading,
)
from . import charts, tables


def regret_chart(table: pd.DataFrame) -> alt.Chart:
    """Regret of each criterion's pick in every setting (0 = it picked the best mask after retraining; below 0 =
    its pick, retrained beside a sample, beat every sampled mask). The oracle is the star, as in every panel."""
    t = table.dropna(subset=["regret (pp)"])
    crit = list(dict.fromkeys(t["criterion"]))
    palette = ["#1f1f1f", "#ff7f0e", "#9467bd", "#7f7f7f", "#2ca02c", "#17becf"]
    shapes = ["circle", "square", "diamond", "triangle-up", "cross", "triangle-down"]
    shape_of = {k: charts.STAR if k.startswith("oracle") else shapes[i % len(shapes)] for i, k in enumerate(crit)}
    return alt.Chart(t).mark_point(filled=True, size=70).encode(
        y=alt.Y("setting:N", title=None, axis=alt.Axis(labelLimit=300)),
        x=alt.X("regret (pp):Q", title="regret: best final accuracy minus the pick's (percentage points)"),
        color=alt.Color("criterion:N", scale=alt.Scale(domain=crit, range=palette[: len(crit)]),
                        legend=alt.Legend(orient="bottom", columns=1, title=None, labelLimit=600)),
        shape=alt.Shape("criterion:N", scale=alt.Scale(domain=crit, range=[shape_of[k] for k in crit]),
                        legend=alt.Legend(orient="bottom", columns=1, title=None, labelLimit=600)),
        tooltip=["setting", "criterion", "pick", alt.Tooltip("regret (pp):Q", format=".2f"), "rank (1 = best)"],
    ).properties(width=420, height=alt.Step(22))


FULL_COLUMNS = ("criterion", "regret (pp)", "cost (model-images)", "setting", "rank (1 = best)", "final acc %", "N",
                "pick")


def full_table_html(table: pd.DataFrame) -> str:
    """Every row of the criteria table, collapsed under one click (it has a row per setting and criterion), leading
    with criterion (its short name), regret and cost; how each cost is counted is said once above, not on every
    row, and a pick's filters are spaced so that a long one wraps."""
    t = table.assign(criterion=table["key"], pick=table["pick"].astype(str).str.replace(",", ", "))
    t = t[[c for c in FULL_COLUMNS if c in t]].set_index("criterion")
    return (f"<details><summary>All {len(t)} rows: every setting and criterion</summary>"
            f"{tables.to_html(t)}</details>")


_READING = {
    UNDER_TRAINED: lambda r: (f"under-trained (median {r['median acc %']:.2f}% vs the paper's "
                              f"{r['paper median acc %']:.2f}%): not a measure of the converged study"),
    INDISTINGUISHABLE: lambda r: "pruned-loss tau is indistinguishable from 0 (its 95% CI contains 0)",
    UNDER_HALF: lambda r: (f"pruned loss predicts the ranking, but at under half of what one retraining predicts "
                           f"another ({abs(r['tau pruned loss vs one retraining']):.2f} vs "
                           f"{r['tau between repeats']:.2f})"),
    AT_CEILING: lambda r: (f"pruned loss predicts the ranking about as well as retraining noise allows "
                           f"({abs(r['tau pruned loss vs one retraining']):.2f} vs {r['tau between repeats']:.2f})"),
    NOT_RUN: lambda r: f"not run yet: `{r['command']}`",
}


def noise_view(noise: pd.DataFrame) -> pd.DataFrame:
    """analysis.noise.noise_ceiling as the page shows it: its numbers and a reading in words."""
    if noise.empty:
        return noise
    t = noise.copy()
    t["reading"] = [_READING[s](r) for s, (_, r) in zip(t["state"], t.iterrows())]
    return t.drop(columns=["state", "command", "paper median acc %"], errors="ignore")


def _left_out(r: NetworkReading) -> str:
    if not r.left_out:
        return ""
    nets = ", ".join(map(str, r.left_out))
    return (f" (network{'s' if len(r.left_out) > 1 else ''} {nets} left out: median final accuracy more than "
            f"{UNDERTRAINED_PP:g} pp below the paper's, so {'their' if len(r.left_out) > 1 else 'its'} tau answers "
            "nothing)")


def _network_spread(r: NetworkReading) -> str:
    """How far one wiring's networks move tau, against what the masks drawn explain (Cochran's Q)."""
    if r.k < 2:
        return (f"{r.k} converged network{'' if r.k == 1 else 's'}{_left_out(r)}, too few to read how far the "
                "network moves tau.")
    return (f"tau from {r.lo:+.2f} to {r.hi:+.2f} (their standard deviation {r.sd_taus:.2f}; {r.sd_between:.2f} once "
            f"the masks' own noise is taken out, the figure the verdicts use), while the masks drawn move one "
            f"network's tau by a standard error of about {r.mean_se:.2f} (bootstrap over its {r.n_masks} masks); "
            f"Cochran's Q = {r.q:.1f}, p = {r.p:.2g}{_left_out(r)}: "
            + ("**the networks differ by more than the masks explain**, so a tau measured on one pretrained network, "
               "with an interval over its masks, understates how far another network's tau may lie."
               if r.differ else "the networks differ by no more than the masks drawn explain."))


def networks_conclusion(readings: list[NetworkReading]) -> str:
    """One item per setting with two or more pretrained networks (analysis.networks.network_readings): the released-
    code twins first, the only runs the paper's tau is compared with (the protocol its code ran), then the correctly
    wired runs (the study the paper intended)."""
    by_setting: dict[str, dict[str, NetworkReading]] = {}
    for r in readings:
        by_setting.setdefault(r.setting, {})[r.wiring] = r
    out = []
    for setting, rs in by_setting.items():
        first = rs.get("released_code") or rs["correct"]
        seeds = sorted({*first.seeds, *first.left_out})
        parts = [f"- {setting}: {len(seeds)} pretrained networks (seeds {', '.join(map(str, seeds))})."]
        twin = rs.get("released_code")
        if twin is not None:
            paper = "" if twin.paper_within is None else (
                f" The paper's tau ({twin.paper_tau:+.2f}, from one network) lies "
                + ("within" if twin.paper_within else "outside") + " the range of our released-code twins.")
            parts.append("Run as the paper's code ran (released-code twins: same networks and masks), "
                         + ("they give " if twin.k >= 2 else "") + f"{_network_spread(twin)}{paper}")
        if "correct" in rs:
            alone = "" if twin is not None else (
                " Their released-code twins are not stored, so the paper's tau is not compared with them here.")
            c = rs["correct"]
            parts.append("Correctly wired (the study the paper intended), "
                         + (f"{c.k} networks give " if c.k >= 2 else "") + f"{_network_spread(c)}{alone}")
        out.append(" ".join(parts))
    return "\n".join(out)


def conclusions(regret: RegretReading | None, unc: pd.DataFrame, ceiling: tuple[tuple[str, ...],
                CeilingReading | None], networks: list[NetworkReading] = ()) -> str:
    """Plain-language findings, each from the analysis result above it: the criteria's regret
    (criteria.regret_reading), the tau intervals (panel.interval_table), the noise ceiling (noise.ceiling_reading)
    and the pretrained networks (networks.network_readings)."""
    out = []
    if regret is not None:
        best = [f"**{k}** (over {n} setting(s))" for k, v, n in regret.by_criterion if k in regret.best]
        each = "; ".join(f"{k.split(' (')[0]} {v:.2f} pp over {n}" for k, v, n in regret.by_criterion)
        out.append(f"- The lowest mean regret ({regret.lowest:.2f} pp) is reached by {', '.join(best)}. Each "
                   f"criterion's mean regret, lowest first: {each} (settings differ where a criterion has no pick).")
    if not unc.empty:
        n0 = int((~unc["tau CI excludes 0"]).sum())
        out.append(f"- In {len(unc) - n0} of {len(unc)} setting(s) the bootstrap interval of tau excludes 0; in {n0} "
                   "it does not, so there the sign of the correlation is not established by these masks.")
    under, c = ceiling
    if under and c is None:
        out.append(f"- The noise-ceiling setting(s) at this profile are under-trained ({', '.join(under)}): "
                   "their repeats measure the noise of short retraining, not of the converged study.")
    if c is not None:
        out.append(f"- Retraining the same masks with another seed reproduces their ranking with tau "
                   f"{tables.value_range(c.ceiling_lo, c.ceiling_hi)}: "
                   "that is the most any pre-retraining score could achieve on this profile.")
        if c.attenuation:
            lo, hi = c.attenuation_lo, c.attenuation_hi
            span = f"{lo:+.0f}%" if round(lo) == round(hi) else f"{lo:+.0f}% to {hi:+.0f}%"
            taus = (f"pruned-loss tau {list(c.taus_one)} against one retraining, {list(c.taus_mean)} against the "
                    "mean")
            reading = {
                "small": (f": one retraining per mask barely changes tau (under {100 * SMALL_ATTENUATION:.0f}%), so "
                          "averaging retrainings as the paper does would not move it toward the paper's."),
                "toward 0": (": here retraining noise pulls tau toward 0, so it cannot explain a tau more negative "
                             "than the paper's."),
                "stronger": ": here one retraining makes tau stronger than the mean of the retrainings does."}[
                    c.attenuation]
            out.append(f"- Against the mean of {c.repeats} retrainings, the attenuation by one retraining "
                       f"(1 - |tau one| / |tau mean|) is {span} ({taus}){reading}")
    text = networks_conclusion(list(networks))
    if text:
        out.append(text)
    return "\n".join(out) or "No setting is in the results store yet at this profile."
