"""The wiring page: each setting with the correct sub-network and with the released code's mis-wiring, and whether
the paper's conclusion depends on it."""

from __future__ import annotations

import altair as alt
import pandas as pd

from ..analysis import reference
from ..analysis.agreement import oracle_fails
from ..analysis.oracle import paper_oracle
from . import charts
from .setting import _fmt, _p


def wiring_table(runs: dict) -> pd.DataFrame:
    """One row per (layer, wiring): tau, p, anomaly ratio, the oracle's pick and its accuracy, and the paper's."""
    rows = []
    for (layer, wiring), res in runs.items():
        s, sm = res.spec, res.summary
        po = paper_oracle(sm)  # the oracle over every candidate, as the paper defines it
        ref = reference.paper_row(s.model, s.dataset, s.layers, s.ratio)
        rows.append({"layers": layer, "wiring": wiring, "N": sm["n_masks"], "Kendall tau": _fmt(sm["kendall_tau"]),
                     "p": _p(sm["p_value"]), "anomaly ratio %": _fmt(po.anomaly_ratio, True),
                     "oracle's pick": po.kept, "oracle final acc %": _fmt(po.final_test_acc, True),
                     "oracle rank (1 = best)": po.rank,
                     "paper tau": "n/a" if ref is None else f"{ref['kendall_tau']:+.2f}",
                     "paper anomaly %": "n/a" if ref is None else f"{ref['anomaly_ratio_percent']:.2f}"})
    return pd.DataFrame(rows).set_index(["layers", "wiring"])


def wiring_conclusion(runs: dict) -> str:
    """Plain words: which wiring lands nearer the paper's tau, and whether the oracle's verdict changes."""
    parts = []
    for layer in dict.fromkeys(k[0] for k in runs):
        c, r = runs[layer, "correct"].summary, runs[layer, "released_code"].summary
        s = runs[layer, "correct"].spec
        ref = reference.paper_row(s.model, s.dataset, s.layers, s.ratio)
        verdict = {w: oracle_fails(x["kendall_tau"], x["p_value"], paper_oracle(x).anomaly_ratio)
                   for w, x in (("correct", c), ("released_code", r))}
        line = (f"**{layer}**: tau {_fmt(c['kendall_tau'])} with the correct sub-network, {_fmt(r['kendall_tau'])} "
                f"with the released code's wiring")
        if ref is not None and c["kendall_tau"] is not None and r["kendall_tau"] is not None:
            nearer = "released-code" if abs(r["kendall_tau"] - ref["kendall_tau"]) < abs(
                c["kendall_tau"] - ref["kendall_tau"]) else "correct"
            line += f" (paper {ref['kendall_tau']:+.2f}; the {nearer} wiring is nearer)"
        oc, orr = paper_oracle(c), paper_oracle(r)
        line += ("; the oracle's pick is the same mask" if oc.mask_id == orr.mask_id
                 else f"; the oracles pick different masks ({oc.kept} vs {orr.kept})")
        line += (". By the paper's flags the oracle " + ("fails" if verdict["correct"] else "works") +
                 " with correct wiring and " + ("fails" if verdict["released_code"] else "works") +
                 " with the released wiring.")
        parts.append(line)
    parts.append(_wiring_meaning(runs))
    return "\n\n".join(parts)


def _wiring_meaning(runs: dict) -> str:
    """One paragraph in plain words: does the released code's mis-wiring change the paper's conclusion?"""
    layers = list(dict.fromkeys(k[0] for k in runs))
    taus = {w: [runs[layer, w].summary["kendall_tau"] for layer in layers] for w in ("correct", "released_code")}
    if any(t is None for ts in taus.values() for t in ts):
        return "**What this means:** a tau is undefined in at least one setting, so no overall reading is given."
    diff = [r - c for c, r in zip(taus["correct"], taus["released_code"])]
    def fails(sm: dict) -> bool:
        return oracle_fails(sm["kendall_tau"], sm["p_value"], paper_oracle(sm).anomaly_ratio)

    flips = [layer for layer in layers
             if fails(runs[layer, "correct"].summary) != fails(runs[layer, "released_code"].summary)]
    direction = ("more negative (the mis-wired loss tracks the final accuracy *better*)" if all(d < 0 for d in diff)
                 else "less negative (the mis-wired loss tracks the final accuracy *worse*)" if all(d > 0 for d in diff)
                 else "sometimes more and sometimes less negative")
    verdict = ("The paper's flags give the same verdict under both wirings in every setting here, so for these "
               "LeNet settings the mis-wiring does not change the paper's conclusion, only the size of its "
               "correlations." if not flips else
               f"The paper's flags change verdict in {', '.join(flips)}: there the conclusion depends on the wiring.")
    return (f"**What this means for the paper's conclusion:** over {len(layers)} setting(s) the released code's "
            f"wiring makes tau {direction}, by {min(diff):+.2f} to {max(diff):+.2f}. {verdict} "
            "The paper's LeNet numbers were measured with the released wiring, so where the two differ, the "
            "correct sub-network's tau is the one that answers the paper's question.")


# ---- which protocol made the paper's points (analysis/which_protocol.py computes; this words and draws) ----

SOURCE_NAMES = {"paper": "paper (recovered points)", "correct": "ours, correct wiring",
                "released_code": "ours, released code's wiring"}


# the table's shorter names (its index holds "conv1+conv2+conv3 @ 0.5" too, and the page's column is narrow)
TABLE_NAMES = {"paper": "paper's points", "correct": "ours, correct wiring", "released_code": "ours, released wiring"}


def protocol_view(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison table as the page shows it: one row per (setting, source and network), rounded once here; the
    figure's network (seed 0) is unnamed, the others are "network <seed>"."""
    label = [TABLE_NAMES[s] + ("" if s == "paper" or seed == 0 else f", network {seed}")  # the network in the row's
             for s, seed in zip(table["source"], table["seed"])]  # name: one column fewer than a seed column
    t = table.assign(source=label).drop(columns="seed")
    return t.set_index(["setting", "source"]).round({"loss q10": 2, "loss median": 2, "loss q90": 2,
                                                               "KS to paper": 2, "KS p": 3, "acc median %": 2,
                                                               "acc IQR pp": 2, "tau": 2, "anomaly %": 1})


def protocol_chart(table: pd.DataFrame) -> alt.VConcatChart:
    """Small multiples: each setting's pruned-loss distribution (log scale) for the paper's points and each twin."""
    panels = []
    for setting, g in table.groupby("setting", sort=False):
        labels = [SOURCE_NAMES[s] + ("" if seed in (0, "one, unseeded") else f" (network {seed})")
                  for s, seed in zip(g["source"], g["seed"])]
        d = pd.DataFrame({"source": labels, "wiring": [SOURCE_NAMES[s] for s in g["source"]], "q10": g["loss q10"],
                          "median": g["loss median"], "q90": g["loss q90"],
                          "network": g["seed"].astype(str)})
        y = alt.Y("source:N", title=None, sort=labels)
        x = alt.X("q10:Q", title="pruned train loss (nats, log scale): 10th to 90th percentile, median",
                  scale=alt.Scale(type="log"))
        bars = alt.Chart(d).mark_rule(strokeWidth=2).encode(x=x, x2="q90:Q", y=y, color=alt.Color(
            "wiring:N", legend=None, scale=alt.Scale(domain=list(SOURCE_NAMES.values()),
                                                     range=[charts.COLORS["paper"], "#1f77b4", "#ff7f0e"])))
        dots = alt.Chart(d).mark_point(filled=True, size=60, color="#1f1f1f").encode(
            x="median:Q", y=y, tooltip=["source", "network", alt.Tooltip("median:Q", format=".2f")])
        panels.append(alt.layer(bars, dots).properties(width=520, height=24 * len(d), title=setting))
    return alt.vconcat(*panels)


def protocol_sentences(verdicts: pd.DataFrame, queued: list[str] = ()) -> str:
    """Setting by setting, computed words: which wiring's pruned losses the paper's points resemble, by how much,
    and whether that exceeds what the pretrained network alone moves; then, in one line, the settings whose runs
    are still queued (which_protocol.queued)."""
    out = []
    for _, v in verdicts.iterrows():
        if pd.isna(v["nearer"]):  # None becomes NaN in a column that also holds names
            have = "correct" if v["KS correct"] == v["KS correct"] else "released-code"
            out.append(f"- **{v['setting']}**: only the {have} twin is stored at this profile (KS distance "
                       f"{v['KS correct' if have == 'correct' else 'KS released']:.2f}); the other is queued.")
            continue
        nearer = "the released code's" if v["nearer"] == "released_code" else "the correct"
        spread = ("" if v["KS spread"] != v["KS spread"] else
                  f"; across {v['n networks']} pretrained networks the distance moves by up to {v['KS spread']:.2f}")
        how = ("which settles it" if v["settled"] else "which does not settle it") if spread else \
            "from one pretrained network"
        out.append(f"- **{v['setting']}**: the paper's pruned losses resemble those of {nearer} wiring (KS distance "
                   f"{min(v['KS correct'], v['KS released']):.2f} against {max(v['KS correct'], v['KS released']):.2f}"
                   f"{spread}, {how}).")
    if queued:
        out.append(f"- Queued in the grid, no run of ours stored yet ({len(queued)}): {', '.join(queued)}.")
    return "\n".join(out) or "No setting of this profile has a stored twin yet."
