"""One altair helper for every figure: stable colors and markers, rendered to SVG offline (no CDN)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from ..analysis.agreement import FAIL_TAU
from ..analysis.panel import scatter_stats

COLORS = {"oracle": "#1f1f1f", "anomaly": "#d62728", "other": "#2ca02c", "paper": "#7f7f7f"}
STAR = ("M0,-1L0.2245,-0.309L0.951,-0.309L0.363,0.118L0.588,0.809L0,0.382L-0.588,0.809L-0.363,0.118"
        "L-0.951,-0.309L-0.2245,-0.309Z")
LABELS = {"pruned_train_loss": "pruned train loss (mean cross-entropy, nats)",
          "final_test_acc": "final test accuracy (fraction)",
          "final_test_loss": "final test loss (mean cross-entropy, nats)",
          "short_retrain_test_acc": "short-retrain test accuracy (fraction)"}


def enable_offline() -> None:
    """Render every chart as inline SVG through vl-convert: no JavaScript, no network."""
    alt.renderers.enable("svg")
    alt.data_transformers.disable_max_rows()


def oracle_scatter(df: pd.DataFrame, y: str = "final_test_acc", x: str = "pruned_train_loss", title: str = "",
                   width: int = 300, height: int = 240, x_domain: tuple[float, float] | None = None,
                   y_domain: tuple[float, float] | None = None) -> alt.LayerChart:
    """The paper's panel: one point per mask, the oracle (argmin x) as a star with dashed guides, anomalies
    (better than the oracle after retraining) red, the rest green; tau, p and anomaly ratio in the subtitle."""
    higher = y != "final_test_loss"
    d = df[[x, y] + [c for c in ("kept", "mask_id") if c in df]].copy()
    st = scatter_stats(d[x].to_numpy(), d[y].to_numpy(), higher)  # analysis/panel.py: the chart only draws
    d["role"] = st["roles"]
    (t_lo, t_hi), (a_lo, a_hi) = st["tau_ci"], st["anomaly_ci"]
    sub = [f"Kendall tau {st['kendall_tau']:+.2f} [{t_lo:+.2f}, {t_hi:+.2f}], p {st['p_value']:.2g}",
           f"anomaly ratio {100 * st['anomaly_ratio']:.1f}% [{100 * a_lo:.1f}, {100 * a_hi:.1f}] "
           f"(N={st['n']}; 95% CI)"]
    xs = alt.Scale(zero=False, domain=list(x_domain)) if x_domain else alt.Scale(zero=False)
    ys = alt.Scale(zero=False, domain=list(y_domain)) if y_domain else alt.Scale(zero=False)
    color = alt.Color("role:N", scale=alt.Scale(domain=list(COLORS)[:3], range=[COLORS[k] for k in list(COLORS)[:3]]),
                      legend=alt.Legend(title=None, orient="bottom"))
    tooltip = [c for c in ("kept", x, y) if c in d]
    base = alt.Chart(d)
    # aria=False: no per-point accessibility label in the SVG (it repeated every tooltip value and made a 25-panel
    # page 7 MB); the numbers stay in the results store and the tables
    points = base.transform_filter(alt.datum.role != "oracle").mark_circle(size=22, opacity=0.75, aria=False).encode(
        x=alt.X(f"{x}:Q", title=LABELS.get(x, x), scale=xs), y=alt.Y(f"{y}:Q", title=LABELS.get(y, y), scale=ys),
        color=color, tooltip=tooltip)
    oracle = base.transform_filter(alt.datum.role == "oracle")
    star = oracle.mark_point(shape=STAR, size=260, filled=True, color=COLORS["oracle"]).encode(
        x=f"{x}:Q", y=f"{y}:Q", tooltip=tooltip)
    vrule = oracle.mark_rule(strokeDash=[5, 4], color=COLORS["oracle"], opacity=0.6).encode(x=f"{x}:Q")
    hrule = oracle.mark_rule(strokeDash=[5, 4], color=COLORS["oracle"], opacity=0.6).encode(y=f"{y}:Q")
    return alt.layer(points, vrule, hrule, star).properties(
        width=width, height=height, title=alt.TitleParams(title or "", subtitle=sub, anchor="start"))


def side_by_side(*charts: alt.TopLevelMixin) -> alt.HConcatChart:
    return alt.hconcat(*charts).resolve_scale(color="shared")


def grid(panels: list, columns: int = 4) -> alt.VConcatChart:
    """Panels in rows of ``columns``, one shared color legend (the paper's multi-panel figures)."""
    rows = [alt.hconcat(*panels[i:i + columns]) for i in range(0, len(panels), columns)]
    return alt.vconcat(*rows).resolve_scale(color="shared")


def tau_overview(table: pd.DataFrame) -> alt.Chart:
    """Kendall tau of every published setting (paper) with ours beside it: the study's answer in one chart.
    ``table`` is collect.with_paper(...)."""
    t = table.copy()
    t["setting"] = t["model"] + " / " + t["dataset"] + " / " + t["layers"] + " @ " + t["ratio"].map("{:g}".format)
    ran = t.dropna(subset=["our_tau"])
    under = ran["under_trained"].astype(bool) if "under_trained" in ran else pd.Series(False, index=ran.index)
    label = "ours (" + ran["profile"].fillna("") + ")"
    long = pd.concat([
        t.assign(source="paper", tau=t["paper_tau"], compared=True)[["setting", "source", "tau", "compared"]],
        ran.assign(source=label.where(~under, label + ", under-trained: not compared"), tau=ran["our_tau"],
                   compared=~under)[["setting", "source", "tau", "compared"]],
    ])
    order = list(t["setting"])
    sources = sorted(long["source"].unique(), key=lambda s: (s != "paper", "under-trained" in s))
    palette = iter(["#1f77b4", "#ff7f0e", "#9467bd"])
    colors = [COLORS["paper"] if s == "paper" else "#9ecae1" if "under-trained" in s else next(palette)
              for s in sources]
    base = alt.Chart(long).encode(
        y=alt.Y("setting:N", sort=order, title=None, axis=alt.Axis(labelLimit=320)),
        x=alt.X("tau:Q", title="Kendall tau: pruned train loss vs final test accuracy",
                scale=alt.Scale(domain=[-1, 1])),
        color=alt.Color("source:N", scale=alt.Scale(domain=sources, range=colors),
                        legend=alt.Legend(orient="bottom", title=None, labelLimit=400)),
        tooltip=["setting", "source", alt.Tooltip("tau:Q", format="+.2f")])
    paper = base.transform_filter(alt.datum.source == "paper").mark_point(size=60, filled=True)
    ours = base.transform_filter((alt.datum.source != "paper") & alt.datum.compared).mark_point(
        shape=STAR, size=260, filled=True)
    hollow = base.transform_filter(~alt.datum.compared).mark_point(shape=STAR, size=200, filled=False, strokeWidth=1.5)
    zero = alt.Chart(pd.DataFrame({"tau": [0.0, -FAIL_TAU, FAIL_TAU]})).mark_rule(
        strokeDash=[3, 3], color="#999").encode(x="tau:Q")
    return alt.layer(zero, paper, hollow, ours).properties(
        width=420, height=alt.Step(14), title=alt.TitleParams(
            "Does the oracle's pick survive retraining?",
            subtitle=f"tau near -1: yes; |tau| < {FAIL_TAU:g} (dashed): no", anchor="start"))
