"""The lesson (the paper's Fig. 6): how well a short retraining ranks the masks like the full one. Per stored
setting, each mask's test accuracy after the profile's short retraining, read off the full run's curve when the
short recipe is its first epochs, else from the setting's separate short run."""

from __future__ import annotations

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
    """Kendall tau between short-retrain and full-retrain accuracy per setting, ours beside the paper's."""
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
        rows.append({"setting": c.title, "N": None if c.result is None else len(c.result.per_mask),
                     "tau short vs full, ours": tau, "p ours": p,
                     "tau short vs full, paper":
                         float(hit["kendall_tau_short_vs_full"].iloc[0]) if len(hit) else np.nan,
                     "short / full epochs, ours": None if c.result is None else
                     f"{profile_of(c.result.spec).short_retrain.epochs} / {c.result.spec.retrain.epochs}",
                     "short / full epochs, paper": "3 / 30"})
    return pd.DataFrame(rows).set_index("setting")
