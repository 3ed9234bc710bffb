"""The profiles page: the same masks under several reductions, compared with the most thorough one, so what each
reduction changes is measured rather than assumed. The measurements are analysis.fidelity's; this module words and
charts them."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd

from ..analysis.agreement import UNDERTRAINED_PP
from ..analysis.fidelity import profile_fidelity as measure_fidelity
from ..analysis.fidelity import profiles_table, short_vs_full
from ..analysis.stored import GridEntry
from .charts import COLORS
from .disagreements import CHECK_PROFILE


def profile_overview() -> tuple[pd.DataFrame, str]:
    """Every profile side by side (one column each, so the table fits the page) and, below it, each one's full
    reasons as a list."""
    rows = profiles_table()
    table = pd.DataFrame(rows).set_index("profile").drop(columns="why").T
    why = "\n".join(f"- **`{r['profile']}`**: {r['why']}" for r in rows)
    return table, why


def profile_fidelity(results_root: Path | None = None,
                     profiles: tuple[str, ...] = ("cpu", "cpu_15k", "cpu_single"),
                     entry: GridEntry = GridEntry("lenet_mnist", "conv1", 0.5)) -> dict:
    """analysis.fidelity.profile_fidelity worded and charted: {text, frame, table, chart} (frame None until two
    profiles ran)."""
    f = measure_fidelity(results_root, profiles, entry)
    e = f.entry
    if f.table is None:
        missing = ", ".join(f"`{p}`" for p in f.missing)
        return {"text": f"Not measured yet: {e.layers} at {e.ratio:g} has no finished run at profile {missing}.",
                "frame": None}
    chart = alt.Chart(f.frame).mark_circle(size=18, opacity=0.6, aria=False).encode(
        x=alt.X("reference:Q", title=f"final test accuracy, {f.reference} (fraction)", scale=alt.Scale(zero=False)),
        y=alt.Y("this:Q", title="final test accuracy, reduced profile (fraction)", scale=alt.Scale(zero=False)),
        color=alt.Color("profile:N", legend=alt.Legend(orient="bottom", title=None)),
    ).properties(width=300, height=240, title=alt.TitleParams(f"the same {f.n_masks} masks under each profile",
                                                              anchor="start"))
    ran = [p for p in f.table.index if p != "paper"]
    taus = ", ".join(f"{f.table.loc[p, 'tau (pruned loss vs final acc)']:+.2f} under `{p}`" for p in ran)
    text = (f"Measured on the {f.n_masks} masks every profile ran: the headline tau is {taus} (paper "
            f"{f.paper_tau:+.2f}). The table gives, for each reduction, how closely its pruned losses "
            f"and its final accuracies rank the masks like `{f.reference}`'s.")
    return {"text": text, "frame": f.frame, "table": f.table, "chart": chart}


def retraining_length_fidelity(results_root: Path | None = None) -> dict:
    """conv1 at 0.8 (45 masks), where `cpu` and the paper disagree in sign, under `cpu` (3 retraining epochs)
    and CHECK_PROFILE (the paper's 30), everything else equal: what the short retraining changes."""
    return profile_fidelity(results_root, ("cpu", CHECK_PROFILE), GridEntry("lenet_mnist", "conv1", 0.8))


def short_vs_converged(results_root: Path | None = None, short: str = "cpu", full: str = "converged") -> dict:
    """The lesson the `cpu` runs teach (analysis.fidelity.short_vs_full), worded and charted."""
    r = short_vs_full(results_root, short, full)
    if r is None:
        return {"text": f"Not measured yet: no setting has finished runs at both `{short}` and `{full}`.",
                "frame": None}
    t, n = r.pairs, r.n
    text = (f"On the {n} settings both `{short}` and `{full}` have finished, `{short}`'s median final accuracy is "
            f"{r.gap_lo:.1f} to {r.gap_hi:.1f} pp below `{full}`'s ({r.n_under} of "
            f"{n} are under-trained: more than {UNDERTRAINED_PP:g} pp below the paper's). Its tau is more negative in "
            f"{r.lower_tau} of {n} settings (median change {r.dtau:+.2f}) and its anomaly ratio is lower in "
            f"{r.fewer_anomalies} of {n}" + (
                ": with too little retraining the pruned loss looks like a better predictor of the final "
                "accuracy than it is, and the oracle looks valid." if r.flatters_the_oracle else
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
    table = t[list(cols)].rename(columns=cols)  # the page's width: anomaly ratios are in the sentence
    return {"text": text, "frame": long, "table": table, "chart": chart}
