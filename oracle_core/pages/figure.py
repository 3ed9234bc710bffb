"""A figure page of the MNIST-family grid (Fig. 2, 4, 5): our panels and the paper's drawn with the same helper,
a table of ours next to the paper's numbers with a verdict per setting, and what is still missing."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
from IPython.display import HTML, Markdown, display

from ..analysis import reference, single, which_protocol
from ..analysis.oracle import paper_oracle, result_oracle
from ..analysis.stored import StoredSetting
from . import charts, downloads, rerun


def _num(v) -> float:
    return float("nan") if v is None else float(v)


def setting_table(cs: list[StoredSetting]) -> pd.DataFrame:
    """One row per setting: our tau, p, anomaly ratio, oracle and median accuracy next to the paper's, and the
    verdict (analysis/like_for_like.py: under-trained, or whether the paper's tau lies inside the interval the masks
    and the pretrained networks give around ours, our released-code twin where it is stored)."""
    rows = []
    for c in cs:
        e, r = c.entry, c.result
        ref = reference.paper_row(e.model, e.dataset, e.layers, e.ratio)
        sm = r.summary if r else {}
        po = paper_oracle(sm) if r else None  # the oracle over every candidate, as the paper defines it
        tw = _twin_summary(c)  # the released-code twin: the protocol the paper's code ran
        row = {"setting": c.title, "N ours": sm.get("n_masks"), "tau ours": _num(sm.get("kendall_tau")),
               "tau paper": _num(None if ref is None else ref["kendall_tau"]),
               "p ours": _num(sm.get("p_value")), "p paper": None if ref is None else ref["p_value"],
               "anomaly % ours": 100 * _num(po and po.anomaly_ratio),
               "anomaly % paper": _num(None if ref is None else ref["anomaly_ratio_percent"]),
               "oracle acc % ours": 100 * _num(po and po.final_test_acc),
               "oracle acc % paper": _num(None if ref is None else ref["oracle_final_acc_percent"]),
               "median acc % ours": 100 * _num(sm.get("final_acc_median")),
               "median acc % paper": _num(None if ref is None else ref["final_acc_median_percent"]),
               "tau vs test loss ours": _num(sm.get("kendall_tau_loss")),
               "anomaly % vs test loss ours": 100 * _num(sm.get("anomaly_ratio_loss")),
               "tau ours released": _num(tw.get("kendall_tau")),
               "anomaly % ours released": 100 * _num(paper_oracle(tw).anomaly_ratio) if tw else float("nan"),
               "median acc % ours released": 100 * _num(tw.get("final_acc_median"))}
        row["verdict"] = c.verdict.text
        rows.append(row)
    return pd.DataFrame(rows).set_index("setting")


def _twin_summary(c: StoredSetting) -> dict:
    """The summary of a correct-wiring setting's released-code twin where it is stored, else {}."""
    t = c.twin if c.result is not None else None
    return t.result.summary if t is not None and t.result is not None else {}


TAU_VIEW = ["N ours", "tau ours", "tau ours released", "tau paper", "p ours", "p paper", "anomaly % ours",
            "anomaly % ours released", "anomaly % paper", "verdict"]
ACC_VIEW = ["oracle acc % ours", "oracle acc % paper", "median acc % ours", "median acc % ours released",
            "median acc % paper", "tau vs test loss ours", "anomaly % vs test loss ours"]


def show_table(table: pd.DataFrame) -> None:
    """setting_table as two tables that fit the page: tau, p and anomaly ratio with the verdict; then accuracy. The
    released-code twin's columns ("ours released") appear only where one is stored; "ours" is the correct wiring."""
    def view(cols: list[str]) -> pd.DataFrame:
        return table[[c for c in cols if "released" not in c or table[c].notna().any()]]

    twins = table["tau ours released"].notna().any()
    display(Markdown("**Kendall tau, p and anomaly ratio, ours beside the paper's**"
                     + (" (ours: the correct sub-network; ours released: the released code's wiring, same network "
                        "and masks)" if twins else "")))
    display(view(TAU_VIEW))  # tables.formatter prints each quantity one way on every page
    display(Markdown("**Accuracy (%) of the oracle's pick and of the median mask, and the analysis against final test "
                     "loss (ours)**"))
    display(view(ACC_VIEW))


def wiring_note(profile: str, results_root: Path | None = None) -> str:
    """Which wiring each row of a figure shows and why, in computed words: how many settings' pruned losses resemble
    the released code's wiring (analysis/which_protocol.py), so which of our runs is the like-for-like one."""
    table = which_protocol.protocol_table(profile, results_root)
    v = which_protocol.protocol_verdicts(table) if len(table) else pd.DataFrame(columns=["nearer", "settled"])
    both = v[v["nearer"].notna()]
    head = ("**Which wiring each row shows.** Where both are stored, a row has three panels: our run with the correct "
            "sub-network (the study the paper intended), our run with the released code's wiring (the protocol the "
            "paper's code ran, on the same pretrained network and the same sampled masks), and the paper's recovered "
            "points. ")
    if not len(both):
        return head + "No setting has both of our wirings stored at this profile yet, so which one the paper's " \
                      "points resemble is not measured here."
    rel, settled = int((both["nearer"] == "released_code").sum()), int(both["settled"].sum())
    nearer = "the released code's wiring" if 2 * rel > len(both) else "the correct wiring" if 2 * rel < len(both) \
        else "neither wiring more often"
    like = ("so the middle panel is the like-for-like comparison with the paper's" if 2 * rel > len(both) else
            "though the paper's code ran the middle panel's wiring")
    like += ("; the verdict compares the paper's tau with that run only, and a setting whose twin is not stored yet "
             "is not compared")
    return (head + f"The paper's pruned train losses resemble {nearer} in {max(rel, len(both) - rel)} of the "
            f"{len(both)} settings where both are stored ({settled} of them by more than the pretrained network alone "
            f"moves the distance; the Wiring page has the distances), {like}.")


def missing_commands(cs: list[StoredSetting]) -> str:
    """The exact command of every setting of the figure with no stored run, its released-code twin included where
    the grid runs one."""
    todo = [c for c in cs if c.result is None] + [c.twin for c in cs if c.twin is not None and c.twin.result is None]
    if not todo:
        return "Every setting of this figure is in the results store."
    return (f"{len(todo)} setting(s) are not in the results store yet; each of these commands produces one "
            "(or `python -m oracle_core grid` runs them all, resuming):\n\n```\n"
            + "\n".join(c.command for c in todo) + "\n```")


def paper_check_table(cs: list[StoredSetting]) -> pd.DataFrame:
    """Our analysis code on the paper's recovered points of every panel of the figure, beside the printed values."""
    rows = []
    for c in cs:
        if c.panel is None:
            continue
        pc = single.points_check(c.panel)
        rows.append({"setting": c.title, "N": pc.n, "tau printed": pc.printed_tau,
                     "tau, our code on its points": round(pc.tau, 4),
                     "anomaly % printed": pc.printed_anomaly_percent,
                     "anomaly %, our code on its points": round(100 * pc.anomaly_ratio, 2)})
    return pd.DataFrame(rows).set_index("setting") if rows else pd.DataFrame()


def profile_note(profile: str, cs: list[StoredSetting]) -> str:
    """The page's statement of what was run: the profile's reductions, next to the numbers they qualify."""
    done = sum(c.result is not None for c in cs)
    head = (f"**Profile `{profile}`**: {single.profile_headline(profile)}"
            + ("" if profile == "paper" else " The Profiles page lists every reduction in full."))
    return head + f"\n\n{done} of {len(cs)} settings of this figure are in the results store at this profile."


def show_header(notebook: str, profile: str, cs: list[StoredSetting], results_root: Path | None = None) -> None:
    """The top of a figure page: the re-run box (commands and measured hours), then what the profile is."""
    display(HTML(rerun.figure_box(notebook, profile, cs, results_root)))
    display(Markdown(profile_note(profile, cs)))


def show_downloads(cs: list[StoredSetting], profile: str) -> None:
    """The CSV files behind the page's charts: our per-mask tables and the paper's recovered points."""
    display(HTML(downloads.downloads(cs, profile)))


def data_notes(cs: list[StoredSetting], data_root: Path | None = None) -> str:
    """For each dataset of the figure that is not on disk: which files go where, and the paper's numbers."""
    notes = []
    for c in cs:
        ds = c.entry.dataset
        miss = None if c.result is not None else single.missing_data(ds, data_root)
        if miss is not None:
            ref = reference.paper_row(c.entry.model, ds, ("conv1",), 0.5)
            notes.append(
                f"**{ds}: the data is missing here**, so our panel is empty. Put {', '.join(miss.files)} in "
                f"`{miss.folder}/` (`python -m oracle_core.data fetch {ds}` does it on a networked machine via "
                f"torchvision), then run `{c.command}`. The paper's numbers for it: tau "
                f"{ref['kendall_tau']:+.2f}, anomaly ratio {ref['anomaly_ratio_percent']:.2f}%, oracle accuracy "
                f"{ref['oracle_final_acc_percent']:.2f}%; its points are shown below.")
    return "\n\n".join(notes) or "Every dataset of this figure is on disk."


# ---- panels ------------------------------------------------------------------------------------------

def _placeholder(title: str, text: str, width: int, height: int) -> alt.Chart:
    return alt.Chart(pd.DataFrame({"t": [text]})).mark_text(color="#777", fontSize=12).encode(
        text="t:N").properties(width=width, height=height, title=alt.TitleParams(title, anchor="start"))


def our_panel(c: StoredSetting, y: str = "final_test_acc", width: int = 200, height: int = 160,
              x_domain=None, y_domain=None, title: str | list[str] | None = None, compact: bool = False) -> alt.Chart:
    if c.result is None:
        return _placeholder(title or c.title, "not run yet", width, height)
    return charts.oracle_scatter(c.result.per_mask, y=y, title=title or c.title, width=width, height=height,
                                 x_domain=x_domain, y_domain=y_domain, oracle=result_oracle(c.result),
                                 compact=compact)


def _ours(c: StoredSetting) -> pd.DataFrame | None:
    """Our points of a setting with the paper's oracle among them (it is drawn, so the panel's range holds it)."""
    if c.result is None:
        return None
    row = result_oracle(c.result)
    return c.result.per_mask if row is None else pd.concat([c.result.per_mask, pd.DataFrame([row])])


def paper_panel(c: StoredSetting, width: int = 200, height: int = 160, x_domain=None, y_domain=None,
                title: str | list[str] | None = None, compact: bool = False) -> alt.Chart:
    if c.panel is None:
        return _placeholder(title or c.title, "no published panel", width, height)
    return charts.oracle_scatter(reference.paper_points(c.panel), title=title or c.title, width=width,
                                 height=height, x_domain=x_domain, y_domain=y_domain, compact=compact)


def compare_grid(cs: list[StoredSetting], profile: str, width: int = 280, height: int = 170) -> alt.Chart:
    """One row per stored setting: our panel on the left, the paper's on the right, each titled with whose it is, on
    one y range (accuracy) so that a reader compares like with like, unless one panel's range is more than
    OWN_SCALE times another's (it would flatten the other): then each has its own, and the titles say so. Where the
    grid runs released-code twins and one is stored, each row has three panels: correct wiring, the released code's
    wiring (the twin, or a placeholder saying it is queued), the paper's. Settings not run yet get no empty panel:
    ``not_run_line`` names them in one line."""
    rows = []
    three = any(c.twin is not None and c.twin.result is not None for c in cs)
    if three:  # three panels a row, their titles and subtitles in short lines, fit the page's column
        width, height = min(width, THREE_WIDTH), max(height, 150)
    for c in [c for c in cs if c.result is not None]:
        t = c.twin
        frames = [_ours(c)] + ([_ours(t) if t is not None else None] if three else []) + \
            [reference.paper_points(c.panel) if c.panel else None]
        doms = [_domain([f], "final_test_acc") for f in frames]
        spans = [d[1] - d[0] for d in doms if d]
        own = len(spans) > 1 and max(spans) > OWN_SCALE * min(spans)
        yd = _domain(frames, "final_test_acc")
        note = " (own y scale)" if own else ""
        if not three:
            panels = [our_panel(c, width=width, height=height, y_domain=doms[0] if own else yd,
                                title=f"ours ({profile}): {c.title}{note}"),
                      paper_panel(c, width, height, y_domain=doms[-1] if own else yd, title=f"paper: {c.title}{note}")]
            rows.append(alt.hconcat(*panels))
            continue
        def lines(who: str) -> list[str]:
            return [who, c.title] + (["(own y scale)"] if own else [])

        released = lines(f"ours ({profile}): released code's wiring")
        panels = [our_panel(c, width=width, height=height, y_domain=doms[0] if own else yd,
                            title=lines(f"ours ({profile}): correct wiring"), compact=True),
                  _placeholder(released, "no twin in the grid" if t is None else "twin not run yet", width, height)
                  if t is None or t.result is None else
                  our_panel(t, width=width, height=height, y_domain=doms[1] if own else yd, title=released,
                            compact=True),
                  paper_panel(c, width, height, y_domain=doms[-1] if own else yd, title=lines("paper"), compact=True)]
        rows.append(alt.hconcat(*panels))
    if not rows:
        return _placeholder("", "no setting of this group is stored at this profile yet", width, 40)
    return alt.vconcat(*rows).resolve_scale(color="shared", shape="shared").configure_title(
        fontSize=12, subtitleFontSize=10)


OWN_SCALE = 4.0  # a y range this many times the other side's gets a panel scale of its own
THREE_WIDTH = 150  # px of plot per panel when a row holds three (correct, released code's wiring, paper)


def not_run_line(cs: list[StoredSetting]) -> str:
    """The settings of a group with no stored run, in one line (their commands are in 'Settings not run yet')."""
    todo = [c.title for c in cs if c.result is None]
    return "" if not todo else (f"Not run yet at this profile ({len(todo)}): {', '.join(todo)}; the commands are "
                                "under *Settings not run yet* below.")


def _domain(frames: list[pd.DataFrame], col: str) -> tuple[float, float] | None:
    vals = pd.concat([f[col] for f in frames if f is not None and col in f and len(f)], ignore_index=True) \
        if any(f is not None and col in f and len(f) for f in frames) else pd.Series(dtype=float)
    if vals.empty:
        return None
    lo, hi = float(vals.min()), float(vals.max())
    pad = 0.06 * (hi - lo or 1.0)  # the star (the largest marker) at an extreme stays inside the frame
    return lo - pad, hi + pad


def panel_grid(cs: list[StoredSetting], source: str = "ours", y: str = "final_test_acc", columns: int = 3,
               shared_y: bool = False, width: int = 180, height: int = 160) -> alt.Chart:
    """The panels of one figure in a grid, as in the paper: ``source`` 'ours' or 'paper'. With ``shared_y``
    every panel uses one y range (the paper shares axes within a figure row where it does so)."""
    if source == "ours":  # settings not run yet are listed (not_run_line), not drawn as empty panels
        cs = [c for c in cs if c.result is not None]
        if not cs:
            return _placeholder("", "no setting of this group is stored at this profile yet", width, 40)
    frames = [_ours(c) if source == "ours" else
              (reference.paper_points(c.panel) if c.panel else None) for c in cs]
    yd = _domain(frames, y) if shared_y else None
    compact = columns >= 3  # three panels a row: short subtitle lines, or a long p value widens the grid past the page
    make = (lambda c: our_panel(c, y, width, height, y_domain=yd, compact=compact)) if source == "ours" else (
        lambda c: paper_panel(c, width, height, y_domain=yd, compact=compact))
    rows = [alt.hconcat(*[make(c) for c in cs[i:i + columns]]) for i in range(0, len(cs), columns)]
    return alt.vconcat(*rows).resolve_scale(color="shared", shape="shared").configure_title(
        fontSize=12, subtitleFontSize=10)


def tau_vs(table: pd.DataFrame, x: str, x_title: str, order: list[str] | None = None) -> alt.LayerChart:
    """Kendall tau against one axis of task complexity (dataset, depth, width, ratio, layers): the paper's, ours
    (correct wiring) and, where stored, our released-code twins (the runs a published tau is compared with), as
    lines with the same colors and names as tau_vs_ratio."""
    t = table.reset_index()
    released = "tau ours released" in t and t["tau ours released"].notna().any()
    names = ["paper", "ours", "ours, released code's wiring"][:3 if released else 2]
    long = pd.concat([t.assign(source="paper", tau=t["tau paper"]), t.assign(source="ours", tau=t["tau ours"])]
                     + ([t.assign(source=names[2], tau=t["tau ours released"])] if released else []))
    long = long.dropna(subset=["tau"])[[x, "source", "tau"]]
    enc_x = alt.X(f"{x}:O" if order is None else f"{x}:N", sort=order, title=x_title)
    color = alt.Color("source:N", scale=alt.Scale(domain=names, range=[charts.COLORS["paper"], "#1f77b4",
                                                                       "#ff7f0e"][:len(names)]),
                      legend=alt.Legend(title=None, orient="bottom"))
    base = alt.Chart(long).encode(x=enc_x, y=alt.Y("tau:Q", title="Kendall tau (pruned train loss vs final acc)",
                                                    scale=alt.Scale(domain=[-1, 1])), color=color,
                                  tooltip=[x, "source", alt.Tooltip("tau:Q", format="+.2f")])
    zero = alt.Chart(pd.DataFrame({"tau": [0.0]})).mark_rule(strokeDash=[3, 3], color="#999").encode(y="tau:Q")
    return alt.layer(zero, base.mark_line(), base.mark_point(filled=True, size=50)).properties(width=280, height=220)


def tau_vs_ratio(table: pd.DataFrame) -> alt.LayerChart:
    """Kendall tau against the pruning ratio, one color per layer, ours solid (correct wiring), our released-code
    twins dotted where stored, the paper's dashed: Fig. 2's trend in one readable chart. ``table``: setting_table
    rows with ``layer`` and ``ratio`` columns."""
    t = table.reset_index()
    released = "tau ours released" in t and t["tau ours released"].notna().any()
    names = ["ours", "ours, released code's wiring", "paper"] if released else ["ours", "paper"]
    long = pd.concat([t.assign(source="paper", tau=t["tau paper"]), t.assign(source="ours", tau=t["tau ours"])]
                     + ([t.assign(source=names[1], tau=t["tau ours released"])] if released else []))
    long = long.dropna(subset=["tau"])[["layer", "ratio", "source", "tau"]]
    dashes, shapes = [[1, 0], [1, 2], [5, 3]], [charts.STAR, "triangle-up", "circle"]
    if not released:
        dashes, shapes = [dashes[0], dashes[2]], [shapes[0], shapes[2]]
    base = alt.Chart(long).encode(
        x=alt.X("ratio:Q", title="pruning ratio", scale=alt.Scale(domain=[0.15, 0.85]),
                axis=alt.Axis(values=sorted(long["ratio"].unique()), format=".1f")),
        y=alt.Y("tau:Q", title="Kendall tau (pruned train loss vs final acc)", scale=alt.Scale(domain=[-1, 1])),
        color=alt.Color("layer:N", legend=alt.Legend(orient="right")),
        strokeDash=alt.StrokeDash("source:N", scale=alt.Scale(domain=names, range=dashes),
                                  legend=alt.Legend(orient="right", title="source")),
        shape=alt.Shape("source:N", scale=alt.Scale(domain=names, range=shapes),
                        legend=alt.Legend(orient="right", title="source")),
        tooltip=["layer", "ratio", "source", alt.Tooltip("tau:Q", format="+.2f")])
    zero = alt.Chart(pd.DataFrame({"tau": [0.0]})).mark_rule(strokeDash=[3, 3], color="#999").encode(y="tau:Q")
    return alt.layer(zero, base.mark_line(), base.mark_point(filled=True, size=70)).properties(width=520, height=260)
