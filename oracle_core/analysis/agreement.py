"""The thresholds that decide how a run is read, defined once: a run is under-trained (not comparable); the paper's
own failure flags for an oracle. Whether a converged run agrees with the paper is not a fixed threshold on the
difference of taus: like_for_like judges it against the variation of the masks and of the pretrained network."""

from __future__ import annotations

import math

from . import reference

# the paper's own informal flags for an oracle that fails (oracle_fails)
FAIL_TAU, FAIL_P, FAIL_ANOMALY = 0.2, 0.05, 0.5  # |tau| below, p above, anomaly ratio at or above
UNDERTRAINED_PP = 1.0  # a median final accuracy this many percentage points below the paper's: not converged


def under_trained(median_acc_pct: float | None, paper_median_acc_pct: float | None) -> bool:
    """Whether a run's networks are not retrained to convergence: its median final test accuracy lies more than
    UNDERTRAINED_PP below the paper's. Such a run cannot answer the paper's question (with little retraining the
    final accuracy stays near the pruned accuracy, which makes tau strongly negative by construction)."""
    if median_acc_pct is None or paper_median_acc_pct is None:
        return False
    a, b = float(median_acc_pct), float(paper_median_acc_pct)
    return not (math.isnan(a) or math.isnan(b)) and a < b - UNDERTRAINED_PP


def below_paper(model: str, dataset: str, layers, ratio: float, median_acc_pct: float | None) -> bool:
    """under_trained against the paper's median accuracy for the same setting (False where the paper has no number):
    the one place a run is looked up and judged, for every reading that leaves such runs out."""
    ref = reference.paper_row(model, dataset, layers, ratio)
    return ref is not None and under_trained(median_acc_pct, float(ref["final_acc_median_percent"]))


def oracle_fails(tau: float | None, p: float | None, anomaly_ratio: float) -> bool:
    """The paper's informal flag: |tau| < 0.2 or p > 0.05 or anomaly ratio >= 50% (an undefined tau fails)."""
    if tau is None or p is None or math.isnan(tau) or math.isnan(p):
        return True
    return abs(tau) < FAIL_TAU or p > FAIL_P or anomaly_ratio >= FAIL_ANOMALY
