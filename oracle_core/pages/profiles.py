"""The profiles page: the same masks under several reductions, compared with the most thorough one, so what each
reduction changes is measured rather than assumed."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
from scipy.stats import kendalltau

from ..analysis import collect, reference
from ..analysis.agreement import UNDERTRAINED_PP
from ..analysis.oracle import paper_oracle
from ..experiment.grid import GridEntry
from ..experiment.protocol import profile_table
from ..experiment.results import stored_result
from .charts import COLORS
from .disagreements import CHECK_PROFILE


def profile_overview() -> tuple[pd.DataFrame, str]:
    """Every profile side by side (one column each, so the table fits the page) and, below it, each one's full
    reasons as a list."""
    rows = profile_table()
    table = pd.DataFrame(rows).set_index("profile").drop(columns="why").T
    why = "\n".join(f"- **`{r['profile']}`**: {r['why']}" for r in rows)
    return table, why


def profile_fidelity(results_root: Path | None = None,
                     profiles: tuple[str, ...] = ("cpu", "cpu_15k", "cpu_single"),
                     entry: GridEntry = GridEntry("lenet_mnist", "conv1", 0.5)) -> dict:
    """The same masks of one LeNet5-Mini/MNIST setting (default conv1 at 0.5; correct wiring, same pretrained
    network) under several reductions, each compared with the most thorough one (the last): how alike their pruned
    losses and final accuracies rank the masks, and every profile's tau next to the paper's."""
    e = entry
    res = {}
    for p in profiles:
        r = stored_result(e.spec(p), e.experiment, results_root)
        if r is not None:
            res[p] = r
    ref_name = profiles[-1]
    if len(res) < 2 or ref_name not in res:
        missing = ", ".join(f"`{p}`" for p in profiles if p not in res)
        return {"text": f"Not measured yet: {e.layers} at {e.ratio:g} has no finished run at profile {missing}.",
                "frame": None}
    base = res[ref_name].per_mask.set_index("mask_id")
    paper = reference.paper_row(e.model, e.dataset, tuple(e.layers.split("+")), e.ratio)
    rows, frames = {}, []
    for p, r in res.items():
        pm = r.per_mask.set_index("mask_id").loc[base.index]
        s = r.spec
        rows[p] = {"retraining epochs": s.retrain.epochs, "retraining images": s.retrain_subset or "all",
                   "pruned-loss images": s.loss_subset or "all",
                   "N": r.summary["n_masks"], "tau (pruned loss vs final acc)": round(r.summary["kendall_tau"], 3),
                   "anomaly %": round(100 * paper_oracle(r.summary).anomaly_ratio, 2),
                   "oracle's pick": paper_oracle(r.summary).kept,
                   "median final acc %": round(100 * r.summary["final_acc_median"], 2),
                   f"tau of pruned losses vs {ref_name}": round(kendalltau(pm["pruned_train_loss"],
                                                                          base["pruned_train_loss"]).statistic, 3),
                   f"tau of final accs vs {ref_name}": round(kendalltau(pm["final_test_acc"],
                                                                       base["final_test_acc"]).statistic, 3),
                   "retraining wall time (s)":
                       round(r.env.get("wall_s_this_invocation", {}).get("retrain_s", float("nan")))}
        if p != ref_name:
            frames.append(pd.DataFrame({"profile": p, "reference": base["final_test_acc"],
                                        "this": pm["final_test_acc"]}))
    rows["paper"] = {"retraining epochs": int(paper["retrain_epochs"]), "retraining images": "all",
                     "pruned-loss images": "all", "N": int(paper["n_masks"]),
                     "tau (pruned loss vs final acc)": float(paper["kendall_tau"]),
                     "anomaly %": float(paper["anomaly_ratio_percent"]), "oracle's pick": "n/a",
                     "median final acc %": float(paper["final_acc_median_percent"])}
    table = pd.DataFrame(rows).T
    m = pd.concat(frames)
    chart = alt.Chart(m).mark_circle(size=18, opacity=0.6, aria=False).encode(
        x=alt.X("reference:Q", title=f"final test accuracy, {ref_name} (fraction)", scale=alt.Scale(zero=False)),
        y=alt.Y("this:Q", title="final test accuracy, reduced profile (fraction)", scale=alt.Scale(zero=False)),
        color=alt.Color("profile:N", legend=alt.Legend(orient="bottom", title=None)),
    ).properties(width=300, height=240, title=alt.TitleParams(f"the same {len(base)} masks under each profile",
                                                              anchor="start"))
    taus = ", ".join(f"{table.loc[p, 'tau (pruned loss vs final acc)']:+.2f} under `{p}`" for p in res)
    text = (f"Measured on the {len(base)} masks every profile ran: the headline tau is {taus} (paper "
            f"{float(paper['kendall_tau']):+.2f}). The table gives, for each reduction, how closely its pruned losses "
            f"and its final accuracies rank the masks like `{ref_name}`'s.")
    return {"text": text, "frame": m, "table": table, "chart": chart}


def retraining_length_fidelity(results_root: Path | None = None) -> dict:
    """conv1 at 0.8 (45 masks), where `cpu` and the paper disagree in sign, under `cpu` (3 retraining epochs)
    and CHECK_PROFILE (the paper's 30), everything else equal: what the short retraining changes."""
    return profile_fidelity(results_root, ("cpu", CHECK_PROFILE), GridEntry("lenet_mnist", "conv1", 0.8))


def short_vs_converged(results_root: Path | None = None, short: str = "cpu", full: str = "converged") -> dict:
    """The lesson the `cpu` runs teach, measured: on every setting both profiles ran, how much lower their final
    accuracy is and which way their tau and anomaly ratio move when the retraining is cut to about 90 SGD steps."""
    t = collect.profile_pairs(collect.runs_table(results_root), short, full)
    if t.empty:
        return {"text": f"Not measured yet: no setting has finished runs at both `{short}` and `{full}`.",
                "frame": None}
    n = len(t)
    gap = t[f"median_acc_% {full}"] - t[f"median_acc_% {short}"]
    lower_tau = int((t[f"tau {short}"] < t[f"tau {full}"]).sum())
    dtau = (t[f"tau {short}"] - t[f"tau {full}"]).median()
    fewer = int((t[f"anomaly_% {short}"] < t[f"anomaly_% {full}"]).sum())
    text = (f"On the {n} settings both `{short}` and `{full}` have finished, `{short}`'s median final accuracy is "
            f"{gap.min():.1f} to {gap.max():.1f} pp below `{full}`'s ({int(t[f'under-trained {short}'].sum())} of "
            f"{n} are under-trained: more than {UNDERTRAINED_PP:g} pp below the paper's). Its tau is more negative in "
            f"{lower_tau} of {n} settings (median change {dtau:+.2f}) and its anomaly ratio is lower in {fewer} of "
            f"{n}" + (": with too little retraining the pruned loss looks like a better predictor of the final "
                      "accuracy than it is, and the oracle looks valid." if 2 * lower_tau > n else
                      ": on these settings the short retraining does not make the oracle look better.")
            + f" `{short}` is not this book's answer and is left out of every count.")
    long = pd.concat([pd.DataFrame({"setting": t.index, "tau": t[c], "profile": p})
                      for c, p in ((f"tau {short}", short), (f"tau {full}", full), ("paper_tau", "paper"))])
    domain = [short, full, "paper"]
    chart = alt.Chart(long).mark_point(filled=True, size=70, aria=False).encode(
        y=alt.Y("setting:N", sort=list(t.index), title=None),
        x=alt.X("tau:Q", title="Kendall tau (pruned loss vs final accuracy)", scale=alt.Scale(domain=[-1, 1])),
        color=alt.Color("profile:N", scale=alt.Scale(domain=domain, range=["#9ecae1", "#1f77b4", COLORS["paper"]]),
                        legend=alt.Legend(orient="bottom", title=None)),
        shape=alt.Shape("profile:N", scale=alt.Scale(domain=domain, range=["circle", "diamond", "square"])),
    ).properties(width=360, height=22 * n, title=alt.TitleParams(f"tau under {short} and {full}", anchor="start"))
    cols = {f"tau {short}": f"tau: {short}", f"tau {full}": f"tau: {full}", "paper_tau": "tau: paper",
            f"median_acc_% {short}": f"median acc %: {short}", f"median_acc_% {full}": f"median acc %: {full}",
            "paper_median_acc_%": "median acc %: paper"}
    table = t[list(cols)].rename(columns=cols).round(2)  # the page's width: anomaly ratios are in the sentence
    return {"text": text, "frame": long, "table": table, "chart": chart}
