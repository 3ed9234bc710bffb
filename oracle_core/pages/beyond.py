"""The 'beyond the paper' chapter: criteria compared on the same masks, bootstrap intervals, the noise ceiling,
and the same setting from other pretrained networks.

Read-only over the results store (like every figure page); the Taylor criterion needs the training images of
the setting's dataset, which ``make book`` fetches.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd

from .. import data
from ..analysis import criteria, reference
from ..analysis.agreement import under_trained
from ..analysis.oracle import result_oracle
from ..analysis.panel import scatter_stats
from ..analysis.uncertainty import heterogeneity, repeat_taus
from ..compute.scoring import TAYLOR_IMAGES
from ..compute.stats import bootstrap
from . import charts, tables
from .cells import Cell, cells


def _label(c: Cell) -> str:
    e = c.entry
    base = f"{e.model.replace('lenet5_mini', 'LeNet5-Mini')} / {e.dataset} / {e.layers} @ {e.ratio:g}"
    return base


def criteria_table(cs: list[Cell], data_root: Path | None = None) -> pd.DataFrame:
    """Every stored setting x every criterion: pick, final accuracy, rank, regret, cost."""
    frames = []
    for c in cs:
        if c.result is None:
            continue
        tx = ty = None
        if data.dataset_present(c.entry.dataset, data_root):
            split = data.load_split(c.entry.dataset, True, data_root).head(TAYLOR_IMAGES)
            info = data.get_dataset_info(c.entry.dataset)
            tx, ty = data.to_float(split.images, info), split.labels
        t = criteria.compare(c.result, tx, ty).reset_index()
        t.insert(0, "setting", _label(c))
        t.insert(1, "N", c.result.summary["n_masks"])
        frames.append(t)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def criteria_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per criterion, across settings, leading with what a reader compares: mean and worst regret, median cost, then
    how many settings and how often it picked the best mask."""
    if table.empty:
        return table
    g = table.dropna(subset=["regret (pp)"]).groupby("criterion", sort=False)
    return pd.DataFrame({"mean regret (pp)": g["regret (pp)"].mean(), "worst regret (pp)": g["regret (pp)"].max(),
                         "median cost (model-images)": g["cost (model-images)"].median(), "settings": g.size(),
                         "picked the best mask": g["rank (1 = best)"].apply(lambda r: int((r == 1).sum()))})


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


def uncertainty_table(cs: list[Cell]) -> pd.DataFrame:
    """Kendall tau and anomaly ratio of every stored setting with 95% bootstrap intervals (over masks)."""
    rows = []
    for c in cs:
        if c.result is None:
            continue
        pm, po = c.result.per_mask, result_oracle(c.result)  # anomalies against the paper's oracle
        st = scatter_stats(pm["pruned_train_loss"].to_numpy(), pm["final_test_acc"].to_numpy(),
                           oracle_y=None if po is None else po["final_test_acc"])
        (t_lo, t_hi), (a_lo, a_hi) = st["tau_ci"], st["anomaly_ci"]
        rows.append({"setting": _label(c), "N": len(pm), "tau": st["kendall_tau"],
                     "tau 95% CI": f"[{t_lo:+.2f}, {t_hi:+.2f}]", "anomaly %": 100 * st["anomaly_ratio"],
                     "anomaly % 95% CI": f"[{100 * a_lo:.1f}, {100 * a_hi:.1f}]",
                     "tau CI excludes 0": bool(t_hi < 0 or t_lo > 0)})
    return pd.DataFrame(rows).set_index("setting") if rows else pd.DataFrame()


def noise_ceiling(profile: str, results_root: Path | None = None) -> pd.DataFrame:
    """Per noise-ceiling setting (the same masks retrained 2-3 times with different seeds): repeat_taus, with a
    reading in words; a setting whose median accuracy is more than UNDERTRAINED_PP below the paper's says so."""
    rows = []
    for c in cells(profile, "noise_ceiling", results_root):
        if c.result is None:
            rows.append({"setting": _label(c), "N": np.nan, "tau between repeats": np.nan,
                         "reading": f"not run yet: `{c.command}`"})
            continue
        t = repeat_taus(c.result.masks)
        e = c.entry
        ref = reference.paper_row(e.model, e.dataset, tuple(e.layers.split("+")), e.ratio)
        ci = bootstrap(c.result.per_mask["pruned_train_loss"].to_numpy(),
                                c.result.per_mask["final_test_acc"].to_numpy())
        single, ceil = t["tau pruned loss vs one retraining"], t["tau between repeats"]
        if ref is not None and under_trained(t["median acc %"], float(ref["final_acc_median_percent"])):
            reading = (f"under-trained (median {t['median acc %']:.2f}% vs the paper's "
                       f"{float(ref['final_acc_median_percent']):.2f}%): not a measure of the converged study")
        elif ci["kendall_tau"][0] <= 0 <= ci["kendall_tau"][1]:
            reading = "pruned-loss tau is indistinguishable from 0 (its 95% CI contains 0)"
        elif abs(single) < 0.5 * ceil:
            reading = (f"pruned loss predicts the ranking, but at under half of what one retraining predicts "
                       f"another ({abs(single):.2f} vs {ceil:.2f})")
        else:
            reading = (f"pruned loss predicts the ranking about as well as retraining noise allows "
                       f"({abs(single):.2f} vs {ceil:.2f})")
        rows.append({"setting": _label(c), **t, "reading": reading})
    return pd.DataFrame(rows).set_index("setting")


def pretrained_networks(profile: str, results_root: Path | None = None) -> pd.DataFrame:
    """The same setting from several pretrained networks (seed 0 is the figure's run; each other seed pretrains its
    own network and draws its own sample of masks): tau with its bootstrap interval over that network's masks, the
    anomaly ratio and the median final accuracy, one row per network. The paper's code seeds nothing, so its tau
    is one such draw; this table measures how far the draw alone moves it."""
    def setting(e) -> tuple:  # the wiring too: a released-code twin is another protocol, not another network
        return e.model, e.dataset, e.layers, e.ratio, e.wiring

    rows = []
    others = [c for c in cells(profile, "pretrain_seed", results_root) if c.result is not None]
    for key in dict.fromkeys(setting(c.entry) for c in others):
        base = cells(profile, "lenet_mnist", results_root, where=lambda e, key=key: setting(e) == key)
        nets = [c for c in base if c.result is not None] + [c for c in others if setting(c.entry) == key]
        ref = reference.paper_row(key[0], key[1], tuple(key[2].split("+")), key[3])
        for c in nets:
            pm, po = c.result.per_mask, result_oracle(c.result)
            st = scatter_stats(pm["pruned_train_loss"].to_numpy(), pm["final_test_acc"].to_numpy(),
                               oracle_y=None if po is None else po["final_test_acc"])
            lo, hi = st["tau_ci"]
            rows.append({"setting": _label(c), "seed": c.entry.seed, "N": len(pm), "tau": st["kendall_tau"],
                         "tau 95% CI": f"[{lo:+.2f}, {hi:+.2f}]",
                         "tau s.e.": st["tau_se"],
                         "anomaly %": 100 * st["anomaly_ratio"],
                         "median acc %": 100 * float(pm["final_test_acc"].median()),
                         "paper tau": np.nan if ref is None else float(ref["kendall_tau"])})
    return pd.DataFrame(rows).set_index("setting") if rows else pd.DataFrame()


def networks_conclusion(nets: pd.DataFrame) -> str:
    """One line per setting with two or more pretrained networks: whether their taus differ by more than the masks
    drawn explain (Cochran's Q over the networks' bootstrap standard errors), and whether the paper's tau lies within
    the networks' range."""
    out = []
    if nets.empty:
        return ""
    for setting, g in nets.groupby(level=0, sort=False):
        if len(g) < 2:
            continue
        h = heterogeneity(list(g["tau"]), list(g["tau s.e."]))
        lo, hi, theirs = g["tau"].min(), g["tau"].max(), g["paper tau"].iloc[0]
        paper = "" if theirs != theirs else (
            f" The paper's tau ({theirs:+.2f}, from one network) lies "
            + ("within" if lo <= theirs <= hi else "outside") + " the range of ours.")
        differ = h["p"] < HETEROGENEITY_P
        out.append(f"- {setting}: {h['k']} pretrained networks (seeds {', '.join(str(s) for s in g['seed'])}) give "
                   f"tau from {lo:+.2f} to {hi:+.2f} (standard deviation {h['sd between']:.2f}), while the masks drawn "
                   f"move one network's tau by a standard error of about {h['mean se']:.2f} (bootstrap over its "
                   f"{int(g['N'].iloc[0])} masks); Cochran's Q = {h['Q']:.1f}, p = {h['p']:.2g}: "
                   + ("**the networks differ by more than the masks explain**, so a tau measured on one pretrained "
                      "network, with an interval over its masks, understates how far another network's tau may lie."
                      if differ else "the networks differ by no more than the masks drawn explain.") + paper)
    return "\n".join(out)


HETEROGENEITY_P = 0.05  # Cochran's Q p-value below which the pretrained networks' taus are read as different


SMALL_ATTENUATION = 0.1  # |1 - |tau one| / |tau mean||: below this, one retraining per mask does not matter


def conclusions(summary: pd.DataFrame, unc: pd.DataFrame, noise: pd.DataFrame,
                nets: pd.DataFrame | None = None) -> str:
    """Plain-language findings, each computed from the tables above it."""
    out = []
    if not summary.empty:
        s = summary.sort_values("mean regret (pp)")
        low = s["mean regret (pp)"].iloc[0]
        best = [f"**{k}** (over {int(s.loc[k, 'settings'])} setting(s))" for k, v in s["mean regret (pp)"].items()
                if v <= low + 1e-9]
        each = "; ".join(f"{k.split(' (')[0]} {v:.2f} pp over {int(s.loc[k, 'settings'])}"
                         for k, v in s["mean regret (pp)"].items())
        out.append(f"- The lowest mean regret ({low:.2f} pp) is reached by {', '.join(best)}. Each criterion's mean "
                   f"regret, lowest first: {each} (settings differ where a criterion has no pick).")
    if not unc.empty:
        n0 = int((~unc["tau CI excludes 0"]).sum())
        out.append(f"- In {len(unc) - n0} of {len(unc)} setting(s) the bootstrap interval of tau excludes 0; in {n0} "
                   "it does not, so there the sign of the correlation is not established by these masks.")
    done = noise.dropna(subset=["tau between repeats"]) if not noise.empty else noise
    if len(done):
        under = done["reading"].str.startswith("under-trained")
        if under.all():
            out.append(f"- The noise-ceiling setting(s) at this profile are under-trained ({', '.join(done.index)}): "
                       "their repeats measure the noise of short retraining, not of the converged study.")
        done = done[~under]
    if len(done):
        between = done["tau between repeats"]
        out.append(f"- Retraining the same masks with another seed reproduces their ranking with tau "
                   f"{tables.value_range(between.min(), between.max())}: "
                   "that is the most any pre-retraining score could achieve on this profile.")
        att = done["attenuation by one retraining"].dropna()
        if len(att):
            lo, hi = 100 * att.min(), 100 * att.max()
            span = f"{lo:+.0f}%" if round(lo) == round(hi) else f"{lo:+.0f}% to {hi:+.0f}%"
            taus = (f"pruned-loss tau {done['tau pruned loss vs one retraining'].round(2).tolist()} against one "
                    f"retraining, {done['tau pruned loss vs mean of repeats'].round(2).tolist()} against the mean")
            if att.abs().max() < SMALL_ATTENUATION:
                reading = (f": one retraining per mask barely changes tau (under {100 * SMALL_ATTENUATION:.0f}%), so "
                           "averaging retrainings as the paper does would not move it toward the paper's.")
            elif att.min() > 0:
                reading = (": here retraining noise pulls tau toward 0, so it cannot explain a tau more negative "
                           "than the paper's.")
            else:
                reading = ": here one retraining makes tau stronger than the mean of the retrainings does."
            out.append(f"- Against the mean of {int(done['repeats'].max())} retrainings, the attenuation by one "
                       f"retraining (1 - |tau one| / |tau mean|) is {span} ({taus}){reading}")
    networks = "" if nets is None else networks_conclusion(nets)
    if networks:
        out.append(networks)
    return "\n".join(out) or "No setting is in the results store yet at this profile."
