"""The paper's trends and ours in plain words (analysis.trends computes them): one item per axis, the paper's
direction, then ours read from the released-code twins (the runs compared with the paper's numbers) and from the
correctly wired runs (the study the paper intended)."""

from __future__ import annotations

import pandas as pd

from ..analysis.names import value_name
from ..analysis.trends import MIN_POINTS, SETTLED

_WORDS = {1: "rises (a weaker oracle)", -1: "falls (a stronger oracle)", 0: "shows no clear direction"}
READING = {  # wiring -> how its reading is introduced
    "released_code": "like with like, our released-code twins (the wiring the paper's code ran)",
    "correct": "as the paper intended, our correctly wired runs",
}


def _still_to_run(values: tuple, cannot_run: dict[str, str]) -> str:
    """The axis's settings without a converged run (a model by its name), each with the reason it cannot run here
    where one is given."""
    return ", ".join(f"{value_name(v)} ({cannot_run[v]})" if v in cannot_run else value_name(v) for v in values)


def _ours(r: pd.Series, cannot_run: dict[str, str]) -> str:
    """One reading of an axis (a row of analysis.trends.trends) in words."""
    if r["reproduced"] == "not yet":
        so_far = ""
        if r["converged ours"] >= 2 and r["our last"] != r["our first"]:
            along = (r["our last"] - r["our first"]) * r["paper direction"] > 0
            way = "the paper's direction" if along else "against the paper's direction"
            so_far = (f"the {r['converged ours']} converged so far go from {r['our first']:+.2f} to "
                      f"{r['our last']:+.2f}, {way}; ")
        return (f"not read yet, {r['converged ours']} converged setting(s) of {r['settings']} (at least {MIN_POINTS}, "
                f"at two or more places along the axis, are needed); {so_far}still to converge: "
                f"{_still_to_run(r['not yet ours'], cannot_run)}")
    holds = r.get("direction holds", float("nan"))
    reading = "that direction holds" if r["our direction"] else "no direction either way is seen"
    share = "" if holds != holds else (f" ({reading} in {100 * holds:.0f}% of resamples over masks "
                                       "and pretrained networks)")
    verdict = ("**the trend is reproduced**" if r["reproduced"] == "yes" else
               "**the trend is not reproduced**" if r["reproduced"] == "no" else
               f"**not settled** (a direction is read only when it holds in at least {100 * SETTLED:.0f}%)")
    missing = r.get("not yet ours", ())
    return (f"{_WORDS[r['our direction']]}, from {r['our first']:+.2f} to {r['our last']:+.2f} over "
            f"{r['converged ours']} converged settings{share}: {verdict}"
            + (f"; not in this reading: {_still_to_run(missing, cannot_run)}" if len(missing) else ""))


def trend_sentences(readings: dict[str, pd.DataFrame], profile: str, cannot_run: dict[str, str] | None = None) -> str:
    """Markdown: one item per axis, the paper's trend, then one sub-item per reading of ours (wiring -> trends table,
    as analysis.trends.study_trends gives; READING's order). ``cannot_run``: why a value of an axis (e.g. a dataset
    whose files are absent) has no run, named beside it while its trend is not read."""
    unknown = set(readings) - set(READING)
    if unknown:
        raise ValueError(f"no reading called {sorted(unknown)}: use {sorted(READING)}")
    first = next(iter(readings.values()))
    lines = []
    for axis, r in first.iterrows():
        lines.append(f"- **{axis}**: as {r['harder']}, the paper's tau {_WORDS[r['paper direction']]}, from "
                     f"{r['paper first']:+.2f} to {r['paper last']:+.2f} over {r['settings']} settings.")
        for wiring in READING:
            if wiring in readings:
                lines.append(f"  - {READING[wiring]} at `{profile}`: "
                             f"{_ours(readings[wiring].loc[axis], cannot_run or {})}.")
    return "\n".join(lines)
