"""One altair helper for every figure: stable colors and markers, rendered offline (no CDN).

In the book build (``ORACLE_BOOK_CHARTS=interactive``, set by pages/build.py) a chart is its Vega-Lite spec in a
``div.oracle-chart``: the book's own copy of the vega libraries (written into its static files by
book/_ext/offline_html.py) draws it as inline SVG with tooltips and zoom. Elsewhere (a notebook opened in Jupyter,
papermill outside the build) it is a static SVG rendered by vl-convert.
"""

from __future__ import annotations

import itertools
import json
import os

import altair as alt
import pandas as pd

from ..analysis.agreement import FAIL_TAU
from ..analysis.names import setting_name
from ..analysis.panel import scatter_stats

COLORS = {"oracle": "#1f1f1f", "anomaly": "#d62728", "other": "#2ca02c", "paper": "#7f7f7f"}
STAR = ("M0,-1L0.2245,-0.309L0.951,-0.309L0.363,0.118L0.588,0.809L0,0.382L-0.588,0.809L-0.363,0.118"
        "L-0.951,-0.309L-0.2245,-0.309Z")
LABELS = {"pruned_train_loss": "pruned train loss (nats)",  # mean cross-entropy; short enough for a panel's height
          "final_test_acc": "final test accuracy",
          "final_test_loss": "final test loss (nats)",
          "short_retrain_test_acc": "short-retrain test accuracy"}


BOOK_CHARTS_ENV = "ORACLE_BOOK_CHARTS"
_ZOOMS = itertools.count(1)  # one name per panel's zoom, in drawing order (so a page's output is reproducible)


def book_bundle(spec: dict, **_metadata) -> dict:
    """The mimebundle of one chart in the book: its spec inside a div that the book's scripts draw."""
    payload = json.dumps(spec, separators=(",", ":")).replace("</", "<\\/")
    return {"text/html": '<div class="oracle-chart"><div class="oracle-chart-view"></div>'
                         f'<script type="application/json">{payload}</script></div>',
            "text/plain": "[chart: drawn in the book by its vega scripts]"}

TIPS = {"pruned_train_loss": "pruned train loss", "final_test_acc": "final test accuracy",
        "final_test_loss": "final test loss", "short_retrain_test_acc": "short-retrain test accuracy"}


def enable_offline() -> None:
    """Interactive charts in the book build, static SVG through vl-convert elsewhere: never a network request."""
    alt.data_transformers.disable_max_rows()
    if os.environ.get(BOOK_CHARTS_ENV) == "interactive":
        alt.renderers.register("oracle_book", book_bundle)
        alt.renderers.enable("oracle_book")
    else:
        alt.renderers.enable("svg")


def oracle_scatter(df: pd.DataFrame, y: str = "final_test_acc", x: str = "pruned_train_loss", title: str = "",
                   width: int = 300, height: int = 240, x_domain: tuple[float, float] | None = None,
                   y_domain: tuple[float, float] | None = None, oracle: dict | None = None,
                   compact: bool = False) -> alt.LayerChart:
    """The paper's panel: one point per mask, the oracle as a star with dashed guides, anomalies (better than the
    oracle after retraining) red, the rest green; tau, p and anomaly ratio in the subtitle. ``oracle``: the paper's
    oracle (lowest pruned loss over every candidate, analysis/oracle.py ``oracle_row``) when the points are a
    retrained sample; the sample's own argmin is then a hollow diamond, named in the subtitle. Without it the
    points' argmin is the oracle (every candidate was retrained, or the paper's points). ``compact``: the same
    numbers in shorter subtitle lines, for panels three to a row; ``title`` may then be a list of lines."""
    higher = y != "final_test_loss"
    d = df[[x, y] + [c for c in ("kept", "mask_id") if c in df]].copy().reset_index(drop=True)
    oracle = oracle if oracle is not None and y in oracle and x in oracle else None
    st = scatter_stats(d[x].to_numpy(), d[y].to_numpy(), higher, None if oracle is None else oracle[y])
    d["role"], d["rank"] = st["roles"], st["ranks"]
    within = d.iloc[[st["within_index"]]] if oracle is not None else d.iloc[:0]
    if oracle is not None:
        inside = d.index[d["mask_id"] == oracle["mask_id"]] if "mask_id" in d else []
        if len(inside):
            d.loc[inside, "role"] = "oracle"
        else:  # retrained beside the sample: drawn, not counted in N, tau or the ratio
            d = pd.concat([d, pd.DataFrame([{x: oracle[x], y: oracle[y], "kept": oracle.get("kept"),
                                             "mask_id": oracle["mask_id"], "role": "oracle",
                                             "rank": st["oracle_rank"]}])], ignore_index=True)
    (t_lo, t_hi), (a_lo, a_hi) = st["tau_ci"], st["anomaly_ci"]
    sub = [f"Kendall tau {st['kendall_tau']:+.2f} [{t_lo:+.2f}, {t_hi:+.2f}], p {st['p_value']:.2g}",
           f"anomaly ratio {100 * st['anomaly_ratio']:.1f}% [{100 * a_lo:.1f}, {100 * a_hi:.1f}] "
           f"(N={st['n']}; 95% CI)"]
    if oracle is not None:
        sub.append("star: the oracle over all candidates; diamond: lowest loss of the N")
    if compact:  # the same numbers, each line short enough for a panel three to a row
        sub = [f"tau {st['kendall_tau']:+.2f} [{t_lo:+.2f}, {t_hi:+.2f}]",
               f"anomaly {100 * st['anomaly_ratio']:.1f}% [{100 * a_lo:.1f}, {100 * a_hi:.1f}]",
               f"p {st['p_value']:.2g}, N = {st['n']} (95% CIs)"]
        sub += ["star: oracle of all candidates", "diamond: lowest loss of the N"] if oracle is not None else []
    xs = alt.Scale(zero=False, domain=list(x_domain)) if x_domain else alt.Scale(zero=False)
    ys = alt.Scale(zero=False, domain=list(y_domain)) if y_domain else alt.Scale(zero=False)
    roles = list(COLORS)[:3]  # oracle, anomaly, other: one legend with the star the chart draws
    legend = alt.Legend(title=None, orient="bottom", symbolSize=60)
    color = alt.Color("role:N", scale=alt.Scale(domain=roles, range=[COLORS[k] for k in roles]), legend=legend)
    shape = alt.Shape("role:N", scale=alt.Scale(domain=roles, range=[STAR, "circle", "circle"]), legend=legend)
    tooltip = ([alt.Tooltip("kept:N", title="kept filters")] if "kept" in d else []) + [
        alt.Tooltip(f"{x}:Q", title=TIPS.get(x, x), format=".4f"), alt.Tooltip(f"{y}:Q", title=TIPS.get(y, y),
                                                                             format=".4f"),
        alt.Tooltip("rank:Q", title=f"rank after retraining (of {st['n']})"), alt.Tooltip("role:N")]
    base = alt.Chart(d)
    # aria=False: no per-point accessibility label in the SVG (it repeated every tooltip value and made a 25-panel
    # page 7 MB); the numbers stay in the results store, the tables and the per-mask CSV downloads
    # drag to pan, wheel to zoom into the dense clusters; each panel its own (a shared one would move them all)
    zoom = alt.selection_interval(bind="scales", name=f"zoom{next(_ZOOMS)}")
    points = base.transform_filter(alt.datum.role != "oracle").mark_point(
        size=22, filled=True, opacity=0.75, aria=False).encode(
        x=alt.X(f"{x}:Q", title=LABELS.get(x, x), scale=xs), y=alt.Y(f"{y}:Q", title=LABELS.get(y, y), scale=ys),
        color=color, shape=shape, tooltip=tooltip).add_params(zoom)
    starred = base.transform_filter(alt.datum.role == "oracle")
    star = starred.mark_point(size=260, filled=True, opacity=1).encode(
        x=f"{x}:Q", y=f"{y}:Q", color=color, shape=shape, tooltip=tooltip)
    vrule = starred.mark_rule(strokeDash=[5, 4], color=COLORS["oracle"], opacity=0.6).encode(x=f"{x}:Q")
    hrule = starred.mark_rule(strokeDash=[5, 4], color=COLORS["oracle"], opacity=0.6).encode(y=f"{y}:Q")
    layers = [points, vrule, hrule, star]
    if len(within):
        layers.append(alt.Chart(within).mark_point(shape="diamond", size=140, filled=False, strokeWidth=1.6,
                                                   color=COLORS["oracle"]).encode(x=f"{x}:Q", y=f"{y}:Q"))
    return alt.layer(*layers).properties(
        width=width, height=height, title=alt.TitleParams(title or "", subtitle=sub, anchor="start"))


def side_by_side(*charts: alt.TopLevelMixin) -> alt.HConcatChart:
    return alt.hconcat(*charts).resolve_scale(color="shared")


def grid(panels: list, columns: int = 4) -> alt.VConcatChart:
    """Panels in rows of ``columns``, one shared color legend (the paper's multi-panel figures)."""
    rows = [alt.hconcat(*panels[i:i + columns]) for i in range(0, len(panels), columns)]
    return alt.vconcat(*rows).resolve_scale(color="shared")


def _overview_rows(t: pd.DataFrame, name: str, why: str, profiled: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One wiring's points for tau_overview (source: ``name``, with its profile when ``profiled``, marked ``why`` and
    "not compared" when the run ends far below the paper's accuracy) and its compared settings' intervals. Legend
    labels stay short: below a phone's plot there is room for about 30 characters."""
    ran = t.dropna(subset=["our_tau"])
    under = ran["under_trained"].astype(bool) if "under_trained" in ran else pd.Series(False, index=ran.index)
    label = name + (" (" + ran["profile"].fillna("") + ")" if profiled else pd.Series("", index=ran.index))
    points = ran.assign(source=label.where(~under, label + f", {why}"), tau=ran["our_tau"],
                        compared=~under)[["setting", "source", "tau", "compared"]]
    cols = ["setting", "our_tau_lo", "our_tau_hi", "source"]
    bars = (ran[~under].assign(source=label[~under])[cols].dropna() if "our_tau_lo" in ran
            else pd.DataFrame(columns=cols))
    return points, bars


def tau_overview(table: pd.DataFrame, twins: pd.DataFrame | None = None) -> alt.Chart:
    """Kendall tau of every published setting (paper) with ours beside it: the study's answer in one chart.
    ``table`` is collect.with_paper(...) (our correctly wired runs, stars); ``twins``, where given, the same at the
    released code's wiring (triangles: the runs the paper's taus are compared with), each row split per source."""
    def named(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(setting=[setting_name(*k) for k in zip(df["model"], df["dataset"], df["layers"],
                                                                 df["ratio"])])

    t = named(table)
    profiles = set(t["profile"].dropna()) | (set(twins["profile"].dropna()) if twins is not None else set())
    profiled = len(profiles) > 1  # one profile: named once in the subtitle, not in every label
    parts = [_overview_rows(t, "ours", "under-trained", profiled)]
    if twins is not None:  # hollow: far below the paper's accuracy, so not the run the paper measured
        parts.append(_overview_rows(named(twins), "ours, twin", "not compared", profiled))
    paper_rows = t.assign(source="paper", tau=t["paper_tau"], compared=True)[["setting", "source", "tau", "compared"]]
    long = pd.concat([paper_rows] + [p for p, _ in parts])
    have = pd.concat([b for _, b in parts])
    order = list(t["setting"])
    sources = sorted(long["source"].unique(), key=lambda s: (s != "paper", "twin" in s, "not compared" in s))
    palettes = {False: iter(["#1f77b4", "#9467bd"]), True: iter(["#ff7f0e", "#8c564b"])}

    def color(s: str) -> str:
        twin = "twin" in s
        if s == "paper":
            return COLORS["paper"]
        return ("#fdd0a2" if twin else "#9ecae1") if "not compared" in s else next(palettes[twin])

    colors = [color(s) for s in sources]
    shapes = ["circle" if s == "paper" else "triangle-up" if "twin" in s else STAR for s in sources]
    legend = alt.Legend(orient="bottom", title=None, labelLimit=400, symbolSize=120, columns=1)
    offset = alt.YOffset("source:N", scale=alt.Scale(domain=sources))
    base = alt.Chart(long).encode(
        y=alt.Y("setting:N", sort=order, title=None, axis=alt.Axis(labelLimit=320)), yOffset=offset,
        x=alt.X("tau:Q", title="Kendall tau: pruned train loss vs final test accuracy",
                scale=alt.Scale(domain=[-1, 1])),
        color=alt.Color("source:N", scale=alt.Scale(domain=sources, range=colors), legend=legend),
        shape=alt.Shape("source:N", scale=alt.Scale(domain=sources, range=shapes), legend=legend),
        tooltip=["setting", "source", alt.Tooltip("tau:Q", format="+.2f")])
    paper = base.transform_filter(alt.datum.source == "paper").mark_point(size=60, filled=True)
    ours = base.transform_filter((alt.datum.source != "paper") & alt.datum.compared).mark_point(size=200, filled=True)
    hollow = base.transform_filter(~alt.datum.compared).mark_point(size=160, filled=False, strokeWidth=1.5)
    # each of our compared points with its 95% interval over the masks and the pretrained networks (the one the
    # verdicts use): a bar behind the point, in its source's colour, where the store has it
    bars = alt.Chart(have).mark_rule(strokeWidth=2, opacity=0.55, clip=True).encode(
        y=alt.Y("setting:N", sort=order), yOffset=offset, x="our_tau_lo:Q", x2="our_tau_hi:Q",
        color=alt.Color("source:N", scale=alt.Scale(domain=sources, range=colors), legend=legend),
        tooltip=["setting", "source", alt.Tooltip("our_tau_lo:Q", title="95% interval from", format="+.2f"),
                 alt.Tooltip("our_tau_hi:Q", title="to", format="+.2f")])
    zero = alt.Chart(pd.DataFrame({"tau": [0.0, -FAIL_TAU, FAIL_TAU]})).mark_rule(
        strokeDash=[3, 3], color="#999").encode(x="tau:Q")
    return alt.layer(zero, bars, paper, hollow, ours).properties(
        width=420, height=alt.Step(6 if twins is not None else 14), title=alt.TitleParams(  # per source with twins
            "Does the oracle's pick survive retraining?",
            subtitle=[f"tau near -1: yes; |tau| < {FAIL_TAU:g} (dashed): no",
                      "bar: our tau's 95% interval over the masks and the pretrained networks"]
            + ([f"ours at the {next(iter(profiles))} profile"] if len(profiles) == 1 else [])
            + (["star: correct wiring; twin (triangle): the released code's wiring, same network and masks"]
               if twins is not None else []), anchor="start"))
