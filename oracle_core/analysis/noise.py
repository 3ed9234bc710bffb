"""The noise ceiling: the same masks retrained 2-3 times with different seeds. If two retrainings rank the masks
only loosely alike, no score computed before retraining can rank them better; and tau against one retraining vs
against the mean of the retrainings measures what retraining each mask once (as here) instead of averaging (as the
paper does) does to tau. Each setting gets a reading (a state the page words) and the numbers behind it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..compute.stats import bootstrap
from . import reference
from .agreement import under_trained
from .stored import stored_settings
from .uncertainty import repeat_taus

SMALL_ATTENUATION = 0.1  # |1 - |tau one| / |tau mean||: below this, one retraining per mask does not matter

# a setting's reading: what its repeats say about the pruned loss as a predictor
NOT_RUN, UNDER_TRAINED, INDISTINGUISHABLE, UNDER_HALF, AT_CEILING = (
    "not run yet", "under-trained", "indistinguishable from 0", "under half the ceiling", "about the ceiling")


def noise_ceiling(profile: str, results_root: Path | None = None) -> pd.DataFrame:
    """Per noise-ceiling setting (index: label; a released-code twin's says so): repeat_taus' numbers, the paper's
    median accuracy, the command of a setting not run yet, and ``state`` (one of the readings above): under-trained
    when its median accuracy is more than UNDERTRAINED_PP below the paper's; else whether the pruned-loss tau's
    bootstrap interval contains 0; else whether its |tau| is under half the tau between repeats."""
    rows = []
    twins = stored_settings(profile, "noise_ceiling", results_root, wiring="released_code")  # a differing twin's
    for c in stored_settings(profile, "noise_ceiling", results_root) + twins:
        label = c.label + (" (released-code twin)" if c.entry.wiring == "released_code" else "")
        if c.result is None:
            rows.append({"setting": label, "N": np.nan, "tau between repeats": np.nan, "state": NOT_RUN,
                         "command": c.command})
            continue
        t = repeat_taus(c.result.masks)
        e = c.entry
        ref = reference.paper_row(e.model, e.dataset, e.layers, e.ratio)
        paper_med = np.nan if ref is None else float(ref["final_acc_median_percent"])
        ci = bootstrap(c.result.per_mask["pruned_train_loss"].to_numpy(),
                       c.result.per_mask["final_test_acc"].to_numpy())["kendall_tau"]
        single, ceil = t["tau pruned loss vs one retraining"], t["tau between repeats"]
        state = (UNDER_TRAINED if ref is not None and under_trained(t["median acc %"], paper_med) else
                 INDISTINGUISHABLE if ci[0] <= 0 <= ci[1] else UNDER_HALF if abs(single) < 0.5 * ceil else AT_CEILING)
        rows.append({"setting": label, **t, "paper median acc %": paper_med, "state": state, "command": ""})
    return pd.DataFrame(rows).set_index("setting")


@dataclass(frozen=True)
class CeilingReading:
    """Across the converged noise-ceiling settings: the tau between repeats (the ceiling), and the attenuation by
    one retraining with which way it points ("small": under SMALL_ATTENUATION everywhere; "toward 0": one
    retraining pulls tau toward 0 everywhere; "stronger": somewhere one retraining makes tau stronger)."""

    settings: tuple[str, ...]
    ceiling_lo: float
    ceiling_hi: float
    repeats: int
    attenuation_lo: float  # percent
    attenuation_hi: float
    taus_one: tuple[float, ...]
    taus_mean: tuple[float, ...]
    attenuation: str  # "small", "toward 0", "stronger" or "" (none measurable)


def ceiling_reading(noise: pd.DataFrame) -> tuple[tuple[str, ...], CeilingReading | None]:
    """(the under-trained settings, the reading over the converged ones or None)."""
    done = noise[noise["state"] != NOT_RUN] if not noise.empty else noise
    under = tuple(done.index[done["state"] == UNDER_TRAINED]) if len(done) else ()
    done = done[done["state"] != UNDER_TRAINED] if len(done) else done
    if not len(done):
        return under, None
    att = done["attenuation by one retraining"].dropna()
    kind = "" if not len(att) else ("small" if att.abs().max() < SMALL_ATTENUATION else
                                    "toward 0" if att.min() > 0 else "stronger")
    return under, CeilingReading(
        tuple(done.index), float(done["tau between repeats"].min()), float(done["tau between repeats"].max()),
        int(done["repeats"].max()), 100 * float(att.min()) if len(att) else np.nan,
        100 * float(att.max()) if len(att) else np.nan,
        tuple(round(float(v), 2) for v in done["tau pruned loss vs one retraining"]),
        tuple(round(float(v), 2) for v in done["tau pruned loss vs mean of repeats"]), kind)
