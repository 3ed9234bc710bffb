"""The lesson (the paper's Fig. 6): how well a short retraining ranks the masks like the full one. Per stored
setting, each mask's test accuracy after the profile's short retraining, read off the full run's curve when the
short recipe is its first epochs, else from the setting's separate short run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from ..experiment.commands import run_command
from ..experiment.results import StudyResult, stored_result
from ..experiment.spec import profile_of, short_is_prefix, short_run_spec
from . import reference

LESSON_EXPERIMENT = "retrain_lesson"  # results/<this>/ holds the separate short runs


def short_retrain_acc(res: StudyResult, results_root: Path | None = None) -> pd.Series | None:
    """Per-mask test accuracy (best epoch, repeats averaged) after the profile's short retraining.

    When the short recipe is a prefix of the full one (the cpu and smoke profiles) it is read off the full run's
    curve: those first epochs *are* the short run (tests/test_figures.py trains both and compares). Otherwise it
    comes from the setting's separate short run in ``results/retrain_lesson/`` (None if that is not stored yet)."""
    if short_is_prefix(res.spec):
        short = profile_of(res.spec).short_retrain
        c = res.curves[res.curves["epoch"] <= short.epochs]
        return c.groupby(["mask_id", "repeat"])["test_acc"].max().groupby("mask_id").mean()
    short = stored_result(short_run_spec(res.spec), LESSON_EXPERIMENT, results_root)
    return None if short is None else short.per_mask.set_index("mask_id")["final_test_acc"]


def lesson_frame(res: StudyResult, results_root: Path | None = None) -> pd.DataFrame | None:
    """The per-mask table with a ``short_retrain_test_acc`` column (None if the short run is not stored)."""
    short = short_retrain_acc(res, results_root)
    if short is None:
        return None
    pm = res.per_mask.set_index("mask_id")
    pm["short_retrain_test_acc"] = short
    return pm.reset_index().dropna(subset=["short_retrain_test_acc"])


def short_vs_full_tau(f: pd.DataFrame) -> tuple[float, float]:
    """Kendall tau (and p) between short-retrain and full-retrain accuracy over the masks of ``lesson_frame``."""
    r = kendalltau(f["short_retrain_test_acc"], f["final_test_acc"])
    return float(r.statistic), float(r.pvalue)


def short_run_command(c, profile: str) -> str:
    """How to produce a setting's separate short run (only needed when the short recipe is not a prefix)."""
    return run_command(short_run_spec(c.entry.spec(profile)), LESSON_EXPERIMENT)


def lesson_table(cs: list, results_root: Path | None = None) -> pd.DataFrame:
    """Kendall tau between short-retrain and full-retrain accuracy per setting, ours beside the paper's, with both
    recipes' short and full epochs as numbers (pages.lesson.lesson_display writes them as "3 / 30")."""
    ref = reference.short_vs_full_table()
    rows = []
    for c in cs:
        e = c.entry
        hit = ref[(ref["model"] == e.model) & (ref["dataset"] == e.dataset) & (ref["layers"] == e.layers)
                  & ((ref["ratio"] - e.ratio).abs() < 1e-9)]
        tau = p = float("nan")
        f = None if c.result is None else lesson_frame(c.result, results_root)
        if f is not None:
            tau, p = short_vs_full_tau(f)
        ours = None if c.result is None else (profile_of(c.result.spec).short_retrain.epochs,
                                              c.result.spec.retrain.epochs)
        paper = None if hit.empty else (int(hit["short_epochs"].iloc[0]), int(hit["full_epochs"].iloc[0]))
        rows.append({"setting": c.title, "N": None if c.result is None else len(c.result.per_mask),
                     "tau short vs full, ours": tau, "p ours": p,
                     "tau short vs full, paper":
                         float(hit["kendall_tau_short_vs_full"].iloc[0]) if len(hit) else np.nan,
                     **_epochs("ours", ours), **_epochs("paper", paper)})
    return pd.DataFrame(rows).set_index("setting").astype({f"{k} epochs, {w}": "Int64" for k in ("short", "full")
                                                            for w in ("ours", "paper")})


def _epochs(who: str, short_full: tuple[int, int] | None) -> dict:
    """The lesson table's two epoch columns of one recipe (missing when that side has no such setting)."""
    short, full = short_full or (None, None)
    return {f"short epochs, {who}": short, f"full epochs, {who}": full}


@dataclass(frozen=True)
class PaperLesson:
    """The paper's short-vs-full tau on one model's panels (its Fig. 6 table)."""
    model: str
    dataset: str
    n: int
    lo: float
    hi: float
    short_epochs: int
    full_epochs: int


def paper_lesson_ranges() -> tuple[list[PaperLesson], float, float]:
    """Per model, the range of the paper's short-vs-full tau over its panels; then the range over all its panels."""
    t = reference.short_vs_full_table()
    out = []
    for model, g in t.groupby("model", sort=False):
        tau, r = g["kendall_tau_short_vs_full"], g.iloc[0]
        out.append(PaperLesson(model, r["dataset"], len(g), float(tau.min()), float(tau.max()),
                               int(r["short_epochs"]), int(r["full_epochs"])))
    return out, float(t["kendall_tau_short_vs_full"].min()), float(t["kendall_tau_short_vs_full"].max())


@dataclass(frozen=True)
class LessonReading:
    """Our short-vs-full tau over the stored settings, paired with the paper's panel of the same setting."""
    n: int  # settings with our tau
    lo: float
    hi: float
    n_paired: int  # of those, with the paper's panel of the same setting
    lower: int  # pairs where ours is below the paper's
    higher: int
    median_difference: float | None  # ours minus the paper's, over the pairs
    short_epochs: int
    full_epochs: int
    paper_short_epochs: int | None  # the paper's recipe on the paired settings (None: no pair)
    paper_full_epochs: int | None

    @property
    def short_fraction_above_papers(self) -> bool | None:
        """Our short retraining is a larger share of the full one than the paper's (which by itself makes the two
        rankings closer); None without a paired setting to say what the paper's recipe was."""
        if self.paper_short_epochs is None:
            return None
        return self.short_epochs * self.paper_full_epochs > self.paper_short_epochs * self.full_epochs


def lesson_reading(lt: pd.DataFrame) -> LessonReading | None:
    """The lesson_table read setting by setting against the paper's (None when no setting has our tau yet): a range
    beside a range hid that ours was lower in every pair."""
    done = lt.dropna(subset=["tau short vs full, ours"])
    if done.empty:
        return None
    paired = done.dropna(subset=["tau short vs full, paper"])
    d = paired["tau short vs full, ours"] - paired["tau short vs full, paper"]
    recipes = set(zip(done["short epochs, ours"].astype(int), done["full epochs, ours"].astype(int)))
    if len(recipes) != 1:
        raise ValueError(f"the lesson table mixes short/full recipes {sorted(recipes)}: read one profile at a time")
    [(short, full)] = recipes
    papers = paired.dropna(subset=["short epochs, paper", "full epochs, paper"])
    fractions = {int(s) / int(f) for s, f in zip(papers["short epochs, paper"], papers["full epochs, paper"])}
    if len(fractions) > 1:
        raise ValueError(f"the paper's paired panels use different short fractions {sorted(fractions)}")
    p_short, p_full = ((int(papers["short epochs, paper"].iloc[0]), int(papers["full epochs, paper"].iloc[0]))
                       if len(papers) else (None, None))
    return LessonReading(len(done), float(done["tau short vs full, ours"].min()),
                         float(done["tau short vs full, ours"].max()), len(d), int((d < 0).sum()), int((d > 0).sum()),
                         float(d.median()) if len(d) else None, short, full, p_short, p_full)
