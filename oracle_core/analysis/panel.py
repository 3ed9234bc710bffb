"""What one scatter panel states: each mask's role (the oracle, an anomaly that beats it after retraining, or
another mask), Kendall tau, p, the anomaly ratio and their 95% bootstrap intervals. Computed here so that the
chart only draws numbers it is given."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..compute.stats import analyze, bootstrap
from .oracle import anomaly_interval, result_oracle, share_above


def scatter_stats(x: np.ndarray, y: np.ndarray, higher_is_better: bool = True, oracle_y: float | None = None) -> dict:
    """Roles, ranks (1 = best outcome) and statistics of one panel of pruned train loss ``x`` against an outcome
    ``y``. For an outcome where lower is better (a test loss) tau is reported with the outcome's own sign and the
    anomalies are the masks whose outcome is lower than the oracle's.

    ``oracle_y``: the outcome of the paper's oracle (the argmin over every candidate, analysis/oracle.py) when it is
    not the argmin of these points (a retrained sample): anomalies and their ratio are then read against it, and the
    points' own argmin is reported as ``within_index`` (a second, labelled marker), not as the oracle."""
    x, yv = np.asarray(x, float), np.asarray(y, float)
    signed = yv if higher_is_better else -yv
    stats = analyze(x, signed)
    o = int(stats["oracle_index"])
    ref = yv[o] if oracle_y is None else float(oracle_y)
    better = yv > ref if higher_is_better else yv < ref
    roles = ["anomaly" if b else "other" for b in better]
    if oracle_y is None:
        roles[o] = "oracle"
    ranks = (-signed).argsort(kind="stable").argsort() + 1  # 1 = the best outcome after retraining
    ci = bootstrap(x, signed)
    t_lo, t_hi = ci["kendall_tau"] if higher_is_better else (-ci["kendall_tau"][1], -ci["kendall_tau"][0])
    if oracle_y is None:
        ratio, a_ci = stats["anomaly_ratio"], ci["anomaly_ratio"]
    else:
        signed_ref = ref if higher_is_better else -ref
        ratio, a_ci = share_above(signed, signed_ref), anomaly_interval(signed, signed_ref)
    return {"roles": roles, "ranks": ranks.tolist(), "within_index": o,
            "kendall_tau": stats["kendall_tau"] if higher_is_better else -stats["kendall_tau"],
            "p_value": stats["p_value"], "anomaly_ratio": ratio, "tau_ci": (t_lo, t_hi),
            "anomaly_ci": a_ci, "tau_se": ci["kendall_tau_se"], "n": len(x),
            "oracle_rank": int((signed > (ref if higher_is_better else -ref)).sum()) + 1}


def interval_table(settings: list) -> pd.DataFrame:
    """Kendall tau and anomaly ratio (the paper's oracle) of every stored setting (stored.StoredSetting) with 95%
    bootstrap intervals over its masks, and whether tau's interval excludes 0. Index: the setting's label."""
    rows = []
    for c in settings:
        if c.result is None:
            continue
        pm, po = c.result.per_mask, result_oracle(c.result)
        st = scatter_stats(pm["pruned_train_loss"].to_numpy(), pm["final_test_acc"].to_numpy(),
                           oracle_y=None if po is None else po["final_test_acc"])
        (t_lo, t_hi), (a_lo, a_hi) = st["tau_ci"], st["anomaly_ci"]
        rows.append({"setting": c.label, "N": len(pm), "tau": st["kendall_tau"],
                     "tau 95% CI": f"[{t_lo:+.2f}, {t_hi:+.2f}]", "anomaly %": 100 * st["anomaly_ratio"],
                     "anomaly % 95% CI": f"[{100 * a_lo:.1f}, {100 * a_hi:.1f}]",
                     "tau CI excludes 0": bool(t_hi < 0 or t_lo > 0)})
    return pd.DataFrame(rows).set_index("setting") if rows else pd.DataFrame()
