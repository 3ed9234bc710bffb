"""The lesson page (the paper's Fig. 6): short-retrain accuracy against full-retrain accuracy per setting, ours
beside the paper's panels, and the commands for what is not computable yet."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd

from ..analysis import reference
from ..analysis.lesson import (
    lesson_frame,
    lesson_reading,
    paper_lesson_ranges,
    short_retrain_acc,
    short_run_command,
    short_vs_full_tau,
)
from ..analysis.names import model_name
from ..analysis.stored import StoredSetting
from . import charts
from .figure import _placeholder
from .tables import value_range


def lesson_panel(c: StoredSetting, width: int = 180, height: int = 160, results_root: Path | None = None) -> alt.Chart:
    if c.result is None:
        return _placeholder(c.title, "not run yet", width, height)
    f = lesson_frame(c.result, results_root)
    if f is None:
        return _placeholder(c.title, "short run not stored yet", width, height)
    return _lesson_scatter(f, c.title, width, height)


def paper_lesson_panel(panel: str, title: str, width: int = 180, height: int = 160) -> alt.Chart:
    return _lesson_scatter(reference.paper_points(panel), title, width, height)


def _lesson_scatter(f: pd.DataFrame, title: str, width: int, height: int) -> alt.Chart:
    tau, p = short_vs_full_tau(f)
    return alt.Chart(f).mark_circle(size=20, opacity=0.7, color=charts.COLORS["other"], aria=False).encode(
        x=alt.X("short_retrain_test_acc:Q", title=charts.LABELS["short_retrain_test_acc"], scale=alt.Scale(zero=False)),
        y=alt.Y("final_test_acc:Q", title=charts.LABELS["final_test_acc"], scale=alt.Scale(zero=False)),
    ).properties(width=width, height=height, title=alt.TitleParams(
        title, subtitle=f"Kendall tau {tau:+.2f}, p {p:.2g} (N={len(f)})", anchor="start"))




def paper_lesson_panels() -> list[tuple[str, str]]:
    """(panel, title) of every '10% epochs' panel the paper published, in its table's order (LeNet5-Mini's seven,
    then ResNet56 / CIFAR-10 and ResNet18 / ImageNet)."""
    names = set(reference.panels()["panel"])
    out = []
    for r in reference.short_vs_full_table().itertuples():
        short = "lenet5" if r.model == "lenet5_mini" else r.model
        name = f"direction/{short}_" + "+".join(f"{layer}_{r.ratio:g}" for layer in r.layers.split("+"))
        if name in names:
            title = (f"{r.layers} @ {r.ratio:g}" if r.model == "lenet5_mini" else
                     f"{model_name(r.model)} / {r.dataset}: {r.layers} @ {r.ratio:g}")
            out.append((name, title))
    return out


def paper_lesson_range() -> str:
    """The paper's short-vs-full tau per model, computed from its table (never typed into the page)."""
    per_model, lo, hi = paper_lesson_ranges()
    parts = [f"{value_range(m.lo, m.hi, '.2f')} on "
             f"{model_name(m.model)} / {m.dataset} ({m.n} setting{'s' if m.n > 1 else ''}, "
             f"{m.short_epochs} of {m.full_epochs} epochs)" for m in per_model]
    return ("The paper's Kendall tau between short- and full-retrain accuracy: " + "; ".join(parts)
            + f". Over all {sum(m.n for m in per_model)} of its panels: {value_range(lo, hi, '.2f')}.")


def lesson_conclusion(lt: pd.DataFrame) -> str:
    """Our short-vs-full tau beside the paper's range, in words, and how our short retraining relates to the
    paper's (the same 3-of-30 recipe as a separate run, or the first epochs of a shorter full recipe)."""
    r = lesson_reading(lt)
    if r is None:
        return "No lesson setting has been run at this profile yet."
    text = (f"Over {r.n} setting(s), our short-retrain accuracy ranks the masks like the full retraining with "
            f"tau {value_range(r.lo, r.hi, '+.2f')}.")
    if r.n_paired:
        every = r.n_paired
        side = ("lower than the paper's in every one" if r.lower == every else
                "higher than the paper's in every one" if r.higher == every else
                f"lower than the paper's in {r.lower} and higher in {r.higher}")
        text += (f" Setting by setting against the paper's panel of the same setting ({every} paired), ours is "
                 f"{side} (median difference {r.median_difference:+.2f}): the paper's lesson holds here at "
                 + ("a lower level." if r.lower == every else "a higher level." if r.higher == every else
                    "about its level."))
    above = r.short_fraction_above_papers
    if above is None:
        text += f" Our short retraining is the first {r.short_epochs} of {r.full_epochs} epochs."
    elif above:
        text += (f" Our short retraining is the first {r.short_epochs} of {r.full_epochs} epochs, a larger fraction "
                 f"than the paper's {r.paper_short_epochs} of {r.paper_full_epochs}, which by itself makes the two "
                 "rankings closer; compare the level, not the exact value.")
    else:
        text += (f" Our short retraining is the paper's: {r.short_epochs} epochs against {r.full_epochs}, each mask "
                 "retrained separately with the short recipe from the same pruned network.")
    return text


def lesson_display(lt: pd.DataFrame) -> pd.DataFrame:
    """The lesson table as the page shows it: taus to 3 decimals, each recipe's epochs as "short / full"."""
    out = lt.drop(columns=[f"{k} epochs, {w}" for k in ("short", "full") for w in ("ours", "paper")]).round(3)
    for who in ("ours", "paper"):
        out[f"short / full epochs, {who}"] = [
            None if pd.isna(s) else f"{s} / {f}" for s, f in zip(lt[f"short epochs, {who}"], lt[f"full epochs, {who}"])]
    return out


def lesson_missing(cs: list[StoredSetting], profile: str, results_root: Path | None = None) -> str:
    """Commands for the settings whose lesson is not computable yet (no full run, or no separate short run)."""
    todo = [c.command for c in cs if c.result is None]
    todo += [short_run_command(c, profile) for c in cs
             if c.result is not None and short_retrain_acc(c.result, results_root) is None]
    if not todo:
        return "Every lesson setting is computable from the results store."
    return ("Not computable yet; each command below produces what is missing:\n\n```\n" + "\n".join(todo) + "\n```")
